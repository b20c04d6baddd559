"""Which postings were merged, and so which series are merged, superseded, open or abandoned.

A posting is matched to a commit by the best evidence there is, each match
recorded with its method: a `Link:`/`Message-Id:` trailer naming it (or its
cover letter, with the same subject), the same stable patch-id as its diff,
or the same subject and author within a time window. Of the versions of a
patch, the one matched is the last posted before the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from abiwatch.ingest.commits import posted_patch_ids

logger = logging.getLogger(__name__)

# A posting later than its commit by more than this is another posting of the same change.
_SLACK_DAYS = 1

_BY_LINK = """
    INSERT OR IGNORE INTO patch_commits (message_id, sha, method)
    SELECT p.message_id, t.sha, 'link' FROM commit_trailers t
    JOIN patches p ON p.message_id = t.message_id AND p.kind IN ('diff', 'revision')
    UNION
    SELECT mp.message_id, t.sha, 'link' FROM commit_trailers t
    JOIN patches cv ON cv.message_id = t.message_id AND cv.kind = 'cover'
    JOIN patches mp ON mp.series_id = cv.series_id AND mp.kind IN ('diff', 'revision')
    JOIN messages mm ON mm.message_id = mp.message_id
    JOIN commits c ON c.sha = t.sha AND c.norm_subject = mm.norm_subject
"""
# {evidence} joins a candidate posting m (a patch p) to an unmatched commit c.
_NEAREST = """
    INSERT OR IGNORE INTO patch_commits (message_id, sha, method)
    SELECT message_id, sha, ? FROM (
        SELECT p.message_id, c.sha, ROW_NUMBER() OVER (PARTITION BY c.sha ORDER BY m.date DESC) AS rn
        FROM {evidence}
        JOIN messages m ON m.message_id = p.message_id
        WHERE p.kind IN ('diff', 'revision') AND c.sha NOT IN (SELECT sha FROM patch_commits)
          AND julianday(m.date) <= julianday(c.committer_date) + ?
          AND julianday(c.committer_date) - julianday(m.date) <= ?
    ) WHERE rn = 1
"""
_BY_PATCH_ID = ("commits c JOIN posted_patch_ids pi ON pi.patch_id = c.patch_id "
                "JOIN patches p ON p.message_id = pi.message_id")
_BY_SUBJECT = ("commits c JOIN messages sm ON sm.norm_subject = c.norm_subject "
               "AND (lower(sm.from_addr) = c.author_addr OR lower(sm.from_name) = lower(c.author_name)) "
               "JOIN patches p ON p.message_id = sm.message_id")


@dataclass
class MatchStats:
    link: int = 0
    patch_id: int = 0
    subject: int = 0
    series_merged: int = 0
    series_partial: int = 0

    @property
    def total(self) -> int:
        return self.link + self.patch_id + self.subject


def match_postings(db: sqlite_utils.Database, *, window_days: int = 365,
                   abandoned_days: int = 365) -> MatchStats:
    """Return what matching every posted patch to the commits read found; the matches
    (patch_commits) and the series states (series_state) are rewritten whole."""
    conn = db.conn
    with conn:
        _store_posted_patch_ids(db)
        conn.execute("DELETE FROM patch_commits")
        conn.execute(_BY_LINK)
        conn.execute(_NEAREST.format(evidence=_BY_PATCH_ID), ("patch-id", _SLACK_DAYS, window_days))
        conn.execute(_NEAREST.format(evidence=_BY_SUBJECT), ("subject", _SLACK_DAYS, window_days))
        stats = MatchStats(**{m.replace("-", "_"): n for m, n in conn.execute(
            "SELECT method, COUNT(*) FROM patch_commits GROUP BY method")})
        write_series_state(db, abandoned_days)
        for state, n in conn.execute("SELECT state, COUNT(*) FROM series_state GROUP BY state"):
            if state in ("merged", "partial"):
                setattr(stats, f"series_{state}", n)
    return stats


def _store_posted_patch_ids(db: sqlite_utils.Database) -> None:
    # Patch-ids of postings are only worth computing once some commit has one.
    conn = db.conn
    if not conn.execute("SELECT 1 FROM commits WHERE patch_id IS NOT NULL LIMIT 1").fetchone():
        return
    missing = conn.execute(
        "SELECT p.message_id, p.diff FROM patches p LEFT JOIN posted_patch_ids pi "
        "ON pi.message_id = p.message_id WHERE p.kind IN ('diff', 'revision') AND pi.message_id IS NULL").fetchall()
    for start in range(0, len(missing), 2000):
        batch = [(mid, diff) for mid, diff in missing[start:start + 2000] if diff]
        found = posted_patch_ids(batch)
        conn.executemany("INSERT OR REPLACE INTO posted_patch_ids (message_id, patch_id) VALUES (?, ?)",
                         [(mid, found.get(mid)) for mid, _ in missing[start:start + 2000]])


_SERIES = """
    SELECT s.id, s.series_key, s.version, s.total, s.superseded_by, s.last_date,
           COUNT(DISTINCT p.message_id) AS posted,
           COUNT(DISTINCT pc.message_id) AS merged,
           MIN(c.committer_date) AS merged_date
    FROM series s
    LEFT JOIN patches p ON p.series_id = s.id AND p.kind IN ('diff', 'revision')
    LEFT JOIN patch_commits pc ON pc.message_id = p.message_id
    LEFT JOIN commits c ON c.sha = pc.sha
    GROUP BY s.id
