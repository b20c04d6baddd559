"""Where mail comes from: mboxrd/mboxo, .gz, .eml, Maildir, directories, stdin,
and files that are not mail at all."""

from __future__ import annotations

import email
import gzip
import io
import mailbox
import re
import shutil
import subprocess
import sys
import zlib
from email.policy import compat32

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from abiwatch.bot.cli import cli
from abiwatch.db.blobs import decompress_raw
from abiwatch.ingest.sources import (
    MboxSlice,
    NotMail,
    RawMail,
    iter_mbox,
    iter_paths,
    mbox_slices,
    read_slice,
    sniff,
    unquote_mboxrd,
)

MBOXRD = "mboxrd-quoted-from-and-outlook-attribution.mbox"
MBOXRD_FROM_READING = "SN6PR02MB4157E6D02773A9D7A4B9E85BD4F6A@SN6PR02MB4157.namprd02.prod.outlook.com"
SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def _mboxrd_messages_by_hand(data: bytes) -> list[bytes]:
    """Split an mboxrd file line by line, the slow obvious way (independent of iter_mbox)."""
    messages: list[list[bytes]] = []
    for line in data.splitlines(keepends=True):
        if line == SEPARATOR:
            messages.append([])
            continue
        if re.match(rb">+From ", line):
            line = line[1:]
        messages[-1].append(line)
    out = []
    for lines in messages:
        raw = b"".join(lines)
        # the separator is preceded by one blank line that belongs to the mbox
        out.append(raw[:-1] if raw.endswith(b"\n\n") else raw)
    return out


def _mid(raw: bytes) -> str:
    """Return the normalised Message-ID of raw mail, found by the stdlib parser."""
    value = email.message_from_bytes(raw, policy=compat32)["Message-ID"]
    return "".join(str(value).split()).strip("<>")


def _stored_raw(db, mid: str) -> bytes:
    row = db.execute("SELECT raw FROM raw_messages WHERE message_id = ? AND is_variant = 0",
                     [mid]).fetchone()
    return decompress_raw(row[0])


def test_unquote_mboxrd_removes_exactly_one_level_of_from_quoting():
    assert unquote_mboxrd(b">From reading the above\n") == b"From reading the above\n"
    assert unquote_mboxrd(b">>>From reading\n") == b">>From reading\n"
    # only '>'* immediately followed by "From " at the start of a line is quoting
    for untouched in (b"> From x\n", b"a>From x\n", b">Fromage\n", b">from x\n", b">>\n"):
        assert unquote_mboxrd(untouched) == untouched


def test_mboxrd_file_is_stored_byte_for_byte_as_originally_sent(h, ingest_into):
    path = h.fixture(MBOXRD)
    expected = _mboxrd_messages_by_hand(path.read_bytes())
    assert len(expected) == 6
    db, stats = ingest_into([path])
    assert stats.new == 6
    for raw in expected:
        mid = _mid(raw)
        assert _stored_raw(db, mid) == raw, mid
    # the body line that was quoted '>From reading' is the author's 'From reading'
    own = h.one(db, "SELECT own_text FROM messages WHERE own_text LIKE 'From reading the above%'")
    assert own[0].startswith("From reading the above, I'm pretty sure")


def test_iter_mbox_on_mboxrd_matches_the_hand_split(h):
    data = h.fixture(MBOXRD).read_bytes()
    got = [m.raw for m in iter_mbox(io.BytesIO(data), "x")]
    assert got == _mboxrd_messages_by_hand(data)


def test_iter_mbox_is_independent_of_chunk_boundaries(h, monkeypatch):
    """A From_ line cut in half by a read must still split messages correctly."""
    import abiwatch.ingest.sources as sources

    data = h.fixture(MBOXRD).read_bytes()
    expected = [m.raw for m in iter_mbox(io.BytesIO(data), "x")]
    for chunk in (7, 64, 1000, 4093):
        monkeypatch.setattr(sources, "CHUNK", chunk)
        assert [m.raw for m in iter_mbox(io.BytesIO(data), "x")] == expected, chunk


