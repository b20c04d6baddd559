"""Read-only queries behind the answer engine. Values are always parameters;
the only variable SQL is a choice among fixed fragments."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import sqlite_utils

CONCERN_COLUMNS = (
    "c.id, c.message_id, c.interface, c.status, c.kind, c.text, c.author_name, c.author_addr, "
    "c.date, c.patch_message_id, c.series_id, c.resolved_by, c.resolution, c.confidence, "
    "c.rule_id, c.stale, COALESCE(p.title, pm.subject) AS patch_title, m.subject, r.from_name AS resolver, "
    "r.date AS resolved_date, c.correction, c.corrected_by, c.corrected_at"
)
# What CONCERN_COLUMNS needs joined to `c`.
CONCERN_JOINS = (
    "JOIN messages m ON m.message_id = c.message_id "
    "LEFT JOIN patches p ON p.message_id = c.patch_message_id "
    "LEFT JOIN messages pm ON pm.message_id = c.patch_message_id "
    "LEFT JOIN messages r ON r.message_id = c.resolved_by"
)
# Concerns as corrected by people (see db/corrections.py): every answer reads this view.
_CONCERN_FROM = "FROM effective_concerns c " + CONCERN_JOINS


@dataclass
class ConcernFilter:
    """Which concerns a question asks for; every field left None means "any"."""

    interface: str | None = None
    status: str | None = None          # open or resolved
    kind: str | None = None            # nak, objection, request, question, risk
    person_addrs: list[str] | None = None
    since: str | None = None           # raised on or after
    until: str | None = None           # raised before
    resolved_since: str | None = None  # resolved on or after (the resolving mail's date)
    resolved_until: str | None = None
    series_ids: list[str] | None = None
    thread_ids: list[str] | None = None
    unsure: bool = False               # also those kept under the model's shown threshold

    def where(self) -> tuple[list[str], list] | None:
        """Return the WHERE fragments (on `c`, a concerns row) and their parameters;
        None when the filter matches nothing ("by nobody", "in no series")."""
        lists = (self.person_addrs, self.series_ids, self.thread_ids)
        if any(v is not None and not v for v in lists):
            return None
        resolved_on = "(SELECT date FROM messages WHERE message_id = c.resolved_by)"
        # (fixed SQL fragment, value or values); a None value means "no filter"
        filters = [("c.interface = ?", self.interface), ("c.status = ?", self.status),
                   ("c.kind = ?", self.kind),
                   ("c.date >= ?", self.since), ("c.date < ?", self.until),
                   (f"{resolved_on} >= ?", self.resolved_since),
                   (f"{resolved_on} < ?", self.resolved_until),
                   ("c.author_addr IN ({})", self.person_addrs),
                   ("c.series_id IN ({})", self.series_ids),
                   ("c.message_id IN (SELECT message_id FROM messages WHERE thread_id IN ({}))",
                    self.thread_ids)]
        where, params = ([] if self.unsure else ["c.confident = 1"]), []
        for fragment, value in filters:
            if not value:
                continue
            if isinstance(value, list):
                where.append(fragment.format(",".join("?" * len(value))))
                params += value
            else:
                where.append(fragment)
                params.append(value)
        return where, params


def concerns(db: sqlite_utils.Database, f: ConcernFilter, limit: int = 50) -> list[dict]:
    """Return the concerns the filter asks for, newest first, at most limit."""
    found = f.where()
    if found is None:
        return []
    where, params = found
    cond = " AND ".join(where) or "1"
    # The view cannot use the concerns indexes (a correction may change status or
    # interface), so the candidates are picked first: the newest `limit` concerns no
    # correction touches, through the indexes (their verdict is the automatic one),
    # plus every corrected concern that matches (few). The newest of those are the
    # answer; on 36k concerns this keeps `unresolved` at a millisecond, not 25.
    sql = (f"SELECT {CONCERN_COLUMNS} {_CONCERN_FROM} WHERE c.id IN ("
           f"SELECT id FROM (SELECT c.id FROM concerns c WHERE {cond} AND NOT EXISTS ("
           "SELECT 1 FROM corrections k WHERE k.message_id = c.message_id AND "
           "k.interface = c.interface AND k.applied = 1) ORDER BY c.date DESC, c.id DESC LIMIT ?) "
           f"UNION ALL SELECT c.id FROM effective_concerns c WHERE {cond} AND c.id IN ("
           "SELECT x.id FROM corrections k JOIN concerns x ON x.message_id = k.message_id "
           "AND x.interface = k.interface WHERE k.applied = 1)) "
           "ORDER BY c.date DESC, c.id DESC LIMIT ?")
    return list(db.query(sql, [*params, limit, *params, limit]))


def concern_total(db: sqlite_utils.Database, f: ConcernFilter) -> int:
    """Return how many concerns the filter matches in all (to say "N of M shown")."""
    found = f.where()
    if found is None:
        return 0
    where, params = found
    return db.execute("SELECT COUNT(*) FROM effective_concerns c"
                      + (" WHERE " + " AND ".join(where) if where else ""), params).fetchone()[0]


def unsure_count(db: sqlite_utils.Database, f: ConcernFilter) -> int:
    """Return how many concerns matching the filter are kept under the shown threshold."""
    found = replace(f, unsure=True).where()
    if found is None:
        return 0
    where, params = found
    return db.execute("SELECT COUNT(*) FROM effective_concerns c WHERE c.confident = 0"
                      + "".join(f" AND {w}" for w in where), params).fetchone()[0]


def concern_counts(db: sqlite_utils.Database, interface: str | None = None,
                   unsure: bool = False) -> dict[str, int]:
    """Return {status: count} of concerns (the confident ones unless unsure), for one interface or all."""
    sure = "" if unsure else " AND confident = 1"
    if interface:
        rows = db.execute(f"SELECT status, COUNT(*) FROM effective_concerns WHERE interface = ?{sure} "
                          "GROUP BY status", [interface])
    else:
        rows = db.execute(f"SELECT status, COUNT(*) FROM effective_concerns WHERE 1{sure} "
                          "GROUP BY status")
    return {r[0]: r[1] for r in rows}


def people_matching(db: sqlite_utils.Database, text: str, limit: int = 10) -> list[dict]:
    """Return people (name, address, messages) whose name or address contains text.

    People who raised concerns are looked up first (a small table); the whole
    archive's senders only when none of them matches.
    """
    like = f"%{text.strip().lower()}%"
    rows = list(db.query("SELECT author_addr AS addr, MAX(author_name) AS name, COUNT(*) AS messages "
                      "FROM concerns WHERE author_addr IS NOT NULL AND "
                      "(lower(author_name) LIKE ? OR author_addr LIKE ?) "
                      "GROUP BY author_addr ORDER BY messages DESC LIMIT ?", [like, like, limit]))
    if rows:
        return rows
    return list(db.query("SELECT from_addr AS addr, MAX(from_name) AS name, COUNT(*) AS messages "
                      "FROM messages WHERE from_addr IS NOT NULL AND "
                      "(lower(from_name) LIKE ? OR from_addr LIKE ?) "
                      "GROUP BY from_addr ORDER BY messages DESC LIMIT ?", [like, like, limit]))


def concern_authors(db: sqlite_utils.Database, prefix: str = "", limit: int = 25) -> list[dict]:
    """Return people who raised concerns, most active first (for autocomplete)."""
    like = f"%{prefix.lower()}%"
    return list(db.query("SELECT MAX(author_name) AS name, author_addr AS addr, COUNT(*) AS n "
                      "FROM concerns WHERE lower(COALESCE(author_name, '')) LIKE ? "
                      "OR COALESCE(author_addr, '') LIKE ? GROUP BY author_addr "
                      "ORDER BY n DESC LIMIT ?", [like, like, limit]))


def interface_summary(db: sqlite_utils.Database, interface: str) -> dict:
    """Return counts, people, series and last activity for one interface (from the
    summaries `abiwatch tag` keeps in interface_stats and interface_people)."""
    row = db.execute("SELECT messages, threads, last_date, first_date FROM interface_stats "
                     "WHERE interface = ?", [interface]).fetchone() or (0, 0, None, None)
    people = list(db.query("SELECT name, addr, messages AS n FROM interface_people "
                        "WHERE interface = ? ORDER BY messages DESC, addr LIMIT 8", [interface]))
    series = list(db.query("SELECT s.id, s.series_key, s.title, s.version, s.is_rfc, s.author_name, "
                        "s.first_date, s.supersedes, s.superseded_by FROM interface_series i "
                        "JOIN series s ON s.id = i.series_id WHERE i.interface = ? "
                        "ORDER BY s.first_date DESC LIMIT 12", [interface]))
    return {"messages": row[0], "threads": row[1], "last": row[2], "first": row[3],
            "people": people, "series": series, "counts": concern_counts(db, interface)}


_PATCH_COLS = ("p.message_id, p.title, p.version, p.part, p.total, p.kind, p.series_id, m.date, "
               "m.from_name, s.series_key, s.cover_message_id, s.last_date")
_PATCH_FROM = ("FROM patches p JOIN messages m ON m.message_id = p.message_id "
               "LEFT JOIN series s ON s.id = p.series_id")
# a cover letter stands for its series; then the newest posting
_PATCH_ORDER = "ORDER BY (p.kind = 'cover') DESC, m.date DESC LIMIT ?"


def patches_by_id(db: sqlite_utils.Database, message_id: str) -> list[dict]:
    """Return the patch with this Message-ID, or the patches of the series it heads."""
    return list(db.query(f"SELECT {_PATCH_COLS} {_PATCH_FROM} WHERE p.message_id = ? "
                             "OR p.series_id = ?", [message_id, message_id]))


def patches_by_title(db: sqlite_utils.Database, norm_title: str, limit: int = 20) -> list[dict]:
    """Return postings whose normalised title is exactly norm_title."""
    return list(db.query(f"SELECT {_PATCH_COLS} {_PATCH_FROM} WHERE m.norm_subject = ? "
                             f"{_PATCH_ORDER}", [norm_title, limit]))


def patches_by_fts(db: sqlite_utils.Database, fts_query: str, limit: int = 20) -> list[dict]:
    """Return postings whose mail matches an FTS5 query (a subject-column query finds
    titles with all the words; a plain one, the whole text)."""
    return list(db.query(f"SELECT {_PATCH_COLS} {_PATCH_FROM} WHERE m.id IN (SELECT rowid "
                             "FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rank LIMIT 200) "
                             f"{_PATCH_ORDER}", [fts_query, limit]))


def threads_by_subject(db: sqlite_utils.Database, norm_title: str, subject_fts: str | None,
                       limit: int = 5) -> list[dict]:
    """Return threads whose mail has this normalised subject (or, failing that, all the
    words of it): for a patch whose posting is missing but whose replies are archived."""
    cols = ("m.thread_id, COUNT(*) AS messages, MIN(m.date) AS first_date, MAX(m.date) AS "
            "last_date, MAX(m.subject) AS subject")
    rows = list(db.query(f"SELECT {cols} FROM messages m WHERE m.norm_subject = ? "
                             "GROUP BY m.thread_id ORDER BY last_date DESC LIMIT ?", [norm_title, limit]))
    if rows or not subject_fts:
        return rows
    return list(db.query(f"SELECT {cols} FROM messages m WHERE m.id IN (SELECT rowid FROM "
                             "messages_fts WHERE messages_fts MATCH ? ORDER BY rank LIMIT 200) "
                             "GROUP BY m.thread_id ORDER BY last_date DESC LIMIT ?",
                         [subject_fts, limit]))


def series_versions(db: sqlite_utils.Database, series_key: str) -> list[dict]:
    """Return every version of a series, oldest first."""
    return list(db.query("SELECT id, title, version, is_rfc, total, received, cover_message_id, "
                      "author_name, first_date, supersedes FROM series WHERE series_key = ? "
                      "ORDER BY version, first_date", [series_key]))


def series_trailers(db: sqlite_utils.Database, series_ids: list[str]) -> list[dict]:
    """Return review trailers (acks, reviews, tests, NAKs) given on the series' patches,
    leaving out those a follow-up gave in someone else's name (trailers.ignored_reason)."""
    if not series_ids:
        return []
    marks = ",".join("?" * len(series_ids))
    return list(db.query("SELECT t.name, t.person_name, t.person_addr, t.message_id, t.patch_message_id, "
                      "t.applies_to, m.date FROM trailers t JOIN messages m ON m.message_id = t.message_id "
                      f"WHERE t.series_id IN ({marks}) AND t.ignored_reason IS NULL AND t.name IN "
                      "('Acked-by', 'Reviewed-by', 'Tested-by', 'Nacked-by', 'NAK') "
                      "ORDER BY m.date", series_ids))