"""


def write_series_state(db: sqlite_utils.Database, abandoned_days: int) -> None:
    """Rewrite series_state: each series' own state, and the merge of its chain of versions."""
    conn = db.conn
    newest = conn.execute("SELECT MAX(newest_date) FROM git_trees").fetchone()[0]
    rows = [dict(zip(("id", "key", "version", "total", "superseded_by", "last_date", "posted",
                      "merged", "merged_date"), r, strict=True)) for r in conn.execute(_SERIES)]
    # SQLite takes a bare column from the row MIN() chose: the earliest commit's sha
    first = {sid: sha for sid, sha, _ in conn.execute(
        "SELECT p.series_id, pc.sha, MIN(c.committer_date) FROM patch_commits pc "
        "JOIN patches p ON p.message_id = pc.message_id JOIN commits c ON c.sha = pc.sha "
        "GROUP BY p.series_id")}
    releases = dict(conn.execute("SELECT sha, release FROM commits WHERE sha IN "
                                 "(SELECT sha FROM patch_commits)"))
    chain_merge: dict[str, dict] = {}
    for r in rows:
        if r["merged"] and (r["key"] not in chain_merge
                            or r["version"] > chain_merge[r["key"]]["version"]):
            chain_merge[r["key"]] = r
    conn.execute("DELETE FROM series_state")
    conn.executemany(
        "INSERT INTO series_state (series_id, state, merged_parts, parts, merged_date, first_commit, "
        "release, superseded_by, merged_series_id, chain_merged_date) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [_state_row(r, first.get(r["id"]), releases, chain_merge.get(r["key"]), newest,
                    abandoned_days) for r in rows])


def _state_row(r: dict, first_commit: str | None, releases: dict, chain: dict | None,
               newest: str | None, abandoned_days: int) -> tuple:
    parts = max(r["total"] or 0, r["posted"], 1 if r["merged"] else 0)
    state = series_state_name(r["merged"], parts, r["superseded_by"], r["last_date"], newest,
                              abandoned_days)
    return (r["id"], state, r["merged"], parts, r["merged_date"], first_commit,
            releases.get(first_commit), r["superseded_by"], chain and chain["id"],
            chain and chain["merged_date"])


def series_state_name(merged: int, parts: int, superseded_by: str | None, last_date: str | None,
                      newest_commit: str | None, abandoned_days: int) -> str:
    """Return merged, partial, superseded, abandoned or open for one version of a series.

    A series is only called abandoned when a tree read reaches past its last
    activity by abandoned_days: without a tree that recent, silence proves nothing.
    """
    if merged:
        return "merged" if merged >= parts else "partial"
    if superseded_by:
        return "superseded"
    if newest_commit and last_date and _days(last_date, newest_commit) > abandoned_days:
        return "abandoned"
    return "open"


def _days(a: str, b: str) -> float:
    return (_utc(b) - _utc(a)).total_seconds() / 86400


def _utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))
