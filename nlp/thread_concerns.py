"""Steps 3 and 4 of deciding a chunk of threads (the ids in temp.dt): each message's
context (its patch, its thread's topic, its mentions) decides its concerns from the
stored candidates, and the decided concerns replace the chunk's stored ones.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from abiwatch.nlp.catalog import Catalog
from abiwatch.nlp.classifier import quoted_context
from abiwatch.nlp.concerns import Candidate, Concern, MessageContext, decide_concerns
from abiwatch.nlp.thread_links import Chunk, Interfaces

SOURCE_RANK = {"subject": 0, "diff": 1, "text": 2}


@dataclass
class _ChunkFacts:
    """What the messages' contexts draw on, gathered once for the chunk."""
    chunk: Chunk
    patch_of: dict[str, str]
    interfaces: Interfaces
    mentions: dict[str, list[tuple[int, str]]]
    roots: dict[str, dict]
    sizes: Counter
    authors: dict[str, str | None]
    catalog: Catalog


def decide_chunk_concerns(conn, chunk: Chunk, patch_of: dict[str, str], interfaces: Interfaces,
                          catalog: Catalog) -> list[Concern]:
    """Return the concerns the chunk's messages raise."""
    cands = _load_candidates(conn)
    facts = _chunk_facts(conn, chunk, patch_of, interfaces, catalog)
    produced = []
    for m in chunk.msgs:
        produced += decide_concerns(cands.get(m["message_id"], []), _context(m, facts))
    return produced


def _load_candidates(conn) -> dict[str, list[Candidate]]:
    cands: dict[str, list[Candidate]] = {}
    for mid, start, text, inter, cues, q, model in conn.execute(
            "SELECT c.message_id, c.start, c.text, c.interfaces, c.cues, c.question, c.model "
            "FROM concern_candidates c JOIN messages m ON m.message_id = c.message_id "
            "WHERE m.thread_id IN (SELECT id FROM temp.dt)"):
        cands.setdefault(mid, []).append(Candidate(start, text, json.loads(inter),
                                                   [tuple(c) for c in json.loads(cues)], bool(q),
                                                   model or 0.0))
    return cands


def _load_mentions(conn) -> dict[str, list[tuple[int, str]]]:
    mentions: dict[str, list[tuple[int, str]]] = {}
    for mid, label, start, title in conn.execute(
            "SELECT h.message_id, h.label, h.start, m.subject_title FROM nlp_hits h JOIN messages m "
            "ON m.message_id = h.message_id WHERE h.label LIKE 'interface:%' "
            "AND m.thread_id IN (SELECT id FROM temp.dt) ORDER BY h.message_id, h.start"):
        if start > len(title or ""):
            mentions.setdefault(mid, []).append((start, label.split(":", 1)[1]))
    return mentions


def _chunk_facts(conn, chunk: Chunk, patch_of: dict[str, str], interfaces: Interfaces,
                 catalog: Catalog) -> _ChunkFacts:
    msgs = chunk.msgs
    mentions = _load_mentions(conn)
    by_id = {m["message_id"]: m for m in msgs}
    roots = {m["thread_id"]: m for m in msgs if m["message_id"] == m["thread_id"]}
    sizes: Counter = Counter(m["thread_id"] for m in msgs)
    authors: dict[str, str | None] = {}
    for pid in set(patch_of.values()):
        authors[pid] = by_id[pid]["from_addr"] if pid in by_id else None
    return _ChunkFacts(chunk, patch_of, interfaces, mentions, roots, sizes, authors, catalog)


def _context(m: dict, facts: _ChunkFacts) -> MessageContext:
    ifaces, by_thread = facts.interfaces.by_message, facts.interfaces.by_thread
    patch_rows = facts.chunk.patch_rows
    mid = m["message_id"]
    pid = facts.patch_of.get(mid)
    root = facts.roots.get(m["thread_id"])
    topic = _topic(ifaces, facts.mentions, mid, pid, root, by_thread.get(m["thread_id"], Counter()),
                   facts.sizes[m["thread_id"]])
    patch_ifaces = _ranked(ifaces.get(pid, {})) if pid else []
    return MessageContext(
        mid, m["from_addr"], m["from_name"], m["date"],
        is_patch=mid in patch_rows and not m["is_reply"],
        is_root=m["parent_id"] is None and not m["is_reply"],
        patch_message_id=pid,
        series_id=patch_rows.get(pid, {}).get("series_id") if pid else None,
        patch_author_addr=facts.authors.get(pid) if pid else None,
        root_author_addr=root["from_addr"] if root else None,
        interfaces=ifaces.get(mid, {}), topic_interfaces=topic,
        defer={n: t for n, t in facts.interfaces.defer_rules.items()
               if by_thread.get(m["thread_id"], Counter()).get(t)},
        patch_interfaces=patch_ifaces, mentions=facts.mentions.get(mid, []),
        quoted=quoted_context(m["quoted_text"], facts.catalog))


