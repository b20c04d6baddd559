"""The database: opening it (read-write with migrations, or strictly read-only)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import sqlite_utils

from abiwatch.db.migrations import migrate

DEFAULT_DB = "abiwatch.db"


class DatabaseMissing(FileNotFoundError):
    """Raised when a read-only open finds no database file."""


def open_db(path: str | os.PathLike, *, readonly: bool = False) -> sqlite_utils.Database:
    """Return the database at path; migrated and in WAL mode, or opened mode=ro."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise DatabaseMissing(
                f"no database at {path}: run `abiwatch ingest ARCHIVE` first "
                "(or point --db / ABIWATCH_DB at an existing one)"
            )
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        return sqlite_utils.Database(conn)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists() or path.stat().st_size == 0
    conn = sqlite3.connect(str(path), check_same_thread=False)
    db = sqlite_utils.Database(conn)
    if fresh:
        # Messages are a few kB of text each: larger pages mean fewer overflow pages.
        db.execute("PRAGMA page_size = 8192")
    db.execute("PRAGMA journal_mode = WAL")
    # Inserts land all over the message-id and sha256 indexes: a bounded 64 MB cache
    # keeps them in memory far longer than the 2 MB default.
    db.execute("PRAGMA cache_size = -65536")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("PRAGMA busy_timeout = 10000")
    migrate(db)
    return db
