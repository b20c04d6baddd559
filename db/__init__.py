"""The database: opening it (read-write with migrations, or strictly read-only)."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import sqlite_utils

from abiwatch.db.migrations import MIGRATIONS, migrate

DEFAULT_DB = "abiwatch.db"
logger = logging.getLogger(__name__)
_WARNED: set[Path] = set()


class DatabaseMissing(FileNotFoundError):
    """Raised when a read-only open finds no database file (or one it cannot read)."""


class DatabaseOutdated(DatabaseMissing):
    """Raised when a read-only open finds a database from before this version's schema:
    readers never write, so they cannot upgrade it."""


def snapshot_only(path: Path) -> bool:
    """Return True when the database at path can only be read as a snapshot.

    mode=ro follows the WAL (what ingest and tag write shows up at once), but a WAL
    database needs its -shm index, which SQLite creates next to it: on read-only
    storage (a read-only mount, a folder this user cannot write) that fails with
    "unable to open database file", and every reader failed.
    """
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return False
    except sqlite3.OperationalError as exc:
        if "unable to open" in str(exc):
            return True
        raise
    finally:
        conn.close()


def connect_ro(path: Path) -> sqlite3.Connection:
    """Return a read-only connection to the database file at path: mode=ro, or on
    read-only storage an unchanging snapshot (immutable=1), with a warning saying so."""
    uri = path.resolve().as_uri()
    if not snapshot_only(path):
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
    wal = path.with_name(path.name + "-wal")
    unseen = wal.stat().st_size if wal.exists() else 0
    if path not in _WARNED:  # once per process: a command may open it several times
        _WARNED.add(path)
        logger.warning(
            "%s: its folder cannot be written (read-only storage?), so the database is read "
            "as an unchanging snapshot (immutable=1)%s", path,
            f"; the {unseen} bytes of changes in {wal.name} are not seen" if unseen else "")
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)


def no_database(path: str | os.PathLike) -> str:
    """Return the one-line error for a database file that is not there."""
    return (f"no database at {path}: run `abiwatch ingest ARCHIVE` first, or point --db "
            "(or ABIWATCH_DB, or database.path in the config) at one")


def open_db(path: str | os.PathLike, *, readonly: bool = False) -> sqlite_utils.Database:
    """Return the database at path; migrated and in WAL mode, or opened mode=ro."""
    path = Path(path)
    if readonly:
        if not path.is_file():
            raise DatabaseMissing(no_database(path))
        conn = connect_ro(path)
        conn.execute("PRAGMA query_only = 1")
        db = sqlite_utils.Database(conn)
        _require_current(db, path)
        return db
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


def _require_current(db: sqlite_utils.Database, path: Path) -> None:
    try:
        applied = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    except sqlite3.DatabaseError:
        applied = set()  # an empty file, or a database from before migrations were kept
    missing = [name for name, _ in MIGRATIONS if name not in applied]
    if missing and applied:
        db.conn.close()
        raise DatabaseOutdated(
            f"the database at {path} was made by an older abiwatch (it lacks {len(missing)} "
            "schema step(s)): run `abiwatch tag` once to upgrade it, then ask again")
