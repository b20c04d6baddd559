"""Patches: inline git and plain diffs, attachments, pull requests, files and diffstat."""

from __future__ import annotations

import email
import re
from email.policy import compat32

import pytest

from abiwatch.db.blobs import decompress_raw
from abiwatch.ingest.diff import summarize_diffs
from abiwatch.ingest.record import parse_message


def _patch(db, mid: str) -> dict:
    cur = db.execute("SELECT * FROM patches WHERE message_id = ?", [mid])
    cols = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None, mid
    return dict(zip(cols, row, strict=True))


def _files(db, mid: str) -> dict[str, tuple[int, int]]:
    return {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT path, insertions, deletions FROM patch_files WHERE message_id = ?", [mid])}


def test_inline_git_diff_files_and_diffstat(h, ingest_into):
    db, _ = ingest_into([h.fixture("mboxrd-quoted-from-and-outlook-attribution.mbox")])
    mid = "1760644436-19937-1-git-send-email-nunodasneves@linux.microsoft.com"
    p = _patch(db, mid)
    # the author's own diffstat: " 2 files changed, 42 insertions(+), 24 deletions(-)"
    assert (p["kind"], p["files_changed"], p["insertions"], p["deletions"]) == ("diff", 2, 42, 24)
    assert _files(db, mid) == {"drivers/hv/mshv_root_main.c": (30, 22),
                               "include/asm-generic/mshyperv.h": (12, 2)}
    assert h.one(db, "SELECT is_patch, has_diff FROM messages WHERE message_id = ?",
                 [mid]) == (1, 1)


def test_replies_quoting_a_diff_are_not_patches(h, ingest_into):
    db, _ = ingest_into([h.fixture("mboxrd-quoted-from-and-outlook-attribution.mbox")])
    assert db.execute("SELECT COUNT(*) FROM patches").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM messages WHERE is_reply = 1 AND is_patch = 1"
                      ).fetchone()[0] == 0


def test_plain_cvs_diff_in_an_attachment(h, ingest_into):
    db, _ = ingest_into([h.fixture("patchwork-plain-cvs-diff.mbox")])
    p = _patch(db, "4EDD669F.30207@cavium.com")
    assert p["kind"] == "attachment"
    assert p["title"] == "Fix ld pr11138 FAILures on mips*."
    assert _files(db, "4EDD669F.30207@cavium.com") == {
        "bfd/elf-bfd.h": (2, 0), "bfd/elflink.c": (3, 0), "bfd/elfxx-mips.c": (1, 0)}


def test_patch_file_attachment_is_a_patch(h, ingest_into):
    # public-inbox t/plack-attached-patch.eml: text/plain part named foo&.patch
    db, _ = ingest_into([h.fixture("pi-attached-text-x-patch.eml")])
    p = _patch(db, "patch@example.com")
    assert p["kind"] == "attachment" and "--- a/file" in p["diff"]
    assert list(_files(db, "patch@example.com")) == ["file"]
    own = h.one(db, "SELECT own_text FROM messages")[0]
    assert own == "hi, see attached"


def test_text_x_patch_content_type_is_an_attachment(h, ingest_into, tmp_path):
    """The same real mail with the attachment declared text/x-patch, as git-send-email
    --attach and many mail clients send it."""
    raw = h.fixture("pi-attached-text-x-patch.eml").read_bytes()
    raw = raw.replace(b'Content-Type: text/plain\nContent-Disposition: inline; '
                      b'filename="foo&.patch"',
                      b'Content-Type: text/x-patch; name="fix.diff"\n'
                      b'Content-Disposition: attachment')
    assert b"text/x-patch" in raw
    path = tmp_path / "x-patch.eml"
    path.write_bytes(raw)
    db, _ = ingest_into([path])
    assert _patch(db, "patch@example.com")["kind"] == "attachment"


def test_inline_diff_in_multipart_alternative(h, ingest_into):
    db, _ = ingest_into([h.fixture("patchwork-multipart-patch-attachment.mbox")])
    mid = "20180620122142.9917-1-yuri.volchkov@gmail.com"
    p = _patch(db, mid)
    assert (p["kind"], p["files_changed"], p["insertions"], p["deletions"]) == ("diff", 1, 3, 1)


def test_git_pull_request(h, ingest_into):
    db, _ = ingest_into([h.fixture("patchwork-git-pull-request.mbox")])
    p = _patch(db, "1287719462.2198.37.camel@pasglop")
    assert p["kind"] == "pull"
    assert p["pull_url"] == "git://git.kernel.org/pub/scm/linux/kernel/git/benh/powerpc.git next"


@pytest.mark.parametrize("name", [
    "0001-git-pull-request.mbox", "0002-git-pull-request-wrapped.mbox",
    "0003-git-pull-request-with-diff.mbox", "0004-git-pull-request-git+ssh.mbox",
    "0005-git-pull-request-ssh.mbox", "0006-git-pull-request-http.mbox",
    "0017-git-pull-request-git-2-14-3.mbox", "0023-git-pull-request-newline-in-url.mbox",
    "0024-git-pull-request-trailing-space.mbox"])
