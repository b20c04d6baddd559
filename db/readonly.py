"""Run one user-supplied SELECT against the database, strictly read-only.

Four locks, each cheap, because the SQL comes from a person: the file is opened
`mode=ro`, the connection is `PRAGMA query_only`, the text must be one SELECT
or WITH statement (as datasette's `validate_sql_select`), and an authorizer
refuses anything that writes or attaches. A progress handler stops queries
that run too long (as datasette's `sqlite_timelimit`) and rows are capped.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Read-only pragma table functions a query may use (datasette's list, plus the
# one FTS5 consults internally on every MATCH).
ALLOWED_PRAGMAS = ("database_list", "foreign_key_list", "function_list", "index_info",
                   "index_list", "index_xinfo", "page_count", "max_page_count", "page_size",
                   "schema_version", "table_info", "table_xinfo", "table_list",
                   "data_version")
LIST_TABLES = ("abiwatch sql \"SELECT name, type FROM sqlite_master "
               "WHERE type IN ('table', 'view') ORDER BY name\"")
_ALLOWED_START = re.compile(r"(explain\s+(query\s+plan\s+)?)?(select|with|values)\b")
_PRAGMA = re.compile(r"\bpragma(?!_(" + "|".join(ALLOWED_PRAGMAS) + r")\b)")
# Anything that changes data, schema or the connection is refused, whatever
# `query_only` would say, so the error can say why.
_DENIED = {getattr(sqlite3, name) for name in dir(sqlite3) if re.fullmatch(
    r"SQLITE_(INSERT|DELETE|ATTACH|DETACH|ALTER_TABLE|REINDEX|ANALYZE|TRANSACTION|SAVEPOINT|"
    r"CREATE_\w+|DROP_\w+)", name)}


class QueryError(ValueError):
    """A query that was refused or failed; the message says what to do about it."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows existed than max_rows
    elapsed_ms: float


def _strip(sql: str) -> str:
    """Return sql with comments removed and literals blanked, keeping statement structure."""
    out, i, n = [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = i + 1
            while j < n:
                if sql[j] == close:
                    # A doubled quote is an escaped quote inside the literal.
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            # Identifiers stay (a column named "pragma" is fine); their text is blanked.
            out.append("''" if ch == "'" else '""')
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def validate_select(sql: str) -> str:
    """Return sql without trailing semicolons if it is one SELECT/WITH statement; else raise."""
    bare = _strip(sql).strip().lower()
    if not bare:
        raise QueryError("the query is empty: give one SELECT statement, e.g. "
                         "abiwatch sql \"SELECT * FROM open_concerns LIMIT 10\"")
    body = bare.rstrip("; \t\r\n")
    if not body:  # only semicolons
        raise QueryError("the query is empty: give one SELECT statement, e.g. "
                         "abiwatch sql \"SELECT * FROM open_concerns LIMIT 10\"")
    if ";" in body:
        raise QueryError("only one statement at a time: remove everything after the first ';'")
    if not _ALLOWED_START.match(body):
        word = body.split(None, 1)[0].upper()
        raise QueryError(f"only SELECT (or WITH ... SELECT) queries are allowed here, not "
                         f"{word}: the database is opened read-only; change data with "
                         "`abiwatch ingest` and `abiwatch tag`")
    if _PRAGMA.search(body):
        raise QueryError("PRAGMA statements are not allowed; use the pragma table functions "
                         "instead: " + ", ".join(f"pragma_{p}()" for p in ALLOWED_PRAGMAS[:-1]))
    # Drop trailing semicolons and trailing comments from the original text.
    cut = len(sql)
    while cut > 0 and _strip(sql[:cut]).strip().lower() != body:
        cut -= 1
    return sql[:cut].strip() or sql


def _authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None,
                _trigger: str | None) -> int:
    if action in _DENIED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_UPDATE and arg1 != "sqlite_master":
        # SQLite itself "updates" sqlite_master while loading the schema.
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() not in ALLOWED_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _explain(exc: sqlite3.Error, sql: str, time_limit_ms: int) -> QueryError:
    """Return a QueryError that says what went wrong and what to do next."""
    msg = str(exc)
    low = msg.lower()
    if low == "interrupted":
        return QueryError(f"the query ran longer than {time_limit_ms} ms and was stopped: "
                          "narrow it with a WHERE on an indexed column (date, interface, "
                          "message_id, thread_id) or a LIMIT, or allow more time with "
                          "--time-limit MS")
    if low.startswith("no such table"):
        return QueryError(f"{msg}; list the tables and views with: {LIST_TABLES}")
    if low.startswith("no such column") and " match " in f" {sql.lower()} ":
        return QueryError(f"{msg}: inside MATCH, a '-' or ':' in a word is read as a column "
                          "filter; put such words in double quotes, e.g. MATCH '\"pv-ops\"'")
    if low.startswith("no such column"):
        return QueryError(f"{msg}; see a table's columns with: abiwatch sql "
                          "\"SELECT name FROM pragma_table_info('TABLE')\"")
    if "not authorized" in low or "readonly" in low or "read-only" in low:
        return QueryError("only reading is allowed: the query tried to write, attach a "
                          "database, load an extension or use a PRAGMA not in the list "
                          f"({', '.join(ALLOWED_PRAGMAS[:-1])})")
    if low.startswith("fts5") or "malformed match" in low:
        return QueryError(f"full-text search could not read the MATCH text ({msg}): put "
                          "words with punctuation in double quotes, e.g. "
                          "MATCH '\"pv_ops\" AND abi'")
    if "binding" in low or "supply a value" in low:
        return QueryError(f"{msg.rstrip('.')}: give a value for each :name in the query "
                          "with -p name=VALUE")
    if "syntax error" in low or "incomplete input" in low:
        return QueryError(f"SQLite could not parse the query ({msg}); quote text with single "
                          "quotes ('VMI') and names with double quotes")
    return QueryError(f"SQLite error: {msg}")


def connect_readonly(path: str | os.PathLike) -> sqlite3.Connection:
    """Return a connection to an existing database file opened mode=ro and query_only."""
    p = Path(path)
    if not p.is_file():
        raise QueryError(f"no database at {p}: run `abiwatch ingest ARCHIVE` first, or point "
                         "--db (or ABIWATCH_DB, or database.path in the config) at one")
    conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = 1")
    return conn


def run_readonly_query(path: str | os.PathLike, sql: str,
                       params: Sequence[Any] | Mapping[str, Any] = (), *, time_limit_ms: int,
                       max_rows: int) -> QueryResult:
    """Return the columns and at most max_rows rows of one read-only SELECT."""
    statement = validate_select(sql)
    conn = connect_readonly(path)
    try:
        conn.set_authorizer(_authorizer)
        deadline = time.perf_counter() + time_limit_ms / 1000
        # About 1000 VM steps take 0.1 ms: check the clock that often, and on
        # every step for tiny limits so they still hold.
        conn.set_progress_handler(lambda: int(time.perf_counter() >= deadline),
                                  1 if time_limit_ms <= 20 else 1000)
        start = time.perf_counter()
        try:
            cur = conn.execute(statement, params)
            rows = cur.fetchmany(max_rows + 1)
        except sqlite3.Error as exc:
            raise _explain(exc, statement, time_limit_ms) from exc
        columns = [d[0] for d in cur.description or ()]
        elapsed = (time.perf_counter() - start) * 1000
        return QueryResult(columns, rows[:max_rows], len(rows) > max_rows, elapsed)
    finally:
        conn.close()
