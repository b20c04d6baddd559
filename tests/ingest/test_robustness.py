"""Robustness: re-runs are no-ops, variants are kept, a SIGKILL loses nothing."""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import count_rows, processes_mentioning

from abiwatch.db.blobs import decompress_raw
from abiwatch.ingest.load import ingest
from abiwatch.ingest.sources import iter_mbox

SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
_ID_HEADERS = re.compile(rb"^(message-id|in-reply-to|references)\s*:", re.I)


def test_reingesting_the_same_input_changes_nothing(h, tmp_path, new_db):
    src = [str(h.fixture(".")), str(h.shared("lore-inbox-lkml-2006-2007"))]
    db = new_db("t.db")
    first = ingest(db, src, progress=False)
    before = h.dump(tmp_path / "t.db")
    again = ingest(db, src, progress=False)  # unchanged files are skipped
    assert (again.read, again.new) == (0, 0)
    assert h.dump(tmp_path / "t.db") == before
    forced = ingest(db, src, progress=False, rescan=True)  # read every message again
    assert forced.read == first.read and forced.new == 0
    assert forced.duplicate == first.read  # every raw message is known byte for byte
    diff = h.diff_dumps(before, h.dump(tmp_path / "t.db"))
    assert not diff, diff


def test_reingest_through_the_cli_is_a_no_op(h, tmp_path):
    from click.testing import CliRunner

    from abiwatch.bot.cli import cli

    db_path = tmp_path / "t.db"
    args = ["--db", str(db_path), "ingest", "--rescan", str(h.fixture("."))]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    before = h.dump(db_path)
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0 and " 0 new" in second.output
    assert h.dump(db_path) == before


def test_same_message_id_with_other_content_is_kept_as_a_variant(h, tmp_path, ingest_into):
    mails = list(iter_mbox(io.BytesIO(h.fixture("lkml-2006-orphan-replies-paravirt-h.mbox")
                                      .read_bytes()), "x"))
    andi = next(m.raw for m in mails if b"<200608101331.19954.ak@muc.de>" in m.raw)
    edited = andi.replace(b"Hmm, i still see a lot of them", b"Hmm, I still see many of them")
    assert edited != andi
    (tmp_path / "a.mbox").write_bytes(SEPARATOR + andi.replace(b"\nFrom ", b"\n>From "))
    (tmp_path / "b.mbox").write_bytes(SEPARATOR + edited.replace(b"\nFrom ", b"\n>From "))
    db, first = ingest_into([tmp_path / "a.mbox", tmp_path / "b.mbox"])
    assert (first.new, first.variants) == (1, 1)
    rows = db.execute("SELECT is_variant, raw FROM raw_messages WHERE message_id = ? "
                      "ORDER BY is_variant", ["200608101331.19954.ak@muc.de"]).fetchall()
    assert [r[0] for r in rows] == [0, 1]
    assert decompress_raw(rows[0][1]) == andi and decompress_raw(rows[1][1]) == edited
    # the first one seen stays the message; the variant is a recorded problem
    own = h.one(db, "SELECT own_text FROM messages")[0]
    assert own.startswith("Hmm, i still see a lot of them")
    assert h.one(db, "SELECT kind, source FROM parse_problems WHERE message_id = ?",
                 ["200608101331.19954.ak@muc.de"]) == ("message-id-variant",
                                                        str((tmp_path / "b.mbox").resolve()))
    again = ingest(db, [str(tmp_path / "b.mbox")], rescan=True, progress=False)
    assert (again.new, again.variants, again.duplicate) == (0, 0, 1)


def test_same_mail_with_other_list_headers_is_a_duplicate_not_a_variant(h, tmp_path,
                                                                        ingest_into):
    """A cross-posted mail differs in Received/List-Id headers, not in content."""
    mails = list(iter_mbox(io.BytesIO(h.fixture("lkml-2006-orphan-replies-paravirt-h.mbox")
                                      .read_bytes()), "x"))
    andi = next(m.raw for m in mails if b"<200608101331.19954.ak@muc.de>" in m.raw)
    relisted = b"Received: from another.list.example by mx\n" + andi.replace(
        b"X-Mailing-List: linux-kernel@vger.kernel.org",
        b"X-Mailing-List: virtualization@lists.osdl.org")
    (tmp_path / "a.eml").write_bytes(andi)
    (tmp_path / "b.eml").write_bytes(relisted)
    db, stats = ingest_into([tmp_path / "a.eml", tmp_path / "b.eml"])
    assert (stats.new, stats.duplicate, stats.variants) == (1, 1, 0)
    assert db.execute("SELECT COUNT(*) FROM raw_messages").fetchone()[0] == 2
    assert sorted(r[0] for r in db.execute("SELECT list FROM message_lists")) == [
        "linux-kernel@vger.kernel.org", "virtualization@lists.osdl.org"]


