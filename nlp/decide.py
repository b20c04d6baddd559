"""Phase 2 of tagging, per thread: patch links, interface deferral, concerns and
their resolution. Reads what phase 1 stored; writes message_patch and concerns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlite_utils

from abiwatch.db.temp_ids import temp_ids
from abiwatch.nlp.catalog import Catalog
from abiwatch.nlp.evidence import resolve_concerns
from abiwatch.nlp.thread_concerns import decide_chunk_concerns, store_concerns
from abiwatch.nlp.thread_links import defer_interfaces, link_patches, load_chunk

logger = logging.getLogger(__name__)
THREAD_CHUNK = 200


def decide_threads(db: sqlite_utils.Database, thread_ids: set[str], catalog: Catalog, *,
                   then: Callable[[Any], None] | None = None) -> None:
    """Re-decide links, concerns and resolutions for the given threads (and affected
    series); then, in the same last transaction, run `then` (the summaries).

    Each chunk of threads commits on its own and marks its messages decided = 1; the
    last transaction re-resolves the series those threads touch, runs `then` and marks
    them 2. The series are found again from the messages marked 1, so a run killed
    anywhere (even after its last chunk) is finished by the next one.
    """
    conn = db.conn
    ordered = sorted(thread_ids)
    for i in range(0, len(ordered), THREAD_CHUNK):
        chunk = ordered[i:i + THREAD_CHUNK]
        with conn:
            _decide_chunk(conn, chunk, catalog)
    with conn:
        # Concerns elsewhere whose series got a new version or new acks are re-resolved too.
        touched = {r[0] for r in conn.execute(
            "SELECT DISTINCT p.series_id FROM patches p JOIN messages m ON m.message_id = "
            "p.message_id WHERE p.series_id IS NOT NULL AND m.thread_id IN (SELECT m2.thread_id "
            "FROM tagged_messages t JOIN messages m2 ON m2.message_id = t.message_id "
            "WHERE t.decided = 1)")}
        keys = _series_keys(conn, touched)
        ids = [r[0] for r in conn.execute(
            "SELECT c.id FROM concerns c JOIN series s ON s.id = c.series_id "
            f"WHERE s.series_key IN ({','.join('?' * len(keys))})", keys)] if keys else []
        resolve_concerns(conn, ids, catalog)
        if then is not None:
            then(conn)
        conn.execute("UPDATE tagged_messages SET decided = 2 WHERE decided = 1")


def pending_decisions(db: sqlite_utils.Database) -> bool:
    """Return True when threads were decided but their last step (series, summaries) was not."""
    return db.execute("SELECT EXISTS (SELECT 1 FROM tagged_messages WHERE decided = 1)"
                      ).fetchone()[0] == 1


def _series_keys(conn, series_ids: set[str]) -> list[str]:
    ids = sorted(series_ids)
    out: set[str] = set()
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        out.update(r[0] for r in conn.execute(
            f"SELECT series_key FROM series WHERE id IN ({','.join('?' * len(part))})", part))
    return sorted(out)


def _decide_chunk(conn, thread_ids: list[str], catalog: Catalog) -> None:
    """Re-decide the given threads; mark their undecided messages decided = 1."""
    # Every step reads the chunk's threads from temp.dt.
    with temp_ids(conn, "dt", thread_ids):
        chunk = load_chunk(conn)
        patch_of = link_patches(conn, chunk)
        interfaces = defer_interfaces(conn, chunk.msgs, catalog)
        produced = decide_chunk_concerns(conn, chunk, patch_of, interfaces, catalog)
        resolve_concerns(conn, store_concerns(conn, produced), catalog)
        conn.execute("UPDATE tagged_messages SET decided = 1 WHERE decided = 0 AND message_id IN "
                     "(SELECT message_id FROM messages WHERE thread_id IN (SELECT id FROM temp.dt))")
