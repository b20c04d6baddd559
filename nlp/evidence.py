"""Resolution of stored concerns: the evidence a concern's thread and series give
since it was raised, and the status, resolver and staleness that evidence decides.
"""

from __future__ import annotations

import json

from abiwatch.db.queries import rows_as_dicts
from abiwatch.nlp.catalog import Catalog
from abiwatch.nlp.resolution import (
    Evidence,
    LaterMessage,
    LaterVersion,
    Posting,
    resolve,
    staleness,
)

_CONCERN_SELECT = "SELECT c.*, m.thread_id FROM concerns c JOIN messages m ON m.message_id = c.message_id"


class ThreadCache:
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


def resolve_concerns(conn, concern_ids: list[int], catalog: Catalog) -> None:
    """Re-decide status, resolver and staleness of the given concerns."""
    cache = ThreadCache(conn, {p.id: p.weight for p in catalog.patterns})
    newest = conn.execute("SELECT MAX(date) FROM messages").fetchone()[0]
    updates = []
    for i in range(0, len(concern_ids), 500):
        part = concern_ids[i:i + 500]
        for c in rows_as_dicts(conn, f"{_CONCERN_SELECT} WHERE c.id IN ({','.join('?' * len(part))})", part):
            ev = evidence_for(conn, c, cache)
            r = resolve(ev)
            stale = staleness(ev, _last_activity(cache, c, ev), newest) if r.status == "open" else None
            updates.append((r.status, r.resolved_by, r.resolution, stale, c["id"]))
    conn.executemany("UPDATE concerns SET status = ?, resolved_by = ?, resolution = ?, stale = ? "
                     "WHERE id = ?", updates)


def _last_activity(cache: ThreadCache, c: dict, ev: Evidence) -> str | None:
    """Return the date of the last mail in the concern's thread or its series' later versions."""
    msgs = cache.thread(c["thread_id"])[0]
    dates = [m["date"] for m in msgs if m["date"]] + [v.first_date for v in ev.later_versions if v.first_date]
    return max(dates, default=None)


def evidence_for(conn, c: dict, cache: ThreadCache) -> Evidence:
    """Gather what happened after concern row c (a `_CONCERN_SELECT` row) was raised."""
    ev = Evidence(c["author_addr"], c["author_name"], c["date"], c["kind"], _patch_author(conn, c), c["text"])
    date = c["date"] or ""
    _add_later_in_thread(ev, c, date, cache)
    chain_ids = _add_later_series_versions(conn, ev, c, date)
    if c["author_addr"] and not chain_ids:
        _add_later_subject_versions(conn, ev, c, date)
    if c["author_addr"]:
        _add_raiser_trailers(conn, ev, c, date, chain_ids)
    return ev


def _patch_author(conn, c: dict) -> str | None:
    patch_author = None
    if c["patch_message_id"]:
        row = conn.execute("SELECT from_addr FROM messages WHERE message_id = ?",
                           [c["patch_message_id"]]).fetchone()
        patch_author = row[0] if row else None
    return patch_author


def _add_later_in_thread(ev: Evidence, c: dict, date: str, cache: ThreadCache) -> None:
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


def _add_later_series_versions(conn, ev: Evidence, c: dict, date: str) -> list[str]:
    """Add the concern's series' later versions; return the ids of all versions of that series."""
    chain_ids: list[str] = []
    if c["series_id"]:
        row = conn.execute("SELECT series_key, version, first_date FROM series WHERE id = ?",
                           [c["series_id"]]).fetchone()
        if row:
            key, version, _ = row
            chain_ids = [r[0] for r in conn.execute("SELECT id FROM series WHERE series_key = ?", [key])]
            for s in rows_as_dicts(conn, "SELECT id, version, first_date, cover_message_id FROM series "
                                 "WHERE series_key = ? AND id != ? AND (version > ? OR first_date > ?) "
                                 "ORDER BY version, first_date", [key, c["series_id"], version, date]):
                ev.later_versions.append(_later_version(conn, s))
    return chain_ids


def _later_version(conn, s: dict) -> LaterVersion:
    posts = rows_as_dicts(conn, "SELECT m.message_id, m.date, m.own_text FROM patches p JOIN messages m "
                        "ON m.message_id = p.message_id WHERE p.series_id = ? ORDER BY p.part",
                  [s["id"]])
    lv = LaterVersion(s["id"], s["version"], s["first_date"],
                      s["cover_message_id"] or (posts[0]["message_id"] if posts else s["id"]),
                      [Posting(p["message_id"], p["date"], p["own_text"] or "") for p in posts])
    lv.trailers = [tuple(r) for r in conn.execute(
        "SELECT t.message_id, t.name, t.person_addr, t.person_name FROM trailers t "
        "JOIN patches p ON p.message_id = t.message_id WHERE p.series_id = ?", [s["id"]])]
    return lv


def _add_later_subject_versions(conn, ev: Evidence, c: dict, date: str) -> None:
    """Add the later versions of a patch that is not in the archive: they are known
    only by their replies' subjects ("Re: [PATCH v7] same title")."""
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


def _add_raiser_trailers(conn, ev: Evidence, c: dict, date: str, chain_ids: list[str]) -> None:
    marks = ",".join("?" * len(chain_ids)) if chain_ids else "''"
    ev.raiser_trailers += [tuple(r) for r in conn.execute(
        "SELECT t.message_id, t.name, m.date, t.series_id FROM trailers t JOIN messages m "
        "ON m.message_id = t.message_id WHERE t.person_addr = ? AND m.date > ? "
        f"AND t.message_id != ? AND (t.series_id IN ({marks}) OR m.thread_id = ?)",
        [c["author_addr"], date, c["message_id"], *chain_ids, c["thread_id"]])]


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
