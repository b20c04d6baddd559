"""Helpers for tests that kill real runs: what a half-written database holds, and which
processes a run left behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def rows_in(db_path: Path, table: str) -> int:
    """Return how many rows table holds, read without waiting on a writer (0 if unreadable)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=0.2)
        try:
            return conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
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
