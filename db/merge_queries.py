"""Read-only queries about merges: series outcomes and concerns merged over.

They read what `abiwatch commits` wrote (series_state, patch_commits and the
merged_open_concerns view); values are always parameters.
"""

from __future__ import annotations

import sqlite_utils

from abiwatch.db.answer_queries import CONCERN_COLUMNS, CONCERN_JOINS


def trees_read(db: sqlite_utils.Database) -> int:
    """Return how many kernel git trees have been read (0: merges are unknown)."""
    return db.execute("SELECT COUNT(*) FROM git_trees").fetchone()[0]


def series_outcomes(db: sqlite_utils.Database, series_ids: list[str]) -> dict[str, dict]:
    """Return {series_id: its series_state row} for the series given that have one."""
    if not series_ids:
        return {}
    marks = ",".join("?" * len(series_ids))
    rows = list(db.query("SELECT series_id, state, merged_parts, parts, merged_date, first_commit, "
                             "release, merged_series_id, chain_merged_date FROM series_state "
                             f"WHERE series_id IN ({marks})", series_ids))
    return {r["series_id"]: r for r in rows}


def merged_open_concerns(db: sqlite_utils.Database, interface: str | None = None,
                         limit: int = 50) -> list[dict]:
    """Return the concerns still open when their code was merged, newest merge first,
    with the concern's columns as answer_queries.concerns gives them and the merge."""
    where, params = ("WHERE mo.interface = ?", [interface]) if interface else ("", [])
    sql = (f"SELECT {CONCERN_COLUMNS}, mo.merged_date, mo.commit_sha AS merge_commit, "
           "mo.release, ms.title AS merged_title, ms.version AS merged_version, "
           "mo.merged_series_id, st.merged_parts, st.parts "
           f"FROM merged_open_concerns mo JOIN effective_concerns c ON c.id = mo.concern_id "
           f"{CONCERN_JOINS} "
           "JOIN series ms ON ms.id = mo.merged_series_id "
           "JOIN series_state st ON st.series_id = mo.merged_series_id "
           f"{where} ORDER BY mo.merged_date DESC, c.date LIMIT ?")
    return list(db.query(sql, [*params, limit]))


def merged_open_counts(db: sqlite_utils.Database, interface: str | None = None) -> dict[str, int]:
    """Return {series_id of the merged version: concerns still open at its merge}."""
    where, params = ("WHERE interface = ?", [interface]) if interface else ("", [])
    return dict(db.execute(f"SELECT merged_series_id, COUNT(*) FROM merged_open_concerns {where} "
                           "GROUP BY merged_series_id", params).fetchall())
