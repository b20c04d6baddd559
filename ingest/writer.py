"""Writing parsed mail: compact rows from the parse stage (ingest/parse_stage.py), one
transaction per batch, and the linking pass (threads, series, trailers) over what was
written. Nothing here reads or parses mail.

Whoever holds the write turn (the main process, or one worker at a time) writes a
batch with Writer.write; every write is an idempotent insert keyed on natural keys,
so a batch that is written again changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from abiwatch.db.temp_ids import temp_ids
from abiwatch.ingest.by_keys import rows_in
from abiwatch.ingest.parse_stage import MESSAGE_FIELDS, PATCH_FIELDS, Rows
from abiwatch.ingest.series import link_series, predict_series
from abiwatch.ingest.sources import NotMail, SourceDone
from abiwatch.ingest.threads import Node, link_threads, predict_links
from abiwatch.ingest.trailer_links import link_trailers

logger = logging.getLogger(__name__)


@dataclass
class IngestStats:
    """What one ingest run did; the CLI prints it."""

    run_id: int = 0
    read: int = 0
    new: int = 0
    duplicate: int = 0
    variants: int = 0
    problems: int = 0
    not_mail: int = 0
    bytes: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not failures: e.g. a file still growing

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_LINK_FIELDS = ["parent_id", "parent_source", "thread_id", "depth"]
_INSERT_MESSAGE = (f"INSERT INTO messages (id, run_id, {', '.join(MESSAGE_FIELDS + _LINK_FIELDS)}) "
                   f"VALUES ({', '.join('?' * (2 + len(MESSAGE_FIELDS) + len(_LINK_FIELDS)))})")
_INSERT_PATCH = (f"INSERT OR IGNORE INTO patches ({', '.join(PATCH_FIELDS)}, series_id) VALUES "
                 f"({', '.join('?' * (len(PATCH_FIELDS) + 1))})")
_PATCH_AT = {c: PATCH_FIELDS.index(c) for c in ("message_id", "kind", "version", "part", "total")}
_FROM_ADDR_AT = MESSAGE_FIELDS.index("from_addr")
# where a field sits in a row as inserted: (id, run_id, *MESSAGE_FIELDS)
_MESSAGE_AT = {c: 2 + MESSAGE_FIELDS.index(c) for c in (
    "message_id", "in_reply_to", "is_reply", "norm_subject", "subject", "date")}


@dataclass(slots=True)
class Batch:
    """The rows one chunk adds, table by table, once known mail is sorted out."""

    messages: list[tuple] = field(default_factory=list)  # as inserted, less the links
    message_refs: list[list[str]] = field(default_factory=list)  # each one's References
    raw: list[tuple] = field(default_factory=list)
    refs: list[tuple] = field(default_factory=list)
    patches: list[tuple[tuple, str | None]] = field(default_factory=list)  # (row, from_addr)
    files: list[tuple] = field(default_factory=list)
    trailers: list[tuple] = field(default_factory=list)
    problems: list[tuple] = field(default_factory=list)  # (mid, sha256, source, kind, detail)
    commands: list[tuple[str, int, str]] = field(default_factory=list)
    memberships: list[tuple[str, str]] = field(default_factory=list)  # (mid, list)


class Writer:
    """Writes parsed batches; one transaction per batch."""

    def __init__(self, db: sqlite_utils.Database, run_id: int, list_name: str | None,
                 stats: IngestStats):
        self.db = db
        self.conn = db.conn
        self.run_id = run_id
        self.list_name = list_name
        self.stats = stats

    def write(self, results: list[tuple[Any, int]], *, link: bool = False) -> None:
        """Write one parsed chunk in one transaction; with link, thread it in the same one."""
        with self.conn:
            self.next_id = self._begin()
            batch = self._sort_out(results)
            predicted = self._write_messages(batch)
            fresh = self._hand_over(batch, predicted, link)
            self._write_raw(batch)
            self._write_patches(batch, predicted)
            self._write_problems(batch)
            self._write_lists(batch)
            if link:
                link_threads_and_trailers(self.db, fresh)

    def _begin(self) -> int:
        """Take the write lock and return the id the batch's first new message gets."""
        # Take the write lock before reading MAX(id): a deferred transaction read it
        # unlocked, and another process writing in between made the ids collide
        # ("UNIQUE constraint failed: messages.id").
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
        # ids follow the input order: read here, as the previous batch may have been
        # written by another process
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0] + 1

    def _known_raw(self, parsed: list[Rows]) -> set[str]:
        """Return the sha256 of the mails of a batch already stored byte for byte."""
        return self._existing("SELECT sha256 FROM raw_messages WHERE sha256 IN ({})",
                              [p.sha256 for p in parsed])

    def _known_contents(self, parsed: list[Rows]) -> dict[str, str]:
        """Return the content_key of each Message-ID of a batch already stored."""
        return dict(self._existing_rows(
            "SELECT message_id, content_key FROM messages WHERE message_id IN ({})",
            [p.message_id for p in parsed]))

    def _sort_out(self, results: list[tuple[Any, int]]) -> Batch:
        """Return the rows a chunk adds: new messages with all their rows, a variant's
        or resent mail's raw copy; read errors and finished sources are written now."""
        parsed = [p for p, _ in results if isinstance(p, Rows)]
        known_raw, known_msg = self._known_raw(parsed), self._known_contents(parsed)
        batch = Batch()
        for item, size in results:
            if isinstance(item, NotMail):
                self._not_mail(item)
            elif isinstance(item, SourceDone):
                self._source_done(item)
            else:
                self._count_read(item, size, batch)
                if item.sha256 in known_raw:
                    self.stats.duplicate += 1
                    continue
                known_raw.add(item.sha256)
                if item.message_id in known_msg:
                    self._add_copy(item, known_msg[item.message_id], batch)
                else:
                    known_msg[item.message_id] = item.content_key
                    self._add_new(item, batch)
        return batch

    def _count_read(self, p: Rows, size: int, batch: Batch) -> None:
        """Count a mail read and note the lists it came through (a resend too)."""
        self.stats.read += 1
        self.stats.bytes += size
        lists = [self.list_name] if self.list_name else p.list_ids
        batch.memberships.extend((p.message_id, name) for name in lists)

    def _add_copy(self, p: Rows, known_content: str, batch: Batch) -> None:
        """Add the raw copy of a mail whose Message-ID is stored: a resend, or a variant."""
        is_variant = 0
        if known_content == p.content_key:
            self.stats.duplicate += 1  # the same mail via another list or file
        else:
            is_variant = 1
            self.stats.variants += 1
            batch.problems.append((p.message_id, p.sha256, p.source, "message-id-variant",
                                   "same Message-ID, different content; kept in raw_messages"))
        batch.raw.append(p.raw + (is_variant, self.run_id))

    def _add_new(self, p: Rows, batch: Batch) -> None:
        """Add a new message and all its rows."""
        mid = p.message_id
        batch.messages.append((self.next_id, self.run_id) + p.message)
        self.next_id += 1
        batch.message_refs.append(p.references)
        batch.raw.append(p.raw + (0, self.run_id))
        batch.refs.extend((mid, i, r) for i, r in enumerate(p.references))
        if p.patch:
            batch.patches.append((p.patch, p.message[_FROM_ADDR_AT]))
            batch.files.extend(p.patch_files)
        batch.trailers.extend(p.trailers)
        batch.commands.extend(p.commands)
        if p.problems:
            self.stats.problems += 1
        batch.problems.extend((mid, p.sha256, p.source, k, d) for k, d in p.problems)
        self.stats.new += 1

    def _write_messages(self, batch: Batch) -> dict[str, tuple]:
        """Insert the new messages with their predicted thread links; return those links
        (see predict_links) by Message-ID."""
        if not batch.messages:
            return {}
        at = _MESSAGE_AT
        predicted = predict_links(self.conn, [
            (r[at["message_id"]], r[at["in_reply_to"]], rs, bool(r[at["is_reply"]]))
            for r, rs in zip(batch.messages, batch.message_refs, strict=True)])
        self.conn.executemany(_INSERT_MESSAGE, [r + predicted[r[at["message_id"]]]
                                                for r in batch.messages])
        return predicted

    def _hand_over(self, batch: Batch, predicted: dict[str, tuple], link: bool) -> list[Node]:
        """Return the new messages as nodes to thread in this transaction when linking;
        otherwise queue them for the end of the run and return none."""
        at = _MESSAGE_AT
        if link:
            return [Node(r[at["message_id"]], r[at["in_reply_to"]], rs, r[at["norm_subject"]],
                         r[at["subject"]], bool(r[at["is_reply"]]), r[at["date"]],
                         predicted[r[at["message_id"]]])
                    for r, rs in zip(batch.messages, batch.message_refs, strict=True)]
        if batch.messages:
            self.conn.executemany("INSERT OR IGNORE INTO link_queue VALUES (?)",
                                  [(r[at["message_id"]],) for r in batch.messages])
        return []

    def _write_raw(self, batch: Batch) -> None:
        conn = self.conn
        conn.executemany(
            "INSERT INTO raw_messages (sha256, message_id, raw, size, source, mbox_from, "
            "is_variant, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch.raw)
        conn.executemany("INSERT OR IGNORE INTO message_references VALUES (?, ?, ?)", batch.refs)

    def _write_patches(self, batch: Batch, predicted: dict[str, tuple]) -> None:
        """Insert patches (with their predicted series), their files and all trailers."""
        conn = self.conn
        if batch.patches:
            conn.executemany(_INSERT_PATCH, _with_series(conn, batch.patches, predicted))
        conn.executemany(
            "INSERT OR IGNORE INTO patch_files (message_id, path, insertions, deletions) "
            "VALUES (?, ?, ?, ?)", batch.files)
        conn.executemany(
            "INSERT OR IGNORE INTO trailers (message_id, name, value, person_name, "
            "person_addr) VALUES (?, ?, ?, ?, ?)", batch.trailers)

    def _write_problems(self, batch: Batch) -> None:
        """Insert parse problems and the `#abiwatch:` commands."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO parse_problems (message_id, subject_key, source, kind, "
            "detail, run_id) VALUES (?, ?, ?, ?, ?, ?)",
            [(m, s, src, k, d, self.run_id) for m, s, src, k, d in batch.problems])
        if batch.commands:
            self.conn.executemany("INSERT OR IGNORE INTO mail_commands (message_id, position, "
                                  "command) VALUES (?, ?, ?)", batch.commands)

    def _write_lists(self, batch: Batch) -> None:
        """Insert which lists each mail came through."""
        self.conn.executemany("INSERT OR IGNORE INTO lists (name) VALUES (?)",
                              [(n,) for n in {n for _, n in batch.memberships}])
        self.conn.executemany("INSERT OR IGNORE INTO message_lists VALUES (?, ?)",
                              batch.memberships)

    def _existing(self, sql: str, keys: list[str]) -> set[str]:
        return {r[0] for r in self._existing_rows(sql, keys)}

    def _existing_rows(self, sql: str, keys: list[str]) -> list[tuple]:
        return list(rows_in(self.conn, sql, keys))

    def _not_mail(self, item: NotMail) -> None:
        if item.kind == "growing":  # nothing is wrong: the rest is read next time
            self.stats.notes.append(f"{item.source}: {item.reason}")
            return
        self.stats.not_mail += 1
        self.stats.errors.append(f"{item.source}: {item.reason}")
        # a read error's run_id is the latest run that met it: _source_done asks whether
        # this run did
        self.conn.execute(
            "INSERT INTO parse_problems (message_id, subject_key, source, kind, detail, run_id) "
            "VALUES (NULL, ?, ?, ?, ?, ?) ON CONFLICT (subject_key, kind, detail) DO UPDATE "
            "SET run_id = excluded.run_id WHERE excluded.kind = 'read-error'",
            [item.source, item.source, item.kind, item.reason, self.run_id])

    def _source_done(self, item: SourceDone) -> None:
        read_error = self.conn.execute(
            "SELECT 1 FROM parse_problems WHERE subject_key = ? AND kind = 'read-error' "
            "AND run_id = ?", [item.path, self.run_id]).fetchone()
        if item.kind == "public-inbox":
            # After a slice of this epoch could not be read, later slices' checkpoints
            # would skip it for good: the epoch stays where it was, and the next run
            # reads from there (what was written meanwhile comes again as duplicates).
            if item.git_commit and not read_error:
                self.conn.execute(
                    "INSERT INTO inbox_progress (git_dir, last_commit, messages) VALUES (?, ?, ?) "
                    "ON CONFLICT(git_dir) DO UPDATE SET last_commit = excluded.last_commit, "
                    "messages = inbox_progress.messages + excluded.messages",
                    [item.path, item.git_commit, item.messages])
            return
        if read_error:
            return  # part of it could not be read: not done, so the next run reads it again
        self.conn.execute(
            "INSERT OR REPLACE INTO source_files (path, kind, size, mtime, messages, complete, "
            "run_id, list) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            [item.path, item.kind, item.size, item.mtime, item.messages, self.run_id,
             self.list_name or ""])


def _with_series(conn, patches: list[tuple[tuple, str | None]],
                 links: dict[str, tuple]) -> list[tuple]:
    """Return patch rows with their predicted series_id appended (see predict_series)."""
    at = _PATCH_AT
    series = predict_series(conn, [
        (t[at["message_id"]], t[at["kind"]], t[at["version"]], t[at["part"]], t[at["total"]],
         addr, links.get(t[at["message_id"]], (None,))[0]) for t, addr in patches])
    return [t + (series[t[at["message_id"]]],) for t, _ in patches]


FTS_CHUNK = 20000


def index_fts(db: sqlite_utils.Database) -> int:
    """Bring the full-text index up to date with messages; return how many were indexed.

    The index is filled every few thousand messages, not batch by batch: one large
    insert builds far fewer FTS segments than hundreds of small ones (about 10% of a
    bulk load).
    Each chunk commits with the id it reached, so a killed run's next run resumes.
    """
    conn = db.conn
    done = 0
    while True:
        with conn:
            last = conn.execute("SELECT indexed_through FROM fts_state WHERE id = 1").fetchone()[0]
            top = conn.execute("SELECT MAX(id) FROM (SELECT id FROM messages WHERE id > ? "
                               "ORDER BY id LIMIT ?)", [last, FTS_CHUNK]).fetchone()[0]
            if top is None:
                return done
            cur = conn.execute("INSERT INTO messages_fts (rowid, subject, own_text) SELECT id, "
                               "subject, own_text FROM messages WHERE id > ? AND id <= ?", [last, top])
            done += cur.rowcount
            conn.execute("UPDATE fts_state SET indexed_through = ? WHERE id = 1", [top])


def link_new_messages(db: sqlite_utils.Database) -> int:
    """Thread and link trailers for all unlinked mail and regroup every queued author's
    series, atomically; return how many threads were linked.

    The end of every ingest run does this. Batches during the run only call
    link_threads_and_trailers: regrouping an author rereads their whole history,
    which per batch would make a large run quadratic.
    """
    conn = db.conn
    with conn:
        linked = link_threads_and_trailers(db)
        regroup_queued_series(db)
    return linked


def link_threads_and_trailers(db: sqlite_utils.Database, fresh: Sequence[Node] = ()) -> int:
    """Thread the mail in link_queue and fresh (rows just written, not queued) and link
    its trailers; queue its patch authors.

    Runs in the caller's transaction; returns how many threads were linked.
    """
    conn = db.conn
    threads = link_threads(db, fresh)
    if not threads:
        return 0
    with temp_ids(conn, "linked_threads", threads):
        # Every new message is in a linked thread, so this queues the authors of the new
        # patches, and those whose patches moved thread (a cover letter arrived late) too.
        _queue_authors(conn, "m.thread_id IN (SELECT id FROM temp.linked_threads)")
        link_trailers(db, threads)
    return len(threads)


def _queue_authors(conn, where: str) -> None:
    """Queue for regrouping the authors of the patches that match where (over m)."""
    conn.execute("INSERT OR IGNORE INTO series_queue SELECT DISTINCT COALESCE(m.from_addr, '') "
                 f"FROM patches p JOIN messages m ON m.message_id = p.message_id WHERE {where}")


def regroup_queued_series(db: sqlite_utils.Database) -> int:
    """Regroup the series of every queued author and empty the queue; return series written.

    Runs in the caller's transaction.
    """
    conn = db.conn
    authors = {r[0] for r in conn.execute("SELECT author FROM series_queue")}
    if not authors:
        return 0
    written = link_series(db, authors)
    conn.execute("DELETE FROM series_queue")
    return written