def _renamed_copy(raw: bytes, tag: bytes) -> bytes:
    """Return raw mail with every Message-ID in Message-ID/In-Reply-To/References renamed,
    so that copies of a real archive are new mail with the same thread shapes."""
    end = raw.find(b"\n\n")
    head, body = (raw, b"") if end < 0 else (raw[:end], raw[end:])
    out, in_id_header = [], False
    for line in head.split(b"\n"):
        if line[:1] not in (b" ", b"\t"):
            in_id_header = bool(_ID_HEADERS.match(line))
        if in_id_header:
            line = re.sub(rb"<([^<>\s]+)>", rb"<" + tag + rb".\1>", line)
        out.append(line)
    return b"\n".join(out) + body


def _big_archive(h, path: Path, copies: int) -> int:
    """Write an mboxrd archive of `copies` renamed copies of the virtualization list."""
    n = 0
    with open(path, "wb") as out:
        for k in range(copies):
            for f in sorted(h.shared("lfdr-virtualization-list").rglob("*.mbox")):
                for mail in iter_mbox(io.BytesIO(f.read_bytes()), str(f)):
                    raw = _renamed_copy(mail.raw, b"c%d" % k)
                    out.write(SEPARATOR + re.sub(rb"^(>*From )", rb">\1", raw, flags=re.M))
                    out.write(b"\n" if raw.endswith(b"\n") else b"\n\n")
                    n += 1
    return n




def _abiwatch(db_path: Path, archive: Path) -> list[str]:
    return [sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db_path), "ingest", "--no-progress",
            str(archive)]


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_equals_one_clean_run(h, tmp_path):
    archive = tmp_path / "big.mbox"
    total = _big_archive(h, archive, copies=3)
    assert total > 2000  # several 1000-message batches
    env = dict(os.environ, PYTHONPATH=str(h.REPO))

    clean = tmp_path / "clean.db"
    subprocess.run(_abiwatch(clean, archive), check=True, capture_output=True, env=env,
                   cwd=h.REPO, timeout=300)
    assert count_rows(clean, "messages") == total

    killed = tmp_path / "killed.db"
    proc = subprocess.Popen(_abiwatch(killed, archive), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, cwd=h.REPO)
    deadline = time.monotonic() + 240
    while count_rows(killed, "messages") == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the first batch to commit
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # the parser/writer workers die with it at once: without PR_SET_PDEATHSIG they would
    # go on writing the batches already handed to them, even while a re-run starts
    partial = count_rows(killed, "messages")
    time.sleep(1.5)
    assert count_rows(killed, "messages") == partial
    assert not processes_mentioning(str(killed))
    assert 0 < partial < total
    # the killed run left whole batches only: an integrity check passes
    conn = sqlite3.connect(killed)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT status FROM ingest_runs").fetchone()[0] == "running"
    conn.close()

    subprocess.run(_abiwatch(killed, archive), check=True, capture_output=True, env=env,
                   cwd=h.REPO, timeout=300)
    diff = h.diff_dumps(h.dump(clean), h.dump(killed))
    assert not diff, diff


@pytest.mark.slow
def test_linking_in_rounds_gives_the_same_database_as_linking_once(h, tmp_path, new_db,
                                                                   monkeypatch):
    """Runs link every batch (so memory stays flat) and regroup series at the end;
    threads, series and trailers must come out exactly as when everything is linked
    once at the end."""
    import abiwatch.ingest.load as load

    src = [str(h.shared("lore-inbox-lkml-2006-2007")), str(h.shared("lfdr-virtualization-list")),
           str(h.shared("lfdr-linux-hyperv"))]
    # linking once at the end: each batch only queues its messages (link_queue)
    real_write = load.Writer.write
    monkeypatch.setattr(load.Writer, "write",
                        lambda self, results, link=True: real_write(self, results, link=False))
    once = new_db("once.db")
    ingest(once, src, progress=False, workers=1, batch_size=100)
    monkeypatch.undo()
    calls = []
    import abiwatch.ingest.writer as writer

    real_link = writer.link_threads_and_trailers
    monkeypatch.setattr(writer, "link_threads_and_trailers",
                        lambda db, *fresh: calls.append(1) or real_link(db, *fresh))
    rounds = new_db("rounds.db")
    ingest(rounds, src, progress=False, workers=1, batch_size=100)
    assert len(calls) > 4
    diff = h.diff_dumps(h.dump(tmp_path / "once.db"), h.dump(tmp_path / "rounds.db"))
    assert not diff, diff


@pytest.mark.slow
def test_two_workers_writing_in_turn_give_the_same_database_as_one_process(
        h, tmp_path, new_db, monkeypatch):
    """Workers write their batches themselves, one at a time in input order: ids,
    duplicates, variants and links must be exactly those of a one-process run."""

    src = [str(h.shared())]
    one = new_db("one.db")
    ingest(one, src, progress=False, workers=1, batch_size=50)
    two = new_db("two.db")
    stats = ingest(two, src, progress=False, workers=2, batch_size=50)
    assert stats.read > 1000 and stats.variants > 0  # the corpus reuses some ids
    diff = h.diff_dumps(h.dump(tmp_path / "one.db"), h.dump(tmp_path / "two.db"))
    assert not diff, diff