def test_mboxo_quoting_is_left_alone(h, tmp_path, ingest_into):
    """mboxo cannot tell '>From ' written by the sender from a quoted 'From ':
    it must be kept as it is, and a body 'From ' line must not split a message."""
    originals = _mboxrd_messages_by_hand(h.fixture(MBOXRD).read_bytes())
    box_path = tmp_path / "mboxo.mbox"
    box = mailbox.mbox(box_path)  # the stdlib writes mboxo: 'From ' -> '>From '
    for raw in originals:
        box.add(raw)
    box.flush()
    box.close()
    assert b"\n>From reading the above" in box_path.read_bytes()
    assert not box_path.read_bytes().startswith(b"From mboxrd@z")
    db, stats = ingest_into([box_path])
    assert stats.new == len(originals) == 6
    reread = mailbox.mbox(box_path)
    for key in reread.keys():
        raw = reread.get_bytes(key)
        mid = _mid(raw)
        stored = _stored_raw(db, mid)
        assert stored.rstrip(b"\n") == raw.rstrip(b"\n")
    # mboxo cannot know '>From reading' was once 'From reading': it reads as a quote
    assert db.execute("SELECT COUNT(*) FROM messages WHERE quoted_text LIKE "
                      "'%>From reading the above%'").fetchone()[0] >= 1


def test_forced_mboxo_format_keeps_mboxrd_quotes(h, ingest_into):
    db, _ = ingest_into([h.fixture(MBOXRD)], fmt="mboxo")
    assert db.execute("SELECT COUNT(*) FROM messages WHERE own_text LIKE 'From reading%'"
                      ).fetchone()[0] == 0
    raw = decompress_raw(db.execute("SELECT raw FROM raw_messages WHERE message_id = ?",
                                     [MBOXRD_FROM_READING]).fetchone()[0])
    assert b"\n>From reading the above" in raw


def test_gzip_archive_is_read_like_the_plain_file(h, tmp_path, ingest_into):
    src = h.fixture(MBOXRD)
    gz = tmp_path / "archive.mbox.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    plain_db, _ = ingest_into([src])
    gz_db, stats = ingest_into([gz])
    assert stats.new == 6 and stats.not_mail == 0
    q = "SELECT message_id, raw_sha256, own_text FROM messages ORDER BY message_id"
    assert plain_db.execute(q).fetchall() == gz_db.execute(q).fetchall()
    assert gz_db.execute("SELECT kind FROM source_files").fetchone()[0] == "mbox+gzip"