def thread_of(db: sqlite_utils.Database, message_id: str) -> str | None:
    """Return the thread id a message (or a missing parent) belongs to."""
    row = db.execute("SELECT thread_id FROM messages WHERE message_id = ?", [message_id]).fetchone()
    if row is None:
        row = db.execute("SELECT thread_id FROM placeholders WHERE message_id = ?", [message_id]).fetchone()
    return row[0] if row else None


def thread_nodes(db: sqlite_utils.Database, thread_id: str, limit: int = 500) -> list[dict]:
    """Return the messages and missing parents of a thread, with parents and dates."""
    rows = list(db.query("SELECT message_id, parent_id, subject, from_name, from_addr, date, depth, "
                      "is_patch, 0 AS missing, (SELECT COUNT(*) FROM effective_concerns c "
                      "WHERE c.message_id = messages.message_id AND c.confident = 1) AS concerns "
                      "FROM messages WHERE thread_id = ? ORDER BY date LIMIT ?", [thread_id, limit]))
    rows += list(db.query("SELECT message_id, parent_id, NULL AS subject, NULL AS from_name, "
                       "NULL AS from_addr, NULL AS date, depth, 0 AS is_patch, 1 AS missing, "
                       "0 AS concerns FROM placeholders WHERE thread_id = ?", [thread_id]))
    return rows


