"""Temporary tables of ids: a set of keys too large for `IN (?, ?, ...)`, filled once and
joined by several queries (`... IN (SELECT id FROM temp.<name>)`).

Each lives on the connection that filled it, invisible to other connections, so two
writers never see each other's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def _checked(name: str) -> str:
    # the name is spliced into SQL: only our own identifiers, never data
    if not name.isidentifier():
        raise ValueError(f"not a table name: {name!r}")
    return name


def fill_temp_ids(conn: sqlite3.Connection, name: str, ids: Iterable[str]) -> None:
    """Make temp.<name> (id TEXT PRIMARY KEY) hold exactly ids (repeats once)."""
    name = _checked(name)
    conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute(f"CREATE TEMP TABLE {name} (id TEXT PRIMARY KEY)")
    conn.executemany(f"INSERT OR IGNORE INTO temp.{name} VALUES (?)", ((i,) for i in ids))


def drop_temp_ids(conn: sqlite3.Connection, *names: str) -> None:
    """Drop the temp tables of ids named (those never filled are no error)."""
    for name in names:
        conn.execute(f"DROP TABLE IF EXISTS temp.{_checked(name)}")


@contextmanager
def temp_ids(conn: sqlite3.Connection, name: str, ids: Iterable[str]) -> Iterator[None]:
    """Hold ids in temp.<name> for the block, then drop it.

    Not dropped when the block raises: the caller's transaction is rolled back, the
    next fill replaces the table, and a failing connection should not hide the error.
    """
    fill_temp_ids(conn, name, ids)
    yield
    drop_temp_ids(conn, name)
