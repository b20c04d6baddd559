#!/usr/bin/env python3
"""Measure each resolution policy on the tuning labels: when it says "resolved",
how often is the labelled concern really resolved (and by the message it cites)?

Every labelled concern of the tuning sets is recorded as a concern (whatever
detection found), its evidence gathered as `abiwatch tag` does, and each
policy asked alone. A policy is used only where its precision is at least
0.90 (nlp/data/resolution.toml); this prints the table that file is set from.
These are tuning figures: the policies were written on these threads. Labels
judge resolution within one thread file, so a resolution a policy finds in
another file (a later version's thread) is counted apart ("other file"), not
as right or wrong.

    python bench/resolution_table.py
"""

from __future__ import annotations

import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp_quality import DEVSET, TUNING_SETS, load_labels, wilson  # noqa: E402

from abiwatch.db import open_db  # noqa: E402
from abiwatch.ingest.load import ingest  # noqa: E402
from abiwatch.nlp.catalog import load_catalog  # noqa: E402
from abiwatch.nlp.evidence import ThreadCache, evidence_for  # noqa: E402
from abiwatch.nlp.resolution import ALL_POLICIES  # noqa: E402
from abiwatch.nlp.tagging import tag  # noqa: E402


def gold_concerns(db, labels: list[dict]) -> list[tuple[dict, dict]]:
    """Record every labelled concern in db; return (concern row, gold label) pairs."""
    out = []
    with db.conn:
        db.execute("DELETE FROM concerns")
        for lab in labels:
            m = db.execute("SELECT from_name, from_addr, date, thread_id FROM messages WHERE message_id = ?",
                           [lab["message_id"]]).fetchone()
            if m is None:
                continue
            link = db.execute("SELECT patch_message_id, series_id FROM message_patch WHERE message_id = ?",
                              [lab["message_id"]]).fetchone() or (None, None)
            for g in lab["concerns"]:
                db.execute("INSERT OR IGNORE INTO concerns (message_id, interface, text, kind, "
                           "patch_message_id, series_id, confidence, rule_id, cue, author_name, "
                           "author_addr, date, status) VALUES (?, ?, ?, ?, ?, ?, 1, 'gold', 'gold', "
                           "?, ?, ?, 'open')", [lab["message_id"], g["interface"], g["text"], g["kind"],
                                                *link, m[0], m[1], m[2]])
                row = db.execute("SELECT c.*, m.thread_id FROM concerns c JOIN messages m ON "
                                 "m.message_id = c.message_id WHERE c.message_id = ? AND c.interface = ?",
                                 [lab["message_id"], g["interface"]])
                cols = [d[0] for d in row.description]
                out.append((dict(zip(cols, row.fetchone(), strict=True)), g))
    return out


def main() -> int:
    fired: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    across: dict[str, int] = defaultdict(int)
    total = 0
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as tmp:
        for name in TUNING_SETS:
            if not (DEVSET / f"{name}.jsonl").exists():
                continue
            labels = load_labels(name)
            db = open_db(Path(tmp) / f"{name}.db")
            ingest(db, sorted({str(DEVSET / lab["file"]) for lab in labels}), progress=False)
            tag(db, progress=False)
            cache = ThreadCache(db.conn, {p.id: p.weight for p in catalog.patterns})
            file_of = {lab["message_id"]: lab["file"] for lab in labels}
            for c, g in gold_concerns(db, labels):
                total += 1
                ev = evidence_for(db.conn, c, cache)
                for policy_name, policy in ALL_POLICIES.items():
                    r = policy(ev)
                    if r is None:
                        continue
                    # labellers judge resolution within one thread file: evidence from
                    # another file (a later version's thread) is beyond what they saw
                    if file_of.get(r.resolved_by) != file_of[c["message_id"]]:
                        across[policy_name] += 1
                        continue
                    fired[policy_name].append((g["status"] == "resolved",
                                               r.resolved_by == g.get("resolved_by")))
    print(f"{total} labelled concerns in the tuning sets (tuning figures)")
    print(f"{'policy':34} {'fires':>5} {'precision':>9} {'95% interval':>14} {'same msg':>8} "
          f"{'other file':>10}")
    for policy_name in ALL_POLICIES:
        hits = fired.get(policy_name, [])
        right = sum(1 for ok, _ in hits if ok)
        same = sum(1 for ok, s in hits if ok and s)
        lo, hi = wilson(right, len(hits))
        p = f"{right / len(hits):.2f}" if hits else "-"
        print(f"{policy_name:34} {len(hits):5} {p:>9} {f'[{lo:.2f}, {hi:.2f}]':>14} {same:8} "
              f"{across[policy_name]:10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
