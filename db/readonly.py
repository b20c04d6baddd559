"""Run one user-supplied SELECT against the database, strictly read-only.

Four locks, each cheap, because the SQL comes from a person: the file is opened
`mode=ro`, the connection is `PRAGMA query_only`, the text must be one SELECT
or WITH statement (as datasette's `validate_sql_select`), and an authorizer
refuses anything that writes or attaches. A progress handler stops queries
that run too long (as datasette's `sqlite_timelimit`); rows are capped in number
and in bytes, any value in length (SQLITE_LIMIT_LENGTH, printf's widths), and
SQLite's memory (hard_heap_limit). `abiwatch serve` puts the same caps on Datasette.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abiwatch.db import connect_ro, no_database

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


# What one query may make, besides time (a progress handler cannot stop either: a
# single printf('%.*c', 1000000000, 'x') runs for seconds inside one function call and
# allocates a gigabyte). Any value: SQLITE_LIMIT_LENGTH
# (above the largest stored message part, which must stay readable). All the rows of
# one result: MAX_RESULT_BYTES.
MAX_VALUE_BYTES = 64 << 20
MAX_RESULT_BYTES = 64 << 20
# SQLite's own memory, for the whole process (PRAGMA hard_heap_limit): a row of many
# large values is within both limits above and still gigabytes. Set for the query of
# `abiwatch sql`, and for good in `abiwatch serve`'s process.
MAX_SQLITE_HEAP = 512 << 20
# printf's width and precision, as %N or %*: over this, refused (see limit_connection).
_PRINTF_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d*))?(?:ll?)?(.|$)", re.S)


class QueryError(ValueError):
    """A query that was refused or failed; the message says what to do about it."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows existed than max_rows (or than max_bytes allows)
    elapsed_ms: float
    over_bytes: bool = False  # cut because the rows reached max_bytes


def _pieces(sql: str) -> Iterator[tuple[str, int, int]]:
    """Yield (kind, start, end) over sql: 'comment', 'literal' (a quoted string or
    identifier; a doubled quote inside is an escaped one) or 'char', in one pass."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            end = n if j < 0 else j
            yield "comment", i, end
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            end = n if j < 0 else j + 2
            yield "comment", i, end
        elif ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
            yield "literal", i, end
        else:
            end = i + 1
            yield "char", i, end
        i = end


def _strip(sql: str) -> str:
    """Return sql with comments removed and literals blanked, keeping statement structure."""
    out = []
    for kind, start, _end in _pieces(sql):
        if kind == "comment":
            out.append(" ")
        elif kind == "literal":
            # Identifiers stay (a column named "pragma" is fine); their text is blanked.
            out.append("''" if sql[start] == "'" else '""')
        else:
            out.append(sql[start])
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
    return sql[:_statement_end(sql)].strip() or sql


def _statement_end(sql: str) -> int:
    """Return where sql's last token ends: trailing semicolons, blanks and comments dropped.

    One pass over the text (the loop this replaced re-stripped every prefix: 10,000
    trailing ';' took 30-58 s).
    """
    last = 0
    for kind, start, end in _pieces(sql):
        if kind == "literal" or (kind == "char" and not (sql[start].isspace() or sql[start] == ";")):
            last = end
    return last


def _spec_number(value: Any) -> int:
    """Return the size a printf '*' argument asks for, as large as SQLite may read it."""
    if isinstance(value, int | float):
        return abs(int(min(max(value, -2**62), 2**62)))
    if isinstance(value, str | bytes):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        m = re.match(r"\s*[-+]?(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)", text)
        if m:
            return abs(int(min(float(m.group(1)), 2.0**62)))
    return 0


def _printf_size(fmt: Any, args: tuple) -> int:
    """Return the widths and precisions a printf format asks for, added up."""
    if not isinstance(fmt, str):
        return 0
    total, at = 0, 0
    for m in _PRINTF_SPEC.finditer(fmt):
        if m.group(3) == "%":
            continue
        for part in m.group(1, 2):
            if part == "*":
                total += _spec_number(args[at]) if at < len(args) else 0
                at += 1
            elif part:
                total += int(part)
        at += 1
    return total


def limit_connection(conn: sqlite3.Connection) -> None:
    """Cap what one query on conn can build: any value at MAX_VALUE_BYTES, and printf's
    (and format's) widths and precisions together at the same.

    printf('%.*c', N, 'x') loops N times in one call, where no progress handler runs
    and the length limit only makes it return NULL at the end: seconds of CPU per
    call. It is replaced on this connection by a check that calls SQLite's own printf
    on a private connection when the sizes asked for are within the limit.
    """
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    real = sqlite3.connect(":memory:", check_same_thread=False)
    real.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)

    def guarded(name: str):
        def call(*args):
            if args and _printf_size(args[0], args[1:]) > MAX_VALUE_BYTES:
                # OverflowError: SQLite reports "string or blob too big", as for any value
                raise OverflowError(f"{name}() asked for over {MAX_VALUE_BYTES >> 20} MB")
            marks = ", ".join("?" * len(args))
            return real.execute(f"SELECT {name}({marks})", args).fetchone()[0]
        return call

    for name in ("printf", "format"):
        conn.create_function(name, -1, guarded(name), deterministic=True)


def size_text(n: int) -> str:
    """Return a byte count for people: '64 MB', or '20000 bytes' under a megabyte."""
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n} bytes"


def row_bytes(row: Sequence[Any]) -> int:
    """Return about how much memory a fetched row's values take."""
    return sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)


