"""Patch revisions posted in replies (old LKML: "Updated patch below.", a replacement
patch from another developer) and `[announce] [patch]` mail with a link to the patches."""

from __future__ import annotations

import kernel_tree as kt

from abiwatch.db.answer_queries import series_versions
from abiwatch.ingest.git_tree import read_tree
from abiwatch.ingest.sources import iter_mbox

REVISIONS = "lkml-2006-style-revisions-in-replies.mbox"
RUSTY_V1 = "1155186601.style-example.1@rustcorp.com.au"  # [PATCH] paravirt.h
ANDI_REVIEW = "200608101331.style-example.2@muc.de"  # quotes two lines of the diff
RUSTY_UPDATE = "1155250964.style-example.3@rustcorp.com.au"  # "Updated patch below."
ZACH_REPLACEMENT = "44DCCF2B.style-example.5@vmware.com"  # "Here is a replacement patch"
ANNOUNCE = "20070105215741.style-example.7@elte.hu"


def _kind(db, mid: str) -> str | None:
    row = db.execute("SELECT kind FROM patches WHERE message_id = ?", [mid]).fetchone()
    return row[0] if row else None


def _chain(db) -> list[tuple]:
    return db.execute("SELECT id, version, supersedes, superseded_by FROM series "
                      "ORDER BY version").fetchall()


def test_updated_patch_below_in_a_reply_is_a_revision(h, ingest_into):
    db, _ = ingest_into([h.fixture(REVISIONS)])
    row = h.one(db, "SELECT kind, title, files_changed, insertions FROM patches "
                    "WHERE message_id = ?", [RUSTY_UPDATE])
    assert row == ("revision", "paravirt.h", 1, 2)
    assert h.one(db, "SELECT is_patch, is_reply FROM messages WHERE message_id = ?",
                 [RUSTY_UPDATE]) == (1, 1)


def test_a_reply_quoting_the_diff_is_not_a_revision(h, ingest_into):
    db, _ = ingest_into([h.fixture(REVISIONS)])
    assert _kind(db, ANDI_REVIEW) is None
    assert {r[0] for r in db.execute("SELECT message_id FROM patches")} == {
        RUSTY_V1, RUSTY_UPDATE, ZACH_REPLACEMENT}


def test_revisions_follow_the_patch_they_answer_in_one_version_chain(h, ingest_into):
    # Zach answers v1 but posts after Rusty's update: the chain is in posting order
    db, _ = ingest_into([h.fixture(REVISIONS)])
    assert _chain(db) == [(RUSTY_V1, 1, None, RUSTY_UPDATE),
                          (RUSTY_UPDATE, 2, RUSTY_V1, ZACH_REPLACEMENT),
                          (ZACH_REPLACEMENT, 3, RUSTY_UPDATE, None)]


def test_another_developers_replacement_patch_is_a_version_of_the_same_series(h, ingest_into):
    db, _ = ingest_into([h.fixture(REVISIONS)])
    key = h.one(db, "SELECT series_key FROM series WHERE id = ?", [RUSTY_V1])[0]
    versions = series_versions(db, key)
    assert [(v["id"], v["version"], v["author_name"]) for v in versions] == [
        (RUSTY_V1, 1, "Rusty Russell"), (RUSTY_UPDATE, 2, "Rusty Russell"),
        (ZACH_REPLACEMENT, 3, "Zachary Amsden")]


def test_the_chain_is_the_same_whichever_message_arrives_first(h, new_db, tmp_path):
    from abiwatch.ingest.load import ingest
    mails = [m.raw for m in iter_mbox(h.fixture(REVISIONS).open("rb"), REVISIONS)]
    chains = []
    for order in (mails, mails[::-1]):
        db = new_db()
        for i, raw in enumerate(order):  # one run per message: each arrives on its own
            path = tmp_path / f"{len(chains)}-{i}.eml"
            path.write_bytes(raw)
            ingest(db, [str(path)], progress=False)
        chains.append(_chain(db))
    assert chains[0] == chains[1] == [(RUSTY_V1, 1, None, RUSTY_UPDATE),
                                      (RUSTY_UPDATE, 2, RUSTY_V1, ZACH_REPLACEMENT),
                                      (ZACH_REPLACEMENT, 3, RUSTY_UPDATE, None)]


def test_announce_patch_with_a_link_is_a_patch_posting(h, ingest_into):
    db, _ = ingest_into([h.fixture("lkml-2006-style-announce-patch-link.mbox")])
    assert h.one(db, "SELECT kind, title, pull_url FROM patches") == (
        "announce", "KVM paravirtualization for Linux",
        "http://people.redhat.com/mingo/kvm-paravirt-patches/")
    assert h.one(db, "SELECT id, version FROM series") == (ANNOUNCE, 1)


def test_real_replacement_patches_in_replies_are_revisions_and_sketches_are_not(h, ingest_into):
    hyperv = h.shared("lfdr-linux-hyperv", "hyperv-20221112-clocksource-drivers-hyper-v-include-"
                      "asm-hyperv-tlfs-h-not-as.mbox")
    virt = h.shared("lfdr-virtualization-list", "virt-20200805-x86-paravirt-add-missing-noinstr-"
                    "to-arch-local-helpers.mbox")
    db, _ = ingest_into([hyperv, virt])
    # Thomas Gleixner's signed-off replacements of the patch, each in reply to the last
    assert [_kind(db, m) for m in ("87sfinta8q.ffs@tglx", "87leoft9w1.ffs@tglx",
                                   "87fsemtut0.ffs@tglx")] == ["revision"] * 3
    # Peter Zijlstra's "So the below boots ...": a diff without sign-off, a sketch
    assert _kind(db, "20200811201755.GI35926@hirez.programming.kicks-ass.net") is None


def test_a_merged_revision_is_the_posting_matched_and_the_first_version_superseded(
        h, ingest_into, tmp_path):
    # the commit carries Rusty's subject and name: the latest of his postings before it
    # is the one merged, and that is the revision in his reply
    db, _ = ingest_into([h.fixture(REVISIONS)])
    repo = kt.new_tree(tmp_path / "linux")
    sha = kt.commit(repo, subject="paravirt.h", author="Rusty Russell <rusty@rustcorp.com.au>",
                    author_date="2006-08-11T09:02:44+10:00", commit_date="2006-08-11T10:00:00Z",
                    files={"include/asm-i386/paravirt.h": "struct paravirt_ops;\n"})
    read_tree(db, repo, progress=False)
    assert db.execute("SELECT message_id, sha, method FROM patch_commits").fetchall() == [
        (RUSTY_UPDATE, sha, "subject")]
    states = dict(db.execute("SELECT series_id, state FROM series_state").fetchall())
    assert states == {RUSTY_V1: "superseded", RUSTY_UPDATE: "merged",
                      ZACH_REPLACEMENT: "open"}
