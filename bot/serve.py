"""`abiwatch serve`: Datasette on the database, read-only, with abiwatch's metadata.

The database is opened by Datasette as a *mutable* file, which it opens with
`mode=ro`; it is never opened `immutable=1` (`datasette -i`): abiwatch keeps
the database in WAL mode, and an immutable reader ignores the -wal file, so it
would miss (or half-see) everything ingested since the last checkpoint.
`mode=ro` readers follow the WAL, so ingest and tag can run while it serves.
Only on read-only storage, where a WAL database cannot be opened `mode=ro` (its
-shm index cannot be created), is it served immutable, and the log says so.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from abiwatch.bot.config import ServeSettings
from abiwatch.bot.datasette_meta import SCHEMA_DOC, build_metadata
from abiwatch.db import open_db, snapshot_only
from abiwatch.db.readonly import limit_connection, limit_result_bytes, limit_sqlite_heap

logger = logging.getLogger(__name__)


def datasette_settings(s: ServeSettings) -> dict[str, Any]:
    """Return the Datasette settings abiwatch uses."""
    return {
        "sql_time_limit_ms": s.time_limit_ms,
        "max_returned_rows": s.max_returned_rows,
        # The raw archive can be gigabytes; nobody should pull it over HTTP by accident.
        "allow_download": False,
        "default_page_size": 50,
        "truncate_cells_html": 400,
    }


def metadata_for(db_path: str | os.PathLike,
                 schema_doc: str | Path | None = SCHEMA_DOC) -> dict[str, Any]:
    """Return the Datasette metadata for the database at db_path."""
    db = open_db(db_path, readonly=True)
    try:
        return build_metadata(db, Path(db_path).stem, schema_doc)
    finally:
        db.conn.close()


def _register_limits() -> None:
    """Give every connection Datasette opens the caps `abiwatch sql` has (db/readonly.py):
    no value over MAX_VALUE_BYTES, printf's widths checked before they loop, no result
    over MAX_RESULT_BYTES. Its time limit alone does not stop `printf('%.*c',
    1000000000, 'x')`, one function call that allocates a gigabyte: a few at once would
    exhaust the server's memory and stall every other query."""
    from datasette import hookimpl
    from datasette.plugins import pm

    class AbiwatchLimits:
        @staticmethod
        @hookimpl
        def prepare_connection(conn) -> None:
            limit_connection(conn)
            limit_result_bytes(conn)

        @staticmethod
        @hookimpl
        def asgi_wrapper(datasette):
            return _refuse_posts

    if pm.get_plugin("abiwatch_limits") is None:
        pm.register(AbiwatchLimits, name="abiwatch_limits")


# What the web view keeps to itself unless the operator publishes it on purpose
# (`abiwatch serve --publish-private`): subscribers' addresses and what they get, where
# the archives and the kernel tree sit on this machine, the command lines that read
# them, and the Discord ids of people who corrected concerns. Mail authors' names and
# addresses are not here: they are public in the list archive the database mirrors.
PRIVATE_TABLES = ("subscribers", "digests_sent")
PRIVATE_COLUMNS = {"raw_messages": ("source",), "source_files": ("path",),
                   "inbox_progress": ("git_dir",), "git_trees": ("path",),
                   "commits": ("tree",), "ingest_runs": ("command",),
                   "corrections": ("author_id",)}


def keep_private(conn) -> None:
    """Make conn refuse any read of a private table and read private columns as NULL,
    whatever the SQL: table pages, arbitrary queries and canned queries alike."""
    import sqlite3

    def authorize(action, table, column, _db, _trigger):
        if action == sqlite3.SQLITE_READ and table:
            if table in PRIVATE_TABLES:
                return sqlite3.SQLITE_DENY
            if column in PRIVATE_COLUMNS.get(table, ()):
                return sqlite3.SQLITE_IGNORE
        return sqlite3.SQLITE_OK

    conn.set_authorizer(authorize)


