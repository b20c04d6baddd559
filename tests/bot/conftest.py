"""The database the digest tests read: the real LKML paravirt threads of 2006 and the 62
real virtualization-list threads of 2019-2023, ingested and tagged once per run."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import LKML, VIRT, require

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag


@pytest.fixture(scope="session")
def digest_db(tmp_path_factory) -> Path:
    """LKML 2006 and the virtualization list, tagged; copy it before writing to it."""
    for corpus in (LKML, VIRT):
        require(corpus)
    path = tmp_path_factory.mktemp("digest") / "base.db"
    db = open_db(path)
    ingest(db, [str(LKML), str(VIRT)], progress=False)
    tag(db, progress=False)
    db.conn.close()  # the last connection checkpoints the WAL: the file is whole
    return path
