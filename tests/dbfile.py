"""Reading a database file the way another process does: a connection of its own,
closed at once, so the tests see what was committed and hold no lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path


def sql(db: Path, query: str, params=()) -> list[tuple]:
    """Return the rows of query on the database file db."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def tagged_db(path: Path, archives: Iterable[str | Path], *, workers: int | None = None) -> Path:
    """Ingest archives into a new database file at path, tag it and close it; return path.

    Closed, because the last connection checkpoints the WAL: the file is whole, to be
    copied or opened by another process.
    """
    from abiwatch.db import open_db
    from abiwatch.ingest.load import ingest
    from abiwatch.nlp.tagging import tag

    db = open_db(path)
    ingest(db, [str(a) for a in archives], progress=False)
    tag(db, progress=False, workers=workers)
    db.conn.close()
    return path