def _register_privacy(private: bool) -> None:
    from datasette import hookimpl
    from datasette.plugins import pm

    class AbiwatchPrivacy:
        @staticmethod
        @hookimpl
        def prepare_connection(conn) -> None:
            keep_private(conn)

    registered = pm.get_plugin("abiwatch_privacy")
    if private and registered is None:
        pm.register(AbiwatchPrivacy, name="abiwatch_privacy")
    elif not private and registered is not None:
        pm.unregister(name="abiwatch_privacy")


READ_ONLY_POST = ("abiwatch serves the database read-only: use GET (a canned query takes "
                  "its parameters in the query string, e.g. ?interface=VMI)")


def _refuse_posts(app):
    """Answer a POST outside Datasette's own /-/ pages with 405 and one line. Nothing here
    can be written, and Datasette 0.65 answered a POST to a read-only canned query (or
    to a table) with a 500 and a traceback in the log."""

    async def wrapped(scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST" or path.startswith("/-/"):
            await app(scope, receive, send)
            return
        as_json = path.endswith(".json")
        body = (json.dumps({"ok": False, "error": READ_ONLY_POST, "status": 405}) if as_json
                else READ_ONLY_POST + "\n").encode()
        await send({"type": "http.response.start", "status": 405, "headers": [
            (b"content-type", b"application/json" if as_json else b"text/plain; charset=utf-8"),
            (b"allow", b"GET, HEAD")]})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def make_datasette(db_path: str | os.PathLike, settings: ServeSettings,
                   schema_doc: str | Path | None = SCHEMA_DOC, *, publish_private: bool = False):
    """Return a Datasette instance serving db_path read-only with abiwatch's metadata;
    the private tables and columns are kept back unless publish_private."""
    from datasette.app import Datasette

    _register_limits()
    _register_privacy(not publish_private)
    metadata = metadata_for(db_path, schema_doc)
    if not publish_private:
        tables = next(iter(metadata["databases"].values()))["tables"]
        for name in PRIVATE_TABLES:
            # hidden from the index, and a 403 for its page (SQL is refused by keep_private)
            tables.setdefault(name, {}).update({"hidden": True, "allow": False})
    # On read-only storage Datasette's mode=ro connections fail like any reader's (see
    # snapshot_only): serve the file as the unchanging snapshot it then is.
    snapshot = snapshot_only(Path(db_path))
    return Datasette([] if snapshot else [str(db_path)],
                     immutables=[str(db_path)] if snapshot else [],
                     metadata=metadata,
                     settings=datasette_settings(settings), cors=False)


def run(db_path: str | os.PathLike, settings: ServeSettings, host: str, port: int,
        schema_doc: str | Path | None = SCHEMA_DOC, *, publish_private: bool = False) -> None:
    """Serve the database with Datasette until interrupted."""
    import asyncio

    import uvicorn

    ds = make_datasette(db_path, settings, schema_doc, publish_private=publish_private)
    # SQLite's memory cap is the process's: this process only serves.
    probe = sqlite3.connect(":memory:")
    limit_sqlite_heap(probe)
    probe.close()
    # With `rich` installed, Datasette prints every handled error (a mistyped
    # SQL query is a 400) as a full traceback with local variables into the
    # server log; the JSON/HTML error page is all anyone needs. Imported only
    # after datasette.app: importing it first breaks Datasette's plugin setup.
    import datasette.handle_exception

    datasette.handle_exception.rich = None
    # Datasette turns on tracebacks for exceptions in SQLite callbacks: a printf refused
    # by limit_connection then printed one per query. The error itself still goes back
    # to the client and to the log in one line.
    sqlite3.enable_callback_tracebacks(False)
    # Datasette must run its startup hooks before it serves; uvicorn makes its own loop.
    asyncio.run(ds.invoke_startup())
    logger.info("serving %s at http://%s:%s/", db_path, host, port)
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
