"""A full disk and read-only storage, for real (tests/storage.py): a write that fails
is one line that says what to do, never a chained traceback; the database stays
whole and the next run goes on; readers still read read-only storage, and say how."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import storage
from corpus import shared

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

MORE = "lfdr-linux-hyperv"  # 3.5 MB of real mail: more than the full disk has room for
COUNT = ("$PYTHON -c \"import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute("
         "'PRAGMA integrity_check').fetchone()[0], c.execute('SELECT COUNT(*) FROM messages')"
         ".fetchone()[0], c.execute('SELECT COUNT(*) FROM concerns').fetchone()[0])\" ")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A database of real mail, ingested and not tagged."""
    path = tmp_path_factory.mktemp("storage") / "base.db"
    db = open_db(path)
    ingest(db, [str(shared("lore-inbox-lkml-2006-2007"))], progress=False)
    db.conn.close()
    return path


def _kb(path: Path) -> int:
    return path.stat().st_size // 1024


def _one_line_error(text: str) -> str:
    assert "Traceback" not in text and "During handling" not in text, text
    errors = [ln for ln in text.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1, text
    return errors[0]


def test_ingest_on_a_full_disk_stops_in_one_line_and_goes_on_when_there_is_space(
        ingested, tmp_path):
    more = shared(MORE)
    want = tmp_path / "want.db"
    shutil.copy(ingested, want)
    db = open_db(want)
    ingest(db, [str(more)], progress=False)
    total = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    db.conn.close()
    mnt = tmp_path / "disk"
    mnt.mkdir()
    run = storage.in_namespace(f"""
        mount -t tmpfs -o size={_kb(ingested) + 512}k none {mnt} && cp {ingested} {mnt}/t.db
        echo "== full"; $ABIWATCH --db {mnt}/t.db ingest --no-progress {more} 2>&1
        echo "== rc $?"; {COUNT} {mnt}/t.db
        mount -o remount,size=64m {mnt}
        echo "== again"; $ABIWATCH --db {mnt}/t.db ingest --no-progress {more} 2>&1
        echo "== rc $?"; {COUNT} {mnt}/t.db
    """)
    out = storage.sections(run.stdout)
    assert list(out) == ["full", "rc 1", "again", "rc 0"], run.stdout + run.stderr
    assert _one_line_error(out["full"]).startswith(f"Error: the disk holding {mnt}/t.db is full")
    integrity, partial, _ = out["rc 1"].split()
    assert integrity == "ok" and 35 <= int(partial) < total
    assert "new" in out["again"] and out["rc 0"].split()[:2] == ["ok", str(total)]


def test_tag_on_a_full_disk_stops_in_one_line_and_goes_on_when_there_is_space(
        ingested, tmp_path):
    want = tmp_path / "want.db"
    shutil.copy(ingested, want)
    db = open_db(want)
    concerns = tag(db, progress=False).concerns
    everything = db.execute("SELECT COUNT(*) FROM concerns").fetchone()[0]
    db.conn.close()
    mnt = tmp_path / "disk"
    mnt.mkdir()
    run = storage.in_namespace(f"""
        mount -t tmpfs -o size={_kb(ingested) + 96}k none {mnt} && cp {ingested} {mnt}/t.db
        echo "== full"; $ABIWATCH --db {mnt}/t.db tag --no-progress 2>&1
        echo "== rc $?"; {COUNT} {mnt}/t.db
        mount -o remount,size=64m {mnt}
        echo "== again"; $ABIWATCH --db {mnt}/t.db tag --no-progress 2>&1
        echo "== rc $?"; {COUNT} {mnt}/t.db
    """)
    out = storage.sections(run.stdout)
    assert list(out) == ["full", "rc 1", "again", "rc 0"], run.stdout + run.stderr
    assert _one_line_error(out["full"]).startswith(f"Error: the disk holding {mnt}/t.db is full")
    assert out["rc 1"].split()[0] == "ok"
    assert f"{concerns} concerns" in out["again"]
    assert out["rc 0"].split() == ["ok", "35", str(everything)]


def test_ingest_and_tag_on_read_only_storage_say_so_in_one_line(ingested, tmp_path):
    src, mnt = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    mnt.mkdir()
    shutil.copy(ingested, src / "t.db")
    eml = storage.REPO / "tests" / "fixtures" / "ingest" / "pi-attached-text-x-patch.eml"
    run = storage.in_namespace(f"""
        mount --bind {src} {mnt} && mount -o remount,bind,ro {mnt}
        echo "== ingest"; $ABIWATCH --db {mnt}/t.db ingest --no-progress {eml} 2>&1
        echo "== ingest rc $?"
        echo "== tag"; $ABIWATCH --db {mnt}/t.db tag --no-progress 2>&1
        echo "== tag rc $?"
    """)
    out = storage.sections(run.stdout)
    assert list(out) == ["ingest", "ingest rc 1", "tag", "tag rc 1"], run.stdout + run.stderr
    for command in ("ingest", "tag"):
        line = _one_line_error(out[command])
        assert line.startswith(f"Error: {mnt}/t.db cannot be written") and "read-only" in line
        assert f"`abiwatch {command}` writes" in line


def test_readers_read_a_database_on_read_only_storage_as_a_snapshot_and_say_so(ingested,
                                                                               tmp_path):
    """A WAL database needs its -shm index next to it: `ask`, `stats` and `sql` could not
    open one on read-only storage at all."""
    src, mnt = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    mnt.mkdir()
    shutil.copy(ingested, src / "t.db")
    db = open_db(src / "t.db")
    tag(db, progress=False)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # a change still in the WAL when the copy was taken: a snapshot cannot see it
    db.conn.execute("PRAGMA wal_autocheckpoint = 0")
    with db.conn:
        db.conn.execute("INSERT INTO subscribers (email, name) VALUES ('x@example.com', 'X')")
    shutil.copy(src / "t.db", tmp_path / "t.db")
    shutil.copy(src / "t.db-wal", tmp_path / "t.db-wal")
    db.conn.close()
    for name in ("t.db", "t.db-wal"):
        shutil.copy(tmp_path / name, src / name)
    (src / "t.db-shm").unlink(missing_ok=True)
    run = storage.in_namespace(f"""
        mount --bind {src} {mnt} && mount -o remount,bind,ro {mnt}
        echo "== stats"; $ABIWATCH --db {mnt}/t.db stats 2>&1; echo "== rc $?"
        echo "== ask"; $ABIWATCH --db {mnt}/t.db ask "interface VMI" 2>&1
        echo "== sql"; $ABIWATCH --db {mnt}/t.db sql "SELECT COUNT(*) AS n FROM messages" \
            --format csv 2>&1
    """)
    out = storage.sections(run.stdout)
    assert list(out) == ["stats", "rc 0", "ask", "sql"], run.stdout + run.stderr
    for command in ("stats", "ask", "sql"):
        text = out[command]
        assert "Traceback" not in text
        warnings = [ln for ln in text.splitlines() if "immutable=1" in ln]
        assert len(warnings) == 1 and "read-only storage" in warnings[0], text
        assert "changes in t.db-wal are not seen" in warnings[0]
    assert out["stats"].splitlines()[1].startswith("35 messages")
    assert "14 messages in 2 threads" in out["ask"]
    assert out["sql"].splitlines()[1:] == ["n", "35"]
    assert sqlite3.connect(src / "t.db").execute("SELECT COUNT(*) FROM subscribers"
                                                 ).fetchone()[0] == 1
