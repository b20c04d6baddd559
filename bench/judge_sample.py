#!/usr/bin/env python3
"""Draw candidate sentences from a tagged whole-list archive for people to judge.

Active learning for the concern model: the sentences the model is least sure
of, and those it would report, are where a person's verdict teaches it most.
Draws, with a seed, from every own-text sentence abiwatch kept as a candidate
in messages that touch a catalog interface, stratified by the combiner's
confidence, leaving out every thread that shares a message with a frozen test
set. Writes the messages (raw, as an mbox) and a judging sheet.

    python bench/judge_sample.py /tmp/virt.db OUT --count 400 --seed 1 \
        --exclude tests/fixtures/nlp_devset/tuning-judged.jsonl
"""

from __future__ import annotations

import argparse
import json
import mailbox
import random
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from draw_threads import write_mbox  # noqa: E402

from abiwatch.db.blobs import decompress_raw  # noqa: E402
from abiwatch.nlp.catalog import load_catalog  # noqa: E402
from abiwatch.nlp.classifier import features, load_combiner, quoted_context  # noqa: E402

TESTSETS = [ROOT / "tests" / "fixtures" / "nlp_testset", ROOT / "tests" / "fixtures" / "nlp_testset2"]
SHARES = (0.1, 0.25, 0.45, 0.2)  # most of the draw where the model decides


def bands(keep: float, shown: float) -> list[tuple[float, float, float]]:
    """(low, high, share of the draw) around the combiner's keep and shown thresholds."""
    edges = [0.0, keep / 2, keep, shown, 1.01]
    return [(edges[i], edges[i + 1], SHARES[i]) for i in range(4)]


def test_message_ids() -> set[str]:
    out = set()
    for root in TESTSETS:
        for f in (root / "threads").glob("*.mbox"):
            for m in mailbox.mbox(str(f)):
                out.add(str(m.get("Message-ID", "")).strip().strip("<>"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exclude", type=Path, action="append", default=[],
                    help="a judged-sentence file (JSONL) whose sentences are not drawn again")
    args = ap.parse_args()
    conn = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    banned = {r[0] for r in conn.execute(
        f"SELECT DISTINCT thread_id FROM messages WHERE message_id IN "
        f"({','.join('?' * len(ids))})", list(ids))} if (ids := test_message_ids()) else set()
    catalog, combiner = load_catalog(), load_combiner()
    BANDS = bands(combiner.keep, combiner.threshold)
    done = {(j["message_id"], j["sentence"]) for f in args.exclude
            for j in map(json.loads, f.read_text().splitlines()) if j}
    rows = conn.execute(
        "SELECT c.message_id, c.text, c.interfaces, c.cues, c.question, c.model, m.quoted_text, "
        "m.thread_id, m.subject, m.from_name FROM concern_candidates c JOIN messages m "
        "ON m.message_id = c.message_id WHERE m.is_reply = 1 "
        "AND c.message_id NOT IN (SELECT message_id FROM patches WHERE kind != 'revision')").fetchall()
    drawn: list[list] = [[] for _ in BANDS]
    for mid, text, inter, cues, q, model, quoted, tid, subj, who in rows:
        if tid in banned or len(text.split()) < 3 or (mid, text) in done:
            continue
        conf = combiner.confidence(features(model, json.loads(cues), bool(q), inter != "{}",
                                            quoted_context(quoted, catalog), text))
        for k, (lo, hi, _) in enumerate(BANDS):
            if lo <= conf < hi:
                drawn[k].append((mid, text, subj, who))
    rng = random.Random(args.seed)
    picked = []
    for band, (_, _, share) in zip(drawn, BANDS, strict=True):
        picked += rng.sample(band, min(len(band), round(args.count * share)))
    rng.shuffle(picked)
    args.out.mkdir(parents=True, exist_ok=True)
    mids = sorted({p[0] for p in picked})
    write_mbox(args.out / "judged.mbox", [("", mid, decompress_raw(conn.execute(
        "SELECT raw FROM raw_messages WHERE message_id = ? ORDER BY is_variant LIMIT 1",
        [mid]).fetchone()[0])) for mid in mids])
    with (args.out / "sheet.jsonl").open("w") as f:
        for i, (mid, text, subj, who) in enumerate(picked, 1):
            f.write(json.dumps({"item": i, "message_id": mid, "from": who, "subject": subj,
                                "sentence": text}, ensure_ascii=False) + "\n")
    print(f"{len(picked)} sentences from {len(mids)} messages; bands "
          f"{[len(b) for b in drawn]}; {len(banned)} test threads left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
