#!/usr/bin/env python3
"""Score abiwatch's NLP stage against hand-labelled threads.

Ingests a label set's threads into a fresh database, runs `tag`, and prints
precision/recall of concern detection and interface tagging, patch-linking
accuracy and resolved/open accuracy, each with its 95% Wilson interval, and
the false concerns per 100 messages; then checks the hard negatives.

Two kinds of label set, never mixed in one figure:
- tuning sets (tests/fixtures/nlp_devset: tuning-relabel, tuning-random,
  tuning-topic): rules, cues, the model and thresholds were
  made while looking at them, so their figures are tuning figures;
- the frozen test sets (tests/fixtures/nlp_testset: test; nlp_testset2: test2,
  for the work after test's one score): labelled by people
  who never saw abiwatch's output, read by nobody to write a rule; score it
  once, at the end of a piece of work, and report that figure.

    python bench/nlp_quality.py                       # every tuning set
    python bench/nlp_quality.py --set tuning-relabel --errors
    python bench/nlp_quality.py --set test3           # once, at the end
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from abiwatch.db import open_db  # noqa: E402
from abiwatch.ingest.load import ingest  # noqa: E402
from abiwatch.nlp.tagging import tag  # noqa: E402

DEVSET = ROOT / "tests" / "fixtures" / "nlp_devset"
TESTSETS = {"test": ROOT / "tests" / "fixtures" / "nlp_testset",
            "test2": ROOT / "tests" / "fixtures" / "nlp_testset2",
            "test3": ROOT / "tests" / "fixtures" / "nlp_testset3"}
TUNING_SETS = ("tuning-relabel", "tuning-random", "tuning-topic")
NEGATIVES = [ROOT.parent / "shared" / "data" / "lfdr-virtualization-list" / "negatives",
             ROOT / "tests" / "fixtures" / "nlp_negatives"]


def set_root(name: str) -> Path:
    return TESTSETS.get(name, DEVSET)


def load_labels(name: str) -> list[dict]:
    root = set_root(name)
    return [json.loads(line) for line in (root / f"{name}.jsonl").read_text().splitlines()
            if line.strip()]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (honest at small n and near 0 or 1)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, mid - half), min(1.0, mid + half)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def prf_ci(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall and F1 with the counts and Wilson intervals behind them."""
    p, r, f = prf(tp, fp, fn)
    return {"p": p, "r": r, "f1": f, "tp": tp, "fp": fp, "fn": fn,
            "p_ci": wilson(tp, tp + fp), "r_ci": wilson(tp, tp + fn)}


def evaluate(labels: list[dict], workdir: Path, show_errors: bool = False,
             root: Path = DEVSET) -> dict:
    db = open_db(workdir / "eval.db")
    files = sorted({root / lab["file"] for lab in labels})
    ingest(db, [str(f) for f in files], progress=False)
    tag(db, progress=False)
    ids = {lab["message_id"] for lab in labels}
    pred_ifaces: dict[str, set[str]] = {}
    for mid, iface in db.execute("SELECT message_id, interface FROM message_interfaces"):
        pred_ifaces.setdefault(mid, set()).add(iface)
    # what answers show by default: the confident concerns (all of them are scored apart)
    pred_concerns = {(r[0], r[1]): r for r in db.execute(
        "SELECT message_id, interface, status, resolved_by, text, rule_id, kind FROM concerns "
        "WHERE confident = 1")}
    kept = {(r[0], r[1]) for r in db.execute("SELECT message_id, interface FROM concerns")}
    pred_patch = {r[0]: r[1] for r in db.execute("SELECT message_id, patch_message_id FROM message_patch")}
    gold_concerns = {(lab["message_id"], c["interface"]): c for lab in labels for c in lab["concerns"]}
    out: dict = {}
    # interfaces
    tp = fp = fn = 0
    for lab in labels:
        gold, pred = set(lab["interfaces"]), pred_ifaces.get(lab["message_id"], set())
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
        if show_errors and gold != pred:
            print(f"  iface {lab['message_id'][:40]:40} gold={sorted(gold)} pred={sorted(pred)}")
    out["interfaces"] = prf_ci(tp, fp, fn)
    # concerns (message, interface)
    pred_keys = {k for k in pred_concerns if k[0] in ids}
    gold_keys = set(gold_concerns)
    tp = len(pred_keys & gold_keys)
    out["concerns"] = prf_ci(tp, len(pred_keys - gold_keys), len(gold_keys - pred_keys))
    pm = {k[0] for k in pred_keys}
    gm = {k[0] for k in gold_keys}
    out["concern_messages"] = prf_ci(len(pm & gm), len(pm - gm), len(gm - pm))
    out["false_per_100"] = 100 * len(pred_keys - gold_keys) / len(labels) if labels else 0.0
    kept_keys = {k for k in kept if k[0] in ids}
    out["concerns_unsure"] = prf_ci(len(kept_keys & gold_keys), len(kept_keys - gold_keys),
                                    len(gold_keys - kept_keys))
    if show_errors:
        for k in sorted(pred_keys - gold_keys):
            r = pred_concerns[k]
            print(f"  FP {k[0][:36]:36} {k[1]:12} [{r[5]}] {r[4][:110]}")
        for k in sorted(gold_keys - pred_keys):
            print(f"  FN {k[0][:36]:36} {k[1]:12} {gold_concerns[k]['kind']:9} {gold_concerns[k]['text'][:110]}")
    # resolution on correctly found concerns
    found = pred_keys & gold_keys
    right = sum(1 for k in found if pred_concerns[k][2] == gold_concerns[k]["status"])
    out["resolution_accuracy"] = right / len(found) if found else 1.0
    out["resolution_ci"] = wilson(right, len(found))
    out["resolution_n"] = len(found)
    said = [k for k in found if pred_concerns[k][2] == "resolved"]
    wrong = sum(1 for k in said if gold_concerns[k]["status"] != "resolved")
    out["false_resolved"] = wrong / len(said) if said else 0.0
    out["false_resolved_n"] = len(said)
    out["false_resolved_ci"] = wilson(wrong, len(said))
    if show_errors:
        for k in sorted(found):
            g, p = gold_concerns[k], pred_concerns[k]
            if g["status"] != p[2] or (g["status"] == "resolved" and g["resolved_by"] != p[3]):
                print(f"  RES {k[0][:36]:36} {k[1]:12} gold={g['status']}/{(g['resolved_by'] or '')[:30]} "
                      f"pred={p[2]}/{(p[3] or '')[:30]}")
    # patch linking
    linked = [lab for lab in labels if lab["patch"]]
    ok = sum(1 for lab in linked if pred_patch.get(lab["message_id"]) == lab["patch"])
    out["patch_linking"] = ok / len(linked) if linked else 1.0
    out["patch_linking_ci"] = wilson(ok, len(linked))
    allok = sum(1 for lab in labels if pred_patch.get(lab["message_id"]) == lab["patch"])
    out["patch_linking_all"] = allok / len(labels)
    if show_errors:
        for lab in labels:
            if pred_patch.get(lab["message_id"]) != lab["patch"]:
                print(f"  LINK {lab['message_id'][:40]:40} gold={str(lab['patch'])[:40]} "
                      f"pred={str(pred_patch.get(lab['message_id']))[:40]}")
    out["messages"] = len(labels)
    out["gold_concerns"] = len(gold_keys)
    out["pred_concerns"] = len(pred_keys)
    return out


