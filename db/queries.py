"""Named read-only queries used by the bot, the digest and the reports.

Every query takes parameters, never text spliced into SQL.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils


def rows_as_dicts(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[dict]:
    """Return the rows of a parameterised query as dicts keyed by column name.

    For a bare sqlite3 connection (the tagger's workers hold one); on a
    sqlite_utils.Database, `list(db.query(sql, params))` does the same.
    """
    cur = conn.execute(sql, params)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def archive_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Return row counts of the main archive tables, plus first and last message dates."""
    out: dict[str, Any] = {}
    for table in ("messages", "threads", "placeholders", "patches", "series", "trailers",
                  "parse_problems", "lists"):
        out[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    out["first_date"], out["last_date"] = db.execute(
        "SELECT MIN(date), MAX(date) FROM messages").fetchone()
    return out


def version_chains(db: sqlite_utils.Database, limit: int = 10) -> list[list[dict]]:
    """Return the series with the most versions, each as its versions oldest first."""
    keys = [r[0] for r in db.execute(
        "SELECT series_key FROM series GROUP BY series_key "
        "ORDER BY COUNT(*) DESC, MAX(last_date) DESC LIMIT ?", [limit])]
    return [list(db.query("SELECT id, title, version, is_rfc, total, received, author_name, "
                       "first_date, supersedes FROM series WHERE series_key = ? "
                       "ORDER BY version, first_date", [k])) for k in keys]


def trailer_counts(db: sqlite_utils.Database) -> list[dict]:
    """Return how many trailers of each kind the archive holds."""
    return list(db.query("SELECT name, COUNT(*) AS n FROM trailers GROUP BY name "
                      "ORDER BY n DESC, name"))


def naks(db: sqlite_utils.Database, limit: int = 20) -> list[dict]:
    """Return NAK trailers with who gave them and the patch they apply to, newest first."""
    return list(db.query("SELECT t.message_id, t.name, t.value, t.person_name, t.person_addr, "
                      "t.patch_message_id, m.date, m.subject FROM trailers t "
                      "JOIN messages m ON m.message_id = t.message_id "
                      "WHERE t.name IN ('NAK', 'Nacked-by') AND t.ignored_reason IS NULL "
                      "ORDER BY m.date DESC LIMIT ?",
                  [limit]))


def biggest_threads(db: sqlite_utils.Database, limit: int = 5) -> list[dict]:
    """Return the threads with the most messages."""
    return list(db.query("SELECT thread_id, subject, message_count, first_date, last_date "
                      "FROM threads ORDER BY message_count DESC, first_date LIMIT ?", [limit]))


def concern(db: sqlite_utils.Database, concern_id: int) -> dict | None:
    """Return one concern with its message, patch and resolving message, or None."""
    rows = list(db.query("SELECT c.*, m.subject, m.thread_id, m.from_name AS raised_by, "
                      "p.title AS patch_title, pm.subject AS patch_subject, "
                      "r.from_name AS resolver, r.date AS resolved_date, r.subject AS resolver_subject, "
                      "mp.how AS link_how "
                      "FROM concerns c JOIN messages m ON m.message_id = c.message_id "
                      "LEFT JOIN patches p ON p.message_id = c.patch_message_id "
                      "LEFT JOIN messages pm ON pm.message_id = c.patch_message_id "
                      "LEFT JOIN messages r ON r.message_id = c.resolved_by "
                      "LEFT JOIN message_patch mp ON mp.message_id = c.message_id "
                      "WHERE c.id = ?", [concern_id]))
    return rows[0] if rows else None


def message_interfaces(db: sqlite_utils.Database, message_id: str) -> list[dict]:
    """Return the interfaces a message discusses, with the evidence for each."""
    return list(db.query("SELECT interface, evidence, source FROM message_interfaces "
                      "WHERE message_id = ? ORDER BY interface", [message_id]))
