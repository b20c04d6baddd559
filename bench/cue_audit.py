#!/usr/bin/env python3
"""Audit the lexical cues: does each fire on a real list, and how often is it right?

A cue is kept only when it generalises: it must fire (in a message's own
words) in at least 3 distinct threads of an unlabelled whole-list archive,
and it carries its precision measured on the tuning labels:
- CONCERN cues: of the tuning messages it fires in, the share with a labelled concern;
- AGREE and WILLFIX cues: the share with no labelled concern;
- ABI cues: the share labelled abi_api.

This rewrites `archive_threads` and `tuning` ({"precision", "n"}) on every
line of nlp/data/patterns/*.jsonl; `--prune` also drops the cues under the
thread floor. `tests/nlp/test_cues.py` checks both fields on every cue.

    abiwatch --db /tmp/virt.db ingest ../shared/archives/virtualization && abiwatch --db /tmp/virt.db tag
    python bench/cue_audit.py --archive-db /tmp/virt.db --prune
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp_quality import DEVSET, TUNING_SETS, load_labels  # noqa: E402

from abiwatch.db import open_db  # noqa: E402
from abiwatch.ingest.load import ingest  # noqa: E402
from abiwatch.nlp.catalog import DEFAULT_PATTERNS  # noqa: E402
from abiwatch.nlp.tagging import tag  # noqa: E402

MIN_THREADS = 3


def archive_threads(db_path: Path) -> Counter:
    """Distinct threads each cue fires in, in an unlabelled archive's tagged database."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT h.rule_id, COUNT(DISTINCT m.thread_id) FROM nlp_hits h JOIN messages m "
        "ON m.message_id = h.message_id WHERE h.label NOT LIKE 'interface:%' GROUP BY h.rule_id")
    return Counter({rid: n for rid, n in rows})


def tuning_hits(workdir: Path) -> tuple[dict[str, set[str]], dict[str, dict]]:
    """Messages each cue fires in over every tuning set, and the labels by message id."""
    labels = {}
    files = set()
    for name in TUNING_SETS:
        if (DEVSET / f"{name}.jsonl").exists():
            for lab in load_labels(name):
                labels[lab["message_id"]] = lab
                files.add(str(DEVSET / lab["file"]))
    db = open_db(workdir / "tuning.db")
    ingest(db, sorted(files), progress=False)
    tag(db, progress=False)
    fired: dict[str, set[str]] = defaultdict(set)
    for rid, mid in db.execute("SELECT rule_id, message_id FROM nlp_hits WHERE label NOT LIKE 'interface:%'"):
        if mid in labels:
            fired[rid].add(mid)
    return fired, labels


def precision(label: str, mids: set[str], labels: dict[str, dict]) -> dict:
    if label == "CONCERN":
        right = sum(1 for m in mids if labels[m]["concerns"])
    elif label == "ABI":
        right = sum(1 for m in mids if labels[m]["abi_api"])
    else:
        right = sum(1 for m in mids if not labels[m]["concerns"])
    return {"precision": round(right / len(mids), 2) if mids else None, "n": len(mids)}


def rewrite(path: Path, threads: Counter, fired, labels, prune: bool) -> tuple[int, int]:
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        p = json.loads(line)
        p["archive_threads"] = threads.get(p["id"], 0)
        p["tuning"] = precision(p["label"], fired.get(p["id"], set()), labels)
        if prune and p["archive_threads"] < MIN_THREADS:
            dropped += 1
            continue
        kept.append(json.dumps(p, ensure_ascii=False))
    path.write_text("\n".join(kept) + "\n")
    return len(kept), dropped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive-db", type=Path, required=True,
                    help="a tagged database of a whole unlabelled list archive")
    ap.add_argument("--prune", action="store_true",
                    help=f"drop cues that fire in fewer than {MIN_THREADS} archive threads")
    args = ap.parse_args()
    threads = archive_threads(args.archive_db)
    with tempfile.TemporaryDirectory() as tmp:
        fired, labels = tuning_hits(Path(tmp))
    for path in sorted(DEFAULT_PATTERNS.glob("*.jsonl")):
        kept, dropped = rewrite(path, threads, fired, labels, args.prune)
        print(f"{path.name}: {kept} kept, {dropped} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
