"""The whole shared corpus (../shared/data) goes in, and nothing is lost.

The expected Message-IDs are enumerated independently of the ingester, with
the stdlib's `mailbox.mbox` and `email.message_from_binary_file`.
"""

from __future__ import annotations

import email
import hashlib
import mailbox
import re
from collections.abc import Iterator
from email.policy import compat32
from pathlib import Path

import pytest

from abiwatch.db.blobs import decompress_raw

pytestmark = pytest.mark.slow

_NOT_MAIL = {".json", ".md"}


def _messages(path: Path) -> Iterator[email.message.Message]:
    with open(path, "rb") as f:
        starts_with_from = f.read(5) == b"From "
    if starts_with_from:
        yield from mailbox.mbox(path, factory=None, create=False)
    else:
        with open(path, "rb") as f:
            yield email.message_from_binary_file(f, policy=compat32)


def _normalise(value: str) -> str:
    """Angle brackets and whitespace stripped (NULs too: SQLite text cannot hold them)."""
    m = re.search(r"<([^<>]*)>", value)
    inner = m.group(1) if m else value
    return "".join(inner.split()).replace("\x00", "").strip("<>")


def _corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in _NOT_MAIL)


def _expected_ids(root: Path) -> tuple[dict[str, Path], list[Path]]:
    """Return {normalised Message-ID: file} and the files of messages without one."""
    ids: dict[str, Path] = {}
    without: list[Path] = []
    for path in _corpus_files(root):
        for msg in _messages(path):
            values = msg.get_all("Message-ID") or []
            mid = _normalise(str(values[0])) if values else ""
            if mid:
                ids.setdefault(mid, path)
            else:
                without.append(path)
    return ids, without


def test_every_message_id_in_the_corpus_is_in_messages(corpus_db, h):
    db, stats, _ = corpus_db
    expected, _ = _expected_ids(h.shared())
    assert len(expected) > 1100
    stored = {r[0] for r in db.execute("SELECT message_id FROM messages")}
    # over-long fuzzed ids are cut to 900 characters (and flagged) so they stay indexable
    missing = {mid: str(p) for mid, p in expected.items()
               if mid not in stored and mid[:900] not in stored}
    assert not missing, missing
    assert stats.not_mail == 0, stats.errors


def test_every_corpus_file_is_recorded_as_read_to_the_end(corpus_db, h):
    db, _, _ = corpus_db
    files = {str(p.resolve()) for p in _corpus_files(h.shared())}
    done = {r[0] for r in db.execute("SELECT path FROM source_files WHERE complete = 1")}
    assert files == done


def test_messages_without_message_id_get_a_flagged_stable_synthetic_id(corpus_db, h):
    db, _, _ = corpus_db
    _, without = _expected_ids(h.shared())
    synthetic = db.execute(
        "SELECT m.message_id, r.source FROM messages m JOIN raw_messages r "
        "ON r.sha256 = m.raw_sha256 WHERE m.synthetic_id = 1").fetchall()
    assert synthetic
    sources = {src for _, src in synthetic}
    for path in without:
        if "fuzz" in path.parts:  # fuzzed separators split differently; checked below
            continue
        assert str(path.resolve()) in sources, path
    for mid, _ in synthetic:
        assert re.fullmatch(r"abiwatch-[0-9a-f]{32}@synthetic\.invalid", mid)
        kinds = {r[0] for r in db.execute(
            "SELECT kind FROM parse_problems WHERE message_id = ?", [mid])}
        assert "missing-message-id" in kinds


@pytest.mark.parametrize("name", ["refshdr.mbox", "msgid-len2.mbox", "year-out-of-range.mbox"])
def test_fuzzed_mail_with_unreadable_message_id_is_stored_with_synthetic_id(corpus_db, h, name):
    db, _, _ = corpus_db
    src = str(h.shared("patchwork-tests", "fuzz", name).resolve())
    row = h.one(db, "SELECT m.synthetic_id, m.message_id FROM messages m JOIN raw_messages r "
                    "ON r.sha256 = m.raw_sha256 WHERE r.source = ?", [src])
    assert row[0] == 1


