#!/usr/bin/env python3
"""Answer latency: p50/p95 per intent of the answer engine on a large database.

    python bench/answers.py --messages 100000          # builds, ingests and tags an archive first
    python bench/answers.py --db path/to/abiwatch.db   # or uses an existing database

The archive is real threads replicated with rewritten Message-IDs (see
bench/nlp.py); each intent is asked --rounds times with varied arguments
(interfaces, people, words and message ids taken from the database).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from abiwatch.bot.engine import Engine  # noqa: E402
from abiwatch.db import open_db  # noqa: E402


def build(messages: int, workdir: Path) -> Path:
    spec = importlib.util.spec_from_file_location("bench_nlp", ROOT / "bench" / "nlp.py")
    bench_nlp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_nlp)
    archive = workdir / "archive.mbox"
    bench_nlp.write_archive(archive, messages)
    db = workdir / "answers.db"
    for args in (["ingest", str(archive), "--no-progress"], ["tag", "--no-progress"]):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db), *args], cwd=ROOT, check=True,
                       capture_output=True)
        print(f"{args[0]}: {time.perf_counter() - t:.0f}s")
    return db


def questions(db_path: Path, rounds: int) -> dict[str, list[str]]:
    db = open_db(db_path, readonly=True)
    rnd = random.Random(7)
    ifaces = [r[0] for r in db.execute("SELECT DISTINCT interface FROM concerns")] or ["Xen"]
    people = [r[0].split()[0] for r in db.execute(
        "SELECT author_name FROM concerns WHERE author_name IS NOT NULL GROUP BY author_name "
        "ORDER BY COUNT(*) DESC LIMIT 20")] or ["Greg"]
    threads = [r[0] for r in db.execute("SELECT thread_id FROM threads ORDER BY RANDOM() LIMIT 50")]
    titles = [r[0] for r in db.execute("SELECT title FROM patches ORDER BY RANDOM() LIMIT 50")] or ["paravirt"]
    years = [r[0] for r in db.execute("SELECT DISTINCT substr(date, 1, 4) FROM concerns "
                                      "WHERE date IS NOT NULL")] or ["2007"]
    words = ["paravirt", "hypercall", "safe_halt", "binary interface", "stable ABI", "spinlock", "vmbus"]
    pick = rnd.choice
    return {
        "unresolved": [f"unresolved {pick(ifaces)}" for _ in range(rounds)],
        "concerns": [f"concerns {pick(ifaces)} --status all --by {pick(people)}" for _ in range(rounds)],
        "interface": [f"interface {pick(ifaces)}" for _ in range(rounds)],
        "patch": [f"patch {' '.join(pick(titles).split()[:4])}" for _ in range(rounds)],
        "thread": [f"thread {pick(threads)}" for _ in range(rounds)],
        "search": [f"search {pick(words)} d:2006-01-01..2024-01-01" for _ in range(rounds)],
        "who": [f"who {pick(people)}" for _ in range(rounds)],
        "free-form": [f"which concerns about {pick(ifaces)} are still open?" for _ in range(rounds)],
        "kind": [f"concerns {pick(ifaces)} --kind {pick(['nak', 'objection', 'request'])}"
                 for _ in range(rounds)],
        "resolved-in": [f"which {pick(ifaces)} concerns were resolved in {pick(years)}?"
                        for _ in range(rounds)],
        "naks-by": [f"what did {pick(people)} NAK?" for _ in range(rounds)],
        "merged": [f"merged {pick(ifaces)}" for _ in range(rounds)],
        "page-2": [f"unresolved {pick(ifaces)} --limit 20" for _ in range(rounds)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args()
    db_path = args.db or build(args.messages, Path(tempfile.mkdtemp(prefix="abiwatch-answers-")))
    conn = open_db(db_path, readonly=True)
    n = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    c = conn.execute("SELECT COUNT(*) FROM concerns").fetchone()[0]
    print(f"database: {db_path} ({n} messages, {c} concerns)")
    engine = Engine(db_path)
    engine.ask("which concerns are open?")  # load the pipeline once, as a running bot has
    print(f"{'intent':12} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for intent, qs in questions(db_path, args.rounds).items():
        times = []
        for q in qs:
            t = time.perf_counter()
            engine.ask(q)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
        print(f"{intent:12} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}")


if __name__ == "__main__":
    main()
