#!/usr/bin/env python3
"""What the ingest benchmarks measure with: a command's wall time, CPU time and peak
RSS in a fresh process, and the bare stdlib parse of an mboxrd file that is their
floor.

    python bench/measure.py FILE.mbox    # the bare parse alone; prints the message count
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
from email.policy import compat32

SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def bare_parse(path: str) -> int:
    """Split an mboxrd file into messages and parse each with compat32; store nothing."""
    parser = email.parser.BytesParser(policy=compat32)
    n = 0
    buf: list[bytes] = []
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            if line == SEPARATOR:
                if buf:
                    parser.parsebytes(b"".join(buf))
                    n += 1
                buf = []
            else:
                buf.append(line)
    if buf:
        parser.parsebytes(b"".join(buf))
        n += 1
    return n


def bare_cmd(path: str) -> list[str]:
    """Return the command that runs bare_parse over path in a fresh process."""
    return [sys.executable, __file__, path]


def run_measured(cmd: list[str]) -> tuple[float, int, float, str]:
    """Run cmd in a fresh wrapper process; return (wall s, peak RSS KB, CPU s, stdout).

    Peak RSS is that of the largest single process of the command's tree (ru_maxrss of
    the children), CPU is the whole tree's.
    """
    wrapper = ("import resource, subprocess, sys, time\n"
               "t = time.perf_counter()\n"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "dt = time.perf_counter() - t\n"
               "sys.stderr.write(p.stderr)\n"
               "if p.returncode: sys.exit(p.returncode)\n"
               "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
               "print(dt, ru.ru_maxrss, ru.ru_utime + ru.ru_stime)\n"
               "print(p.stdout)\n")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{cmd} failed:\n{out.stderr[-3000:]}")
    first, rest = out.stdout.split("\n", 1)
    secs, rss, cpu = first.split()
    return float(secs), int(rss), float(cpu), rest


if __name__ == "__main__":
    print(bare_parse(sys.argv[1]))
