"""Concerns found in real threads: who raised what about which interface, and
what is never a concern (patch postings, the proposer defending, quoted text)."""

from __future__ import annotations

from corpus import shared

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

from .conftest import concern_rows

PROPOSAL_ROOT = "44D1CC7D.4010600@vmware.com"  # Zachary Amsden, "A proposal - binary", 2006-08-03


def _thread_concerns(db, root: str) -> list[dict]:
    return [c for c in concern_rows(db) if db.execute(
        "SELECT thread_id FROM messages WHERE message_id = ?", [c["message_id"]]).fetchone()[0] == root]


def test_andi_kleens_vmi_objection_in_a_proposal_binary_is_found(devset_db):
    concerns = _thread_concerns(devset_db, PROPOSAL_ROOT)
    andi = [c for c in concerns if c["author_name"] == "Andi Kleen" and c["interface"] == "VMI"]
    assert any("fixed spec" in c["text"] for c in andi)


def test_the_proposer_defending_the_proposal_raises_no_concern(devset_db):
    concerns = _thread_concerns(devset_db, PROPOSAL_ROOT)
    assert not [c for c in concerns if c["author_addr"] == "zach@vmware.com"]


def test_patch_postings_and_thread_roots_raise_no_concern(devset_db):
    rows = devset_db.execute(
        "SELECT c.message_id FROM concerns c JOIN messages m ON m.message_id = c.message_id "
        "WHERE (m.is_patch = 1 AND m.is_reply = 0) OR (m.parent_id IS NULL AND m.is_reply = 0)").fetchall()
    assert rows == []


def test_a_concern_quoted_in_a_reply_is_not_a_concern_of_the_replier(devset_db):
    concerns = concern_rows(devset_db)
    checked = 0
    for c in concerns:
        needle = c["text"][:60]
        for mid, _quoted in devset_db.execute(
                "SELECT message_id, quoted_text FROM messages WHERE message_id != ? AND quoted_text "
                "LIKE '%' || ? || '%'", [c["message_id"], needle[:40]]):
            checked += 1
            mine = concern_rows(devset_db, message_id=mid)
            assert not any(needle in m["text"] for m in mine), (mid, needle)
    assert checked >= 3  # real replies do quote concerns


def test_every_concern_cites_its_sentence_rule_and_cue(devset_db):
    concerns = concern_rows(devset_db)
    assert concerns
    for c in concerns:
        # a cue rule, or the learned classifier where no cue fired
        assert c["rule_id"].startswith("concern.") or c["rule_id"] == "model.textcat"
        assert c["cue"] and c["text"]
        own = devset_db.execute("SELECT own_text FROM messages WHERE message_id = ?",
                                [c["message_id"]]).fetchone()[0]
        first_words = " ".join(c["text"].split()[:3])
        assert first_words in " ".join(own.split()), (c["id"], first_words)


def test_negatives_raise_no_paravirt_interface_concern(tmp_path):
    db = open_db(tmp_path / "neg.db")
    ingest(db, [str(shared("lfdr-virtualization-list", "negatives"))], progress=False)
    tag(db, progress=False)
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] >= 100
    assert db.execute("SELECT COUNT(*) FROM concerns WHERE interface = 'paravirt_ops'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM message_interfaces WHERE interface = 'paravirt_ops'"
                      ).fetchone()[0] == 0


def test_tagging_again_does_nothing_and_redo_keeps_concern_ids(tmp_path):
    db = open_db(tmp_path / "lkml.db")
    ingest(db, [str(shared("lore-inbox-lkml-2006-2007"))], progress=False)
    first = tag(db, progress=False)
    before = db.execute("SELECT id, message_id, interface, status FROM concerns ORDER BY id").fetchall()
    again = tag(db, progress=False)
    assert first.analyzed == 35 and again.analyzed == 0
    redo = tag(db, redo=True, progress=False)
    assert redo.analyzed == 35
    after = db.execute("SELECT id, message_id, interface, status FROM concerns ORDER BY id").fetchall()
    assert after == before and before


def test_a_tag_run_killed_before_deciding_is_finished_by_the_next_run(tmp_path):
    db = open_db(tmp_path / "lkml.db")
    ingest(db, [str(shared("lore-inbox-lkml-2006-2007"))], progress=False)
    tag(db, progress=False)
    want = db.execute("SELECT message_id, interface, status, resolved_by FROM concerns ORDER BY 1, 2").fetchall()
    # The state a crash between the two phases leaves: messages analysed, threads not decided.
    with db.conn:
        db.conn.execute("UPDATE tagged_messages SET decided = 0")
        db.conn.execute("DELETE FROM concerns")
        db.conn.execute("DELETE FROM message_patch")
    again = tag(db, progress=False)
    assert again.analyzed == 0
    got = db.execute("SELECT message_id, interface, status, resolved_by FROM concerns ORDER BY 1, 2").fetchall()
    assert got == want and want
    assert db.execute("SELECT COUNT(*) FROM tagged_messages WHERE decided = 0").fetchone()[0] == 0
