"""`abiwatch serve`: Datasette on the database, read-only, with abiwatch's metadata.

The database is opened by Datasette as a *mutable* file, which it opens with
`mode=ro`; it is never opened `immutable=1` (`datasette -i`): abiwatch keeps
the database in WAL mode, and an immutable reader ignores the -wal file, so it
would miss (or half-see) everything ingested since the last checkpoint.
`mode=ro` readers follow the WAL, so ingest and tag can run while it serves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from abiwatch.bot.config import ServeSettings
from abiwatch.bot.datasette_meta import SCHEMA_DOC, build_metadata
from abiwatch.db import open_db

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


def make_datasette(db_path: str | os.PathLike, settings: ServeSettings,
                   schema_doc: str | Path | None = SCHEMA_DOC):
    """Return a Datasette instance serving db_path read-only with abiwatch's metadata."""
    from datasette.app import Datasette

    return Datasette([str(db_path)], metadata=metadata_for(db_path, schema_doc),
                     settings=datasette_settings(settings), cors=False)


def run(db_path: str | os.PathLike, settings: ServeSettings, host: str, port: int,
        schema_doc: str | Path | None = SCHEMA_DOC) -> None:
    """Serve the database with Datasette until interrupted."""
    import asyncio

    import uvicorn

    ds = make_datasette(db_path, settings, schema_doc)
    # With `rich` installed, Datasette prints every handled error (a mistyped
    # SQL query is a 400) as a full traceback with local variables into the
    # server log; the JSON/HTML error page is all anyone needs. Imported only
    # after datasette.app: importing it first breaks Datasette's plugin setup.
    import datasette.handle_exception

    datasette.handle_exception.rich = None
    # Datasette must run its startup hooks before it serves; uvicorn makes its own loop.
    asyncio.run(ds.invoke_startup())
    logger.info("serving %s at http://%s:%s/", db_path, host, port)
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
