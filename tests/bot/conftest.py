"""The database the digest tests read: the real LKML paravirt threads of 2006 and the 62
real virtualization-list threads of 2019-2023, ingested and tagged once per run."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import LKML, VIRT, require
from dbfile import tagged_db


@pytest.fixture(scope="session")
def digest_db(tmp_path_factory) -> Path:
    """LKML 2006 and the virtualization list, tagged; copy it before writing to it."""
    for corpus in (LKML, VIRT):
        require(corpus)
    return tagged_db(tmp_path_factory.mktemp("digest") / "base.db", [LKML, VIRT])
