"""public-inbox epochs read in slices: the main process lists new commits and their
blobs, whoever parses reads the blobs; each slice's checkpoint is written with it."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import inbox_repo as ir
import pytest
from processes import count_rows, processes_mentioning

from abiwatch.ingest.load import ingest
from abiwatch.ingest.sources import (
    InboxSlice,
    RawMail,
    SourceDone,
    iter_inbox_epoch,
    iter_mbox,
    iter_paths,
    read_inbox_slice,
)


def _all_fixture_mails(h) -> list[bytes]:
    out = []
    for f in sorted(h.FIXTURES.glob("*.mbox")):
        out += [m.raw for m in iter_mbox(io.BytesIO(f.read_bytes()), f.name)]
    return out  # 30 real messages, 8 written in the 2006 LKML style


REMOVALS = (7, 20)  # where _fixture_inbox puts its removal commits


def _fixture_inbox(h, tmp_path: Path) -> tuple[Path, Path, list[str], list[bytes]]:
    """An inbox of the 38 fixture mails with two removal commits among them; return
    (inbox, epoch, its 40 commits, the mails)."""
    mails = _all_fixture_mails(h)
    inbox = tmp_path / "inbox"
    e0 = ir.epoch(inbox / "git" / "0.git")
    items = [("m", raw) for raw in mails]
    for at in REMOVALS:
        items.insert(at, ("d", b"removed\n"))
    commits = ir.fast_import(e0, items)
    return inbox, e0, commits, mails


@ir.needs_git
def test_epoch_is_listed_in_bounded_slices_and_only_new_commits_after(h, tmp_path):
    inbox, e0, commits, mails = _fixture_inbox(h, tmp_path)
    message_commits = [c for i, c in enumerate(commits) if i not in REMOVALS]
    slices = list(iter_inbox_epoch(e0, None, messages=4))
    assert all(isinstance(s, InboxSlice) and len(s.blobs) == 4 for s in slices[:-1])
    assert [c for s in slices for _, c in s.blobs] == message_commits  # oldest first, no removals
    # each slice's checkpoint is its last message's commit; the last one's is HEAD
    assert [s.commit for s in slices[:-1]] == [s.blobs[-1][1] for s in slices[:-1]]
    assert slices[-1].commit == commits[-1] == ir.git(e0, "rev-parse", "HEAD")
    assert [b for s in slices for b, _ in s.blobs] == [
        ir.git(e0, "rev-parse", f"{c}:m") for c in message_commits]

    # a byte bound cuts slices short of their message count
    assert all(len(s.blobs) == 1 for s in iter_inbox_epoch(e0, None, messages=100, max_bytes=1))

    # from a checkpoint: only the commits after it; from HEAD: nothing is listed
    later = list(iter_inbox_epoch(e0, commits[19], messages=100))
    assert [c for s in later for _, c in s.blobs] == [c for c in message_commits
                                                      if commits.index(c) > 19]
    assert list(iter_inbox_epoch(e0, commits[-1])) == [
        SourceDone(str(e0), "public-inbox", messages=0, git_commit=commits[-1])]


@ir.needs_git
def test_a_slice_yields_its_blobs_byte_for_byte_then_its_checkpoint(h, tmp_path):
    inbox, e0, commits, mails = _fixture_inbox(h, tmp_path)
    read: list[bytes] = []
    for piece in iter_inbox_epoch(e0, None, messages=7):
        events = list(read_inbox_slice(piece))
        assert events[-1] == SourceDone(str(e0), "public-inbox", messages=len(piece.blobs),
                                        git_commit=piece.commit)
        assert [e.source for e in events[:-1]] == [f"{e0}@{c}" for _, c in piece.blobs]
        read += [e.raw for e in events[:-1]]
    assert read == mails
    # asked for messages, not slices, the reader reads the slices itself
    assert [e.raw for e in iter_paths([str(inbox)]) if isinstance(e, RawMail)] == mails


@ir.needs_git
def test_a_blob_that_cannot_be_read_holds_the_epoch_back_until_it_can(h, tmp_path, new_db):
    mails = h.real_mails()
    inbox = tmp_path / "inbox"
    e0 = ir.epoch(inbox / "git" / "0.git")
    for raw in mails[:6]:
        ir.commit(e0, raw)  # loose objects: one of them can be taken away
    blob = ir.git(e0, "rev-parse", "HEAD~3:m")
    loose = e0 / "objects" / blob[:2] / blob[2:]
    kept = loose.read_bytes()
    loose.unlink()

    db = new_db("broken.db")
    stats = ingest(db, [str(inbox)], progress=False, workers=1, batch_size=1)
    assert stats.new == 5 and stats.not_mail == 1
    assert "cannot be read" in stats.errors[0]
    # the slices after the broken one were written, but the checkpoint stayed before it
    assert h.one(db, "SELECT last_commit FROM inbox_progress")[0] == ir.git(e0, "rev-parse",
                                                                        "HEAD~4")
    loose.write_bytes(kept)
    again = ingest(db, [str(inbox)], progress=False, workers=1, batch_size=1)
    assert (again.new, again.duplicate, again.not_mail) == (1, 3, 0)
    clean = new_db("clean.db")
    ingest(clean, [str(inbox)], progress=False)
    # the same mail, threaded the same; only the row ids follow the order mail was read
    # in, and the problem the broken run met is on record
    clean_dump, broken_dump = h.dump(tmp_path / "clean.db"), h.dump(tmp_path / "broken.db")
    diff = h.diff_dumps(clean_dump, broken_dump)
    assert {d.split(":")[0] for d in diff} == {"messages", "messages_fts(vocab)",
                                               "parse_problems"}, diff
    assert sorted(r[1:] for r in clean_dump["messages"]) == sorted(
        r[1:] for r in broken_dump["messages"])


@ir.needs_git
def test_two_workers_reading_slices_give_the_same_database_as_one_process(h, tmp_path,
                                                                          new_db):
    inbox, *_ = _fixture_inbox(h, tmp_path)
    one = new_db("one.db")
    ingest(one, [str(inbox)], progress=False, workers=1, batch_size=4)
    two = new_db("two.db")
    stats = ingest(two, [str(inbox)], progress=False, workers=2, batch_size=4)
    assert stats.read == 38
    assert h.one(two, "SELECT messages FROM inbox_progress")[0] == 38
    diff = h.diff_dumps(h.dump(tmp_path / "one.db"), h.dump(tmp_path / "two.db"))
    assert not diff, diff


@ir.needs_git
def test_an_interrupted_inbox_ingest_resumes_to_the_same_database(h, tmp_path, new_db,
                                                                   monkeypatch):
    import abiwatch.ingest.writer as writer

    inbox, *_ = _fixture_inbox(h, tmp_path)
    clean = new_db("clean.db")
    ingest(clean, [str(inbox)], progress=False, workers=1, batch_size=4)

    real_write, calls = writer.Writer.write, []

    def write_then_stop(self, results, **kw):
        if len(calls) == 3:  # the run stops here, after 3 whole batches
            raise KeyboardInterrupt
        calls.append(1)
        return real_write(self, results, **kw)

    monkeypatch.setattr(writer.Writer, "write", write_then_stop)
    cut = new_db("cut.db")
    with pytest.raises(KeyboardInterrupt):
        ingest(cut, [str(inbox)], progress=False, workers=1, batch_size=4)
    monkeypatch.undo()
    assert h.one(cut, "SELECT messages FROM inbox_progress")[0] == 12  # 3 batches of 4
    resumed = ingest(cut, [str(inbox)], progress=False, workers=1, batch_size=4)
    assert (resumed.read, resumed.duplicate) == (26, 0)  # from the checkpoint, nothing twice
    diff = h.diff_dumps(h.dump(tmp_path / "clean.db"), h.dump(tmp_path / "cut.db"))
    assert not diff, diff


def _real_archive_prefix(h, dest: Path, commits: int) -> Path:
    """An inbox of the first commits of the real virtualization archive."""
    archive = h.SHARED.parent / "archives" / "virtualization" / "git" / "0.git"
    if not archive.is_dir():
        pytest.skip(f"real public-inbox archive not found at {archive}")
    ir.copy_prefix(archive, dest / "git" / "0.git", commits)
    return dest




@ir.needs_git
@pytest.mark.slow
def test_sigkilled_inbox_ingest_resumes_from_its_checkpoint_to_the_same_database(h, tmp_path):
    inbox = _real_archive_prefix(h, tmp_path / "inbox", 3000)
    env = dict(os.environ, PYTHONPATH=str(h.REPO))

    def cli(db: Path) -> list[str]:
        return [sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db), "ingest",
                "--no-progress", "--workers", "2", str(inbox)]

    clean = tmp_path / "clean.db"
    subprocess.run(cli(clean), check=True, capture_output=True, env=env, timeout=300)
    killed = tmp_path / "killed.db"
    proc = subprocess.Popen(cli(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    deadline = time.monotonic() + 240
    while count_rows(killed, "inbox_progress") == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the first slice and its checkpoint to commit
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the git processes reading the inbox end with it (the workers die with the run and
    # git sees its pipes close); a short grace for them to notice
    # (a worker killed while starting git leaves a git that appears a moment later and
    # ends at the end of its request file: wait until none has been seen for a second)
    deadline, quiet_since = time.monotonic() + 30, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 1.0:
        if processes_mentioning(str(inbox)):
            quiet_since = time.monotonic()
        time.sleep(0.05)
    assert not processes_mentioning(str(inbox))
    conn = sqlite3.connect(killed)
    checkpoint = conn.execute("SELECT messages FROM inbox_progress").fetchone()[0]
    conn.close()
    assert 0 < checkpoint < 3000

    out = subprocess.run(cli(killed), check=True, capture_output=True, env=env, timeout=300,
                         text=True)
    # the checkpoint was written with the batches it covers and nothing beyond it was:
    # the resumed run reads exactly the messages after it, none twice
    assert f"read {3000 - checkpoint} messages" in out.stdout, out.stdout
    assert " 0 duplicate" in out.stdout, out.stdout
    diff = h.diff_dumps(h.dump(clean), h.dump(killed))
    assert not diff, diff
