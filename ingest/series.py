"""Series and versions: which patches were posted together (cover letter +
parts), which posting is the next version of which, and which patch each
trailer applies to.

Like threading, grouping is recomputed from stored rows for every author who
posted something new, so it does not depend on arrival order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlite_utils

from abiwatch.ingest.by_keys import rows_in
from abiwatch.ingest.subject import normalize_title

logger = logging.getLogger(__name__)

CLUSTER_GAP_DAYS = 2


@dataclass
class PatchRow:
    message_id: str
    kind: str
    title: str
    version: int
    part: int | None
    total: int | None
    is_rfc: bool
    change_id: str | None
    author_name: str | None
    author_addr: str | None
    date: str | None
    thread_id: str | None
    parent_id: str | None
    series_id: str | None = None


@dataclass
class Series:
    id: str
    members: list[PatchRow] = field(default_factory=list)
    # a cover letter without "0/N" (and so without a patches row), see naked_covers
    naked_cover: str | None = None

    @property
    def cover(self) -> PatchRow | None:
        return next((p for p in self.members if p.kind == "cover"), None)


# One author's patches, read from the partial index messages_patch_authors alone (the
# planner prefers the plain from_addr index, which reads every message row of the
# author, text and all; a regroup of a whole archive took seconds doing that).
_AUTHOR_PATCHES = (
    "SELECT p.message_id, p.kind, p.title, p.version, p.part, p.total, p.is_rfc, p.change_id, "
    "m.from_name, m.from_addr, m.date, m.thread_id, m.parent_id, p.series_id "
    "FROM messages m INDEXED BY messages_patch_authors "
    "JOIN patches p ON p.message_id = m.message_id "
    # "= ?", not COALESCE, and "is_patch = 1" (true of every patch): the index's terms
    "WHERE {who} AND m.is_patch = 1"
)


def _author_patches(conn, author: str) -> list[PatchRow]:
    """Return every patch of one author ('' for patches without a From address)."""
    sql = _AUTHOR_PATCHES.format(who="m.from_addr = ?" if author else "m.from_addr IS NULL")
    return [PatchRow(r[0], r[1], r[2] or "", r[3] or 1, r[4], r[5], bool(r[6]), r[7], r[8],
                     r[9], r[10], r[11], r[12], r[13])
            for r in conn.execute(sql, [author] if author else [])]


def _days_between(a: str | None, b: str | None) -> float:
    if not a or not b:
        return 0.0
    from datetime import datetime

    fa = datetime.fromisoformat(a.replace("Z", "+00:00"))
    fb = datetime.fromisoformat(b.replace("Z", "+00:00"))
    return abs((fb - fa).total_seconds()) / 86400


def group_series(patches: list[PatchRow]) -> list[Series]:
    """Return the postings (cover letter + parts, or one patch) of one author's patches."""
    multi: dict[tuple, list[PatchRow]] = {}
    singles: list[Series] = []
    # A part sent in reply to a cover letter belongs to it even when its tags
    # disagree ("[PATCH v1 0/1]" + "1/1", "[RFC PATCH 0/4]" + "1/5".."5/5"), unless it
    # names another version (a v2 part threaded under the v1 cover).
    covers = {p.message_id: p for p in patches if p.kind == "cover"}
    under_cover: dict[str, list[PatchRow]] = {}
    for p in sorted(patches, key=lambda p: (p.date or "", p.message_id)):
        if p.kind == "revision":  # a patch posted in a reply stands alone (revision_keys)
            singles.append(Series(p.message_id, [p]))
            continue
        cover = covers.get(p.parent_id or "")
        if p.kind != "cover" and p.part is not None and cover is not None \
                and p.version in (cover.version, 1):
            under_cover.setdefault(cover.message_id, []).append(p)
            continue
        if p.kind == "cover" or (p.total and p.total > 1 and p.part is not None):
            key = (p.version, p.total, p.is_rfc if p.kind != "pull" else False)
            multi.setdefault(key, []).append(p)
        else:
            singles.append(Series(p.message_id, [p]))
    out = singles
    for members in multi.values():
        # Parts threaded under one root belong together; unthreaded parts are
        # clustered by time, a new posting starting when a part number repeats.
        by_thread: dict[str, list[PatchRow]] = {}
        loose: list[PatchRow] = []
        for p in members:
            if p.thread_id and p.thread_id != p.message_id or p.kind == "cover":
                by_thread.setdefault(p.thread_id or p.message_id, []).append(p)
            else:
                loose.append(p)
        groups = list(by_thread.values())
        # A part that is its own thread root (e.g. "[PATCH 1/3]" with no cover)
        # joins a thread group rooted at it.
        remaining = []
        for p in loose:
            home = by_thread.get(p.message_id)
            if home is not None:
                home.append(p)
            else:
                remaining.append(p)
        cluster: list[PatchRow] = []
        for p in remaining:
            parts = {q.part for q in cluster}
            if cluster and (p.part in parts or
                            _days_between(cluster[-1].date, p.date) > CLUSTER_GAP_DAYS):
                groups.append(cluster)
                cluster = []
            cluster.append(p)
        if cluster:
            groups.append(cluster)
        groups = _join_unthreaded_covers([q for g in groups for q in _postings(g)])
        for g in groups:
            g.sort(key=lambda p: (p.part if p.part is not None else 10**6, p.date or "",
                                  p.message_id))
            covers_here = [p for p in g if p.kind == "cover"]
            anchor = covers_here[0] if covers_here else g[0]
            # two cover letters are two postings (a resend in the same thread)
            out.append(Series(anchor.message_id, [p for p in g if p not in covers_here[1:]]))
            out.extend(Series(c.message_id, [c]) for c in covers_here[1:])
    for s in out:
        if s.id in under_cover:
            s.members.extend(under_cover[s.id])
            s.members.sort(key=lambda p: (p.part if p.part is not None else 10**6,
                                          p.date or "", p.message_id))
    return out


