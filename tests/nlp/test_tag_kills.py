"""`abiwatch tag` killed with SIGKILL at every commit point (the summaries' included)
and run again ends exactly where an uninterrupted run ends; a message the pipeline
cannot read does not stop the archive."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3

import pytest
from corpus import shared

import abiwatch.nlp.decide as decide
import abiwatch.nlp.tagging as tagging
from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

from .conftest import REPO

# Columns that say when, not what.
_WHEN = {"run_id", "tagged_at"}
_SKIP = {"ingest_runs", "_migrations"}


def _dump(path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                 "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'messages_fts%'"):
            if t in _SKIP:
                continue
            cols = ", ".join(f'"{r[1]}"' for r in conn.execute(f'PRAGMA table_info("{t}")')
                             if r[1] not in _WHEN)
            out[t] = conn.execute(f'SELECT {cols} FROM "{t}" ORDER BY {cols}').fetchall()
        return out
    finally:
        conn.close()


@pytest.fixture
def small_steps(monkeypatch):
    """Several analysis batches and decision chunks from a small archive: more commit
    points to kill at."""
    monkeypatch.setattr(tagging, "BATCH", 12)
    monkeypatch.setattr(decide, "THREAD_CHUNK", 1)


@pytest.fixture
def ingested(tmp_path):
    path = tmp_path / "ingested.db"
    db = open_db(path)
    ingest(db, [str(shared("lore-inbox-lkml-2006-2007"))], progress=False)
    db.conn.close()
    return path


def _tag_in_a_child(path, kill_at_commit: int | None) -> int:
    """Run tag on path in a forked process; with kill_at_commit=k, the process SIGKILLs
    itself as its k-th COMMIT is about to run (so transaction k is lost half done and
    commits 1..k-1 stand). Return its wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            db = open_db(path)
            commits = 0

            def trace(statement: str) -> None:
                nonlocal commits
                if statement.lstrip().upper().startswith("COMMIT"):
                    commits += 1
                    if commits == kill_at_commit:
                        os.kill(os.getpid(), signal.SIGKILL)

            db.conn.set_trace_callback(trace)
            tag(db, progress=False, workers=1)
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(3)
    return os.waitpid(pid, 0)[1]


def _commits_of_a_tag_run(path) -> int:
    db = open_db(path)
    seen = []
    db.conn.set_trace_callback(
        lambda s: seen.append(1) if s.lstrip().upper().startswith("COMMIT") else None)
    tag(db, progress=False, workers=1)
    db.conn.close()
    return len(seen)


def test_tag_killed_at_every_commit_point_then_rerun_equals_an_uninterrupted_run(
        tmp_path, ingested, small_steps):
    clean = tmp_path / "clean.db"
    shutil.copy(ingested, clean)
    commits = _commits_of_a_tag_run(clean)
    want = _dump(clean)
    assert commits >= 7  # the catalog, three analysis batches, decision chunks, the last step
    assert want["interface_stats"] and want["concerns"]
    for k in range(1, commits + 1):
        path = tmp_path / f"killed{k}.db"
        shutil.copy(ingested, path)
        status = _tag_in_a_child(path, kill_at_commit=k)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (k, status)
        db = open_db(path)
        tag(db, progress=False, workers=1)
        db.conn.close()
        got = _dump(path)
        diff = [t for t in want if got.get(t) != want[t]]
        assert not diff, (k, diff)


def test_tag_killed_before_its_summaries_commit_has_them_rebuilt_by_the_next_run(
        tmp_path, ingested):
    """The reviewer's case: killed after the threads were decided, before the summaries
    were written; `interface NAME` then found 0 messages for good."""
    path = tmp_path / "t.db"
    shutil.copy(ingested, path)
    clean = tmp_path / "clean.db"
    shutil.copy(ingested, clean)
    last = _commits_of_a_tag_run(clean)
    status = _tag_in_a_child(path, kill_at_commit=last)  # the summaries' transaction
    assert os.WIFSIGNALED(status)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM interface_stats").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM tagged_messages WHERE decided = 0").fetchone()[0] == 0
    conn.close()
    db = open_db(path)
    again = tag(db, progress=False, workers=1)
    assert again.analyzed == 0
    assert db.execute("SELECT * FROM interface_stats ORDER BY 1").fetchall() == \
        sqlite3.connect(clean).execute("SELECT * FROM interface_stats ORDER BY 1").fetchall()


def test_a_message_with_a_megabyte_subject_is_tagged_with_the_rest(tmp_path, ingested):
    """spaCy refuses a text over nlp.max_length (E088): a 1 MiB Subject failed its batch
    and stopped tag for the whole archive, on every run."""
    raw = (REPO / "tests" / "fixtures" / "fuzz" / "nul-in-subject.eml").read_bytes()
    huge = b"Subject: Re: the paravirt ABI " + b"is frozen by VMI " * (1 << 16) + b"\n"
    raw = re.sub(rb"^Subject: [^\n]*\n", lambda _: huge, raw, count=1, flags=re.M)
    raw = raw.replace(b"<200608101331.19954.ak@muc.de>", b"<huge-subject@example.com>")
    assert len(raw) > 1 << 20
    (tmp_path / "huge.eml").write_bytes(raw)
    path = tmp_path / "t.db"
    shutil.copy(ingested, path)
    db = open_db(path)
    assert ingest(db, [str(tmp_path / "huge.eml")], progress=False).new == 1
    stats = tag(db, progress=False, workers=1)
    assert stats.analyzed == db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 36
    assert db.execute("SELECT COUNT(*) FROM tagged_messages").fetchone()[0] == 36
