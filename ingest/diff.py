"""Unified diffs (git and plain) and pull requests: which files, how many lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_GIT_HEADER = re.compile(r"^diff --git (?:\"?a/)?(\S+?)\"? (?:\"?b/)?(\S+?)\"?$")
_PLUS = re.compile(r"^\+\+\+ (\S+)")
_MINUS = re.compile(r"^--- (\S+)")
_PULL_URL = re.compile(
    r"^\s*((?:git|https?|ssh)://\S+|git@\S+:\S+)(?:\s+(\S+))?\s*$", re.M
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


def _clean_path(path: str) -> str | None:
    path = path.strip('"')
    if path in ("/dev/null", "dev/null"):
        return None
    path = re.sub(r"\t.*$", "", path)
    # "a/arch/x86/..." and "linux-2.6.18/arch/..." both mean arch/x86/...
    if path.startswith(("a/", "b/")):
        path = path[2:]
    elif re.match(r"^(linux|kernel)[\w.+-]*/", path) or re.match(r"^[\w.+-]+\.(orig|new)/", path):
        path = path.split("/", 1)[1] if "/" in path else path
    return path or None


def summarize_diffs(diffs: list[str]) -> DiffSummary:
    """Return the files a set of diffs touches, with lines added and removed per file."""
    summary = DiffSummary()
    for diff in diffs:
        current: FileChange | None = None
        minus_path: str | None = None
        in_hunk = False
        for line in diff.split("\n"):
            m = _GIT_HEADER.match(line)
            if m:
                path = _clean_path(m.group(2)) or _clean_path(m.group(1))
                current = summary.files.setdefault(path, FileChange(path)) if path else None
                in_hunk = False
                continue
            if line.startswith("@@"):
                in_hunk = True
                continue
            if line.startswith("--- ") and not in_hunk:
                mm = _MINUS.match(line)
                minus_path = _clean_path(mm.group(1)) if mm else None
                continue
            if line.startswith("+++ ") and not in_hunk:
                pm = _PLUS.match(line)
                path = (_clean_path(pm.group(1)) if pm else None) or minus_path
                if path:
                    current = summary.files.setdefault(path, FileChange(path))
                continue
            if line.startswith("diff ") or line.startswith("Index: "):
                in_hunk = False
                continue
            if current is None or not in_hunk:
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