def negatives(workdir: Path) -> dict | None:
    paths = [p for p in NEGATIVES if p.exists()]
    if not paths:
        return None
    db = open_db(workdir / "neg.db")
    ingest(db, [str(paths[0])], progress=False)
    tag(db, progress=False)
    n = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    pv = db.execute("SELECT COUNT(*) FROM concerns WHERE interface = 'paravirt_ops'").fetchone()[0]
    allc = db.execute("SELECT COUNT(*) FROM concerns").fetchone()[0]
    tagged = db.execute("SELECT COUNT(DISTINCT message_id) FROM message_interfaces").fetchone()[0]
    return {"messages": n, "paravirt_concerns": pv, "concerns": allc, "messages_with_interfaces": tagged}


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _prf_line(name: str, r: dict) -> str:
    return (f"  {name:40} P={r['p']:.2f} {_ci(r['p_ci'])} R={r['r']:.2f} {_ci(r['r_ci'])} "
            f"F1={r['f1']:.2f}  (tp {r['tp']}, fp {r['fp']}, fn {r['fn']})")


def report(name: str, r: dict) -> None:
    kind = "FROZEN TEST SET (score once)" if name in TESTSETS else "tuning set: tuning figures"
    print(f"{name} [{kind}]: {r['messages']} messages, {r['gold_concerns']} labelled concerns, "
          f"{r['pred_concerns']} found")
    print(_prf_line("concern detection (message, interface):", r["concerns"]))
    print(_prf_line("concern detection (message only):", r["concern_messages"]))
    print(_prf_line("  with --unsure (every concern kept):", r["concerns_unsure"]))
    print(f"  {'false concerns per 100 messages:':40} {r['false_per_100']:.1f}")
    print(_prf_line("interface tagging:", r["interfaces"]))
    print(f"  {'patch linking accuracy:':40} {r['patch_linking']:.2f} {_ci(r['patch_linking_ci'])} "
          f"(labelled links), {r['patch_linking_all']:.2f} (all messages)")
    print(f"  {'resolved/open accuracy:':40} {r['resolution_accuracy']:.2f} {_ci(r['resolution_ci'])} "
          f"on {r['resolution_n']} correctly found concerns")
    print(f"  {'false resolved:':40} {r['false_resolved']:.2f} {_ci(r['false_resolved_ci'])} "
          f"of {r['false_resolved_n']} said resolved")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="tuning",
                    help="a tuning set (" + ", ".join(TUNING_SETS) + "), 'tuning' for all of them "
                         "(default), or 'test' / 'test2' / 'test3' for a frozen test set")
    ap.add_argument("--errors", action="store_true",
                    help="print every disagreement (never with --set test: nobody reads the test set)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.set in TESTSETS and args.errors:
        ap.error("--errors shows the test set's mail and labels; score it, do not read it")
    available = [n for n in TUNING_SETS if (DEVSET / f"{n}.jsonl").exists()]
    sets = available if args.set == "tuning" else [args.set]
    results = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in sets:
            d = Path(tmp) / name
            d.mkdir()
            if args.errors:
                print(f"--- {name} ---")
            results[name] = evaluate(load_labels(name), d, args.errors, set_root(name))
        neg_dir = Path(tmp) / "neg"
        neg_dir.mkdir()
        results["negatives"] = negatives(neg_dir)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name in sets:
        report(name, results[name])
    neg = results["negatives"]
    if neg:
        print(f"negatives: {neg['messages']} messages, {neg['paravirt_concerns']} paravirt_ops "
              f"concerns, {neg['concerns']} concerns in all, {neg['messages_with_interfaces']} "
              "messages tagged with an interface")
    print(f"({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
