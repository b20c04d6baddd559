"""public-inbox v2 archives (lore's git epochs): one commit per message, the message
in blob 'm' of the commit's tree (a removal commit holds a blob 'd' instead).

Reading is split like the mbox path. The main process lists what is new in an epoch
with one pipeline, `git log --reverse --format='%H:m %H' | git cat-file
--batch-check`, which resolves every commit to its blob id and size without any
round trip through Python, and cuts the list into InboxSlices. Whoever parses a slice
reads its blobs with one `git cat-file --batch` fed all the blob ids at once, so git
answers them back-to-back instead of one request at a time.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from abiwatch.ingest.events import Event, InboxSlice, NotMail, RawMail, SourceDone

logger = logging.getLogger(__name__)

SLICE_MESSAGES = 1000
SLICE_BYTES = 16 << 20  # as for mbox slices: a slice of a few huge messages stops early
_KIND = "public-inbox"
# objectname first, so that a found blob and a missing name both start with the name;
# %(rest) carries the commit through (the name of a found object is the blob's id)
_BATCH_CHECK = "--batch-check=%(objectname) %(objecttype) %(objectsize) %(rest)"


def inbox_epochs(path: Path) -> list[Path]:
    """Return the epoch repositories (git/N.git) of a public-inbox v2 archive, in order."""
    gitdir = path / "git"
    if not gitdir.is_dir():
        return []
    epochs = [p for p in gitdir.iterdir() if re.fullmatch(r"\d+\.git", p.name) and p.is_dir()]
    return sorted(epochs, key=lambda p: int(p.name.split(".")[0]))


def is_bare_epoch(path: Path) -> bool:
    """Return True for a bare git repository that may be one epoch given on its own."""
    return path.name.endswith(".git") and (path / "objects").is_dir() and (path / "HEAD").exists()


class _GitError(Exception):
    pass


def _commit_of(base: list[str], rev: str) -> str | None:
    """Return the commit rev names, None if there is none; raise _GitError for a broken repo."""
    out = subprocess.run(base + ["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"],
                         capture_output=True, check=False)
    if out.returncode == 0:
        return out.stdout.decode().strip()
    err = out.stderr.decode(errors="replace").strip()
    if err:  # -q silences "no such revision"; what is left is a repository git cannot read
        raise _GitError(err)
    return None


def iter_inbox_epoch(git_dir: Path, since_commit: str | None, *,
                     messages: int = SLICE_MESSAGES, max_bytes: int = SLICE_BYTES
                     ) -> Iterator[Event]:
    """Yield InboxSlices of the commits made to one epoch after since_commit, oldest first.

    Each slice has at most `messages` messages and stops early past max_bytes. When
    nothing is new, yields one SourceDone at since_commit instead (no git log at all).
    """
    path = str(git_dir)
    base = ["git", f"--git-dir={git_dir}"]
    try:
        # The walk ends at the commit HEAD names now: mail delivered while we read
        # waits for the next run, and the last slice's checkpoint is exactly this.
        head = _commit_of(base, "HEAD")
        if head is None or head == since_commit:  # an empty epoch, or nothing new
            yield SourceDone(path, _KIND, messages=0, git_commit=since_commit)
            return
        revs = [head]
        if since_commit:
            if _commit_of(base, since_commit) is None:
                logger.warning("%s: last seen commit %s is gone (history rewritten?); "
                               "reading all", git_dir, since_commit)
            else:
                revs.append(f"^{since_commit}")
        yield from _slices(base, path, revs, messages, max_bytes)
    except FileNotFoundError:
        yield NotMail(path, "git is not installed: install git to read public-inbox")
    except _GitError as exc:
        yield NotMail(path, f"not a readable git repository: {exc}")


def _slices(base: list[str], path: str, revs: list[str], messages: int,
            max_bytes: int) -> Iterator[InboxSlice | NotMail]:
    # log.showSignature would print signatures among the formatted lines
    log = subprocess.Popen(base + ["-c", "log.showSignature=false", "log", "--reverse",
                                   "--format=%H:m %H", *revs, "--"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check = subprocess.Popen(base + ["cat-file", _BATCH_CHECK], stdin=log.stdout,
                             stdout=subprocess.PIPE)
    assert log.stdout is not None and check.stdout is not None and log.stderr is not None
    log.stdout.close()  # the pipe is check's now: if check dies, log gets SIGPIPE
    blobs: list[tuple[str, str]] = []
    size = 0
    last: str | None = None  # the last commit listed and not yet in a slice
    removals = _Removals(base)
    try:
        for line in check.stdout:
            parts = line.split()
            if len(parts) == 4 and parts[1] == b"blob":
                blobs.append((parts[0].decode(), parts[3].decode()))
                size += int(parts[2])
                last = parts[3].decode()
            elif len(parts) == 2 and parts[1] == b"missing":
                commit = parts[0].decode().rsplit(":", 1)[0]
                if not removals.is_removal(commit):
                    # 'm' is there but its blob is not (a damaged or partial clone): what
                    # came before is checkpointed, then the error holds the epoch there
                    # (see Writer._source_done) while the rest is still read
                    if last is not None:
                        yield InboxSlice(path, blobs, last)
                        blobs, size, last = [], 0, None
                    yield NotMail(path, f"the message of commit {commit} cannot be read; "
                                        "run the ingest again", "read-error")
                    continue
                last = commit  # a removal commit: no message
            else:
                raise _GitError(f"unexpected line from git cat-file: {line[:200]!r}")
            if len(blobs) >= messages or size >= max_bytes:
                yield InboxSlice(path, blobs, last)
                blobs, size, last = [], 0, None
    finally:
        removals.close()
        check.stdout.close()
        err = log.stderr.read().decode(errors="replace").strip()
        log.stderr.close()
        failed = log.wait() != 0 or check.wait() != 0
    if failed:
        # the slices yielded so far are whole and in order, so their checkpoints hold;
        # the rest is read again by the next run
        yield NotMail(path, f"git log failed: {err or 'no message'}; run the ingest again",
                      "read-error")
        return
    if last is not None:  # what is left, even if only removal commits: the checkpoint moves
        yield InboxSlice(path, blobs, last)


class _Removals:
    """Tells a removal commit (no 'm' in its tree) from one whose message blob is missing.

    `commit:m` is "missing" for both. Asked only then, which is rare: one `git cat-file
    --batch`, started on the first question, reads the commits' trees for all of them.
    """

    def __init__(self, base: list[str]):
        self.base = base
        self.proc: subprocess.Popen | None = None

    def is_removal(self, commit: str) -> bool:
        if self.proc is None:
            self.proc = subprocess.Popen(self.base + ["cat-file", "--batch"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{commit}^{{tree}}\n".encode())
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3:
            return False  # no tree either: unreadable, not a removal
        tree = self.proc.stdout.read(int(header[2]) + 1)[:-1]
        hash_len = len(header[0]) // 2  # raw ids in a tree: 20 bytes (SHA-1) or 32
        names, at = [], 0
        while at < len(tree):  # entries: "<mode> <name>\0<raw id>"
            space, nul = tree.index(b" ", at), tree.index(b"\0", at)
            names.append(tree[space + 1:nul])
            at = nul + 1 + hash_len
        return b"m" not in names

    def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc.wait()


def read_inbox_slice(piece: InboxSlice) -> Iterator[RawMail | NotMail | SourceDone]:
    """Yield the messages of an InboxSlice, then its checkpoint (a SourceDone)."""
    if not piece.blobs:  # removal commits only
        yield SourceDone(piece.git_dir, _KIND, messages=0, git_commit=piece.commit)
        return
    # git reads every request from a file and answers into another, both in memory: it
    # runs flat out and the parser reads its answers in one go afterwards. Through
    # pipes, each write of git's woke the parser, which read a few kB, parsed a message
    # and slept again: thousands of hand-overs a slice between two processes on the
    # same busy cores, and a parse ~7% slower than from an mbox.
    with _scratch() as requests, _scratch() as answers:
        requests.write("".join(f"{blob}\n" for blob, _ in piece.blobs).encode())
        requests.seek(0)
        try:
            subprocess.run(["git", f"--git-dir={piece.git_dir}", "cat-file", "--batch"],
                           stdin=requests, stdout=answers, stderr=subprocess.DEVNULL,
                           check=False)
        except OSError as exc:
            yield NotMail(piece.git_dir, f"cannot run git: {exc}", "read-error")
            return
        answers.seek(0)
        data = answers.read()
    read, pos, error = 0, 0, None
    for blob, commit in piece.blobs:
        nl = data.find(b"\n", pos)
        header = data[pos:nl].split() if nl >= 0 else []
        if len(header) != 3 or header[1] != b"blob":
            error = f"blob {blob} of commit {commit} cannot be read"
            break
        start, end = nl + 1, nl + 1 + int(header[2])
        if data[end:end + 1] != b"\n":
            error = f"git stopped while sending blob {blob} of commit {commit}"
            break
        pos = end + 1
        read += 1
        yield RawMail(data[start:end], f"{piece.git_dir}@{commit}", None)
    if error:
        # no checkpoint: the writer keeps the epoch's progress where it was (see
        # Writer._source_done), so the next run reads this slice again
        yield NotMail(piece.git_dir, f"{error}; run the ingest again", "read-error")
        return
    yield SourceDone(piece.git_dir, _KIND, messages=read, git_commit=piece.commit)


def _scratch() -> BinaryIO:
    """Return an anonymous file in memory (memfd, Linux), else an unlinked temporary file:
    either way nothing is left behind, even by a killed run."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create("abiwatch-inbox", os.MFD_CLOEXEC), "w+b")
        except OSError:
            pass
    return tempfile.TemporaryFile()
