"""Build small real public-inbox v2 epochs with git plumbing: one commit per message,
the message in blob 'm' of a one-file tree ('d' for a removal), on refs/heads/master."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_AUTHOR_DATE": "1155202505 +0000", "GIT_COMMITTER_DATE": "1155202505 +0000",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(git_dir: Path, *args: str, data: bytes | None = None) -> str:
    """Run git on git_dir and return its output; fail the test on a git error."""
    env = dict(os.environ, **GIT_ENV)
    out = subprocess.run(["git", f"--git-dir={git_dir}", *args], input=data, env=env,
                         capture_output=True, check=True)
    return out.stdout.decode().strip()


def epoch(path: Path) -> Path:
    """Create an empty epoch repository at path."""
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=master", str(path)],
                   check=True, env=dict(os.environ, **GIT_ENV))
    return path


def _tip(git_dir: Path) -> str | None:
    try:
        return git(git_dir, "rev-parse", "--verify", "-q", "refs/heads/master")
    except subprocess.CalledProcessError:
        return None


def commit(git_dir: Path, raw: bytes, name: str = "m") -> str:
    """Commit one message the way public-inbox does: a tree holding one blob (loose
    objects, so a test can take one away)."""
    blob = git(git_dir, "hash-object", "-w", "--stdin", data=raw)
    tree = git(git_dir, "mktree", data=f"100644 blob {blob}\t{name}\n".encode())
    tip = _tip(git_dir)
    new = git(git_dir, "commit-tree", tree, *(["-p", tip] if tip else []), "-m", "msg")
    git(git_dir, "update-ref", "refs/heads/master", new)
    return new


def fast_import(git_dir: Path, items: list[tuple[str, bytes]]) -> list[str]:
    """Commit each (name, blob) as commit() does, all with one git fast-import (tens of
    commits in the time commit() takes for one); return the new commits, oldest first."""
    tip = _tip(git_dir)
    stream = io.BytesIO()
    for i, (name, data) in enumerate(items, 1):
        stream.write(b"commit refs/heads/master\nmark :%d\n" % i)
        stream.write(b"committer t <t@example.invalid> 1155202505 +0000\ndata 3\nmsg\n")
        if i == 1 and tip:
            stream.write(f"from {tip}\n".encode())
        stream.write(b"deleteall\nM 100644 inline %s\ndata %d\n%s\n"
                     % (name.encode(), len(data), data))
    git(git_dir, "fast-import", "--quiet", data=stream.getvalue())
    commits = git(git_dir, "rev-list", "--reverse", "HEAD").split()
    return commits[len(commits) - len(items):]


def copy_prefix(archive_epoch: Path, dest: Path, commits: int) -> Path:
    """Make dest an epoch holding the first `commits` commits of a real epoch (its
    objects copied into one pack, deltas reused); return dest."""
    tip = git(archive_epoch, "rev-list", "--reverse", "HEAD").split()[commits - 1]
    epoch(dest)
    subprocess.run(["git", f"--git-dir={archive_epoch}", "pack-objects", "-q", "--revs",
                    str(dest / "objects" / "pack" / "pack")], input=f"{tip}\n".encode(),
                   check=True, capture_output=True)
    git(dest, "update-ref", "refs/heads/master", tip)
    return dest