def _postings(group: list[PatchRow]) -> list[list[PatchRow]]:
    """Return the postings in one thread's parts: a part number that comes again, in
    date order, starts the next posting (a resend or an unlabelled new version sent in
    reply to the old one, as Patchwork's bugs-nocover-noversion)."""
    out: list[list[PatchRow]] = []
    seen: set[int | None] = set()
    for p in sorted(group, key=lambda p: (p.date or "", p.message_id)):
        number = 0 if p.kind == "cover" else p.part
        if out and number not in seen:
            out[-1].append(p)
        else:
            out.append([p])
            seen = set()
        seen.add(number)
    return out


def _join_unthreaded_covers(groups: list[list[PatchRow]]) -> list[list[PatchRow]]:
    """Return the groups with each lone cover letter joined by the unthreaded parts sent
    closest to it: mail without References (Patchwork's base-no-references-no-cover)
    is only tied together by author, version, total and time."""
    lone = [g for g in groups if len(g) == 1 and g[0].kind == "cover"]
    if not lone:
        return groups
    out = [g for g in groups if g not in lone]
    for g in sorted(out, key=lambda g: min(p.date or "" for p in g)):
        ids = {p.message_id for p in g}
        if any(p.kind == "cover" or (p.parent_id and p.parent_id not in ids) for p in g):
            continue
        first = min(p.date or "" for p in g)
        near = [c for c in lone if _days_between(c[0].date, first) <= CLUSTER_GAP_DAYS]
        if near:
            cover = min(near, key=lambda c: _days_between(c[0].date, first))
            lone.remove(cover)
            g.insert(0, cover[0])
    return out + lone


def predict_series(conn, patches: list[tuple[str, str, int | None, int | None, int | None,
                                          str | None, str | None]]) -> dict[str, str | None]:
    """Return the series id group_series will most likely give each new patch, or None.

    patches are (message_id, kind, version, part, total, from_addr, parent_id). Written
    with the patch row, so that regrouping (which writes only what differs) rarely has
    to rewrite a patch row, diff and all. Only what group_series decides from the patch
    and its parent is predicted: a cover letter and a lone patch are their own series, a
    part sent in reply to its author's cover letter belongs to that cover's series;
    loose parts of a multi-part posting are left to the regrouping.
    """
    covers = {mid: (version or 1, addr) for mid, kind, version, _, _, addr, _ in patches
              if kind == "cover"}
    want = sorted({par for _, kind, _, part, _, _, par in patches
                   if kind != "cover" and part is not None and par and par not in covers})
    covers.update((r[0], (r[1] or 1, r[2])) for r in rows_in(
        conn, "SELECT p.message_id, p.version, m.from_addr FROM patches p JOIN messages m "
        "ON m.message_id = p.message_id WHERE p.kind = 'cover' AND p.message_id IN ({})", want))
    out: dict[str, str | None] = {}
    for mid, kind, version, part, total, addr, parent in patches:
        cover = covers.get(parent or "")
        if kind in ("cover", "revision"):
            out[mid] = mid
        elif part is not None and cover is not None and cover[1] == addr \
                and (version or 1) in (cover[0], 1):
            out[mid] = parent
        elif total and total > 1 and part is not None:
            out[mid] = None
        else:
            out[mid] = mid
    return out


