"""Threading, JWZ style: parents from In-Reply-To, then References from the
end; missing parents become placeholder nodes so a tree stays whole; a
subject match is the fallback for replies that carry neither header.

Threads touched by new mail are recomputed whole from the stored headers, so
the result depends only on which messages are stored, never on the order they
arrived in or on how many runs it took (a killed run, then a resumed one,
gives the same trees as one clean run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from abiwatch.db.temp_ids import drop_temp_ids, fill_temp_ids
from abiwatch.ingest.by_keys import rows_in

logger = logging.getLogger(__name__)


@dataclass
class Node:
    message_id: str
    in_reply_to: str | None
    references: list[str]
    norm_subject: str | None
    subject: str | None
    is_reply: bool
    date: str | None
    stored: tuple = ()  # (parent_id, parent_source, thread_id, depth) as in the table now


def _nodes(conn, sql: str, params=()) -> dict[str, Node]:
    out = {}
    for mid, irt, refs, norm, subject, is_reply, date, *stored in conn.execute(sql, params):
        out[mid] = Node(mid, irt, json.loads(refs) if refs else [], norm, subject,
                        bool(is_reply), date, tuple(stored))
    return out


_NODE_COLS = ("message_id, in_reply_to, references_json, norm_subject, subject, is_reply, date, "
              "parent_id, parent_source, thread_id, depth")


def predict_links(conn, rows: list[tuple[str, str | None, list[str], bool]]
                  ) -> dict[str, tuple[str | None, str, str | None, int | None]]:
    """Return the (parent_id, parent_source, thread_id, depth) that linking will most likely
    give each new message, from its headers and its parent's stored thread.

    Written with the row, so the linking pass (which recomputes everything and writes
    only what differs) rarely has to rewrite a large message row again. rows are
    (message_id, in_reply_to, references, is_reply) in input order.
    """
    parents = {}
    for mid, irt, refs, _ in rows:
        if irt and irt != mid:
            parents[mid] = (irt, "in-reply-to")
        elif refs:
            parents[mid] = (refs[-1], "references")
    want = sorted({p for p, _ in parents.values()})
    known: dict[str, tuple[str | None, int | None]] = {}
    for mid, tid, depth in rows_in(
            conn, "SELECT message_id, thread_id, depth FROM messages WHERE message_id IN ({})",
            want):
        known[mid] = (tid, depth)
    out: dict[str, tuple[str | None, str, str | None, int | None]] = {}
    for mid, _irt, _refs, is_reply in rows:
        if mid in parents:
            par, how = parents[mid]
            tid, depth = known.get(par, (None, None))
            if tid is not None and depth is not None:
                out[mid] = (par, how, tid, depth + 1)
            else:
                out[mid] = (par, how, None, None)
        elif not is_reply:
            out[mid] = (None, "none", mid, 0)
        else:
            out[mid] = (None, None, None, None)  # a subject match decides; linking finds it
        known.setdefault(mid, (out[mid][2], out[mid][3]))
    return out


def _subject_parent(conn, node: Node) -> str | None:
    """Return the message a header-less reply most likely answers, by subject."""
    if not node.norm_subject:
        return None
    row = conn.execute(
        "SELECT message_id FROM messages WHERE norm_subject = ? AND message_id != ? "
        "AND (date <= ? OR ? IS NULL) "
        "ORDER BY is_reply, date, message_id LIMIT 1",
        [node.norm_subject, node.message_id, node.date, node.date]).fetchone()
    return row[0] if row else None


def _needs_subject_parent(node: Node) -> bool:
    return node.is_reply and not node.in_reply_to and not node.references


def link_threads(db: sqlite_utils.Database, fresh: Sequence[Node] = ()) -> set[str]:
    """Recompute parents, placeholders and threads around new mail; return the thread ids.

    New mail is what link_queue holds plus fresh, the nodes of rows the caller has
    just written (so they need not be read back). Runs inside the caller's
    transaction, so that series and trailer links are updated atomically with the
    threads they depend on.
    """
    conn = db.conn
    new = {n.message_id: n for n in fresh}
    new.update(_nodes(conn, f"SELECT {_NODE_COLS} FROM messages WHERE message_id IN "
                            "(SELECT message_id FROM link_queue)"))
    if not new:
        conn.execute("DELETE FROM link_queue")
        return set()
    fill_temp_ids(conn, "new_ids", new)
    ref_ids = {r for n in new.values() for r in n.references}
    ref_ids.update(n.in_reply_to for n in new.values() if n.in_reply_to)
    fill_temp_ids(conn, "ref_ids", ref_ids)
    affected = set()
    for sql in (
        # threads holding a message or placeholder the new mail refers to
        "SELECT thread_id FROM messages WHERE message_id IN (SELECT id FROM temp.ref_ids)",
        "SELECT thread_id FROM placeholders WHERE message_id IN (SELECT id FROM temp.ref_ids)",
        # threads where the new mail was a placeholder, or is referred to, or was put
        "SELECT thread_id FROM placeholders WHERE message_id IN (SELECT id FROM temp.new_ids)",
        "SELECT thread_id FROM messages WHERE message_id IN (SELECT id FROM temp.new_ids)",
        "SELECT m.thread_id FROM message_references r JOIN messages m "
        "ON m.message_id = r.message_id WHERE r.ref_id IN (SELECT id FROM temp.new_ids)",
        # header-less replies still without a parent that may answer the new mail: as
        # _subject_parent picks, only one dated no earlier than it (or undated); in an
        # archive read in date order that leaves out every older one with the subject
        "SELECT r.thread_id FROM messages n JOIN messages r INDEXED BY messages_headerless_replies "
        "ON r.norm_subject = n.norm_subject "
        "AND r.parent_source = 'none' AND r.is_reply = 1 AND r.in_reply_to IS NULL "
        "AND r.references_json IS NULL WHERE n.message_id IN (SELECT id FROM temp.new_ids) "
        "AND (r.date >= n.date OR r.date IS NULL)",
    ):
        affected.update(r[0] for r in conn.execute(sql) if r[0])
    subject_parents: dict[str, str] = {}
    for node in new.values():
        if _needs_subject_parent(node):
            parent = _subject_parent(conn, node)
            if parent:
                subject_parents[node.message_id] = parent
    if subject_parents:
        fill_temp_ids(conn, "subj_ids", subject_parents.values())
        affected.update(r[0] for r in conn.execute(
            "SELECT thread_id FROM messages WHERE message_id IN (SELECT id FROM temp.subj_ids)")
            if r[0])
    fill_temp_ids(conn, "affected", affected)
    nodes = dict(new)
    nodes.update(_nodes(conn, f"SELECT {_NODE_COLS} FROM messages WHERE thread_id IN "
                              "(SELECT id FROM temp.affected) "
                              "AND message_id NOT IN (SELECT id FROM temp.new_ids)"))
    for node in nodes.values():
        if node.message_id not in subject_parents and _needs_subject_parent(node):
            parent = _subject_parent(conn, node)
            if parent and parent in nodes:
                subject_parents[node.message_id] = parent
    forest = build_forest(nodes, subject_parents)
    _write(conn, nodes, forest, affected)
    conn.execute("DELETE FROM link_queue WHERE message_id IN (SELECT id FROM temp.new_ids)")
    drop_temp_ids(conn, "new_ids", "ref_ids", "affected", "subj_ids")
    logger.info("threaded %d new messages (%d threads recomputed)", len(new), len(affected))
    return set(forest.thread[m] for m in nodes)


@dataclass
class Forest:
    parent: dict[str, str]
    source: dict[str, str]
    placeholders: set[str]
    thread: dict[str, str]
    depth: dict[str, int]


def build_forest(nodes: dict[str, Node], subject_parents: dict[str, str]) -> Forest:
    """Return parents, placeholders, thread roots and depths for a closed set of messages."""
    parent: dict[str, str] = {}
    source: dict[str, str] = {}
    placeholders: set[str] = set()

    def creates_cycle(child: str, par: str) -> bool:
        seen = 0
        cur: str | None = par
        while cur is not None:
            if cur == child:
                return True
            cur = parent.get(cur)
            seen += 1
            if seen > 100000:  # pragma: no cover - a tree this deep is corrupt input
                return True
        return False

    order = sorted(nodes.values(), key=lambda n: (n.date or "", n.message_id))
    for node in order:
        mid = node.message_id
        if node.in_reply_to and node.in_reply_to != mid:
            cand, how = node.in_reply_to, "in-reply-to"
        elif node.references:
            cand, how = node.references[-1], "references"
        elif mid in subject_parents:
            cand, how = subject_parents[mid], "subject"
        else:
            source[mid] = "none"
            continue
        if creates_cycle(mid, cand):
            source[mid] = "cycle-broken"
            continue
        parent[mid] = cand
        source[mid] = how
    # Missing parents become placeholders; their own parents come from the
    # References chain of the earliest message that names them.
    for node in order:
        cur = parent.get(node.message_id)
        chain = node.references
        if node.in_reply_to and node.in_reply_to not in chain:
            chain = chain + [node.in_reply_to]
        while cur is not None and cur not in nodes:
            placeholders.add(cur)
            if cur in parent:
                break
            try:
                idx = chain.index(cur)
            except ValueError:
                break
            if idx == 0:
                break
            up = chain[idx - 1]
            if creates_cycle(cur, up):
                break
            parent[cur] = up
            source[cur] = "references"
            cur = up
    thread: dict[str, str] = {}
    depth: dict[str, int] = {}

    def resolve(mid: str) -> tuple[str, int]:
        path = []
        cur = mid
        while cur not in thread:
            path.append(cur)
            par = parent.get(cur)
            if par is None:
                thread[cur], depth[cur] = cur, 0
                path.pop()
                break
            cur = par
        root, d = thread[cur], depth[cur]
        for node_id in reversed(path):
            d += 1
            thread[node_id], depth[node_id] = root, d
        return thread[mid], depth[mid]

    for mid in list(nodes) + sorted(placeholders):
        resolve(mid)
    return Forest(parent, source, placeholders, thread, depth)


def _write(conn, nodes: dict[str, Node], forest: Forest, affected: set[str]) -> None:
    # Only what changed is written: rewriting a message row copies its whole text.
    conn.executemany(
        "UPDATE messages SET parent_id = ?, parent_source = ?, thread_id = ?, depth = ? "
        "WHERE message_id = ?",
        [(*want, m) for m, node in nodes.items()
         if node.stored != (want := (forest.parent.get(m), forest.source.get(m),
                                     forest.thread[m], forest.depth[m]))])
    old_ph = {r[0]: tuple(r[1:]) for r in conn.execute(
        "SELECT message_id, parent_id, thread_id, depth FROM placeholders WHERE thread_id IN "
        "(SELECT id FROM temp.affected) OR message_id IN (SELECT id FROM temp.new_ids)")}
    new_ph = {p: (forest.parent.get(p), forest.thread[p], forest.depth[p])
              for p in forest.placeholders}
    conn.executemany("DELETE FROM placeholders WHERE message_id = ?",
                     [(p,) for p in sorted(set(old_ph) - set(new_ph))])
    conn.executemany(
        "INSERT OR REPLACE INTO placeholders (message_id, parent_id, thread_id, depth) "
        "VALUES (?, ?, ?, ?)",
        [(p, *v) for p, v in sorted(new_ph.items()) if old_ph.get(p) != v])
    by_root: dict[str, list[Node]] = {}
    for m, node in nodes.items():
        by_root.setdefault(forest.thread[m], []).append(node)
    rows = []
    for root in sorted(by_root):
        members = by_root[root]
        dates = sorted(n.date for n in members if n.date)
        root_node = nodes.get(root)
        subject = root_node.subject if root_node else None
        if subject is None:
            first = min(members, key=lambda n: (n.date or "", n.message_id))
            subject = first.subject
        rows.append((root, root, int(root_node is None), subject, len(members),
                     dates[0] if dates else None, dates[-1] if dates else None))
    gone = sorted(affected - set(by_root))
    conn.executemany("DELETE FROM threads WHERE thread_id = ?", [(t,) for t in gone])
    conn.executemany(
        "INSERT OR REPLACE INTO threads (thread_id, root_message_id, root_is_placeholder, "
        "subject, message_count, first_date, last_date) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
