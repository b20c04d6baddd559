"""Shared fixtures for the ingest tests: real mail, fresh databases, table dumps."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from corpus import SHARED, shared

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.ingest.sources import iter_mbox

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "ingest"

# Tables whose content depends on the run (timestamps, run counters), not on the mail.
RUN_TABLES = {"ingest_runs", "_migrations"}
RUN_COLUMNS = {"run_id"}


def fixture(name: str) -> Path:
    """Return a file under tests/fixtures/ingest."""
    path = FIXTURES / name
    assert path.exists(), path
    return path


def real_mails() -> list[bytes]:
    """Return the raw mails of two fixture mboxes: 5 LKML and 6 linux-hyperv messages."""
    out = []
    for name in ("lkml-2006-orphan-replies-paravirt-h.mbox",
                 "mboxrd-quoted-from-and-outlook-attribution.mbox"):
        out += [m.raw for m in iter_mbox(io.BytesIO(fixture(name).read_bytes()), name)]
    return out


def dump(db_path: Path | str) -> dict[str, list[tuple]]:
    """Return every row of every table except run bookkeeping, in a stable order.

    The FTS index is dumped through fts5vocab ('instance': term, row, column,
    offset), which is independent of how its b-tree segments were built.
    """
    conn = sqlite3.connect(str(db_path))
    try:
        out: dict[str, list[tuple]] = {}
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for t in tables:
            if t in RUN_TABLES or t.startswith("messages_fts") or t.startswith("sqlite_"):
                continue
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({t})")
                    if r[1] not in RUN_COLUMNS]
            col_sql = ", ".join(f'"{c}"' for c in cols)
            out[t] = conn.execute(
                f'SELECT {col_sql} FROM "{t}" ORDER BY {col_sql}').fetchall()
        conn.execute("CREATE VIRTUAL TABLE temp.fts_v USING fts5vocab(main, messages_fts, "
                     "'instance')")
        out["messages_fts(vocab)"] = conn.execute(
            "SELECT term, doc, col, offset FROM temp.fts_v ORDER BY 1, 2, 3, 4").fetchall()
        return out
    finally:
        conn.close()


def diff_dumps(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> list[str]:
    """Return a short human-readable list of the tables that differ."""
    out = []
    for t in sorted(set(a) | set(b)):
        ra, rb = set(a.get(t, [])), set(b.get(t, []))
        if a.get(t) != b.get(t):
            out.append(f"{t}: {len(a.get(t, []))} vs {len(b.get(t, []))} rows; "
                       f"only left {sorted(ra - rb, key=repr)[:2]!r}; "
                       f"only right {sorted(rb - ra, key=repr)[:2]!r}")
    return out


@pytest.fixture
def new_db(tmp_path):
    """Return a function that opens a fresh migrated database in tmp_path."""
    count = 0

    def make(name: str | None = None):
        nonlocal count
        count += 1
        return open_db(tmp_path / (name or f"t{count}.db"))
    return make


@pytest.fixture
def ingest_into(new_db):
    """Return a function that ingests paths into a fresh database and returns (db, stats)."""

    def run(paths, **kw):
        db = new_db()
        kw.setdefault("progress", False)
        stats = ingest(db, [str(p) for p in paths], **kw)
        return db, stats
    return run


@pytest.fixture(scope="session")
def corpus_db(tmp_path_factory):
    """The whole shared corpus ingested once per session (read it, do not write to it)."""
    root = shared()
    path = tmp_path_factory.mktemp("corpus") / "t.db"
    db = open_db(path)
    stats = ingest(db, [str(root)], progress=False)
    yield db, stats, path
    db.close()


def one(db, sql: str, params=()):
    """Return the single row a query must produce."""
    rows = db.execute(sql, params).fetchall()
    assert len(rows) == 1, (sql, params, rows)
    return rows[0]


# Make the helpers importable by the test modules without a package on sys.path.
@pytest.fixture(scope="session")
def h():
    """Helper namespace: shared(), fixture(), real_mails(), dump(), diff_dumps(), one()."""

    class H:
        pass
    ns = H()
    for f in (shared, fixture, real_mails, dump, diff_dumps, one):
        setattr(ns, f.__name__, staticmethod(f))
    ns.SHARED = SHARED
    ns.FIXTURES = FIXTURES
    ns.REPO = REPO
    return ns