def series_key(s: Series) -> str:
    """Return the key that is equal for every version of one series."""
    change = next((p.change_id for p in s.members if p.change_id), None)
    if change:
        return f"change-id:{change}"
    anchor = s.cover or s.members[0]
    return f"{anchor.author_addr or anchor.author_name or ''}|{normalize_title(anchor.title)}"


def link_series(db: sqlite_utils.Database, authors: set[str]) -> int:
    """Regroup all the patches of the given authors into series; return how many."""
    conn = db.conn
    total = 0
    patches_of: dict[str, list[PatchRow]] = {}  # read once, for grouping and for regrouping
    for group in _revision_groups(conn, authors, patches_of):
        # authors tied by a revision (a replacement patch posted in reply to another's
        # patch) are regrouped together, so that their versions form one chain
        series: list[Series] = []
        for author in group:
            patches = patches_of.pop(author, None) or _author_patches(conn, author)
            old_ids = {p.series_id for p in patches if p.series_id}
            conn.executemany("DELETE FROM series WHERE id = ?", [(i,) for i in old_ids])
            grouped = group_series(patches)
            covers = naked_covers(conn, author, {p.parent_id for p in patches if p.parent_id})
            for one in grouped:
                if one.cover is None:
                    one.naked_cover = next((p.parent_id for p in one.members
                                            if p.parent_id in covers), None)
            series.extend(grouped)
        _write_series(conn, series, _answered_patches(conn, series))
        total += len(series)
    return total


def naked_covers(conn, author: str, parents: set[str]) -> set[str]:
    """Return which of the messages the author's patches answer are naked cover letters.

    As b4 decides: a message with neither "[PATCH 0/N]" nor a diff is still the cover
    letter of the patches sent in reply to it when it starts the thread, is no reply
    itself, and comes from the patches' own author (b4's naked-cover-single); a bug
    report answered with a fix is someone else's mail (naked-cover-bugreport).
    """
    if not author:
        return set()
    return {r[0] for r in rows_in(
        conn, "SELECT message_id, from_addr FROM messages WHERE message_id IN ({}) "
        "AND is_patch = 0 AND is_reply = 0 AND parent_id IS NULL", sorted(parents))
        if r[1] == author}


_REVISIONS_IN_THREADS = (
    "SELECT p.message_id, COALESCE(m.from_addr, '') FROM messages m "
    "JOIN patches p ON p.message_id = m.message_id "
    "WHERE m.thread_id IN ({}) AND p.kind = 'revision'")
# The nearest patch up a revision's reply chain, through missing parents too.
_ANSWERED = """
    WITH RECURSIVE up(mid, depth) AS (
        SELECT parent_id, 1 FROM messages WHERE message_id = ?1
        UNION ALL
        SELECT COALESCE(m.parent_id, ph.parent_id), up.depth + 1 FROM up
        LEFT JOIN messages m ON m.message_id = up.mid
        LEFT JOIN placeholders ph ON ph.message_id = up.mid
        WHERE up.mid IS NOT NULL AND up.depth < 200
          AND NOT EXISTS (SELECT 1 FROM patches WHERE message_id = up.mid))
    SELECT up.mid, COALESCE(m.from_addr, '') FROM up JOIN patches p ON p.message_id = up.mid
    JOIN messages m ON m.message_id = up.mid ORDER BY up.depth LIMIT 1
"""


