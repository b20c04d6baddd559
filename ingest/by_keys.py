"""Reading rows by a list of keys, in pieces that stay under SQLite's bound-variable limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

IN_CHUNK = 500


def rows_in(conn, sql: str, keys: Sequence[str]) -> Iterator[tuple]:
    """Yield the rows of sql, whose one "{}" is filled with placeholders for a piece of keys."""
    for i in range(0, len(keys), IN_CHUNK):
        part = keys[i:i + IN_CHUNK]
        yield from conn.execute(sql.format(",".join("?" * len(part))), part)
