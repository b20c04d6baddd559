"""Loading mail into the database: batched, idempotent, resumable, on every core.

Two worker processes each parse a chunk of mail and then write it themselves, one
at a time and in input order (a turnstile): while one worker writes, the other
parses, and parsed rows never travel back through a pipe to a single writer.
Each batch is one transaction, so a crash leaves the database as it was after the
last whole batch and the next run picks up; writing in input order keeps message
ids, and so the whole database, identical to a one-process run. The main process
hands out chunks: byte ranges of plain mbox files (it only finds where messages
start; the worker reads the bytes), lists of blobs of public-inbox epochs (the
worker reads them with git), the messages themselves for everything else (gzip,
stdin, Maildir), and it checkpoints the WAL.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import multiprocessing
import os
import signal
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import sqlite_utils

from abiwatch.ingest.parse_stage import parse_chunk
from abiwatch.ingest.sources import Event, InboxSlice, MboxSlice, RawMail, count_bytes, iter_paths
from abiwatch.ingest.writer import IngestStats, Writer, _now, index_fts, link_new_messages

logger = logging.getLogger(__name__)

BATCH = 1000
WAL_CHECKPOINT_PAGES = 65536
FTS_EVERY = 10  # batches between two full-text index fills (see _fts_due)
CHECKPOINT_EVERY = 4  # batches between two checkpoints by the main process (parallel runs)


def _chunks(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    chunk: list[Event] = []
    mails = 0
    for ev in events:
        chunk.append(ev)
        if isinstance(ev, RawMail):
            mails += 1
        elif isinstance(ev, MboxSlice | InboxSlice):
            mails += ev.messages
        if mails >= size or (not isinstance(ev, RawMail) and len(chunk) > size):
            yield chunk
            chunk, mails = [], 0
    if chunk:
        yield chunk


def _skip_check(db: sqlite_utils.Database, list_name: str | None) -> Callable[..., bool]:
    done = {(r[0], r[1], r[2], r[3]) for r in db.execute(
        "SELECT path, size, mtime, list FROM source_files WHERE complete = 1")}

    def skip(path: str, size: int, mtime: float) -> bool:
        return (path, size, mtime, list_name or "") in done
    return skip


def _inbox_position(db: sqlite_utils.Database) -> Callable[[str], str | None]:
    pos = {r[0]: r[1] for r in db.execute("SELECT git_dir, last_commit FROM inbox_progress")}
    return lambda git_dir: pos.get(git_dir)


def _fts_due(seq: int) -> bool:
    # The full-text index is filled in large steps (one insert of many rows builds far
    # fewer segments than one per batch), but during the run, in a writer's turn, so
    # that only the last few batches are left for the end, when one core is idle.
    return (seq + 1) % FTS_EVERY == 0


def _db_path(db: sqlite_utils.Database) -> str:
    return db.conn.execute("PRAGMA database_list").fetchone()[2] or ""


# Every batch is linked as it is written (Writer.write(link=True)): linking holds every
# unlinked message in memory, so linking once at the end made memory grow with the
# archive, and threads and trailers are recomputed from stored rows, so linking in
# rounds gives the same result. With two workers each links what it wrote, in its own
# transaction. Series are regrouped once, at the end (see link_new_messages).


def ingest(db: sqlite_utils.Database, paths: list[str], *, list_name: str | None = None,
           fmt: str = "auto", workers: int | None = None, batch_size: int = BATCH,
           stdin: BinaryIO | None = None, command: str | None = None, rescan: bool = False,
           progress: bool | None = None) -> IngestStats:
    """Ingest every message under paths into db; return what was done.

    One ingest at a time per database: a second one waits for the first (and then
    finds what it stored), instead of both writing the same messages at once.
    """
    with _ingest_lock(db):
        return _ingest(db, paths, list_name=list_name, fmt=fmt, workers=workers,
                       batch_size=batch_size, stdin=stdin, command=command, rescan=rescan,
                       progress=progress)


@contextmanager
def _ingest_lock(db: sqlite_utils.Database) -> Iterator[None]:
    """Hold the database's ingest lock (flock on DB-ingest.lock), waiting for it if need be.

    The kernel drops an flock with its process, so a killed ingest never leaves it held.
    """
    path = _db_path(db)
    try:
        fd = os.open(path + "-ingest.lock", os.O_RDWR | os.O_CREAT, 0o644) if path else -1
    except OSError:  # read-only storage: nothing can be written; the first write says why
        fd = -1
    if fd < 0:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            logger.warning("another ingest (pid %s) is writing to %s: waiting for it to finish",
                           holder, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _ingest(db: sqlite_utils.Database, paths: list[str], *, list_name: str | None,
            fmt: str, workers: int | None, batch_size: int, stdin: BinaryIO | None,
            command: str | None, rescan: bool, progress: bool | None) -> IngestStats:
    started = time.perf_counter()
    cur = db.conn.execute("INSERT INTO ingest_runs (started, status, command) VALUES (?, ?, ?)",
                          [_now(), "running", command])
    db.conn.commit()
    stats = IngestStats(run_id=cur.lastrowid)
    skip = (lambda *_: False) if rescan else _skip_check(db, list_name)
    # Plain mbox files come as byte ranges that the parsing worker reads itself.
    events = iter_paths(paths, fmt=fmt, stdin=stdin, inbox_position=_inbox_position(db),
                        skip_file=skip, slices=batch_size)
    total_bytes = count_bytes(paths)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if total_bytes > 8 << 20 else 1
    if not _db_path(db):
        workers = 1  # an in-memory database cannot be opened by another process
    bar = _progress_bar(total_bytes, progress)
    status = "failed"
    # A checkpoint every 1000 WAL pages (the default) costs as much as the inserts in a
    # bulk load; checkpoint every WAL_CHECKPOINT_PAGES (512 MB of 8 kB pages) instead,
    # and once at the end. Parallel runs checkpoint from here more often (_checkpoint).
    db.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    try:
        index_fts(db)  # catch up if a killed run left messages unindexed
        chunks = _chunks(events, batch_size)
        if workers > 1:
            _run_parallel(db, chunks, workers, list_name, stats, bar, started)
        else:
            writer = Writer(db, stats.run_id, list_name, stats)
            for seq, chunk in enumerate(chunks):
                before = stats.bytes
                writer.write(parse_chunk(chunk), link=True)
                if _fts_due(seq):
                    index_fts(db)
                _progress(bar, stats, stats.bytes - before, started)
        link_new_messages(db)
        index_fts(db)
        status = "complete"
    finally:
        if bar is not None:
            bar.close()
        stats.seconds = time.perf_counter() - started
        try:
            db.conn.execute("PRAGMA wal_autocheckpoint = 1000")
            with db.conn:
                db.conn.execute(
                    "UPDATE ingest_runs SET finished = ?, status = ?, read = ?, new = ?, "
                    "duplicate = ?, variants = ?, problems = ?, not_mail = ? WHERE id = ?",
                    [_now(), status, stats.read, stats.new, stats.duplicate, stats.variants,
                     stats.problems, stats.not_mail, stats.run_id])
            db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            # the run's own bookkeeping: when the run failed for the same reason (a full
            # disk), that reason is what the caller must see, not this on top of it
            if status == "complete":
                raise
            logger.debug("could not record the failed run", exc_info=True)
    return stats


def _run_parallel(db, chunks: Iterator[list[Event]], workers: int, list_name: str | None,
                  stats: IngestStats, bar, started: float) -> None:
    ctx = multiprocessing.get_context("fork")
    cond = ctx.Condition()
    turn = ctx.Value("q", 0, lock=False)  # the batch whose turn it is to be written
    failed = ctx.Value("b", 0, lock=False)
    init = (_db_path(db), stats.run_id, list_name, cond, turn, failed, os.getpid())
    with ctx.Pool(workers, initializer=_init_worker, initargs=init) as pool:
        # At most workers + 2 chunks in flight, so memory stays flat, and a worker that is
        # done finds its next chunk waiting while this process checkpoints.
        pending: deque = deque()
        done = 0
        for seq, chunk in enumerate(chunks):
            pending.append(pool.apply_async(_parse_and_write,
                                            (seq, chunk, _fts_due(seq))))
            if len(pending) > workers + 1:
                _merge(stats, pending.popleft().get(), bar, started)
                done += 1
                if done % CHECKPOINT_EVERY == 0:
                    _checkpoint(db)
        while pending:
            _merge(stats, pending.popleft().get(), bar, started)
            _checkpoint(db)  # what is left in the WAL at the end is copied while nothing else runs


CHECKPOINT_WAIT_MS = 1000  # how long a checkpoint may wait for the writer of the moment


def _checkpoint(db: sqlite_utils.Database) -> None:
    # Copying the WAL into the database (and syncing it) took a few seconds whenever a
    # worker's commit crossed wal_autocheckpoint, inside the write turn, stalling both
    # workers; the main process, which only waits on the workers, does it instead (the
    # workers' own autocheckpoint is only a backstop). RESTART, not PASSIVE: a passive
    # checkpoint always had a worker writing alongside it, so the WAL was never fully
    # copied when the next write began and never started over; it grew to 1.6 GB for a
    # 750 MB database (every write extending a file, and deleting it took 0.6 s at the
    # end). RESTART waits for the writer of the moment and holds the next one off while
    # it copies; if a reader keeps it waiting longer than CHECKPOINT_WAIT_MS it carries
    # on as a passive checkpoint would. A PASSIVE pass first copies the bulk while the
    # workers go on writing, so RESTART only holds them off for what was added since:
    # the writers' time blocked by checkpoints went from about 3.0 to 1.8-2.2 s a run.
    conn = db.conn
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    wait = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
    try:
        conn.execute("PRAGMA wal_checkpoint(RESTART)")
    finally:
        conn.execute(f"PRAGMA busy_timeout = {wait}")


_WORKER: dict[str, Any] = {}


def _init_worker(db_path: str, run_id: int, list_name: str | None, cond, turn, failed,
                 parent: int) -> None:
    # A worker must never outlive a killed ingest: it could still be writing when the
    # next run starts. Ask the kernel to SIGKILL it with its parent (Linux).
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    from abiwatch.db import open_db

    # Parsing allocates millions of short-lived containers and no reference cycles:
    # the cyclic collector's frequent young-generation passes cost ~3% of the parse.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    db = open_db(db_path)
    db.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES * 4}")
    _WORKER.update(db=db, run_id=run_id, list_name=list_name, cond=cond, turn=turn,
                   failed=failed)


def _parse_and_write(seq: int, chunk: list[Event], fts: bool) -> IngestStats:
    """Parse a chunk, wait for its turn, write it (link it, index it if due); return its stats."""
    w = _WORKER
    stats = IngestStats(run_id=w["run_id"])
    error: BaseException | None = None
    try:
        results = parse_chunk(chunk)
    except BaseException as exc:  # noqa: BLE001 - re-raised below, after the turn moves on
        results, error = None, exc
    cond, turn = w["cond"], w["turn"]
    with cond:
        while turn.value != seq:
            cond.wait()
    try:
        if error is not None:
            raise error
        if not w["failed"].value:  # after a failed batch, later ones are not written
            Writer(w["db"], w["run_id"], w["list_name"], stats).write(results, link=True)
            if fts:
                index_fts(w["db"])
    except BaseException:
        w["failed"].value = 1
        raise
    finally:
        with cond:
            turn.value = seq + 1
            cond.notify_all()
    return stats


def _merge(stats: IngestStats, part: IngestStats, bar, started: float) -> None:
    for name in ("read", "new", "duplicate", "variants", "problems", "not_mail", "bytes"):
        setattr(stats, name, getattr(stats, name) + getattr(part, name))
    stats.errors.extend(part.errors)
    stats.notes.extend(part.notes)
    _progress(bar, stats, part.bytes, started)


def _progress(bar, stats: IngestStats, nbytes: int, started: float) -> None:
    if bar is not None:
        bar.update(nbytes)
        elapsed = time.perf_counter() - started
        bar.set_postfix_str(f"{stats.read} msgs, {stats.read / elapsed:,.0f} msg/s", refresh=False)


def _progress_bar(total: int, progress: bool | None):
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1024,
                desc="ingest", file=sys.stderr, dynamic_ncols=True)
