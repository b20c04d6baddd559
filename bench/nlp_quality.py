#!/usr/bin/env python3
"""Score abiwatch's NLP stage against the hand-labelled threads.

Ingests the labelled threads (tests/fixtures/nlp_devset) into a fresh
database, runs `tag`, and prints precision/recall of concern detection and
interface tagging, patch-linking accuracy and resolved/open accuracy, then
checks the hard negatives from the virtualization list.

    python bench/nlp_quality.py                 # dev and holdout
    python bench/nlp_quality.py --set dev --errors
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db import open_db  # noqa: E402
from ingest.load import ingest  # noqa: E402
from nlp.tagging import tag  # noqa: E402

DEVSET = ROOT / "tests" / "fixtures" / "nlp_devset"
NEGATIVES = [ROOT.parent / "shared" / "data" / "lfdr-virtualization-list" / "negatives",
             ROOT / "tests" / "fixtures" / "nlp_negatives"]


def load_labels(name: str) -> list[dict]:
    return [json.loads(line) for line in (DEVSET / f"{name}.jsonl").read_text().splitlines()
            if line.strip()]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(labels: list[dict], workdir: Path, show_errors: bool = False) -> dict:
    db = open_db(workdir / "eval.db")
    files = sorted({DEVSET / lab["file"] for lab in labels})
    ingest(db, [str(f) for f in files], progress=False)
    tag(db, progress=False)
    ids = {lab["message_id"] for lab in labels}
    pred_ifaces: dict[str, set[str]] = {}
    for mid, iface in db.execute("SELECT message_id, interface FROM message_interfaces"):
        pred_ifaces.setdefault(mid, set()).add(iface)
    pred_concerns = {(r[0], r[1]): r for r in db.execute(
        "SELECT message_id, interface, status, resolved_by, text, rule_id, kind FROM concerns")}
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
    out["interfaces"] = prf(tp, fp, fn)
    # concerns (message, interface)
    pred_keys = {k for k in pred_concerns if k[0] in ids}
    gold_keys = set(gold_concerns)
    tp = len(pred_keys & gold_keys)
    out["concerns"] = prf(tp, len(pred_keys - gold_keys), len(gold_keys - pred_keys))
    pm = {k[0] for k in pred_keys}
    gm = {k[0] for k in gold_keys}
    out["concern_messages"] = prf(len(pm & gm), len(pm - gm), len(gm - pm))
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
    out["resolution_n"] = len(found)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="all",
                    help="dev, holdout, holdout2 (when labelled) or all (default)")
    ap.add_argument("--errors", action="store_true", help="print every disagreement")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    available = [n for n in ("dev", "holdout", "holdout2") if (DEVSET / f"{n}.jsonl").exists()]
    sets = available if args.set == "all" else [args.set]
    results = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in sets:
            d = Path(tmp) / name
            d.mkdir()
            if args.errors:
                print(f"--- {name} ---")
            results[name] = evaluate(load_labels(name), d, args.errors)
        neg_dir = Path(tmp) / "neg"
        neg_dir.mkdir()
        results["negatives"] = negatives(neg_dir)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name in sets:
        r = results[name]
        print(f"{name}: {r['messages']} messages, {r['gold_concerns']} labelled concerns, "
              f"{r['pred_concerns']} found")
        print("  concern detection (message, interface): P=%.2f R=%.2f F1=%.2f" % r["concerns"])
        print("  concern detection (message only):       P=%.2f R=%.2f F1=%.2f" % r["concern_messages"])
        print("  interface tagging:                       P=%.2f R=%.2f F1=%.2f" % r["interfaces"])
        print(f"  patch linking accuracy:                  {r['patch_linking']:.2f} "
              f"(labelled links), {r['patch_linking_all']:.2f} (all messages)")
        print(f"  resolved/open accuracy:                  {r['resolution_accuracy']:.2f} "
              f"on {r['resolution_n']} correctly found concerns")
    neg = results["negatives"]
    if neg:
        print(f"negatives: {neg['messages']} messages, {neg['paravirt_concerns']} paravirt_ops "
              f"concerns, {neg['concerns']} concerns in all, {neg['messages_with_interfaces']} "
              "messages tagged with an interface")
    print(f"({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
