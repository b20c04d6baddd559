"""Golden output: what `abiwatch tag` finds in the 2006 LKML threads (VMI and
paravirt_ops), pinned so that a rule change shows up as a reviewed diff.

Regenerate after an intended change with: UPDATE_GOLDEN=1 python3 -m pytest tests/nlp/test_golden.py
and read the diff of tests/fixtures/nlp_golden/lkml-2006.json before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "fixtures" / "nlp_golden" / "lkml-2006.json"
THREADS = [REPO / "bot" / "sample" / name for name in (
    "lkml-20060803-a-proposal-binary-vmi-abi.mbox",
    "lkml-20060313-vmi-i386-virtualization-interface-rfc.mbox",
    "lkml-20060810-paravirt-h-patch.mbox")]


def _output(db) -> dict:
    return {
        "interfaces": sorted([list(r) for r in db.execute(
            "SELECT message_id, interface, source FROM message_interfaces")]),
        "abi_api": sorted(r[0] for r in db.execute(
            "SELECT message_id FROM message_tags WHERE tag = 'abi-api'")),
        "concerns": sorted([list(r) for r in db.execute(
            "SELECT message_id, interface, kind, status, resolved_by, rule_id, text FROM concerns")]),
        "patch_links": sorted([list(r) for r in db.execute(
            "SELECT message_id, patch_message_id, how FROM message_patch")]),
    }


def test_tagging_output_matches_the_golden_file(tmp_path):
    db = open_db(tmp_path / "golden.db")
    ingest(db, [str(p) for p in THREADS], progress=False)
    tag(db, progress=False)
    got = _output(db)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert want
    for key in want:
        assert got[key] == want[key], f"{key} changed; see the module docstring to regenerate"
