"""Watching a process the tests kill: its database as another reader sees it, and
whether any of its children outlive it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def count_rows(db_path: Path, table: str) -> int:
    """Return the rows of table a read-only reader sees now; 0 while the database cannot
    be read yet (not created, or locked past a short wait)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=0.2)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def processes_mentioning(text: str) -> list[int]:
    """Return the pids of live processes whose command line contains text (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if text.encode() in cmd and state != "Z":
            out.append(int(entry.name))
    return out
