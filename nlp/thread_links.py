"""The first two steps of deciding a chunk of threads (the ids in temp.dt): which
patch each message is about (stored in message_patch), and which interfaces each
message and thread is about once an interface defers to another in its thread.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from abiwatch.db.queries import rows_as_dicts
from abiwatch.nlp.catalog import Catalog
from abiwatch.nlp.linking import LinkMessage, link_ids, patch_for


@dataclass
class Chunk:
    """The messages of the chunk's threads and what links them, read once."""
    msgs: list[dict]
    parents: dict[str, str | None]
    real: set[str]
    patch_rows: dict[str, dict]
    links: dict[str, list[str]]


@dataclass
class Interfaces:
    """Interfaces after deferral: per message (name -> source), per thread (name -> messages)."""
    by_message: dict[str, dict[str, str]]
    by_thread: dict[str, Counter]
    defer_rules: dict[str, str]


def load_chunk(conn) -> Chunk:
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
    return Chunk(msgs, parents, real, patch_rows, links)


def link_patches(conn, chunk: Chunk) -> dict[str, str]:
    """Store each message's patch in message_patch; return message id -> patch message id."""
    linker = _Linker(conn, chunk, _replied_as_patch(chunk.msgs))
    conn.execute("DELETE FROM message_patch WHERE message_id IN (SELECT message_id FROM messages "
                 "WHERE thread_id IN (SELECT id FROM temp.dt))")
    link_rows = []
    patch_of: dict[str, str] = {}
    for m in chunk.msgs:
        found = linker.patch_of(m)
        if found:
            pid, how = found
            patch_of[m["message_id"]] = pid
            link_rows.append([m["message_id"], pid, chunk.patch_rows.get(pid, {}).get("series_id"), how])
    _fill_outside_series(conn, link_rows, chunk.patch_rows)
    conn.executemany("INSERT OR REPLACE INTO message_patch VALUES (?, ?, ?, ?)", link_rows)
    return patch_of


def _replied_as_patch(msgs: list[dict]) -> dict[str, set[tuple[int, str]]]:
    replied_as_patch: dict[str, set[tuple[int, str]]] = {}
    for m in msgs:
        if m["parent_id"] and m["is_reply"] and m["subject_is_patch"]:
            replied_as_patch.setdefault(m["parent_id"], set()).add(
                (m["subject_version"] or 1, m["norm_subject"] or ""))
    return replied_as_patch


class _Linker:
    """Finds a message's patch; patches by title are read once per title for the chunk."""

    def __init__(self, conn, chunk: Chunk, replied_as_patch: dict[str, set[tuple[int, str]]]):
        self.conn = conn
        self.chunk = chunk
        self.replied_as_patch = replied_as_patch
        self.known_patches = set(chunk.patch_rows)
        self.title_cache: dict[str, list] = {}

    def patch_of(self, m: dict) -> tuple[str, str] | None:
        links = self.chunk.links
        is_patch_subject = bool(m["subject_is_patch"])
        lm = LinkMessage(m["message_id"], m["parent_id"], is_patch_subject, m["quoted_text"],
                         m["norm_subject"], m["subject_version"] or 1, m["date"],
                         links.get(m["message_id"], []))
        index = {}
        if is_patch_subject and m["norm_subject"]:
            key = m["norm_subject"]
            if key not in self.title_cache:
                self.title_cache[key] = [(r[0], r[1], r[2]) for r in self.conn.execute(
                    "SELECT p.version, m.date, p.message_id FROM patches p JOIN messages m "
                    "ON m.message_id = p.message_id WHERE m.norm_subject = ?", [key])]
            index = {key: self.title_cache[key]}
        # patches outside these threads matter only through a title or a Link: trailer
        extra = {c[2] for c in index.get(m["norm_subject"], [])}
        if links.get(m["message_id"]):
            extra |= _existing_patches(self.conn, links[m["message_id"]])
        known_patches = self.known_patches
        return patch_for(lm, self.chunk.parents, self.chunk.real,
                         known_patches | extra if extra else known_patches,
                         index, self.replied_as_patch)


def _fill_outside_series(conn, link_rows: list[list], patch_rows: dict[str, dict]) -> None:
    outside = sorted({r[1] for r in link_rows if r[1] not in patch_rows})
    series_outside = {r["message_id"]: r["series_id"] for r in rows_as_dicts(
        conn, f"SELECT message_id, series_id FROM patches WHERE message_id IN "
              f"({','.join('?' * len(outside))})", outside)} if outside else {}
    for r in link_rows:
        r[2] = r[2] or series_outside.get(r[1])


def _existing_patches(conn, ids: list[str]) -> set[str]:
    targets = link_ids(ids)
    if not targets:
        return set()
    return {r[0] for r in conn.execute(
        f"SELECT message_id FROM patches WHERE message_id IN ({','.join('?' * len(targets))})", targets)}


def defer_interfaces(conn, msgs: list[dict], catalog: Catalog) -> Interfaces:
    """Apply deferral (VMware in a VMI thread is VMI) to the stored and counted interfaces."""
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
    _defer_messages(conn, msgs, ifaces, by_thread, defer_rules)
    for _tid, cnt in by_thread.items():
        for name, target in defer_rules.items():
            if cnt.get(target) and name in cnt:
                cnt[target] += cnt.pop(name)
    return Interfaces(ifaces, by_thread, defer_rules)


def _defer_messages(conn, msgs: list[dict], ifaces: dict[str, dict[str, str]],
                    by_thread: dict[str, Counter], defer_rules: dict[str, str]) -> None:
    # Deferral looks at the thread's counts before any of its messages defer.
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