def test_truncated_gzip_keeps_every_whole_message_before_the_damage(h, tmp_path, ingest_into):
    """An interrupted download of a .mbox.gz: the messages before the cut are kept."""
    data = gzip.compress(h.fixture(MBOXRD).read_bytes())
    cut = data[: len(data) * 2 // 3]
    gz = tmp_path / "cut.mbox.gz"
    gz.write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    whole = readable.count(SEPARATOR) - 1  # the last one started is cut short
    assert whole >= 2
    db, stats = ingest_into([gz])
    assert stats.not_mail == 1 and "ends early" in stats.errors[0]
    assert stats.new == whole
    assert db.execute("SELECT COUNT(*) FROM source_files").fetchone()[0] == 0  # not complete


def test_single_eml_file(h, ingest_into):
    db, stats = ingest_into([h.fixture("pi-attached-text-x-patch.eml")])
    assert stats.new == 1
    assert h.one(db, "SELECT subject FROM messages")[0] == "[PATCH] asdf"


def test_bare_rfc822_file_named_mbox_is_one_message(h, ingest_into):
    # patchwork's 0007 has no From_ separator: it starts with Received:
    db, stats = ingest_into([h.fixture("patchwork-plain-cvs-diff.mbox")])
    assert stats.new == 1
    assert h.one(db, "SELECT message_id FROM messages")[0] == "4EDD669F.30207@cavium.com"


def test_maildir_folder(h, tmp_path, ingest_into):
    originals = _mboxrd_messages_by_hand(h.fixture(MBOXRD).read_bytes())
    md = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for i, raw in enumerate(originals):
        key = md.add(raw)  # bytes are written as they are
        if i % 2:  # read mail lives in cur/ with flags, as a mail client leaves it
            (tmp_path / "Maildir" / "new" / key).rename(tmp_path / "Maildir" / "cur" / f"{key}:2,S")
    md.close()
    assert len(list((tmp_path / "Maildir" / "cur").iterdir())) == 3
    db, stats = ingest_into([tmp_path / "Maildir"])
    assert stats.new == 6
    for raw in originals:
        mid = _mid(raw)
        assert _stored_raw(db, mid) == raw


def test_directory_walk_is_recursive_and_skips_non_mail_suffixes(h, tmp_path, ingest_into):
    root = tmp_path / "archives"
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy(h.fixture(MBOXRD), root / "a" / "b" / "one.mbox")
    shutil.copy(h.fixture("pi-attached-text-x-patch.eml"), root / "a" / "two.eml")
    (root / "THREADS.json").write_text('{"not": "mail"}')
    (root / ".hidden.mbox").write_bytes(h.fixture("b4-trailer-on-cover-letter.mbox").read_bytes())
    db, stats = ingest_into([root])
    assert stats.new == 7 and stats.not_mail == 0
    assert db.execute("SELECT COUNT(*) FROM source_files").fetchone()[0] == 2


@pytest.mark.timeout(60)  # a symlink loop can make a walk endless: fail, do not hang
def test_symlink_loops_in_a_folder_are_walked_once_and_each_file_read_once(h, tmp_path,
                                                                          ingest_into):
    """`dot -> .` read every file 41 times (until ELOOP); with `sub/up -> ..` as well the
    walk never ended (36k junk parse_problems rows in two minutes)."""
    root = tmp_path / "archives"
    (root / "sub").mkdir(parents=True)
    shutil.copy(h.fixture(MBOXRD), root / "one.mbox")
    shutil.copy(h.fixture("pi-attached-text-x-patch.eml"), root / "sub" / "two.eml")
    (root / "dot").symlink_to(".")
    (root / "sub" / "up").symlink_to("..")
    (root / "again.mbox").symlink_to("one.mbox")  # a second name for one file
    db, stats = ingest_into([root])
    assert (stats.read, stats.new, stats.not_mail) == (7, 7, 0)
    assert db.execute("SELECT COUNT(*) FROM parse_problems WHERE message_id IS NULL"
                      ).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM source_files").fetchone()[0] == 2


def test_a_file_that_is_not_mail_is_reported_and_the_run_goes_on(h, tmp_path, ingest_into):
    root = tmp_path / "mixed"
    root.mkdir()
    shutil.copy(h.fixture("b4-trailer-on-cover-letter.mbox"), root / "a.mbox")
    (root / "b.txt").write_bytes(b"just some notes\nnothing to see here\n")
    (root / "c.bin").write_bytes(bytes(range(256)) * 4)
    shutil.copy(h.fixture("pi-attached-text-x-patch.eml"), root / "d.eml")
    db, stats = ingest_into([root, tmp_path / "missing.mbox"])
    assert stats.new == 6
    assert stats.not_mail == 3
    reasons = "\n".join(stats.errors)
    assert "b.txt: not a mail file" in reasons and "c.bin: not a mail file" in reasons
    assert "missing.mbox: no such file or directory" in reasons
    rows = db.execute("SELECT source, detail FROM parse_problems WHERE kind = 'not-mail'"
                      ).fetchall()
    assert len(rows) == 3


def test_cli_exits_3_when_some_inputs_failed_and_1_when_none_could_be_read(h, tmp_path):
    """A run where a file failed must not look like success to cron (it exited 0):
    3 = some inputs failed and the rest was stored, 1 = nothing could be read."""
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(tmp_path / "t.db"), "ingest", str(junk),
                                 str(h.fixture("pi-attached-text-x-patch.eml"))])
    assert result.exit_code == 3, result.output
    assert "1 new" in result.output
    assert "1 path(s) were not mail or could not be read" in result.output
    assert "notes.txt: not a mail file" in result.output
    only_junk = runner.invoke(cli, ["--db", str(tmp_path / "u.db"), "ingest", str(junk)])
    assert only_junk.exit_code == 1
    fine = runner.invoke(cli, ["--db", str(tmp_path / "v.db"), "ingest",
                               str(h.fixture("pi-attached-text-x-patch.eml"))])
    assert fine.exit_code == 0, fine.output


def test_stdin_dash_through_the_cli(h, tmp_path):
    """`abiwatch ingest -` reads an mbox from standard input (a real subprocess)."""
    data = h.fixture(MBOXRD).read_bytes()
    db_path = tmp_path / "t.db"
    proc = subprocess.run([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db_path), "ingest", "-"],
                          input=data, capture_output=True, cwd=h.REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"6 new" in proc.stdout
    from abiwatch.db import open_db

    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6
    assert {r[0] for r in db.execute("SELECT DISTINCT source FROM raw_messages")} == {"<stdin>"}
    # stdin undoes mboxrd quoting too
    assert db.execute("SELECT COUNT(*) FROM messages WHERE own_text LIKE 'From reading%'"
                      ).fetchone()[0] == 1


