#!/usr/bin/env python3
"""Speed and memory of `abiwatch commits` on a large synthetic kernel history.

Builds a git history of N commits with `git fast-import` (kernel-like paths,
two files touched per commit, a Link: trailer on a third of them, subjects and
authors drawn from a pool), then measures, in one run:

  (a) the floor: `git log` with the same format and --name-only into /dev/null
      (what git itself costs to list the history);
  (b) `abiwatch commits` on a fresh database (a subprocess: wall time, peak
      memory of the Python process and of git, database size);
  (c) the same with --patch-ids, when asked (--patch-ids), next to its own
      floor: `git log -p | git patch-id --stable` into /dev/null.

    python bench/commits.py --commits 500000
    python bench/commits.py --commits 100000 --patch-ids
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIRS = ["arch/x86/kernel", "arch/x86/include/asm", "arch/x86/xen", "drivers/hv", "drivers/net",
        "drivers/gpu/drm", "drivers/virtio", "fs/ext4", "kernel/sched", "mm", "include/linux",
        "net/core", "drivers/xen", "tools/objtool", "sound/soc"]
VERBS = ["fix", "add", "remove", "convert", "simplify", "rework", "drop", "use", "move", "clean up"]
THINGS = ["paravirt ops", "static call", "the lock", "a leak", "error handling", "pvops cruft",
          "hypercall page", "the fast path", "stale comment", "unused variable", "a race"]


def fast_import_stream(n: int, seed: int = 1):
    """Yield the fast-import commands of an n-commit history, in chunks of bytes."""
    rng = random.Random(seed)
    files = [f"{d}/file{i}.c" for d in DIRS for i in range(400)]
    authors = [(f"Dev {i}", f"dev{i}@example.org") for i in range(3000)]
    t = 1_100_000_000
    for i in range(1, n + 1):
        t += rng.randint(30, 900)
        name, addr = rng.choice(authors)
        d = rng.choice(DIRS)
        subject = f"{d.split('/')[-1]}: {rng.choice(VERBS)} {rng.choice(THINGS)} ({i})"
        body = f"{subject}\n\nWhy this is needed, in a sentence or two.\n\nSigned-off-by: {name} <{addr}>\n"
        if i % 3 == 0:
            body += f"Link: https://lore.kernel.org/r/{t}.{i}-1-{addr}\n"
        msg = body.encode()
        out = [f"commit refs/heads/master\nmark :{i}\n"
               f"author {name} <{addr}> {t} +0000\ncommitter Maintainer <m@example.org> {t + 3600} +0000\n"
               f"data {len(msg)}\n".encode(), msg, b"\n"]
        for path in rng.sample(files, 2):
            content = f"/* {path} at {i} */\nint v{i};\n".encode()
            out.append(f"M 100644 inline {path}\ndata {len(content)}\n".encode() + content + b"\n")
        yield b"".join(out)


def build_history(repo: Path, n: int) -> float:
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    started = time.perf_counter()
    proc = subprocess.Popen(["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for chunk in fast_import_stream(n):
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    return time.perf_counter() - started


def timed(argv: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    """Return (seconds, peak RSS MB of the children, result) of running argv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, **kw)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed: {out.stderr.strip()[-500:]}")
    return seconds, max(peak, before) / 1024, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=100_000)
    ap.add_argument("--patch-ids", action="store_true", help="also time --patch-ids")
    ap.add_argument("--keep", type=Path, help="build the history here and keep it")
    args = ap.parse_args()
    from abiwatch.ingest.commits import _FORMAT

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        repo = work / "linux.git"
        built = build_history(repo, args.commits)
        pack = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file()) / 1e6
        print(f"history: {args.commits:,} commits built with git fast-import in {built:.1f}s "
              f"({pack:.0f} MB of git objects)")

        floor, floor_mb, _ = timed(["sh", "-c", f"git -C {repo} log --no-merges --no-renames "
                                    f"--format='{_FORMAT}' --name-only > /dev/null"])
        print(f"floor   git log --name-only > /dev/null: {floor:6.1f}s  "
              f"{args.commits / floor:9,.0f} commits/s")

        db = work / "bench.db"
        secs, peak, out = timed([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db), "commits",
                                 str(repo), "--no-progress"])
        size = db.stat().st_size / 1e6
        print(f"abiwatch commits:                     {secs:6.1f}s  {args.commits / secs:9,.0f} "
              f"commits/s  {secs / floor:.2f}x the floor; peak RSS {peak:.0f} MB; database "
              f"{size:.0f} MB ({size / args.commits * 1e5:.0f} MB per 100k commits)")
        print("   " + out.stdout.strip().splitlines()[0])
        again, _, out = timed([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db), "commits",
                               str(repo), "--no-progress"])
        print(f"second read (nothing new):            {again:6.1f}s")

        if args.patch_ids:
            pfloor, _, _ = timed(["sh", "-c", f"git -C {repo} log --no-merges --no-renames -p "
                                  f"--full-diff --format='commit %H' | git patch-id --stable > /dev/null"])
            print(f"floor   git log -p | git patch-id:    {pfloor:6.1f}s")
            db2 = work / "bench-ids.db"
            secs, peak, _ = timed([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db2),
                                   "commits", str(repo), "--patch-ids", "--no-progress"])
            print(f"abiwatch commits --patch-ids:         {secs:6.1f}s  {args.commits / secs:9,.0f} "
                  f"commits/s  {secs / (floor + pfloor):.2f}x both floors; peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