SEARCH_POOL = 1000  # full-text matches taken best first before other filters and date order


def _search_where(fts, subject_fts, from_like, since, until, file_like,
                  pool: int | None, to_like=None, cc_like=None, any_like=None,
                  message_id=None) -> tuple[list[str], list]:
    where, params = [], []
    if message_id:
        where.append("m.message_id = ?")
        params.append(message_id)
    for fragment, value in (("lower(m.to_addrs) LIKE ?", to_like),
                            ("lower(m.cc_addrs) LIKE ?", cc_like)):
        if value:
            where.append(fragment)
            params.append(value)
    if any_like:
        where.append("(m.from_addr LIKE ? OR lower(m.to_addrs) LIKE ? OR lower(m.cc_addrs) LIKE ?)")
        params += [any_like] * 3
    if fts or subject_fts:
        match = " AND ".join(q for q in (fts, subject_fts) if q)
        ranked = " ORDER BY rank LIMIT ?" if pool else ""
        where.append(f"m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?{ranked})")
        params += [match, pool] if pool else [match]
    if from_like:
        where.append("(lower(m.from_name) LIKE ? OR m.from_addr LIKE ?)")
        params += [from_like, from_like]
    if since:
        where.append("m.date >= ?")
        params.append(since)
    if until:
        where.append("m.date < ?")
        params.append(until)
    if file_like:
        where.append("m.message_id IN (SELECT message_id FROM patch_files WHERE path LIKE ?)")
        params.append(file_like)
    return where, params


