"""Phase 2 of tagging, per thread: patch links, interface deferral, concerns and
their resolution. Reads what phase 1 stored; writes message_patch and concerns.
"""

from __future__ import annotations

import logging

import sqlite_utils

from abiwatch.nlp.catalog import Catalog
from abiwatch.nlp.evidence import resolve_concerns
from abiwatch.nlp.thread_concerns import decide_chunk_concerns, store_concerns
from abiwatch.nlp.thread_links import defer_interfaces, link_patches, load_chunk

logger = logging.getLogger(__name__)
THREAD_CHUNK = 200


def decide_threads(db: sqlite_utils.Database, thread_ids: set[str], catalog: Catalog) -> None:
    """Re-decide links, concerns and resolutions for the given threads (and affected series)."""
    conn = db.conn
    ordered = sorted(thread_ids)
    touched_series: set[str] = set()
    for i in range(0, len(ordered), THREAD_CHUNK):
        chunk = ordered[i:i + THREAD_CHUNK]
        with conn:
            touched_series |= _decide_chunk(conn, chunk, catalog)
    # Concerns elsewhere whose series got a new version or new acks are re-resolved too.
    with conn:
        keys = _series_keys(conn, touched_series)
        ids = [r[0] for r in conn.execute(
            "SELECT c.id FROM concerns c JOIN series s ON s.id = c.series_id "
            f"WHERE s.series_key IN ({','.join('?' * len(keys))})", keys)] if keys else []
        resolve_concerns(conn, ids, catalog)


def _series_keys(conn, series_ids: set[str]) -> list[str]:
    ids = sorted(series_ids)
    out: set[str] = set()
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        out.update(r[0] for r in conn.execute(
            f"SELECT series_key FROM series WHERE id IN ({','.join('?' * len(part))})", part))
    return sorted(out)


def _decide_chunk(conn, thread_ids: list[str], catalog: Catalog) -> set[str]:
    """Re-decide the given threads; return the series their patches belong to."""
    # Every step reads the chunk's threads from temp.dt.
    conn.execute("DROP TABLE IF EXISTS temp.dt")
    conn.execute("CREATE TEMP TABLE dt (id TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.dt VALUES (?)", [(t,) for t in thread_ids])
    chunk = load_chunk(conn)
    patch_of = link_patches(conn, chunk)
    interfaces = defer_interfaces(conn, chunk.msgs, catalog)
    produced = decide_chunk_concerns(conn, chunk, patch_of, interfaces, catalog)
    resolve_concerns(conn, store_concerns(conn, produced), catalog)
    conn.execute("UPDATE tagged_messages SET decided = 1 WHERE decided = 0 AND message_id IN "
                 "(SELECT message_id FROM messages WHERE thread_id IN (SELECT id FROM temp.dt))")
    conn.execute("DROP TABLE temp.dt")
    return {p["series_id"] for p in chunk.patch_rows.values() if p["series_id"]}