def test_every_malformed_file_is_stored_and_has_parse_problems(corpus_db, h):
    """patchwork's fuzz/ and flanker's fixtures: present, with what went wrong recorded."""
    db, _, _ = corpus_db
    fuzz = sorted(h.shared("patchwork-tests", "fuzz").iterdir())
    assert len(fuzz) == 17
    for path in fuzz:
        if path.name == "x-face.mbox":
            # its only damage is an encoded word inside X-Face, a header never decoded;
            # it must merely be stored (checked by the id test)
            continue
        src = str(path.resolve())
        rows = db.execute("SELECT message_id FROM raw_messages WHERE source = ?", [src]
                          ).fetchall()
        assert rows, f"{path.name}: nothing stored"
        for (mid,) in rows:
            assert db.execute("SELECT 1 FROM messages WHERE message_id = ?", [mid]).fetchone()
        problems = db.execute(
            "SELECT COUNT(*) FROM parse_problems WHERE source = ? OR message_id IN "
            "(SELECT message_id FROM raw_messages WHERE source = ?)", [src, src]).fetchone()[0]
        assert problems, f"{path.name}: no parse problem recorded"


def test_flanker_fixtures_are_all_stored_and_the_broken_ones_are_flagged(corpus_db, h):
    db, _, _ = corpus_db
    files = sorted(p for p in h.shared("flanker-fixtures").rglob("*.eml"))
    assert len(files) == 48
    for path in files:
        src = str(path.resolve())
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        # stored from this file, or byte-identical to mail stored from another one
        row = db.execute("SELECT message_id FROM raw_messages WHERE source = ? OR sha256 = ?",
                         [src, sha]).fetchone()
        assert row, f"{path.name}: not stored"
        assert db.execute("SELECT 1 FROM messages WHERE message_id = ?", [row[0]]).fetchone()
    for broken in ("mailformed-headers.eml", "missing-boundaries.eml", "spam/broken-ctype.eml",
                   "bounce/delayed-broken.eml", "enclosed-broken-body.eml",
                   "missing-final-boundary.eml", "false-multipart.eml"):
        src = str(h.shared("flanker-fixtures", broken).resolve())
        assert db.execute("SELECT 1 FROM parse_problems WHERE source = ?", [src]).fetchone(), \
            broken


def test_no_message_needed_the_last_resort_crash_guards(corpus_db):
    """'body-error' / 'parser crashed' mean a parser bug was caught, not bad mail."""
    db, _, _ = corpus_db
    rows = db.execute("SELECT source, detail FROM parse_problems WHERE kind IN "
                      "('body-error', 'header-split-error') OR detail LIKE 'parser crashed%'"
                      ).fetchall()
    assert rows == []


def test_8bit_attachment_header_does_not_lose_the_body(corpus_db, h):
    # flanker russian-attachment-yahoo.eml: a Content-Disposition with raw 8-bit bytes
    db, _, _ = corpus_db
    src = str(h.shared("flanker-fixtures", "russian-attachment-yahoo.eml").resolve())
    row = h.one(db, "SELECT m.own_text FROM messages m JOIN raw_messages r "
                    "ON r.sha256 = m.raw_sha256 WHERE r.source = ?", [src])
    assert row[0] == "Hello"


def test_raw_bytes_of_every_message_are_kept(corpus_db):
    """Nothing is ever lost: each messages row has its raw bytes, and they decompress."""
    db, _, _ = corpus_db
    orphans = db.execute("SELECT COUNT(*) FROM messages m LEFT JOIN raw_messages r "
                         "ON r.sha256 = m.raw_sha256 WHERE r.sha256 IS NULL").fetchone()[0]
    assert orphans == 0
    checked = 0
    for raw, size in db.execute("SELECT raw, size FROM raw_messages"):
        assert len(decompress_raw(raw)) == size
        checked += 1
    assert checked


def test_ingest_summary_counts_add_up(corpus_db):
    db, stats, _ = corpus_db
    assert stats.read == stats.new + stats.duplicate + stats.variants
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == stats.new
    run = db.execute("SELECT status, read, new FROM ingest_runs").fetchone()
    assert run == ("complete", stats.read, stats.new)
