"""`bench/ingest.py --archive DIR [--limit N] [--repeat K]`: a real public-inbox v2
archive ingested from its git epochs and from an mbox of the same messages, side by
side, in one run.

  1. The first N messages (commits) of the archive become a public-inbox archive of
     their own (`git pack-objects` of each epoch up to the cut: a real, smaller
     inbox); without --limit the archive itself is read.
  2. The same messages, in the same order, are exported to an mboxrd file with plain
     git (not abiwatch's reader).
  3. Measured, each in a fresh process: the two floors, a bare compat32 parse of the
     mbox and `git log | git cat-file --batch` reading every blob; then K pairs of
     `abiwatch ingest` of the mbox and of the inbox into fresh databases (the order
     alternates, as the machine's speed drifts), and a re-run over the inbox, which
     has nothing new to read.
  4. The mbox and the git database are compared table by table (the columns that
     name where a message was read from aside): they must hold the same rows.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import SEPARATOR, bare_cmd, run_measured

from abiwatch.ingest.inbox import inbox_epochs, is_bare_epoch

CLI = [sys.executable, "-m", "abiwatch.bot.cli"]
# bookkeeping of where and when mail was read: differs by nature between the two
SKIP_TABLES = {"_migrations", "ingest_runs", "inbox_progress", "source_files"}
SKIP_COLUMNS = {"run_id", "source", "mbox_from"}


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True,
                          check=True, text=True).stdout.strip()


def epochs_of(archive: Path) -> list[Path]:
    epochs = inbox_epochs(archive) or ([archive] if is_bare_epoch(archive) else [])
    if not epochs:
        sys.exit(f"{archive} is not a public-inbox v2 archive (no git/N.git)")
    return epochs


def cut_inbox(archive: Path, limit: int, work: Path) -> tuple[Path, int]:
    """Write an inbox of the archive's first `limit` commits under work; return it and
    the number of commits it holds."""
    inbox = work / "inbox"
    taken = 0
    for epoch in epochs_of(archive):
        if taken >= limit:
            break
        commits = _git(epoch, "rev-list", "--reverse", "HEAD").split()
        tip = commits[min(limit - taken, len(commits)) - 1]
        taken += min(limit - taken, len(commits))
        dest = inbox / "git" / epoch.name
        subprocess.run(["git", "init", "-q", "--bare", str(dest)], check=True)
        # delta reuse makes this a copy of the packed objects, not a repack
        subprocess.run(["git", f"--git-dir={epoch}", "pack-objects", "-q", "--revs",
                        str(dest / "objects" / "pack" / "pack")], input=f"{tip}\n".encode(),
                       check=True, stdout=subprocess.DEVNULL)
        _git(dest, "update-ref", "HEAD", tip)
    return inbox, taken


def export_mbox(inbox: Path, path: Path) -> tuple[int, int]:
    """Write every message of the inbox to an mboxrd file; return (messages, MB bytes)."""
    count = size = 0
    with open(path, "wb", buffering=1 << 20) as out:
        for epoch in epochs_of(inbox):
            base = ["git", f"--git-dir={epoch}"]
            log = subprocess.Popen(base + ["log", "--reverse", "--format=%H:m"],
                                   stdout=subprocess.PIPE)
            cat = subprocess.Popen(base + ["cat-file", "--batch"], stdin=log.stdout,
                                   stdout=subprocess.PIPE)
            log.stdout.close()
            while header := cat.stdout.readline().split():
                if header[1] != b"blob":
                    continue  # a removal commit
                raw = cat.stdout.read(int(header[2]))
                cat.stdout.read(1)
                quoted = re.sub(rb"(?m)^(>*From )", rb">\1", raw)
                # one blank line ends each message; iter_mbox takes it off again
                out.write(SEPARATOR + quoted + (b"\n" if quoted.endswith(b"\n") else b"\n\n"))
                count += 1
                size += len(raw)
            if cat.wait() or log.wait():
                sys.exit(f"reading {epoch} with git failed")
    return count, size


def catfile_cmd(inbox: Path) -> list[str]:
    """Return a command that reads every blob of the inbox through `git cat-file --batch`."""
    steps = [f"git --git-dir='{e}' log --reverse --format=%H:m | "
             f"git --git-dir='{e}' cat-file --batch >/dev/null" for e in epochs_of(inbox)]
    return ["sh", "-c", "set -e; " + "; ".join(steps)]


def table_digests(db: Path) -> dict[str, tuple[int, str]]:
    """Return (rows, sha256 of the rows in order) for every table that holds mail."""
    conn = sqlite3.connect(db)
    out = {}
    for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        if t in SKIP_TABLES or t.startswith(("messages_fts", "sqlite_")):
            continue
        cols = ", ".join(f'"{r[1]}"' for r in conn.execute(f'PRAGMA table_info("{t}")')
                         if r[1] not in SKIP_COLUMNS)
        h, n = hashlib.sha256(), 0
        for row in conn.execute(f'SELECT {cols} FROM "{t}" ORDER BY {cols}'):
            h.update(repr(row).encode())
            n += 1
        out[t] = (n, h.hexdigest())
    conn.close()
    return out


def ingest_cmd(db: Path, path: Path) -> list[str]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return [*CLI, "--db", str(db), "ingest", "--no-progress", str(path)]


def run_archive(args) -> None:
    archive = args.archive.resolve()
    work = args.dir or Path(tempfile.mkdtemp(prefix="abiwatch-bench-archive-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.limit:
            inbox, commits = cut_inbox(archive, args.limit, work)
        else:
            inbox, commits = archive, None
        mbox = work / "same-messages.mbox"
        count, size = export_mbox(inbox, mbox)
        print(f"{archive}: {'first ' + format(commits, ',') + ' commits' if commits else 'all'}"
              f" -> {count:,} messages, {size / 1e6:,.0f} MB; the same as mboxrd: {mbox} "
              f"({mbox.stat().st_size / 1e6:,.0f} MB)")
        load_before = os.getloadavg()[0]
        rows = []
        secs, rss, cpu, out = run_measured(bare_cmd(str(mbox)))
        assert int(out.split()[0]) == count, out
        rows.append(("floor: bare parse (compat32)", secs, rss, cpu))
        rows.append(("floor: git cat-file --batch", *run_measured(catfile_cmd(inbox))[:3]))
        pairs = []
        for i in range(args.repeat):
            order = [("mbox", mbox), ("git", inbox)]
            if i % 2:
                order.reverse()
            got = {}
            for label, path in order:
                secs, rss, cpu, out = run_measured(ingest_cmd(work / f"{label}.db", path))
                got[label] = (secs, rss, cpu)
                if i == 0:
                    print(f"  {label}: {out.strip()}")
            pairs.append(got)
            print(f"pair {i + 1} ({order[0][0]} first): mbox {got['mbox'][0]:.1f} s, "
                  f"git {got['git'][0]:.1f} s -> git/mbox {got['git'][0] / got['mbox'][0]:.2f} "
                  f"(CPU {got['mbox'][2]:.1f} s vs {got['git'][2]:.1f} s)")
        rows.append(("ingest from mbox", *pairs[0]["mbox"]))
        rows.append(("ingest from git", *pairs[0]["git"]))
        secs, rss, cpu, out = run_measured([*CLI, "--db", str(work / "git.db"), "ingest",
                                            "--no-progress", str(inbox)])
        rows.append(("git re-run, nothing new", secs, rss, cpu))
        print(f"  re-run: {out.strip()}")
        load_after = os.getloadavg()[0]

        print(f"\n{'':30} {'seconds':>8} {'msg/s':>8} {'MB/s':>6} {'peak RSS MB':>11} "
              f"{'CPU s':>7}")
        for label, secs, rss, cpu in rows:
            n = 0 if "re-run" in label else count
            print(f"{label:30} {secs:8.2f} {n / secs:8,.0f} {size / 1e6 / secs * bool(n):6.1f} "
                  f"{rss / 1024:11,.0f} {cpu:7.1f}")
        ratios = [p["git"][0] / p["mbox"][0] for p in pairs]
        cpu_ratios = [p["git"][2] / p["mbox"][2] for p in pairs]
        print(f"\ngit / mbox ingest: {', '.join(f'{r:.2f}' for r in ratios)}; median "
              f"{statistics.median(ratios):.2f}x  (bar: <= 1.2x, goal 1.0x); in CPU time "
              f"(all processes, steadier on a shared machine): median "
              f"{statistics.median(cpu_ratios):.2f}x")
        bare = rows[0][1]
        print(f"over the bare parse: mbox {pairs[0]['mbox'][0] / bare:.2f}x, git "
              f"{pairs[0]['git'][0] / bare:.2f}x (load average {load_before:.1f} before, "
              f"{load_after:.1f} after: other processes share this machine)")
        a, b = table_digests(work / "mbox.db"), table_digests(work / "git.db")
        differ = [f"{t} ({a.get(t, (0,))[0]} vs {b.get(t, (0,))[0]} rows)"
                  for t in sorted(set(a) | set(b)) if a.get(t) != b.get(t)]
        print("same rows from mbox and git: " + (
            f"yes ({len(a)} tables, {a['messages'][0]:,} messages)" if not differ
            else "NO: " + ", ".join(differ)))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
