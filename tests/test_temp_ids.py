"""db.temp_ids: the one temp-table-of-ids idiom the linker, the trailer linker and the
decider join against."""

from __future__ import annotations

import sqlite3

import pytest

from abiwatch.db.temp_ids import drop_temp_ids, fill_temp_ids, temp_ids


def _ids(conn, name):
    return sorted(r[0] for r in conn.execute(f"SELECT id FROM temp.{name}"))


def _exists(conn, name):
    return conn.execute("SELECT 1 FROM sqlite_temp_master WHERE name = ?", [name]).fetchone()


def test_a_fill_replaces_the_table_and_keeps_repeats_once():
    conn = sqlite3.connect(":memory:")
    fill_temp_ids(conn, "t", ["a", "b", "a"])
    assert _ids(conn, "t") == ["a", "b"]
    fill_temp_ids(conn, "t", iter(["c"]))
    assert _ids(conn, "t") == ["c"]
    drop_temp_ids(conn, "t", "never_filled")
    assert not _exists(conn, "t")


def test_the_block_sees_the_ids_and_they_are_gone_after():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE m (id TEXT)")
    conn.executemany("INSERT INTO m VALUES (?)", [("a",), ("b",), ("c",)])
    with temp_ids(conn, "keep", {"a", "c"}):
        assert [r[0] for r in conn.execute(
            "SELECT id FROM m WHERE id IN (SELECT id FROM temp.keep) ORDER BY id")] == ["a", "c"]
    assert not _exists(conn, "keep")


def test_a_name_that_is_not_an_identifier_is_refused():
    with pytest.raises(ValueError):
        fill_temp_ids(sqlite3.connect(":memory:"), "x; DROP TABLE m", [])