def search_messages(db: sqlite_utils.Database, *, fts: str | None, subject_fts: str | None,
                    from_like: str | None, since: str | None, until: str | None,
                    file_like: str | None, to_like: str | None = None,
                    cc_like: str | None = None, any_like: str | None = None,
                    message_id: str | None = None, limit: int = 20,
                    pool: int | None = SEARCH_POOL) -> tuple[list[dict], int]:
    """Return messages matching lore-style search terms, newest first, at most limit, and
    how many match in all (full-text matches are counted within the best `pool`).

    Full-text matches are taken best first (the top `pool` by rank) before the other
    filters and the date order apply, so common words stay fast on a large archive.
    """
    where, params = _search_where(fts, subject_fts, from_like, since, until, file_like, pool,
                                  to_like, cc_like, any_like, message_id)
    if not where:
        return [], 0
    # the total comes with the rows (a window over the whole match), so the full-text
    # match is run once
    rows = list(db.query("SELECT m.message_id, m.subject, m.from_name, m.date, m.is_patch, "
                             "substr(m.own_text, 1, 300) AS snippet, COUNT(*) OVER () AS total "
                             f"FROM messages m WHERE {' AND '.join(where)} "
                             "ORDER BY m.date DESC LIMIT ?", [*params, limit]))
    total = rows[0]["total"] if rows else 0
    for r in rows:
        del r["total"]
    return rows, total


def tagged_interfaces(db: sqlite_utils.Database) -> list[tuple[str, str, str, list[str]]]:
    """Return (name, kind, description, aliases) of each interface of the catalog the
    database was last tagged with, in catalog order."""
    return [(r[0], r[1], r[2] or "", json.loads(r[3] or "[]")) for r in db.execute(
        "SELECT name, kind, description, aliases FROM interfaces ORDER BY rowid")]


def interface_names(db: sqlite_utils.Database) -> list[str]:
    """Return the interface names of the catalog the database was tagged with."""
    return [r[0] for r in db.execute("SELECT name FROM interfaces ORDER BY name")]
