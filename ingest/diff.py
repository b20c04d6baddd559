"""Unified diffs (git and plain) and pull requests: which files, how many lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_GIT_HEADER = re.compile(r"^diff --git (?:\"?a/)?(\S+?)\"? (?:\"?b/)?(\S+?)\"?$")
_PLUS = re.compile(r"^\+\+\+ (\S+)")
_MINUS = re.compile(r"^--- (\S+)")
_PULL_URL = re.compile(
    r"^\s*((?:git|git\+ssh|ssh\+git|https?|ssh)://\S+|git@\S+:\S+)(?:\s+(\S+))?\s*$", re.M
)


@dataclass
class FileChange:
    path: str
    insertions: int = 0
    deletions: int = 0


@dataclass
class DiffSummary:
    files: dict[str, FileChange] = field(default_factory=dict)

    @property
    def insertions(self) -> int:
        return sum(f.insertions for f in self.files.values())

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files.values())


_TREE_PREFIX = re.compile(r"(?:linux[\w.+-]*|kernel[-_.][\w.+-]*|[\w.+-]+\.(?:orig|new))/")


def _clean_path(path: str, *, git: bool = False) -> str | None:
    path = path.strip('"')
    if path in ("/dev/null", "dev/null"):
        return None
    if "\t" in path:
        path = path.split("\t", 1)[0]
    if git:
        # the git header regex already took off a/ and b/; "kernel/..." is a real path
        return path or None
    # "a/arch/x86/..." and "linux-2.6.18/arch/..." both mean arch/x86/...; but
    # "kernel/sched/sched.h" is the kernel's own kernel/ directory, not a tarball dir
    if path.startswith(("a/", "b/")):
        path = path[2:]
    elif _TREE_PREFIX.match(path):
        path = path.split("/", 1)[1] if "/" in path else path
    return path or None


_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def hunk_size(line: str) -> tuple[int, int] | None:
    """Return the (old, new) line counts a hunk header announces, None if line is none."""
    m = _HUNK.match(line)
    if not m:
        return None
    return (int(m.group(1)) if m.group(1) is not None else 1,
            int(m.group(2)) if m.group(2) is not None else 1)


def hunk_step(line: str, old: int, new: int) -> tuple[int, int] | None:
    """Return the (old, new) lines a hunk still owes after line, None if line is not part
    of a hunk (the hunk ended short: the line is read as what follows it)."""
    c = line[:1]
    if c == "+":
        return old, new - 1
    if c == "-":
        return old - 1, new
    if c == " " or line == "":
        return old - 1, new - 1
    if c == "\\":
        return old, new
    return None


def summarize_diffs(diffs: list[str]) -> DiffSummary:
    """Return the files a set of diffs touches, with lines added and removed per file."""
    summary = DiffSummary()
    for diff in diffs:
        current: FileChange | None = None
        minus_path: str | None = None
        # Lines left in the current hunk, from its @@ header: a quilt diff has no
        # "diff --git" line, so "--- a/next/file" right after a hunk is only a header
        # because the hunk is used up. loose: a hunk header without counts.
        old_left = new_left = 0
        loose = False
        for line in diff.split("\n"):
            if old_left > 0 or new_left > 0:
                left = hunk_step(line, old_left, new_left)
                if left is not None:
                    old_left, new_left = left
                    if current is not None and line.startswith("+"):
                        current.insertions += 1
                    elif current is not None and line.startswith("-"):
                        current.deletions += 1
                    continue
                old_left = new_left = 0  # a short hunk: read the line as a header
            m = _GIT_HEADER.match(line)
            if m:
                path = _clean_path(m.group(2), git=True) or _clean_path(m.group(1), git=True)
                current = summary.files.setdefault(path, FileChange(path)) if path else None
                loose = False
                continue
            size = hunk_size(line)
            if size:
                old_left, new_left = size
                loose = False
                continue
            if line.startswith("@@"):
                loose = True
                continue
            if line.startswith("--- "):
                mm = _MINUS.match(line)
                minus_path = _clean_path(mm.group(1)) if mm else None
                loose = False
                continue
            if line.startswith("+++ "):
                pm = _PLUS.match(line)
                path = (_clean_path(pm.group(1)) if pm else None) or minus_path
                if path:
                    current = summary.files.setdefault(path, FileChange(path))
                loose = False
                continue
            if line.startswith("diff ") or line.startswith("Index: "):
                loose = False
                continue
            if current is None or not loose:
                continue
            if line.startswith("+"):
                current.insertions += 1
            elif line.startswith("-"):
                current.deletions += 1
    return summary


def pull_request_url(text: str) -> str | None:
    """Return 'URL BRANCH' of a git pull request body, or None."""
    if "are available in the" not in text and "git pull" not in text.lower() \
            and "following changes since commit" not in text:
        return None
    m = _PULL_URL.search(text)
    if not m:
        return None
    return " ".join(p for p in m.groups() if p)


_STAT_LINE = re.compile(r"^ (\S.*?)\s+\|\s+(\d+) ?(\+*)(-*)\s*$")
_STAT_TOTAL = re.compile(r"(\d+) insertions?\(\+\)|(\d+) deletions?\(-\)")


def summarize_diffstat(lines: list[str]) -> DiffSummary:
    """Return the files of a diffstat (a cover letter's), splitting each file's change
    count between insertions and deletions by the +/- graph, which git scales."""
    summary = DiffSummary()
    for line in lines:
        m = _STAT_LINE.match(line)
        if not m:
            continue
        path, n, plus, minus = m.group(1).strip(), int(m.group(2)), len(m.group(3)), len(m.group(4))
        if path.startswith(".../") or " => " in path:
            continue  # shortened or renamed: not a path we can match on
        ins = round(n * plus / (plus + minus)) if plus + minus else 0
        summary.files[path] = FileChange(path, ins, n - ins)
    return summary