def test_every_patchwork_pull_request_is_a_pull_with_a_url(h, name):
    """Including git+ssh:// URLs and DaveM's '[GIT] Networking' (no 'PULL' in it)."""
    raw = h.shared("patchwork-tests", "mail", name).read_bytes()
    raw = raw.split(b"\n", 1)[1] if raw.startswith(b"From ") else raw
    p = parse_message(raw).patch
    assert p is not None and p["kind"] == "pull", name
    assert re.match(r"(git|git\+ssh|https?|ssh)://|git@", p["pull_url"] or ""), p["pull_url"]


def test_pure_rename_touches_files_without_lines(h, ingest_into):
    db, _ = ingest_into([h.fixture("patchwork-git-rename.mbox")])
    (mid,) = h.one(db, "SELECT message_id FROM patches")
    files = _files(db, mid)
    assert len(files) == 2 and set(files.values()) == {(0, 0)}


@pytest.mark.slow
def test_diffstat_matches_the_authors_own_git_diffstat(corpus_db, h):
    """Independent truth: the ' N files changed, I insertions(+), D deletions(-)' line git
    wrote into each real kernel patch mail."""
    db, _, _ = corpus_db
    real = tuple(str(h.shared(d).resolve()) for d in (
        "lfdr-virtualization-list", "lfdr-linux-hyperv", "lore-inbox-lkml-2006-2007"))
    checked = 0
    for mid, files, ins, dels, raw, src in db.execute(
            "SELECT p.message_id, p.files_changed, p.insertions, p.deletions, r.raw, r.source "
            "FROM patches p JOIN messages m USING (message_id) JOIN raw_messages r "
            "ON r.sha256 = m.raw_sha256 WHERE p.kind IN ('diff', 'attachment')"):
        if not src.startswith(real):
            continue
        msg = email.message_from_bytes(decompress_raw(raw), policy=compat32)
        body = b"".join(part.get_payload(decode=True) or b"" for part in msg.walk()
                        if not part.is_multipart()).decode("utf-8", "replace")
        m = re.search(r"^ (\d+) files? changed(?:, (\d+) insertions?\(\+\))?"
                      r"(?:, (\d+) deletions?\(-\))?", body, re.M)
        if not m:
            continue
        expected = (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))
        assert (files, ins, dels) == expected, mid
        checked += 1
    assert checked > 200


def test_quilt_diff_without_git_headers_counts_each_file():
    """tglx, Nov 2022 (linux-hyperv): three files as bare ---/+++ pairs, no 'diff --git'."""
    diff = "\n".join([
        "--- a/arch/x86/include/asm/mshyperv.h", "+++ b/arch/x86/include/asm/mshyperv.h",
        "@@ -19,8 +19,6 @@ typedef int (*hyperv_fill_flush_list_fun",
        " \t\tstruct hv_guest_mapping_flush_list *flush,", " \t\tvoid *data);", " ",
        "-#define hv_get_raw_timer() rdtsc_ordered()", "-",
        " void hyperv_vector_handler(struct pt_regs *regs);", " ",
        " #if IS_ENABLED(CONFIG_HYPERV)",
        "--- a/drivers/hv/vmbus_drv.c", "+++ b/drivers/hv/vmbus_drv.c",
        "@@ -37,6 +37,7 @@", " #include <linux/dma-map-ops.h>", " #include <linux/pci.h>",
        " #include <clocksource/hyperv_timer.h>", "+#include <asm/mshyperv.h>",
        ' #include "hyperv_vmbus.h"', " ", " struct vmbus_dynid {",
    ])
    s = summarize_diffs([diff])
    assert {p: (f.insertions, f.deletions) for p, f in s.files.items()} == {
        "arch/x86/include/asm/mshyperv.h": (0, 2), "drivers/hv/vmbus_drv.c": (1, 0)}


def test_kernel_directory_is_not_mistaken_for_a_tarball_prefix():
    diff = "\n".join(["diff --git a/kernel/sched/sched.h b/kernel/sched/sched.h",
                      "index df80bfcea92e..1687c5383797 100644",
                      "--- a/kernel/sched/sched.h", "+++ b/kernel/sched/sched.h",
                      "@@ -71,6 +71,7 @@", " a", "+b", " c"])
    assert list(summarize_diffs([diff]).files) == ["kernel/sched/sched.h"]
    # 2006-style "diff -urN linux-2.6.18.orig/... linux-2.6.18/..." keeps the tree path
    old = "\n".join(["--- linux-2.6.18.orig/kernel/sched.c", "+++ linux-2.6.18/kernel/sched.c",
                     "@@ -1,2 +1,2 @@", "-x", "+y", " z"])
    assert list(summarize_diffs([old]).files) == ["kernel/sched.c"]
