"""Which patch each trailer applies to: the nearest patch up its reply chain, every
patch of the series for a review of the cover letter, and none for a trailer given in
someone else's name (as b4 decides, see trailers.not_sender_reason)."""

from __future__ import annotations

import sqlite_utils

from abiwatch.db.temp_ids import temp_ids
from abiwatch.ingest.trailers import not_sender_reason


def link_trailers(db: sqlite_utils.Database, thread_ids: set[str]) -> int:
    """Point each trailer in the given threads at the patch (or series) it applies to."""
    conn = db.conn
    if not thread_ids:
        return 0
    with temp_ids(conn, "trailer_threads", thread_ids):
        return _link_trailers_in(conn)


def _link_trailers_in(conn) -> int:
    """Link the trailers of the threads in temp.trailer_threads; return how many."""
    msgs = {r[0]: r[1] for r in conn.execute(
        "SELECT message_id, parent_id FROM messages WHERE thread_id IN "
        "(SELECT id FROM temp.trailer_threads)")}
    msgs.update({r[0]: r[1] for r in conn.execute(
        "SELECT message_id, parent_id FROM placeholders WHERE thread_id IN "
        "(SELECT id FROM temp.trailer_threads)")})
    patches = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT p.message_id, p.kind, p.series_id FROM patches p JOIN messages m "
        "ON m.message_id = p.message_id WHERE m.thread_id IN (SELECT id FROM temp.trailer_threads)")}
    # naked cover letters (no patches row) already known, by their thread
    naked = {r[0]: r[1] for r in conn.execute(
        "SELECT cover_message_id, id FROM series WHERE cover_message_id IN "
        "(SELECT id FROM temp.trailer_threads) AND cover_message_id NOT IN "
        "(SELECT message_id FROM patches)")}
    rows = conn.execute(
        "SELECT t.id, t.message_id, t.name, t.person_name, t.person_addr, m.from_name, "
        "m.from_addr, m.thread_id FROM trailers t JOIN messages m "
        "ON m.message_id = t.message_id "
        "WHERE m.thread_id IN (SELECT id FROM temp.trailer_threads)").fetchall()
    # what each patch carries itself: restating it in a reply is not the replier's claim
    carried = {(r[1], r[2], r[4]) for r in rows if r[1] in patches}
    updates = []
    for tid, mid, name, pname, paddr, from_name, from_addr, thread in rows:
        target = nearest_patch(mid, msgs, patches)
        reason = None
        if mid not in patches and (target, name, paddr) not in carried:
            reason = not_sender_reason(name, pname, paddr, from_name, from_addr)
        if target is None and thread in naked:
            updates.append((thread, naked[thread], "series", reason, tid))
            continue
        if target is None:
            updates.append((None, None, None, reason, tid))
            continue
        kind, sid = patches[target]
        updates.append((target, sid, "series" if kind == "cover" else "patch", reason, tid))
    conn.executemany("UPDATE trailers SET patch_message_id = ?, series_id = ?, applies_to = ?, "
                     "ignored_reason = ? WHERE id = ?", updates)
    return len(updates)


def nearest_patch(mid: str, parents: dict[str, str | None], patches: dict) -> str | None:
    """Return the message itself if it is a patch, else its nearest patch ancestor."""
    seen = set()
    cur: str | None = mid
    while cur is not None and cur not in seen:
        if cur in patches:
            return cur
        seen.add(cur)
        cur = parents.get(cur)
    return None
