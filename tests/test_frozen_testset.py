"""The frozen test sets stay frozen: their labels and threads are the ones their READMEs
list. (This reads only hashes: nobody reads a test set to write a rule or a test.)"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SETS = [("nlp_testset", "test.jsonl"), ("nlp_testset2", "test2.jsonl"), ("nlp_testset3", "test3.jsonl")]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("folder, labels", SETS)
def test_the_test_labels_are_the_frozen_ones(folder, labels):
    readme = (FIXTURES / folder / "README.md").read_text()
    frozen = re.search(r"sha256\s+`([0-9a-f]{64})`", readme).group(1)
    assert _sha(FIXTURES / folder / labels) == frozen


@pytest.mark.parametrize("folder, labels", SETS)
def test_every_test_thread_is_the_one_drawn(folder, labels):
    root = FIXTURES / folder
    rows = re.findall(r"^\| `([^`]+\.mbox)` \| \d+ \| [^|]+ \| `([0-9a-f]{16})` \|$",
                      (root / "README.md").read_text(), re.M)
    assert len(rows) >= 40
    for name, prefix in rows:
        assert _sha(root / "threads" / name).startswith(prefix), name
    assert sorted(p.name for p in (root / "threads").glob("*.mbox")) == sorted(n for n, _ in rows)