def test_stdin_single_message_through_click_runner(h, tmp_path):
    raw = h.fixture("pi-attached-text-x-patch.eml").read_bytes()
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "ingest", "-"], input=raw)
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output


def test_sniff_tells_mail_from_other_files():
    assert sniff(b"From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: a\n") == "mbox"
    assert sniff(b"Received: x\nMessage-ID: <a@b>\n\nbody") == "eml"
    assert sniff(b"\x1f\x8b\x08\x00") == "gzip"
    assert sniff(b"%PDF-1.4\n") == "unknown"
    assert sniff(b"Subject: only one header line\n\nbody") == "unknown"


def test_iter_paths_yields_notmail_for_missing_path(tmp_path):
    events = list(iter_paths([str(tmp_path / "nope")]))
    assert len(events) == 1 and isinstance(events[0], NotMail)


def test_text_before_the_first_from_line_is_kept_as_a_message(h):
    data = h.fixture("pi-attached-text-x-patch.eml").read_bytes()
    mbox = data + b"\n" + h.fixture("b4-trailer-on-cover-letter.mbox").read_bytes()
    mails = [e for e in iter_mbox(io.BytesIO(mbox), "x") if isinstance(e, RawMail)]
    assert len(mails) == 6
    assert mails[0].raw.startswith(b"From: a@example.com\n")


def _from_slices(path, fmt: str, per: int, max_bytes: int = 16 << 20) -> tuple[list, list]:
    with open(path, "rb") as f:
        pieces = list(mbox_slices(f, str(path), fmt=fmt, messages=per, max_bytes=max_bytes))
    return pieces, [(m.raw, m.mbox_from) for piece in pieces for m in read_slice(piece)]


def _tiles(pieces: list[MboxSlice], size: int) -> bool:
    return (pieces[0].start == 0 and pieces[-1].end == size
            and all(a.end == b.start for a, b in zip(pieces, pieces[1:], strict=False)))


@pytest.mark.parametrize("fmt", ["auto", "mboxo", "mboxrd"])
def test_mbox_slices_read_back_as_exactly_the_messages_of_the_whole_file(h, fmt):
    """Parallel ingest hands out byte ranges: read one by one they must give the same
    messages as the whole file, whatever the format and wherever the cuts fall."""
    files = [p for p in sorted(h.shared().rglob("*")) if p.is_file()
             and sniff(p.read_bytes()[:8192]) == "mbox"]
    files += [h.fixture(MBOXRD), h.fixture("b4-trailer-on-cover-letter.mbox")]
    assert len(files) > 20
    for path in files:
        data = path.read_bytes()
        whole = [(m.raw, m.mbox_from) for m in iter_mbox(io.BytesIO(data), str(path), fmt=fmt)]
        for per in (1, 3, 1000):
            pieces, got = _from_slices(path, fmt, per)
            assert got == whole, (path, per)
            assert sum(p.messages for p in pieces) == len(whole)
            assert _tiles(pieces, len(data))


def test_every_slice_is_read_in_the_format_of_the_files_first_from_line(tmp_path):
    """An mboxo file whose later From_ line happens to read "From mboxrd@z" stays mboxo:
    a slice starting there must not unquote its '>From ' lines."""
    path = tmp_path / "mboxo.mbox"
    path.write_bytes(b"From a@b Mon Jan  2 03:04:05 2006\nSubject: 1\n\none\n\n"
                     b"From mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: 2\n\n>From two\n\n"
                     b"From a@b Mon Jan  2 03:04:05 2006\nSubject: 3\n\n>From three\n")
    whole = [m.raw for m in iter_mbox(io.BytesIO(path.read_bytes()), str(path))]
    assert whole[1] == b"Subject: 2\n\n>From two\n"
    pieces, got = _from_slices(path, "auto", 1)
    assert [p.fmt for p in pieces] == ["auto", "mboxo", "mboxo"]
    assert [raw for raw, _ in got] == whole


def test_a_slice_of_huge_messages_stops_at_the_byte_limit(h):
    path = h.fixture(MBOXRD)
    whole = [(m.raw, m.mbox_from) for m in iter_mbox(io.BytesIO(path.read_bytes()), "x")]
    pieces, got = _from_slices(path, "auto", 1000, max_bytes=1)
    assert [p.messages for p in pieces] == [1] * len(whole)
    assert got == [(raw, frm) for raw, frm in whole]