@pytest.mark.slow
def test_a_reader_holding_a_snapshot_neither_blocks_nor_sees_half_of_a_parallel_ingest(
        h, tmp_path, new_db, monkeypatch):
    """The bot or Datasette may hold a read transaction through a whole ingest: the
    checkpoints that cannot copy past its snapshot give up after their wait and the run
    completes; the reader sees the database as it was, then all of it."""
    import abiwatch.ingest.load as load
    from abiwatch.db import open_db

    monkeypatch.setattr(load, "CHECKPOINT_WAIT_MS", 100)  # the default waits 1 s a checkpoint
    first, src = [str(h.shared("lfdr-linux-hyperv"))], [str(h.shared())]
    one = new_db("one.db")
    for paths in (first, src):
        ingest(one, paths, progress=False, workers=1, batch_size=50)
    db = new_db("two.db")
    ingest(db, first, progress=False, workers=1, batch_size=50)
    reader = open_db(tmp_path / "two.db", readonly=True).conn
    reader.execute("BEGIN")
    before = reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert before > 10
    stats = ingest(db, src, progress=False, workers=2, batch_size=50)
    assert stats.new > 500 and not stats.errors
    assert reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == before
    reader.execute("COMMIT")
    assert reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == \
        one.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    reader.close()
    diff = h.diff_dumps(h.dump(tmp_path / "one.db"), h.dump(tmp_path / "two.db"))
    assert not diff, diff


def test_a_second_ingest_at_the_same_time_waits_for_the_first_and_adds_nothing(h, tmp_path):
    """A timer's ingest and a person's at once: the second one died with "UNIQUE
    constraint failed: messages.id". It now waits for the first (saying so), then finds
    every message stored. The first reads an mbox from a pipe the test holds open, so
    it is mid-run for as long as the test wants, whatever the machine's speed."""
    data = h.fixture("lkml-2006-orphan-replies-paravirt-h.mbox").read_bytes()
    archive = tmp_path / "paravirt.mbox"
    archive.write_bytes(data)
    db_path = tmp_path / "t.db"
    env = dict(os.environ, PYTHONPATH=str(h.REPO))
    cli = [sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db_path), "ingest",
           "--no-progress"]
    first = subprocess.Popen(cli + ["-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, cwd=h.REPO)
    second = None
    try:
        first.stdin.write(data[: len(data) // 2])  # the rest is still to come
        first.stdin.flush()
        lock = Path(f"{db_path}-ingest.lock")
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.monotonic() < deadline, "first never locked"
            time.sleep(0.02)
        second = subprocess.Popen(cli + [str(archive)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, cwd=h.REPO)
        said = b""
        while b"waiting for it to finish" not in said:
            line = second.stderr.readline()
            assert line, f"the second ingest did not wait: {said!r}"
            said += line
        assert str(first.pid).encode() in said and second.poll() is None
        out1, err1 = first.communicate(data[len(data) // 2:], timeout=120)
        out2, err2 = second.communicate(timeout=120)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert first.returncode == 0 and b"5 new" in out1, err1
    assert second.returncode == 0 and b"0 new, 5 duplicate" in out2, err2
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 5
    conn.close()


def test_a_batch_takes_the_write_lock_before_it_chooses_its_message_ids(h, tmp_path, new_db):
    """Ids are MAX(id) + 1: read outside the write lock, another writer could commit the
    same ids in between. Here a second connection tries to write exactly then; it must
    find the database locked, and the first batch goes through."""
    from abiwatch.db import open_db
    from abiwatch.ingest.parse_stage import parse_chunk
    from abiwatch.ingest.writer import IngestStats, Writer

    mails = list(iter_mbox(io.BytesIO(h.fixture("lkml-2006-orphan-replies-paravirt-h.mbox")
                                      .read_bytes()), "x"))
    db = new_db("t.db")
    other = open_db(tmp_path / "t.db")
    other.conn.execute("PRAGMA busy_timeout = 0")
    blocked = []

    def the_other_writer_strikes(statement: str) -> None:
        if "MAX(id)" in statement and not blocked:
            try:
                Writer(other, 1, None, IngestStats()).write(parse_chunk(mails[3:]))
                blocked.append(False)
            except sqlite3.OperationalError as exc:
                blocked.append("locked" in str(exc))

    db.conn.set_trace_callback(the_other_writer_strikes)
    Writer(db, 1, None, IngestStats()).write(parse_chunk(mails[:3]))
    db.conn.set_trace_callback(None)
    assert blocked == [True]
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 3
