"""The frozen test set stays frozen: its labels and threads are the ones its README
lists. (This reads only hashes: nobody reads the test set to write a rule or a test.)"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

TESTSET = Path(__file__).resolve().parent / "fixtures" / "nlp_testset"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_test_labels_are_the_frozen_ones():
    readme = (TESTSET / "README.md").read_text()
    frozen = re.search(r"sha256 `([0-9a-f]{64})`", readme).group(1)
    assert _sha(TESTSET / "test.jsonl") == frozen


def test_every_test_thread_is_the_one_drawn():
    rows = re.findall(r"^\| `([^`]+\.mbox)` \| \d+ \| [^|]+ \| `([0-9a-f]{16})` \|$",
                      (TESTSET / "README.md").read_text(), re.M)
    assert len(rows) == 60
    for name, prefix in rows:
        assert _sha(TESTSET / "threads" / name).startswith(prefix), name
    assert sorted(p.name for p in (TESTSET / "threads").glob("*.mbox")) == sorted(n for n, _ in rows)
