"""Commits of a kernel git tree: read through git plumbing, streaming, newest first.

Only what matching postings to commits needs is kept: author, dates, subject,
the trailers (`Link:`, `Message-Id:`, `Fixes:`...), the files touched and, on
request, the patch-id (`git patch-id --stable`, as b4 and PaStA use it). A
tree is read incrementally: the next read starts from the last commit read.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from abiwatch.db.lore import message_id_from, message_ids_in_links
from abiwatch.ingest.subject import normalize_title

logger = logging.getLogger(__name__)

RS, US = "\x1e", "\x1f"
_FORMAT = f"{RS}%H{US}%an{US}%ae{US}%aI{US}%cI{US}%s{US}%(trailers:unfold,only){US}"
_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.+?)\s*$")
_KEPT_TRAILERS = {"link", "message-id", "fixes", "closes"}


class GitError(Exception):
    """A path that is not a readable git repository, or git is missing."""


@dataclass(slots=True)
class Commit:
    sha: str
    author_name: str
    author_addr: str
    author_date: str
    committer_date: str
    subject: str
    trailers: list[tuple[str, str, str | None]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def norm_subject(self) -> str:
        return normalize_title(self.subject)


def utc(iso: str) -> str:
    """Return an ISO 8601 date as UTC in the archive's form, 2021-03-11T14:08:00Z."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_trailers(block: str) -> list[tuple[str, str, str | None]]:
    """Return the (name, value, message_id) of the trailers worth keeping in a trailer block."""
    out = []
    for line in block.splitlines():
        m = _TRAILER.match(line.strip())
        if not m or m.group(1).lower() not in _KEPT_TRAILERS:
            continue
        name, value = m.group(1), m.group(2)
        # Link: names the posting by its archive URL; Message-Id: (b4 am -l) by its id
        mid = None
        if name.lower() == "link":
            mid = next(iter(message_ids_in_links(value)), None)
        elif name.lower() == "message-id":
            mid = message_id_from(value)
        out.append((name, value, mid))
    return out


def parse_record(record: str) -> Commit | None:
    """Return the commit in one `git log` record of _FORMAT followed by --name-only lines."""
    parts = record.split(US)
    if len(parts) < 8:
        return None
    sha, an, ae, ad, cd, subject, trailers, names = parts[:8]
    return Commit(sha=sha, author_name=an, author_addr=ae.lower(), author_date=utc(ad),
                  committer_date=utc(cd), subject=subject, trailers=parse_trailers(trailers),
                  files=[n for n in names.split("\n") if n])


def git(path: Path, *args: str) -> list[str]:
    """Return the argv of a git command run on the repository at path."""
    return ["git", "-C", str(path), "-c", "core.quotePath=false", *args]


def resolve(path: Path, ref: str) -> str:
    """Return the commit id ref names in the repository at path; raise GitError if none."""
    try:
        out = subprocess.run(git(path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"),
                             capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed: install git to read a kernel tree") from exc
    if out.returncode != 0:
        if not (path / "HEAD").exists() and not (path / ".git").exists():
            raise GitError(f"{path} is not a git repository: give a kernel clone "
                           "(e.g. made with `git clone --bare`)")
        raise GitError(f"{path} has no commit named {ref!r}: name a branch or tag with --ref")
    return out.stdout.strip()


def _range(head: str, since: str | None) -> list[str]:
    return [head, f"^{since}"] if since else [head]


def iter_commits(path: Path, head: str, since: str | None,
                 paths: Iterable[str] = ()) -> Iterator[Commit]:
    """Yield the commits reachable from head and not from since, newest first, without merges."""
    argv = git(path, "log", "--no-merges", "--no-renames", f"--format={_FORMAT}", "--name-only",
               *_range(head, since), "--", *paths)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                          errors="replace") as proc:
        assert proc.stdout is not None
        pending = ""
        for chunk in iter(lambda: proc.stdout.read(1 << 16), ""):
            pending += chunk
            *records, pending = pending.split(RS)
            for record in records:
                commit = parse_record(record.strip("\n"))
                if commit:
                    yield commit
        commit = parse_record(pending.strip("\n"))
        if commit:
            yield commit
    if proc.returncode:  # (the with block waited for it)
        raise GitError(f"git log failed in {path} (exit {proc.returncode})")


def iter_patch_ids(path: Path, head: str, since: str | None,
                   paths: Iterable[str] = ()) -> Iterator[tuple[str, str]]:
    """Yield (commit sha, stable patch-id) of the commits in the range; the whole diff
    counts (--full-diff), as the posting carried it, even when paths restrict the read."""
    log = subprocess.Popen(git(path, "log", "--no-merges", "--no-renames", "-p", "--full-diff",
                               "--format=commit %H", *_range(head, since), "--", *paths),
                           stdout=subprocess.PIPE)
    ids = subprocess.Popen(git(path, "patch-id", "--stable"), stdin=log.stdout,
                           stdout=subprocess.PIPE, text=True)
    assert log.stdout is not None and ids.stdout is not None
    log.stdout.close()  # patch-id owns the pipe now; git log gets SIGPIPE if it exits early
    for line in ids.stdout:
        patch_id, _, sha = line.strip().partition(" ")
        if sha:
            yield sha, patch_id
    ids.wait()
    log.wait()


def posted_patch_ids(diffs: list[tuple[str, str]]) -> dict[str, str]:
    """Return {message_id: stable patch-id} for posted diffs, computed by one git patch-id."""
    if not diffs:
        return {}
    keys = [f"{i:040x}" for i in range(len(diffs))]
    text = "".join(f"commit {k}\n\n{diff}\n" for k, (_mid, diff) in zip(keys, diffs, strict=True))
    out = subprocess.run(["git", "patch-id", "--stable"], input=text.encode("utf-8", "replace"),
                         capture_output=True, check=False)
    by_key = dict(zip(keys, (mid for mid, _ in diffs), strict=True))
    found = {}
    for line in out.stdout.decode().splitlines():
        patch_id, _, key = line.partition(" ")
        if key in by_key:
            found[by_key[key]] = patch_id
    return found


def paths_json(paths: Iterable[str]) -> str:
    return json.dumps(sorted(paths))
