"""Damaged and moving input (issue 13): a file appended to while it is read, a gzip
damaged after its data, NUL bytes, dates that are not dates. No complete message is
lost and no cut one is stored as if it were whole."""

from __future__ import annotations

import gzip
import io
import zlib

import pytest

import abiwatch.ingest.sources as sources
from abiwatch.db.blobs import decompress_raw
from abiwatch.ingest.load import ingest
from abiwatch.ingest.sources import iter_mbox

MBOXRD = "mboxrd-quoted-from-and-outlook-attribution.mbox"
PATCH_ID = "1760644436-19937-1-git-send-email-nunodasneves@linux.microsoft.com"


def _patch_last(h) -> tuple[bytes, int]:
    """Return the fixture mbox with its patch (the first message) moved to the end, and
    where the patch's Signed-off-by is: a cut there loses its trailer and its diff."""
    data = h.fixture(MBOXRD).read_bytes()
    second = data.index(b"\nFrom mboxrd@z", 1) + 1
    rest = data[second:]
    if not rest.endswith(b"\n\n"):
        rest += b"\n"
    whole = rest + data[:second]
    return whole, whole.index(b"Signed-off-by", len(rest))


def _stored(db, mid: str) -> list[tuple[int, bytes]]:
    return [(v, decompress_raw(r)) for v, r in db.execute(
        "SELECT is_variant, raw FROM raw_messages WHERE message_id = ? ORDER BY is_variant",
        [mid])]


def test_an_mbox_appended_to_while_it_is_read_leaves_the_cut_message_for_the_next_run(
        h, tmp_path, new_db, monkeypatch):
    """The mail delivery agent is still writing the last message when the read reaches
    the end of the file. That cut copy must not become the message (the whole one would
    be only a variant for good, a patch without its diff and trailers): it is left out,
    the file is not marked done, and the next run stores it whole."""
    whole, cut = _patch_last(h)
    path = tmp_path / "inbox.mbox"
    path.write_bytes(whole[:cut])
    real_slices = sources.mbox_slices

    def slices_then_the_writer_finishes(*args, **kw):
        yield from real_slices(*args, **kw)
        with open(path, "ab") as f:  # after the read hit the end, before it was checked
            f.write(whole[cut:])

    monkeypatch.setattr(sources, "mbox_slices", slices_then_the_writer_finishes)
    db = new_db()
    first = ingest(db, [str(path)], progress=False, workers=1)
    assert (first.new, first.variants, first.not_mail) == (5, 0, 0)
    assert first.notes and "grew while it was read" in first.notes[0]
    assert not _stored(db, PATCH_ID)
    assert db.execute("SELECT COUNT(*) FROM source_files").fetchone()[0] == 0
    monkeypatch.undo()

    again = ingest(db, [str(path)], progress=False, workers=1)
    assert (again.new, again.variants, again.notes) == (1, 0, [])
    assert _stored(db, PATCH_ID) == [(0, [m.raw for m in iter_mbox(io.BytesIO(whole), "x")][-1])]
    diff, trailers = h.one(db, "SELECT p.diff, (SELECT COUNT(*) FROM trailers t WHERE "
                               "t.message_id = p.message_id) FROM patches p WHERE "
                               "p.message_id = ?", [PATCH_ID])
    assert "diff --git" in diff and trailers == 1


def test_an_mbox_that_grew_by_whole_messages_while_read_keeps_its_last_one(
        h, tmp_path, new_db, monkeypatch):
    """Mail appended after a message boundary does not cut anything: all is kept."""
    data = h.fixture(MBOXRD).read_bytes()
    second = data.index(b"\nFrom mboxrd@z", 1) + 1
    path = tmp_path / "inbox.mbox"
    path.write_bytes(data[:second])
    real_slices = sources.mbox_slices

    def slices_then_more_mail(*args, **kw):
        yield from real_slices(*args, **kw)
        with open(path, "ab") as f:
            f.write(data[second:])

    monkeypatch.setattr(sources, "mbox_slices", slices_then_more_mail)
    db = new_db()
    stats = ingest(db, [str(path)], progress=False, workers=1)
    assert (stats.new, stats.notes) == (1, [])
    assert _stored(db, PATCH_ID)


def test_an_eml_still_being_written_is_left_for_the_next_run(h, tmp_path, new_db, monkeypatch):
    raw = h.fixture("pi-attached-text-x-patch.eml").read_bytes()
    path = tmp_path / "one.eml"
    path.write_bytes(raw[:200])
    real_check = sources._cut_by_growth

    def the_writer_goes_on_then_check(f, end, source, **kw):
        with open(path, "ab") as out:  # the rest arrives after the read reached the end
            out.write(raw[200:])
        return real_check(f, end, source, **kw)

    monkeypatch.setattr(sources, "_cut_by_growth", the_writer_goes_on_then_check)
    db = new_db()
    first = ingest(db, [str(path)], progress=False, workers=1)
    assert first.new == 0 and "grew while it was read" in first.notes[0]
    monkeypatch.undo()
    again = ingest(db, [str(path)], progress=False, workers=1)
    assert again.new == 1
    assert _stored(db, "patch@example.com") == [(0, raw)]