def _revision_groups(conn, authors: set[str],
                     patches_of: dict[str, list[PatchRow]]) -> list[list[str]]:
    """Return the authors in groups: those tied by revisions of each other's patches together."""
    group_of = {a: {a} for a in authors}
    todo = sorted(authors)
    while todo:
        for a in todo:
            patches_of[a] = _author_patches(conn, a)
        threads = sorted({p.thread_id for a in todo for p in patches_of[a] if p.thread_id})
        todo = []
        for rev, rev_author in rows_in(conn, _REVISIONS_IN_THREADS, threads):
            found = conn.execute(_ANSWERED, [rev]).fetchone()
            if found is None:
                continue
            for a in (rev_author, found[1]):
                if a not in group_of:
                    group_of[a] = {a}
                    todo.append(a)
            merged = group_of[rev_author] | group_of[found[1]]
            for a in merged:
                group_of[a] = merged
    groups = {id(g): g for g in group_of.values()}
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def _answered_patches(conn, series: list[Series]) -> dict[str, str]:
    """Return revision message id -> the patch it answers, for the revisions in series."""
    out = {}
    for s in series:
        for p in s.members:
            if p.kind == "revision":
                found = conn.execute(_ANSWERED, [p.message_id]).fetchone()
                if found is not None:
                    out[p.message_id] = found[0]
    return out


def revision_keys(series: list[Series], answered: dict[str, str]) -> dict[str, str]:
    """Return each series' key; a revision posted in reply to a patch of the same title
    takes the key of that patch's series, so it is the next version in its chain."""
    home = {p.message_id: s for s in series for p in s.members}
    keys: dict[str, str] = {}

    def key(s: Series, depth: int = 0) -> str:
        if s.id not in keys:
            anchor = s.members[0]
            target = home.get(answered.get(anchor.message_id, ""))
            same = target is not None and target is not s and depth < 50 and \
                normalize_title((target.cover or target.members[0]).title) == \
                normalize_title(anchor.title)
            keys[s.id] = key(target, depth + 1) if same else series_key(s)
        return keys[s.id]
    for s in series:
        key(s)
    return keys


def _write_series(conn, series: list[Series], answered: dict[str, str]) -> None:
    keyed: dict[str, list[Series]] = {}
    keys = revision_keys(series, answered)
    for s in series:
        keyed.setdefault(keys[s.id], []).append(s)
    rows = []
    members: list[tuple[str, str]] = []
    for key, group in keyed.items():
        group.sort(key=lambda s: (s.members[0].version, min(p.date or "" for p in s.members),
                                  s.id))
        version = 0
        for i, s in enumerate(group):
            anchor = s.cover or s.members[0]
            dates = sorted(p.date for p in s.members if p.date)
            # a revision repeats the subject ("Re: [PATCH] paravirt.h"): it is one
            # version on from the posting before it
            version = max(anchor.version, version + 1) if anchor.kind == "revision" \
                else anchor.version
            rows.append({
                "id": s.id, "series_key": key, "title": anchor.title,
                "version": version, "is_rfc": int(anchor.is_rfc),
                "cover_message_id": s.cover.message_id if s.cover else s.naked_cover,
                "supersedes": group[i - 1].id if i > 0 else None,
                "superseded_by": group[i + 1].id if i + 1 < len(group) else None,
                "author_name": anchor.author_name, "author_addr": anchor.author_addr,
                "total": anchor.total or 1,
                "received": sum(1 for p in s.members if p.kind != "cover"),
                "change_id": next((p.change_id for p in s.members if p.change_id), None),
                "first_date": dates[0] if dates else None,
                "last_date": dates[-1] if dates else None,
            })
            members.extend((s.id, p.message_id) for p in s.members)
    # Only what changed is written: rewriting a patch row copies its whole diff.
    conn.executemany("UPDATE patches SET series_id = ?1 WHERE message_id = ?2 "
                     "AND series_id IS NOT ?1", members)
    # trailers were pointed at these patches when their thread was linked, possibly
    # before this regrouping: bring their series along
    conn.executemany("UPDATE trailers SET series_id = ?1 WHERE patch_message_id = ?2 "
                     "AND series_id IS NOT ?1", members)
    # a follow-up in a naked cover letter's thread with no patch above it answers the
    # cover: its trailers apply to the series, as on a "0/N" cover (link_trailers ran
    # before the cover was known to be one)
    conn.executemany(
        "UPDATE trailers SET patch_message_id = ?1, series_id = ?2, applies_to = 'series' "
        "WHERE patch_message_id IS NULL AND message_id IN "
        "(SELECT message_id FROM messages WHERE thread_id = ?1)",
        [(s.naked_cover, s.id) for s in series if s.naked_cover])
    cols = list(rows[0]) if rows else []
    if rows:
        conn.executemany(
            f"INSERT OR REPLACE INTO series ({', '.join(cols)}) VALUES "
            f"({', '.join(':' + c for c in cols)})", rows)
