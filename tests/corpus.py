"""Where the shared mail corpus is, for every test folder: ../shared/data beside the
checkout (see its MANIFEST.md), or $ABIWATCH_SHARED_DATA when it lives elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ABIWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
LKML = SHARED / "lore-inbox-lkml-2006-2007"
VIRT = SHARED / "lfdr-virtualization-list"


def require(path: Path) -> Path:
    """Return path, skipping the test when it is not there (the corpus is absent)."""
    if not path.exists():
        pytest.skip(f"shared corpus not found at {path} (set ABIWATCH_SHARED_DATA)")
    return path


def shared(*parts: str) -> Path:
    """Return a path in the shared corpus, skipping the test when the corpus is absent."""
    return require(SHARED.joinpath(*parts))
