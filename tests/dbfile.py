"""Reading a database file the way another process does: a connection of its own,
closed at once, so the tests see what was committed and hold no lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def sql(db: Path, query: str, params=()) -> list[tuple]:
    """Return the rows of query on the database file db."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()