def test_a_file_that_shrank_since_it_was_sliced_is_reported(h, tmp_path):
    path = tmp_path / "a.mbox"
    path.write_bytes(h.fixture(MBOXRD).read_bytes())
    with open(path, "rb") as f:
        pieces = list(mbox_slices(f, str(path)))
    whole = [m.raw for m in read_slice(pieces[-1])]
    path.write_bytes(path.read_bytes()[:-100])
    events = list(read_slice(pieces[-1]))
    assert isinstance(events[-1], NotMail) and "shrank" in events[-1].reason
    assert [e.raw for e in events[:-1]] == whole[:-1]  # the message cut short is left out


_LINES = st.sampled_from([
    b"From mboxrd@z Thu Jan  1 00:00:00 1970\n", b"From a@b Mon Jan  2 03:04:05 2006\n",
    b"From here on we disagree\n", b">From quoted\n", b">>From twice\n", b"Subject: x\n",
    b"\n", b"\r\n", b"body text\n", b"From ", b"From x 1999\r\n", b"no newline"])


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINES, max_size=40), per=st.integers(1, 5),
       fmt=st.sampled_from(["auto", "mboxo", "mboxrd"]))
def test_mbox_slices_agree_with_iter_mbox_on_any_input(tmp_path_factory, lines, per, fmt):
    data = b"".join(lines)
    path = tmp_path_factory.mktemp("slices") / "x.mbox"
    path.write_bytes(data)
    whole = [(m.raw, m.mbox_from) for m in iter_mbox(io.BytesIO(data), str(path), fmt=fmt)]
    pieces, got = _from_slices(path, fmt, per)
    assert got == whole
    assert sum(p.messages for p in pieces) == len(whole)
    assert not pieces or _tiles(pieces, len(data))


def test_an_mbox_that_shrinks_during_the_run_keeps_what_was_read_and_is_read_again_next_time(
        h, tmp_path, new_db, monkeypatch):
    """Ingest reads an mbox by byte ranges after finding where its messages start. If the
    file loses its tail in between, the messages read are kept, the run reports it, and
    the file is not recorded as done: the next run reads it again and nothing is lost."""
    import abiwatch.ingest.parse_stage as parse_stage
    from abiwatch.ingest.load import ingest

    data = h.fixture(MBOXRD).read_bytes()
    path = tmp_path / "list.mbox"
    path.write_bytes(data)
    real_read_slice = parse_stage.read_slice
    pieces = []

    def read_slice_after_truncating(piece):
        pieces.append(piece)
        if len(pieces) == 2:  # the file is cut in the middle of the second range
            path.write_bytes(data[:piece.start + (piece.end - piece.start) // 2])
        return real_read_slice(piece)

    monkeypatch.setattr(parse_stage, "read_slice", read_slice_after_truncating)
    db = new_db()
    stats = ingest(db, [str(path)], progress=False, workers=1, batch_size=2)
    assert any("shrank" in e for e in stats.errors)
    assert db.execute("SELECT COUNT(*) FROM source_files").fetchone()[0] == 0
    # the second range is cut short and the third is gone
    assert db.execute("SELECT kind FROM parse_problems WHERE message_id IS NULL").fetchall() == [
        ("read-error",)] * 2
    kept = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert 2 <= kept < 6
    monkeypatch.undo()
    path.write_bytes(data)
    again = ingest(db, [str(path)], progress=False, workers=1, batch_size=2)
    assert again.new == 6 - kept and not again.errors
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6
    assert db.execute("SELECT complete FROM source_files").fetchall() == [(1,)]


def test_a_range_that_cannot_be_read_at_all_is_a_read_error_and_nothing_is_made_up(h, tmp_path):
    path = tmp_path / "a.mbox"
    path.write_bytes(h.fixture(MBOXRD).read_bytes())
    with open(path, "rb") as f:
        pieces = list(mbox_slices(f, str(path)))
    path.unlink()
    path.mkdir()  # reading it now fails in the operating system (EISDIR)
    events = list(read_slice(pieces[0]))
    assert len(events) == 1 and isinstance(events[0], NotMail)
    assert events[0].kind == "read-error" and "run the ingest again" in events[0].reason
