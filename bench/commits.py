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


def timed(argv: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    """Return (seconds, result) of running argv."""
    started = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, **kw)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed: {out.stderr.strip()[-500:]}")
    return seconds, out


def read_in_child(db: Path, repo: Path, patch_ids: bool) -> tuple[float, dict]:
    """Run read_tree in a fresh process; return (seconds, its report): peak RSS of the
    Python process itself and of the largest git process it ran, apart."""
    code = ("import json, resource, sys; from abiwatch.db import open_db; "
            "from abiwatch.ingest.git_tree import read_tree; "
            "st = read_tree(open_db(sys.argv[1]), sys.argv[2], patch_ids=sys.argv[3] == '1', "
            "progress=False); "
            "print(json.dumps({'read': st.read, 'python_mb': resource.getrusage("
            "resource.RUSAGE_SELF).ru_maxrss / 1024, 'git_mb': resource.getrusage("
            "resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")
    secs, out = timed([sys.executable, "-c", code, str(db), str(repo), "1" if patch_ids else "0"])
    import json

    return secs, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=100_000)
    ap.add_argument("--patch-ids", action="store_true", help="also time --patch-ids")
    ap.add_argument("--keep", type=Path,
                    help="build the history here and keep it (a history already there is reused)")
    args = ap.parse_args()
    from abiwatch.ingest.commits import _FORMAT

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        repo = work / "linux.git"
        if repo.exists():
            print(f"history: reusing {repo}")
        else:
            built = build_history(repo, args.commits)
            print(f"history: {args.commits:,} commits built with git fast-import in {built:.1f}s")
        n = int(subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"],
                               capture_output=True, text=True, check=True).stdout)
        pack = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file()) / 1e6
        print(f"         {n:,} commits, {pack:.0f} MB of git objects")

        floor, _ = timed(["sh", "-c", f"git -C {repo} log --no-merges --no-renames "
                          f"--format='{_FORMAT}' --name-only > /dev/null"])
        print(f"floor   git log --name-only > /dev/null: {floor:6.1f}s  {n / floor:9,.0f} commits/s")

        db = work / "bench.db"
        db.unlink(missing_ok=True)
        secs, rep = read_in_child(db, repo, False)
        size = db.stat().st_size / 1e6
        print(f"abiwatch commits:                     {secs:6.1f}s  {n / secs:9,.0f} commits/s  "
              f"{secs / floor:.2f}x the floor; peak RSS: Python {rep['python_mb']:.0f} MB, "
              f"git {rep['git_mb']:.0f} MB; database {size:.0f} MB "
              f"({size / n * 1e5:.0f} MB per 100k commits)")
        again, _ = read_in_child(db, repo, False)
        print(f"second read (nothing new):            {again:6.1f}s")

        if args.patch_ids:
            pfloor, _ = timed(["sh", "-c", f"git -C {repo} log --no-merges --no-renames -p "
                               "--full-diff --format='commit %H' | git patch-id --stable > /dev/null"])
            print(f"floor   git log -p | git patch-id:    {pfloor:6.1f}s")
            db2 = work / "bench-ids.db"
            db2.unlink(missing_ok=True)
            secs, rep = read_in_child(db2, repo, True)
            print(f"abiwatch commits --patch-ids:         {secs:6.1f}s  {n / secs:9,.0f} commits/s  "
                  f"{secs / (floor + pfloor):.2f}x both floors; peak RSS: Python "
                  f"{rep['python_mb']:.0f} MB, git {rep['git_mb']:.0f} MB")

if __name__ == "__main__":
    main()
