"""`abiwatch sql` and db/readonly.py on a real tagged database: the answers match
SQLite's, every way of writing is refused, limits hold, and errors say what to do."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import resource
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus import LKML, require
from dbfile import sql as direct
from dbfile import tagged_db

from abiwatch.bot.cli import cli
from abiwatch.db.readonly import QueryError, run_readonly_query, validate_select


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    require(LKML)
    return tagged_db(tmp_path_factory.mktemp("sql") / "abiwatch.db", [LKML])


def run(db_path: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db_path), "sql", *args],
                              env={"ABIWATCH_CONFIG": ""})


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


QUERY = "SELECT interface, COUNT(*) AS n FROM open_concerns GROUP BY interface ORDER BY interface"


def test_table_csv_json_agree_with_sqlite(db_path):
    expected = direct(db_path, QUERY)
    assert len(expected) >= 3 and sum(n for _, n in expected) >= 5  # real concerns, several interfaces
    res = run(db_path, QUERY)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["interface", "n"] and set(lines[1]) == {"-", " "}
    assert [tuple(line.split()) for line in lines[2:]] == [(i, str(n)) for i, n in expected]
    res = run(db_path, QUERY, "--format", "csv")
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows == [["interface", "n"]] + [[i, str(n)] for i, n in expected]
    res = run(db_path, QUERY, "--format", "json")
    assert json.loads(res.stdout) == [{"interface": i, "n": n} for i, n in expected]


def test_parameters_and_stdin(db_path):
    expected = direct(db_path, "SELECT id, text FROM concerns WHERE interface = ? ORDER BY id",
                      ["VMI"])
    res = run(db_path, "SELECT id, text FROM concerns WHERE interface = :iface ORDER BY id",
              "-p", "iface=VMI", "--format", "json")
    assert [(r["id"], r["text"]) for r in json.loads(res.stdout)] == expected
    res = CliRunner().invoke(cli, ["--db", str(db_path), "sql", "-", "--format", "csv"],
                             input="SELECT COUNT(*) AS n FROM messages;\n")
    assert res.stdout.splitlines() == ["n", str(direct(db_path, "SELECT COUNT(*) FROM messages")
                                              [0][0])]
    res = run(db_path, "SELECT * FROM concerns WHERE interface = :iface")
    assert res.exit_code == 1 and "with -p name=VALUE" in res.output
    res = run(db_path, "SELECT 1", "-p", "novalue")
    assert res.exit_code == 2 and "must look like NAME=VALUE" in res.output


def test_full_text_search_keeps_kernel_identifiers(db_path):
    sql = ("SELECT m.message_id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
           "WHERE messages_fts MATCH ? ORDER BY m.id")
    expected = direct(db_path, sql, ["paravirt_ops"])
    assert expected
    res = run_readonly_query(db_path, sql, ["paravirt_ops"], time_limit_ms=2000, max_rows=100)
    assert res.rows == expected


@pytest.mark.parametrize("sql, words", [
    ("DELETE FROM concerns", "only SELECT (or WITH ... SELECT) queries are allowed here, not DELETE"),
    ("WITH x AS (SELECT 1) DELETE FROM concerns", "only reading is allowed"),
    ("WITH x AS (SELECT 1) UPDATE concerns SET status = 'resolved'", "only reading is allowed"),
    ("SELECT 1; DROP TABLE concerns", "only one statement at a time"),
    ("SELECT 1; -- ok\n; DELETE FROM concerns", "only one statement at a time"),
    ("PRAGMA writable_schema = 1", "not PRAGMA"),
    ("SELECT * FROM pragma_journal_mode", "PRAGMA statements are not allowed"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "not ATTACH"),
    ("VACUUM INTO '/tmp/copy.db'", "not VACUUM"),
    ("SELECT load_extension('/tmp/evil')", "only reading is allowed"),
    ("  ", "the query is empty"),
    (";", "the query is empty"),
    (" ;; ;", "the query is empty"),
])
def test_writes_are_refused_and_nothing_changes(db_path, sql, words):
    before = digest_of(db_path)
    with pytest.raises(QueryError) as err:
        run_readonly_query(db_path, sql, time_limit_ms=1000, max_rows=10)
    assert words in str(err.value)
    assert digest_of(db_path) == before


def test_statement_checks_ignore_comments_and_literals():
    assert validate_select("-- open ones\nSELECT 'a;b', \"pragma\" FROM t; -- done") == \
        "-- open ones\nSELECT 'a;b', \"pragma\" FROM t"
    assert validate_select("/* x; */ WITH a AS (SELECT 'it''s; fine') SELECT * FROM a;;") == \
        "/* x; */ WITH a AS (SELECT 'it''s; fine') SELECT * FROM a"
    assert validate_select("EXPLAIN QUERY PLAN SELECT 1").startswith("EXPLAIN")
    assert validate_select("select * from pragma_table_info('messages')")


def test_time_limit_stops_a_runaway_query(db_path):
    runaway = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
               "SELECT COUNT(*) FROM n")
    start = time.perf_counter()
    res = run(db_path, runaway, "--time-limit", "100")
    assert time.perf_counter() - start < 5
    assert res.exit_code == 1
    assert "the query ran longer than 100 ms and was stopped" in res.output
    assert "LIMIT" in res.output


def test_row_cap_says_so(db_path):
    total = direct(db_path, "SELECT COUNT(*) FROM messages")[0][0]
    res = run_readonly_query(db_path, "SELECT id FROM messages ORDER BY id", time_limit_ms=1000,
                             max_rows=5)
    assert len(res.rows) == 5 and res.truncated and total > 5
    out = run(db_path, "SELECT id FROM messages ORDER BY id", "--max-rows", "5")
    assert len(out.stdout.splitlines()) == 2 + 5
    assert "only the first 5 rows are shown" in out.stderr


def test_errors_say_what_to_do(db_path, tmp_path):
    res = run(db_path, "SELECT * FROM concern")
    assert "no such table: concern; list the tables and views with: abiwatch sql" in res.output
    res = run(db_path, "SELECT nope FROM concerns")
    assert "no such column: nope; see a table's columns with" in res.output
    res = run(db_path, "SELECT * FROM messages_fts WHERE messages_fts MATCH 'pv_ops AND'")
    assert "full-text search could not read the MATCH text" in res.output
    res = run(db_path, "SELECT * FROM messages_fts WHERE messages_fts MATCH 'pv-ops'")
    assert "put such words in double quotes" in res.output
    res = run(db_path, "SELEC 1")
    assert "not SELEC" in res.output
    missing = tmp_path / "nothing-here.db"
    res = CliRunner().invoke(cli, ["--db", str(missing), "sql", "SELECT 1"])
    assert res.exit_code == 1 and "run `abiwatch ingest ARCHIVE` first" in res.output
    assert not missing.exists()  # a read-only command never creates a database


def test_blobs_are_shown_not_dumped(db_path):
    raw = direct(db_path, "SELECT raw FROM raw_messages ORDER BY sha256 LIMIT 1")[0][0]
    res = run(db_path, "SELECT raw FROM raw_messages ORDER BY sha256 LIMIT 1")
    assert res.stdout.splitlines()[2] == f"<{len(raw)} bytes>"
    res = run(db_path, "SELECT raw FROM raw_messages ORDER BY sha256 LIMIT 1", "--format", "json")
    value = json.loads(res.stdout)[0]["raw"]
    assert value["$base64"] and base64.b64decode(value["encoded"]) == raw


def test_json_keeps_repeated_column_names(db_path):
    res = run(db_path, "SELECT c.id, m.id FROM concerns c JOIN messages m USING (message_id) "
                       "ORDER BY c.id LIMIT 1", "--format", "json")
    row = json.loads(res.stdout)[0]
    assert set(row) == {"id", "id_2"}


def test_a_row_limit_out_of_range_is_refused_in_one_line(db_path):
    res = run(db_path, "--max-rows", "100000000000", "SELECT 1")
    assert res.exit_code == 2
    assert "--max-rows" in res.output and "Traceback" not in res.output


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_huge_printf_is_refused_at_once_instead_of_being_built(db_path):
    """printf('%.*c', 1000000000, 'x') ran inside one function call, where the time
    limit never looks, and built a gigabyte; now it is refused before it starts."""
    before = _peak_rss_mb()
    for sql in ("SELECT length(printf('%.*c', 1000000000, 'x'))",
                "SELECT length(format('%.*c', '1e9', 'x'))",
                "SELECT length(zeroblob(1000000000))"):
        res = run(db_path, sql)
        assert res.exit_code == 1 and "Traceback" not in res.output
        assert "makes a value larger than 64 MB" in res.output, res.output
    assert _peak_rss_mb() - before < 300
    # ordinary printf is SQLite's own
    assert run_readonly_query(db_path, "SELECT printf('%5.2f|%-3d|%%|%.*c', 3.14159, 7, 3, 'x')",
                              time_limit_ms=1000, max_rows=1).rows == [(" 3.14|7  |%|xxx",)]


def test_a_row_of_many_large_values_is_stopped_by_the_memory_cap(db_path, monkeypatch):
    from abiwatch.db import readonly

    monkeypatch.setattr(readonly, "MAX_SQLITE_HEAP", 96 << 20)
    sql = "SELECT " + ", ".join(["zeroblob(40000000)"] * 5)  # each value within its limit
    with pytest.raises(QueryError) as err:
        run_readonly_query(db_path, sql, time_limit_ms=5000, max_rows=1)
    assert "needed more than 96 MB of memory" in str(err.value)
    # the cap is the process's: it is put back after the query
    assert sqlite3.connect(":memory:").execute("PRAGMA hard_heap_limit").fetchone()[0] == 0


def test_rows_over_the_byte_budget_are_cut_and_it_says_so(db_path, monkeypatch):
    from abiwatch.db import readonly

    monkeypatch.setattr(readonly, "MAX_RESULT_BYTES", 20_000)
    sql = "SELECT own_text FROM messages ORDER BY id"
    res = run_readonly_query(db_path, sql, time_limit_ms=2000, max_rows=1000)
    assert res.truncated and res.over_bytes and 0 < len(res.rows) < 35
    assert sum(len(r[0]) for r in res.rows) <= 20_000
    out = run(db_path, sql, "--format", "csv")
    assert out.exit_code == 0
    assert (f"only the first {len(res.rows)} rows are shown: the rest would take more than "
            "20000 bytes") in out.stderr


@pytest.mark.timeout(30)  # a check that re-reads every prefix is quadratic: fail, do not hang
def test_trailing_semicolons_are_dropped_in_one_pass(db_path):
    tail = "; -- done\n" + ";" * 200_000 + " /* end */ ;"
    assert validate_select("SELECT 1" + tail) == "SELECT 1"
    res = run(db_path, "SELECT 1 AS one" + ";" * 10_000, "--format", "csv")
    assert res.exit_code == 0 and res.stdout.splitlines() == ["one", "1"]