class ResultTooLarge(sqlite3.DatabaseError):
    """One query's rows add up to more than its byte budget."""


def limit_result_bytes(conn: sqlite3.Connection, max_bytes: int | None = None) -> None:
    """Make fetching more than max_bytes (MAX_RESULT_BYTES) of values through one cursor
    of conn an error (for readers such as Datasette that fetch the rows themselves)."""
    max_bytes = max_bytes or MAX_RESULT_BYTES
    inner = conn.row_factory
    last: list[Any] = [None, 0]  # weak reference to the cursor being read, bytes so far

    def factory(cursor, row):
        if last[0] is None or last[0]() is not cursor:  # a new query: a new budget
            last[0], last[1] = weakref.ref(cursor), 0
        last[1] += row_bytes(row)
        if last[1] > max_bytes:
            raise ResultTooLarge(f"the result is larger than {size_text(max_bytes)}: ask for "
                                 "fewer rows or shorter values, e.g. substr(column, 1, 1000)")
        return inner(cursor, row) if inner is not None else row

    conn.row_factory = factory


def limit_sqlite_heap(conn: sqlite3.Connection, limit: int | None = None) -> None:
    """Cap SQLite's memory in this whole process at limit (MAX_SQLITE_HEAP) for good,
    unless it is lower already (`abiwatch serve`'s process only serves)."""
    conn.execute(f"PRAGMA hard_heap_limit = {int(limit or MAX_SQLITE_HEAP)}")


@functools.cache
def _heap_limit_fn():
    """Return SQLite's sqlite3_hard_heap_limit64, or None if it cannot be reached. The
    PRAGMA can only lower the cap; putting it back after a query needs the C call."""
    try:
        import _sqlite3
        import ctypes

        fn = ctypes.CDLL(_sqlite3.__file__).sqlite3_hard_heap_limit64
    except (ImportError, OSError, AttributeError):
        return None
    fn.restype, fn.argtypes = ctypes.c_int64, [ctypes.c_int64]
    return fn


_heap = {"users": 0, "before": 0}
_heap_lock = threading.Lock()


@contextmanager
def _capped_sqlite_heap():
    """Cap SQLite's memory at MAX_SQLITE_HEAP while queries run, then put back what was
    there (the cap is the whole process's: queries running at once share it)."""
    fn = _heap_limit_fn()
    if fn is None:
        yield
        return
    with _heap_lock:
        if _heap["users"] == 0:
            _heap["before"] = fn(-1)
            if not _heap["before"] or _heap["before"] > MAX_SQLITE_HEAP:
                fn(MAX_SQLITE_HEAP)
        _heap["users"] += 1
    try:
        yield
    finally:
        with _heap_lock:
            _heap["users"] -= 1
            if _heap["users"] == 0:
                fn(_heap["before"])


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
    if "string or blob too big" in low:
        return QueryError(f"the query makes a value larger than {MAX_VALUE_BYTES >> 20} MB "
                          "(printf/format widths, zeroblob, group_concat...) and was stopped: "
                          "ask for less, e.g. substr(column, 1, 1000)")
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
        raise QueryError(no_database(p))
    try:
        conn = connect_ro(p)
    except sqlite3.Error as exc:
        raise QueryError(f"cannot read the database at {p}: {exc}") from None
    conn.execute("PRAGMA query_only = 1")
    return conn


def run_readonly_query(path: str | os.PathLike, sql: str,
                       params: Sequence[Any] | Mapping[str, Any] = (), *, time_limit_ms: int,
                       max_rows: int, max_bytes: int | None = None) -> QueryResult:
    """Return the columns and at most max_rows rows (max_bytes of values, by default
    MAX_RESULT_BYTES) of one read-only SELECT."""
    max_bytes = max_bytes or MAX_RESULT_BYTES
    statement = validate_select(sql)
    conn = connect_readonly(path)
    try:
        limit_connection(conn)
        conn.set_authorizer(_authorizer)
        deadline = time.perf_counter() + time_limit_ms / 1000
        # About 1000 VM steps take 0.1 ms: check the clock that often, and on
        # every step for tiny limits so they still hold.
        conn.set_progress_handler(lambda: int(time.perf_counter() >= deadline),
                                  1 if time_limit_ms <= 20 else 1000)
        start = time.perf_counter()
        rows: list[tuple] = []
        size, over = 0, False
        try:
            with _capped_sqlite_heap():
                cur = conn.execute(statement, params)
                for row in cur:
                    size += row_bytes(row)
                    if size > max_bytes and rows:
                        over = True
                        break
                    rows.append(row)
                    if len(rows) > max_rows:
                        break
        except sqlite3.Error as exc:
            raise _explain(exc, statement, time_limit_ms) from exc
        except MemoryError as exc:  # SQLite hit MAX_SQLITE_HEAP (Python raises, not sqlite3)
            raise QueryError(f"the query needed more than {size_text(MAX_SQLITE_HEAP)} of memory "
                             "and was stopped: ask for fewer or shorter values") from exc
        columns = [d[0] for d in cur.description or ()]
        elapsed = (time.perf_counter() - start) * 1000
        return QueryResult(columns, rows[:max_rows], len(rows) > max_rows or over, elapsed,
                           over)
    finally:
        conn.close()
