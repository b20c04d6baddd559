"""Shared fixtures for the NLP tests: real threads ingested and tagged once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

REPO = Path(__file__).resolve().parents[2]
DEVSET = REPO / "tests" / "fixtures" / "nlp_devset" / "threads"


@pytest.fixture(scope="session")
def devset_db(tmp_path_factory):
    """The labelled dev and holdout threads (real mail, in the repo), ingested and tagged."""
    path = tmp_path_factory.mktemp("devset") / "devset.db"
    db = open_db(path)
    ingest(db, [str(DEVSET)], progress=False)
    tag(db, progress=False)
    return db


def concern_rows(db, **where) -> list[dict]:
    """Return concerns as dicts, filtered by equality on the given columns."""
    sql = "SELECT * FROM concerns"
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
    return list(db.query(sql, list(where.values())))