def _gzip_damaged(data: bytes, damage: str) -> bytes:
    gz = gzip.compress(data, mtime=0)
    if damage == "bad CRC":
        return gz[:-8] + bytes([gz[-8] ^ 1]) + gz[-7:]
    if damage == "missing trailer":
        return gz[:-8]
    assert damage == "trailing garbage"
    return gz + b"<html>404 Not Found</html>\n"


@pytest.mark.parametrize("damage", ["bad CRC", "missing trailer", "trailing garbage"])
def test_a_gzip_damaged_after_its_data_keeps_every_message_and_says_so(h, tmp_path, new_db,
                                                                        damage):
    """The deflate data is whole, only what follows it is wrong: every message is there
    (the last one was dropped on every run), and the damage is reported."""
    data = h.fixture(MBOXRD).read_bytes()
    path = tmp_path / "list.mbox.gz"
    path.write_bytes(_gzip_damaged(data, damage))
    db = new_db()
    stats = ingest(db, [str(path)], progress=False)
    assert stats.new == 6 and stats.not_mail == 1
    assert "damaged gzip file" in stats.errors[0] and "all 6 messages" in stats.errors[0]
    assert h.one(db, "SELECT kind FROM parse_problems WHERE message_id IS NULL") == ("damaged",)
    again = ingest(db, [str(path)], progress=False, rescan=True)
    assert (again.new, again.duplicate) == (0, 6)


def test_a_gzip_corrupt_in_the_middle_keeps_the_messages_before_the_damage(h, tmp_path,
                                                                           new_db):
    """The bytes decoded before a corrupt spot are kept (not the megabyte read with it)."""
    data = h.fixture(MBOXRD).read_bytes()
    gz = gzip.compress(data, mtime=0)
    # deflate decodes most damage into wrong bytes (the CRC tells); find a spot in the
    # second half that it refuses outright
    for bad in range(len(gz) // 2, len(gz) - 72):
        damaged = gz[:bad] + b"\xff" * 64 + gz[bad + 64:]
        try:
            zlib.decompressobj(-zlib.MAX_WBITS).decompress(damaged[10:])  # raw deflate
        except zlib.error:
            break
    else:
        pytest.fail("no refused spot found")
    path = tmp_path / "list.mbox.gz"
    path.write_bytes(damaged)
    db = new_db()
    stats = ingest(db, [str(path)], progress=False)
    assert stats.not_mail == 1 and "corrupt compressed data" in stats.errors[0]
    assert 2 <= stats.new < 6
    originals = {m.raw for m in iter_mbox(io.BytesIO(data), "x")}
    for (raw,) in db.execute("SELECT raw FROM raw_messages"):
        assert decompress_raw(raw) in originals  # nothing cut is stored
    assert db.execute("SELECT COUNT(*) FROM source_files").fetchone()[0] == 0


def test_a_nul_byte_in_the_headers_of_an_eml_is_stored_with_a_problem(h, new_db):
    path = h.REPO / "tests" / "fixtures" / "fuzz" / "nul-in-subject.eml"
    db = new_db()
    stats = ingest(db, [str(path)], progress=False)
    assert (stats.new, stats.not_mail) == (1, 0)
    assert h.one(db, "SELECT subject FROM messages") == ("Re: [PATCH] paravirt.h",)
    assert h.one(db, "SELECT kind FROM parse_problems WHERE kind = 'nul-byte'")
    assert decompress_raw(h.one(db, "SELECT raw FROM raw_messages")[0]) == path.read_bytes()


def test_a_nul_byte_in_the_headers_of_an_mbox_message_is_recorded(h, tmp_path, new_db):
    raw = (h.REPO / "tests" / "fixtures" / "fuzz" / "nul-in-subject.eml").read_bytes()
    path = tmp_path / "a.mbox"
    path.write_bytes(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + raw)
    db = new_db()
    assert ingest(db, [str(path)], progress=False).new == 1
    assert h.one(db, "SELECT kind FROM parse_problems WHERE kind = 'nul-byte'")


def test_a_date_that_is_not_a_date_is_not_stored_as_today(h, new_db):
    path = h.REPO / "tests" / "fixtures" / "fuzz" / "date-minus-one.eml"
    db = new_db()
    ingest(db, [str(path)], progress=False)
    # the first Received: header's date, not the first of this month
    assert h.one(db, "SELECT date, date_raw, date_source FROM messages") == (
        "2006-08-10T11:31:41Z", "-1", "received")
    assert h.one(db, "SELECT detail FROM parse_problems WHERE kind = 'bad-date'") == ("-1",)
