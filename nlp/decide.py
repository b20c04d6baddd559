"""Phase 2 of tagging, per thread: patch links, interface deferral, concerns and
their resolution. Reads what phase 1 stored; writes message_patch and concerns.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

import sqlite_utils

from abiwatch.db.queries import rows_as_dicts
from abiwatch.nlp.catalog import Catalog
from abiwatch.nlp.classifier import quoted_context
from abiwatch.nlp.concerns import Candidate, MessageContext, decide_concerns
from abiwatch.nlp.linking import LinkMessage, link_ids, patch_for
from abiwatch.nlp.resolution import (
    Evidence,
    LaterMessage,
    LaterVersion,
    Posting,
    resolve,
    staleness,
)

logger = logging.getLogger(__name__)
THREAD_CHUNK = 200
SOURCE_RANK = {"subject": 0, "diff": 1, "text": 2}


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
        _resolve(conn, ids, catalog)


def _series_keys(conn, series_ids: set[str]) -> list[str]:
    ids = sorted(series_ids)
    out: set[str] = set()
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        out.update(r[0] for r in conn.execute(
            f"SELECT series_key FROM series WHERE id IN ({','.join('?' * len(part))})", part))
    return sorted(out)


def _decide_chunk(conn, thread_ids: list[str], catalog: Catalog) -> set[str]:
    conn.execute("DROP TABLE IF EXISTS temp.dt")
    conn.execute("CREATE TEMP TABLE dt (id TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.dt VALUES (?)", [(t,) for t in thread_ids])
    msgs = rows_as_dicts(conn, "SELECT message_id, parent_id, subject, norm_subject, from_addr, from_name, "
                       "date, is_patch, is_reply, quoted_text, thread_id, subject_title, "
                       "subject_version, subject_is_patch FROM messages "
                       "WHERE thread_id IN (SELECT id FROM temp.dt)")
    parents = {m["message_id"]: m["parent_id"] for m in msgs}
    parents.update({r[0]: r[1] for r in conn.execute(
        "SELECT message_id, parent_id FROM placeholders WHERE thread_id IN (SELECT id FROM temp.dt)")})
    real = {m["message_id"] for m in msgs}
    patch_rows = {r[0]: {"kind": r[1], "series_id": r[2], "version": r[3]} for r in conn.execute(
        "SELECT p.message_id, p.kind, p.series_id, p.version FROM patches p JOIN messages m "
        "ON m.message_id = p.message_id WHERE m.thread_id IN (SELECT id FROM temp.dt)")}
    links: dict[str, list[str]] = {}
    for mid, value in conn.execute(
            "SELECT t.message_id, t.value FROM trailers t JOIN messages m ON m.message_id = t.message_id "
            "WHERE t.name = 'Link' AND m.thread_id IN (SELECT id FROM temp.dt)"):
        links.setdefault(mid, []).append(value)

    replied_as_patch: dict[str, set[tuple[int, str]]] = {}
    for m in msgs:
        if m["parent_id"] and m["is_reply"] and m["subject_is_patch"]:
            replied_as_patch.setdefault(m["parent_id"], set()).add(
                (m["subject_version"] or 1, m["norm_subject"] or ""))

    # 1. patch links
    conn.execute("DELETE FROM message_patch WHERE message_id IN (SELECT message_id FROM messages "
                 "WHERE thread_id IN (SELECT id FROM temp.dt))")
    link_rows = []
    patch_of: dict[str, str] = {}
    title_cache: dict[str, list] = {}
    known_patches = set(patch_rows)
    for m in msgs:
        is_patch_subject = bool(m["subject_is_patch"])
        lm = LinkMessage(m["message_id"], m["parent_id"], is_patch_subject, m["quoted_text"],
                         m["norm_subject"], m["subject_version"] or 1, m["date"],
                         links.get(m["message_id"], []))
        index = {}
        if is_patch_subject and m["norm_subject"]:
            key = m["norm_subject"]
            if key not in title_cache:
                title_cache[key] = [(r[0], r[1], r[2]) for r in conn.execute(
                    "SELECT p.version, m.date, p.message_id FROM patches p JOIN messages m "
                    "ON m.message_id = p.message_id WHERE m.norm_subject = ?", [key])]
            index = {key: title_cache[key]}
        # patches outside these threads matter only through a title or a Link: trailer
        extra = {c[2] for c in index.get(m["norm_subject"], [])}
        if links.get(m["message_id"]):
            extra |= _existing_patches(conn, links[m["message_id"]])
        found = patch_for(lm, parents, real, known_patches | extra if extra else known_patches,
                          index, replied_as_patch)
        if found:
            pid, how = found
            patch_of[m["message_id"]] = pid
            link_rows.append([m["message_id"], pid, patch_rows.get(pid, {}).get("series_id"), how])
    outside = sorted({r[1] for r in link_rows if r[1] not in patch_rows})
    series_outside = {r["message_id"]: r["series_id"] for r in rows_as_dicts(
        conn, f"SELECT message_id, series_id FROM patches WHERE message_id IN "
              f"({','.join('?' * len(outside))})", outside)} if outside else {}
    for r in link_rows:
        r[2] = r[2] or series_outside.get(r[1])
    conn.executemany("INSERT OR REPLACE INTO message_patch VALUES (?, ?, ?, ?)", link_rows)

    # 2. interfaces per message, with deferral (VMware in a VMI thread is VMI)
    ifaces: dict[str, dict[str, str]] = {}
    for mid, name, source in conn.execute(
            "SELECT mi.message_id, mi.interface, mi.source FROM message_interfaces mi JOIN messages m "
            "ON m.message_id = mi.message_id WHERE m.thread_id IN (SELECT id FROM temp.dt)"):
        ifaces.setdefault(mid, {})[name] = source
    by_thread: dict[str, Counter] = {}
    for m in msgs:
        cnt = by_thread.setdefault(m["thread_id"], Counter())
        for name in ifaces.get(m["message_id"], {}):
            cnt[name] += 1
    defer_rules = {i.name: i.defer_to for i in catalog.interfaces if i.defer_to}
    for m in msgs:
        mine = ifaces.get(m["message_id"], {})
        for name, target in defer_rules.items():
            if name in mine and by_thread[m["thread_id"]].get(target):
                src = mine.pop(name)
                mine.setdefault(target, src)
                conn.execute("DELETE FROM message_interfaces WHERE message_id = ? AND interface = ?",
                             [m["message_id"], name])
                conn.execute("INSERT OR IGNORE INTO message_interfaces VALUES (?, ?, ?, ?)",
                             [m["message_id"], target, f"{name} (in a {target} thread)", src])
    for _tid, cnt in by_thread.items():
        for name, target in defer_rules.items():
            if cnt.get(target) and name in cnt:
                cnt[target] += cnt.pop(name)

    # 3. concerns
    cands: dict[str, list[Candidate]] = {}
    for mid, start, text, inter, cues, q, model in conn.execute(
            "SELECT c.message_id, c.start, c.text, c.interfaces, c.cues, c.question, c.model "
            "FROM concern_candidates c JOIN messages m ON m.message_id = c.message_id "
            "WHERE m.thread_id IN (SELECT id FROM temp.dt)"):
        cands.setdefault(mid, []).append(Candidate(start, text, json.loads(inter),
                                                   [tuple(c) for c in json.loads(cues)], bool(q),
                                                   model or 0.0))
    mentions: dict[str, list[tuple[int, str]]] = {}
    for mid, label, start, title in conn.execute(
            "SELECT h.message_id, h.label, h.start, m.subject_title FROM nlp_hits h JOIN messages m "
            "ON m.message_id = h.message_id WHERE h.label LIKE 'interface:%' "
            "AND m.thread_id IN (SELECT id FROM temp.dt) ORDER BY h.message_id, h.start"):
        if start > len(title or ""):
            mentions.setdefault(mid, []).append((start, label.split(":", 1)[1]))
    by_id = {m["message_id"]: m for m in msgs}
    roots = {m["thread_id"]: m for m in msgs if m["message_id"] == m["thread_id"]}
    sizes: Counter = Counter(m["thread_id"] for m in msgs)
    authors: dict[str, str | None] = {}
    for pid in set(patch_of.values()):
        authors[pid] = by_id[pid]["from_addr"] if pid in by_id else None
    produced = []
    for m in msgs:
        mid = m["message_id"]
        pid = patch_of.get(mid)
        root = roots.get(m["thread_id"])
        topic = _topic(ifaces, mentions, mid, pid, root, by_thread.get(m["thread_id"], Counter()),
                       sizes[m["thread_id"]])
        patch_ifaces = _ranked(ifaces.get(pid, {})) if pid else []
        ctx = MessageContext(
            mid, m["from_addr"], m["from_name"], m["date"],
            is_patch=mid in patch_rows and not m["is_reply"],
            is_root=m["parent_id"] is None and not m["is_reply"],
            patch_message_id=pid,
            series_id=patch_rows.get(pid, {}).get("series_id") if pid else None,
            patch_author_addr=authors.get(pid) if pid else None,
            root_author_addr=root["from_addr"] if root else None,
            interfaces=ifaces.get(mid, {}), topic_interfaces=topic,
            defer={n: t for n, t in defer_rules.items()
                   if by_thread.get(m["thread_id"], Counter()).get(t)},
            patch_interfaces=patch_ifaces, mentions=mentions.get(mid, []),
            quoted=quoted_context(m["quoted_text"], catalog))
        produced += decide_concerns(cands.get(mid, []), ctx)
    for c in produced:
        if not c.author_name and c.author_addr:
            # "From: peterz@infradead.org" alone: use the name the same address signs with elsewhere
            row = conn.execute("SELECT from_name FROM messages WHERE from_addr = ? AND from_name IS NOT NULL "
                               "GROUP BY from_name ORDER BY COUNT(*) DESC LIMIT 1", [c.author_addr]).fetchone()
            c.author_name = row[0] if row else None
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
    ids = [r[0] for r in conn.execute(
        "SELECT c.id FROM concerns c JOIN messages m ON m.message_id = c.message_id "
        "WHERE m.thread_id IN (SELECT id FROM temp.dt)")]
    _resolve(conn, ids, catalog)
    conn.execute("UPDATE tagged_messages SET decided = 1 WHERE decided = 0 AND message_id IN "
                 "(SELECT message_id FROM messages WHERE thread_id IN (SELECT id FROM temp.dt))")
    conn.execute("DROP TABLE temp.dt")
    return {p["series_id"] for p in patch_rows.values() if p["series_id"]}


def _existing_patches(conn, ids: list[str]) -> set[str]:
    targets = link_ids(ids)
    if not targets:
        return set()
    return {r[0] for r in conn.execute(
        f"SELECT message_id FROM patches WHERE message_id IN ({','.join('?' * len(targets))})", targets)}


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


_CONCERN_SELECT = "SELECT c.*, m.thread_id FROM concerns c JOIN messages m ON m.message_id = c.message_id"


class _ThreadCache:
    """What resolution needs of a thread, read once per thread instead of once per concern."""

    def __init__(self, conn, rule_weights: dict[str, float]):
        self.conn = conn
        self.weights = rule_weights
        self.threads: dict[str, tuple[list[dict], dict[str, str | None], set[tuple[str, str]],
                                      dict[str, set[str]]]] = {}
        self.agreement: dict[str, tuple[float, float]] = {}

    def thread(self, tid: str):
        if tid not in self.threads:
            msgs = rows_as_dicts(self.conn, "SELECT message_id, parent_id, from_addr, from_name, date, has_diff "
                                    "FROM messages WHERE thread_id = ? ORDER BY date, message_id", [tid])
            raised = {(r[0], r[1]) for r in self.conn.execute(
                "SELECT c.message_id, c.interface FROM concerns c JOIN messages m "
                "ON m.message_id = c.message_id WHERE m.thread_id = ?", [tid])}
            acks: dict[str, set[str]] = {}
            for mid, addr in self.conn.execute(
                    "SELECT t.message_id, lower(t.person_addr) FROM trailers t JOIN messages m "
                    "ON m.message_id = t.message_id WHERE m.thread_id = ? AND t.person_addr IS NOT NULL "
                    "AND t.name IN ('Acked-by', 'Reviewed-by', 'Tested-by')", [tid]):
                acks.setdefault(mid, set()).add(addr)
            self.threads[tid] = (msgs, {m["message_id"]: m["parent_id"] for m in msgs}, raised, acks)
        return self.threads[tid]

    def agree(self, mid: str) -> tuple[float, float]:
        if mid not in self.agreement:
            self.agreement[mid] = _agreement(self.conn, mid, self.weights)
        return self.agreement[mid]


def _resolve(conn, concern_ids: list[int], catalog: Catalog) -> None:
    cache = _ThreadCache(conn, {p.id: p.weight for p in catalog.patterns})
    newest = conn.execute("SELECT MAX(date) FROM messages").fetchone()[0]
    updates = []
    for i in range(0, len(concern_ids), 500):
        part = concern_ids[i:i + 500]
        for c in rows_as_dicts(conn, f"{_CONCERN_SELECT} WHERE c.id IN ({','.join('?' * len(part))})", part):
            ev = _evidence(conn, c, cache)
            r = resolve(ev)
            stale = staleness(ev, _last_activity(cache, c, ev), newest) if r.status == "open" else None
            updates.append((r.status, r.resolved_by, r.resolution, stale, c["id"]))
    conn.executemany("UPDATE concerns SET status = ?, resolved_by = ?, resolution = ?, stale = ? "
                     "WHERE id = ?", updates)


def _last_activity(cache: _ThreadCache, c: dict, ev: Evidence) -> str | None:
    """Return the date of the last mail in the concern's thread or its series' later versions."""
    msgs = cache.thread(c["thread_id"])[0]
    dates = [m["date"] for m in msgs if m["date"]] + [v.first_date for v in ev.later_versions if v.first_date]
    return max(dates, default=None)


def _evidence(conn, c: dict, cache: _ThreadCache) -> Evidence:
    patch_author = None
    if c["patch_message_id"]:
        row = conn.execute("SELECT from_addr FROM messages WHERE message_id = ?",
                           [c["patch_message_id"]]).fetchone()
        patch_author = row[0] if row else None
    ev = Evidence(c["author_addr"], c["author_name"], c["date"], c["kind"], patch_author, c["text"])
    date = c["date"] or ""
    msgs, parents, raised, acks = cache.thread(c["thread_id"])
    for m in msgs:
        if (m["date"] or "") <= date:
            continue
        agree, willfix = cache.agree(m["message_id"])
        parent = parents.get(m["message_id"])
        near = parent == c["message_id"] or parents.get(parent) == c["message_id"]
        ev.later_in_thread.append(LaterMessage(
            m["message_id"], m["from_addr"], m["from_name"], m["date"], agree, willfix,
            (m["message_id"], c["interface"]) in raised,
            _descends(m["message_id"], c["message_id"], parents), near, bool(m["has_diff"]),
            tuple(acks.get(m["message_id"], ())), parent))
    chain_ids: list[str] = []
    version = 1
    if c["series_id"]:
        row = conn.execute("SELECT series_key, version, first_date FROM series WHERE id = ?",
                           [c["series_id"]]).fetchone()
        if row:
            key, version, _ = row
            chain_ids = [r[0] for r in conn.execute("SELECT id FROM series WHERE series_key = ?", [key])]
            for s in rows_as_dicts(conn, "SELECT id, version, first_date, cover_message_id FROM series "
                                 "WHERE series_key = ? AND id != ? AND (version > ? OR first_date > ?) "
                                 "ORDER BY version, first_date", [key, c["series_id"], version, date]):
                posts = rows_as_dicts(conn, "SELECT m.message_id, m.date, m.own_text FROM patches p JOIN messages m "
                                    "ON m.message_id = p.message_id WHERE p.series_id = ? ORDER BY p.part",
                              [s["id"]])
                lv = LaterVersion(s["id"], s["version"], s["first_date"],
                                  s["cover_message_id"] or (posts[0]["message_id"] if posts else s["id"]),
                                  [Posting(p["message_id"], p["date"], p["own_text"] or "") for p in posts])
                lv.trailers = [tuple(r) for r in conn.execute(
                    "SELECT t.message_id, t.name, t.person_addr, t.person_name FROM trailers t "
                    "JOIN patches p ON p.message_id = t.message_id WHERE p.series_id = ?", [s["id"]])]
                ev.later_versions.append(lv)
    if c["author_addr"] and not chain_ids:
        # The patch is not in the archive: later versions are known only by their
        # replies' subjects ("Re: [PATCH v7] same title").
        row = conn.execute("SELECT subject_version, norm_subject FROM messages WHERE message_id = ?",
                           [c["message_id"]]).fetchone()
        if row and row[1]:
            version = row[0] or 1
            for mid, v, mdate, name in conn.execute(
                    "SELECT m.message_id, m.subject_version, m.date, t.name FROM trailers t JOIN messages m "
                    "ON m.message_id = t.message_id WHERE m.norm_subject = ? AND t.person_addr = ? "
                    "AND m.date > ? ORDER BY m.date", [row[1], c["author_addr"], date]):
                v = v or 1
                if v > version:
                    ev.later_versions.append(LaterVersion(f"subject:v{v}", v, mdate, mid))
                    ev.raiser_trailers.append((mid, name, mdate, f"subject:v{v}"))
    if c["author_addr"]:
        marks = ",".join("?" * len(chain_ids)) if chain_ids else "''"
        ev.raiser_trailers += [tuple(r) for r in conn.execute(
            "SELECT t.message_id, t.name, m.date, t.series_id FROM trailers t JOIN messages m "
            "ON m.message_id = t.message_id WHERE t.person_addr = ? AND m.date > ? "
            f"AND t.message_id != ? AND (t.series_id IN ({marks}) OR m.thread_id = ?)",
            [c["author_addr"], date, c["message_id"], *chain_ids, c["thread_id"]])]
    return ev


def _agreement(conn, mid: str, rule_weights: dict[str, float]) -> tuple[float, float]:
    """Return (agreement, will-fix) strength of a message, from sentences that are not
    themselves questions or concerns ("Would it make sense to..." agrees with nothing)."""
    agree = willfix = 0.0
    for cues_json, question in conn.execute(
            "SELECT cues, question FROM concern_candidates WHERE message_id = ?", [mid]):
        cues = json.loads(cues_json)
        if question or any(c[1] == "CONCERN" and c[3] >= 0.6 for c in cues):
            continue
        for rid, label, _kind, weight, _text in cues:
            w = rule_weights.get(rid, weight)
            if label == "AGREE":
                agree = max(agree, w)
            elif label == "WILLFIX":
                willfix = max(willfix, w)
    return agree, willfix


def _descends(mid: str, ancestor: str, parents: dict[str, str | None]) -> bool:
    seen = set()
    cur = parents.get(mid)
    while cur is not None and cur not in seen:
        if cur == ancestor:
            return True
        seen.add(cur)
        cur = parents.get(cur)
    return False
