"""Read a kernel git tree's history into the database, incrementally, then match postings.

Commits stream from `git log` and are written in batches, one transaction
each, so memory stays flat on a whole Linux history and a killed read leaves a
consistent database; the tree's position is only moved once a read completes,
and the next read skips what is already stored.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from abiwatch.ingest.commits import (
    Commit,
    GitError,
    iter_commits,
    iter_patch_ids,
    paths_json,
    resolve,
)
from abiwatch.ingest.merges import MatchStats, match_postings

logger = logging.getLogger(__name__)

BATCH = 5000
_NAME_REV_BATCH = 500


@dataclass
class TreeStats:
    path: str = ""
    head: str = ""
    read: int = 0
    new: int = 0
    patch_ids: int = 0
    releases: int = 0
    full_read: bool = False
    seconds: float = 0.0
    matches: MatchStats = field(default_factory=MatchStats)


def read_tree(db: sqlite_utils.Database, path: str | Path, *, ref: str = "HEAD",
              paths: Iterable[str] = (), patch_ids: bool = False, window_days: int = 365,
              abandoned_days: int = 365, progress: bool | None = None) -> TreeStats:
    """Return what reading the commits of the git tree at path (from ref) added, after
    matching every posting against them; raise GitError if it is not a readable tree."""
    started = time.perf_counter()
    repo = Path(path).resolve()
    head = resolve(repo, ref)
    paths = sorted(set(paths))
    key = str(repo)
    since = _since(db, repo, key, head, paths)
    stats = TreeStats(path=key, head=head, full_read=since is None)
    # commits read earlier without --patch-ids need theirs too: then the whole range is read
    patch_since = since if since and not _lacks_patch_ids(db, key) else None
    bar = _bar(progress)
    batch: list[Commit] = []
    newest = None
    for commit in iter_commits(repo, head, since, paths):
        stats.read += 1
        newest = max(newest or commit.committer_date, commit.committer_date)
        batch.append(commit)
        if len(batch) >= BATCH:
            stats.new += _write(db, key, batch)
            batch = []
        if bar is not None:
            bar.update(1)
    stats.new += _write(db, key, batch)
    if bar is not None:
        bar.close()
    if patch_ids:
        stats.patch_ids = _store_patch_ids(db, repo, head, patch_since, paths)
    stats.releases = _store_releases(db, repo, key)
    _finish(db, key, ref, head, paths, newest)
    stats.matches = match_postings(db, window_days=window_days, abandoned_days=abandoned_days)
    stats.seconds = time.perf_counter() - started
    return stats


def _since(db: sqlite_utils.Database, repo: Path, key: str, head: str, paths: list[str]) -> str | None:
    # Continue from the last commit read, unless the paths changed (older commits of a
    # new path were never read) or history was rewritten (it is no longer an ancestor).
    row = db.conn.execute("SELECT last_commit, paths FROM git_trees WHERE path = ?", [key]).fetchone()
    if not row or not row[0] or row[1] != paths_json(paths):
        return None
    ancestor = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", row[0], head],
                              capture_output=True, check=False)
    return row[0] if ancestor.returncode == 0 else None


def _write(db: sqlite_utils.Database, tree: str, batch: list[Commit]) -> int:
    if not batch:
        return 0
    conn = db.conn
    with conn:
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO commits (sha, tree, author_name, author_addr, author_date, "
            "committer_date, subject, norm_subject) VALUES (?,?,?,?,?,?,?,?)",
            [(c.sha, tree, c.author_name, c.author_addr, c.author_date, c.committer_date,
              c.subject, c.norm_subject) for c in batch])
        new = conn.total_changes - before
        conn.executemany("INSERT OR IGNORE INTO commit_trailers (sha, name, value, message_id) "
                         "VALUES (?,?,?,?)",
                         [(c.sha, *t) for c in batch for t in c.trailers])
        conn.executemany("INSERT OR IGNORE INTO commit_files (sha, path) VALUES (?,?)",
                         [(c.sha, f) for c in batch for f in c.files])
    return new


def _lacks_patch_ids(db: sqlite_utils.Database, key: str) -> bool:
    return db.conn.execute("SELECT 1 FROM commits WHERE tree = ? AND patch_id IS NULL LIMIT 1",
                           [key]).fetchone() is not None


def _store_patch_ids(db: sqlite_utils.Database, repo: Path, head: str, since: str | None,
                     paths: list[str]) -> int:
    n = 0
    pending: list[tuple[str, str]] = []
    for sha, patch_id in iter_patch_ids(repo, head, since, paths):
        pending.append((patch_id, sha))
        if len(pending) >= BATCH:
            n += _update_patch_ids(db, pending)
            pending = []
    return n + _update_patch_ids(db, pending)


def _update_patch_ids(db: sqlite_utils.Database, pending: list[tuple[str, str]]) -> int:
    with db.conn:
        db.conn.executemany("UPDATE commits SET patch_id = ? WHERE sha = ?", pending)
    return len(pending)


def _store_releases(db: sqlite_utils.Database, repo: Path, key: str) -> int:
    """Name the first release tag of each commit a posting may match (others are not asked:
    naming every commit of a kernel history would take longer than reading it)."""
    conn = db.conn
    shas = [r[0] for r in conn.execute(
        "SELECT DISTINCT c.sha FROM commits c WHERE c.tree = ? AND c.release IS NULL AND ("
        " c.sha IN (SELECT sha FROM commit_trailers WHERE message_id IN (SELECT message_id FROM patches))"
        " OR c.patch_id IN (SELECT patch_id FROM posted_patch_ids)"
        " OR c.norm_subject IN (SELECT m.norm_subject FROM patches p JOIN messages m"
        "                       ON m.message_id = p.message_id WHERE p.kind IN ('diff', 'revision')))", [key])]
    named = 0
    for start in range(0, len(shas), _NAME_REV_BATCH):
        chunk = shas[start:start + _NAME_REV_BATCH]
        rows = [(release, sha) for release, sha in zip(_releases(repo, chunk), chunk, strict=True)
                if release]
        with conn:
            conn.executemany("UPDATE commits SET release = ? WHERE sha = ?", rows)
        named += len(rows)
    return named


def _releases(repo: Path, shas: list[str]) -> list[str | None]:
    """Return the first release tag holding each commit ('v6.7' of name-rev's
    'tags/v6.7~12^2~3'), None for a commit no tag holds yet, in one git call."""
    out = subprocess.run(["git", "-C", str(repo), "name-rev", "--name-only",
                          "--refs=refs/tags/v[0-9]*", *shas], capture_output=True, text=True,
                         check=False)
    names = out.stdout.splitlines()
    if out.returncode != 0 or len(names) != len(shas):
        raise GitError(f"git name-rev failed in {repo}: {out.stderr.strip()[:200]}")
    return [None if n == "undefined" else re.split(r"[~^]", n.removeprefix("tags/"))[0]
            for n in names]


def _finish(db: sqlite_utils.Database, key: str, ref: str, head: str, paths: list[str],
            newest: str | None) -> None:
    conn = db.conn
    with conn:
        conn.execute(
            "INSERT INTO git_trees (path, ref, paths, last_commit, newest_date, read_at) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET ref = excluded.ref, "
            "paths = excluded.paths, last_commit = excluded.last_commit, "
            "newest_date = COALESCE(MAX(git_trees.newest_date, excluded.newest_date), "
            "git_trees.newest_date, excluded.newest_date), "
            "read_at = excluded.read_at",
            [key, ref, paths_json(paths), head, newest,
             datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")])
        conn.execute("UPDATE git_trees SET commits = (SELECT COUNT(*) FROM commits WHERE tree = ?) "
                     "WHERE path = ?", [key, key])


def _bar(progress: bool | None):
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(unit=" commits", desc="commits", file=sys.stderr, dynamic_ncols=True)


__all__ = ["GitError", "TreeStats", "read_tree"]