def _ranked(mine: dict[str, str]) -> list[str]:
    return [n for n, _src in sorted(mine.items(), key=lambda kv: SOURCE_RANK[kv[1]])]


def _topic(ifaces: dict[str, dict[str, str]], mentions: dict[str, list[tuple[int, str]]],
           mid: str, pid: str | None, root: dict | None, thread_counts: Counter,
           thread_size: int) -> list[str]:
    """Return the interfaces a message's context is clearly about, most relevant first.

    A thread is about an interface when the patch under review touches or names it,
    the root's subject names it, the root's text is mostly about it, or most of the
    thread's messages discuss it; a passing mention makes no topic (a vsock RFC
    that cites Hyper-V once is not about Hyper-V).
    """
    order: list[str] = []

    def add(names) -> None:
        order.extend(n for n in names if n not in order)

    if pid:
        add(_ranked(ifaces.get(pid, {})))
    if root:
        rid = root["message_id"]
        add(n for n, src in ifaces.get(rid, {}).items() if src in ("subject", "diff"))
        counts = Counter(i for _, i in mentions.get(rid, []))
        total = sum(counts.values())
        add(n for n, k in counts.most_common() if k >= 3 and k >= 0.6 * total)
    add(n for n, src in ifaces.get(mid, {}).items() if src == "subject")
    add(n for n, k in thread_counts.most_common() if k >= 3 and k >= 0.5 * thread_size)
    return order


def store_concerns(conn, produced: list[Concern]) -> list[int]:
    """Replace the chunk's stored concerns with produced; return the ids of the chunk's concerns."""
    _fill_author_names(conn, produced)
    existing = {(r[1], r[2]): r[0] for r in conn.execute(
        "SELECT c.id, c.message_id, c.interface FROM concerns c JOIN messages m "
        "ON m.message_id = c.message_id WHERE m.thread_id IN (SELECT id FROM temp.dt)")}
    keep = {(c.message_id, c.interface) for c in produced}
    conn.executemany("DELETE FROM concerns WHERE id = ?",
                     [(i,) for k, i in existing.items() if k not in keep])
    conn.executemany(
        "INSERT INTO concerns (message_id, interface, text, kind, patch_message_id, series_id, "
        "confidence, rule_id, cue, author_name, author_addr, date, status, confident) "
        "VALUES (:message_id, :interface, :text, :kind, :patch_message_id, :series_id, "
        ":confidence, :rule_id, :cue, :author_name, :author_addr, :date, 'open', :confident) "
        "ON CONFLICT(message_id, interface) DO UPDATE SET text = excluded.text, "
        "confident = excluded.confident, "
        "kind = excluded.kind, patch_message_id = excluded.patch_message_id, "
        "series_id = excluded.series_id, confidence = excluded.confidence, "
        "rule_id = excluded.rule_id, cue = excluded.cue, author_name = excluded.author_name, "
        "author_addr = excluded.author_addr, date = excluded.date",
        [c.__dict__ for c in produced])
    return [r[0] for r in conn.execute(
        "SELECT c.id FROM concerns c JOIN messages m ON m.message_id = c.message_id "
        "WHERE m.thread_id IN (SELECT id FROM temp.dt)")]


def _fill_author_names(conn, produced: list[Concern]) -> None:
    for c in produced:
        if not c.author_name and c.author_addr:
            # "From: peterz@infradead.org" alone: use the name the same address signs with elsewhere
            row = conn.execute("SELECT from_name FROM messages WHERE from_addr = ? AND from_name IS NOT NULL "
                               "GROUP BY from_name ORDER BY COUNT(*) DESC LIMIT 1", [c.author_addr]).fetchone()
            c.author_name = row[0] if row else None
