"""What kind of patch a mail is, and what it changes: pull requests, diffs, attached
patches, cover letters, announcements and a reply's new version of the patch it answers."""

from __future__ import annotations

import re

from abiwatch.ingest.body import Body, SplitText
from abiwatch.ingest.diff import (
    DiffSummary,
    pull_request_url,
    summarize_diffs,
    summarize_diffstat,
)
from abiwatch.ingest.subject import Subject, normalize_title, parse_subject
from abiwatch.ingest.trailers import Trailer

_REQUEST_PULL = re.compile(r"are available in the git repository at", re.I)
# How a 2006-style reply says its diff is a new posting of the patch, not a sketch:
# "Updated patch below.", "replacement patch", "take 2", "new version attached".
_REVISION_WORDS = re.compile(
    r"\b(updated|new|revised|replacement|respun|refreshed|fixed|corrected|incremental)"
    r"\s+(patch|version|diff)\b|\bpatch\s+(below|attached|follows)\b|\btake\s+(2|two|3|three)\b",
    re.I)
# "[announce] [patch] ..." with the patches behind a link, not in the mail
_PATCH_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')\]]+", re.I)
# a format-patch embedded after "---" in a reply: its own Subject: names the patch
_EMBEDDED_SUBJECT = re.compile(r"^Subject:\s*(.+)$", re.M)


def is_revision(own: str, trailers, title: str) -> bool:
    """Return True when a reply's own diff is a new version of the patch it answers: the
    words around it call it an updated or replacement patch, or it is signed off and
    carries no pasted Subject: of another title (a new patch, not a version of this one).
    A reviewer's "something like this?" sketch is neither and stays a reply."""
    if _REVISION_WORDS.search(own):
        return True
    return any(t.name == "Signed-off-by" for t in trailers) and \
        normalize_title(embedded_title(own) or title) == normalize_title(title)


def embedded_title(own: str) -> str | None:
    """Return the title of a format-patch pasted into a reply ("---", "Subject: ..."), if any."""
    m = _EMBEDDED_SUBJECT.search(own)
    return parse_subject(m.group(1)).title or None if m else None


def _is_announce(prefixes: tuple[str, ...]) -> bool:
    return any(p.lower().startswith("announce") for p in prefixes)


def announced_patch_url(own: str) -> str | None:
    """Return the first link in an announcement's own text (where its patches are)."""
    m = _PATCH_URL.search(own)
    return m.group(0) if m else None



def find_pull_url(subj: Subject, subject: str, own: str) -> str | None:
    """Return the repository a pull request asks to pull from."""
    # git request-pull's own words also catch DaveM's "[GIT] Networking" pull requests
    if subj.is_pull or "GIT PULL" in subject.upper() or (
            not subj.is_reply and _REQUEST_PULL.search(own)):
        return pull_request_url(own)
    return None


def find_kind(subj: Subject, pull: str | None, diffs: list[str], split: SplitText, body: Body,
              trailers: list[Trailer]) -> str | None:
    """Return what kind of patch the mail is (pull, diff, attachment, cover, announce,
    revision), or None when it is not one."""
    if not subj.is_reply and not subj.is_forward:
        if subj.is_pull or pull:
            return "pull"
        if diffs:
            return "attachment" if body.attached_patches and not split.diffs else "diff"
        if subj.is_patch and subj.is_cover:
            return "cover"
        if subj.is_patch and _is_announce(subj.prefixes):
            return "announce" if announced_patch_url(split.own) else None
        return None
    if subj.is_reply and not subj.is_forward and diffs \
            and is_revision(split.own, trailers, subj.title):
        return "revision"
    return None


def find_link(kind: str | None, pull: str | None, own: str) -> str | None:
    """Return where the change lives outside the mail: the pull request's repository, or
    the link an announcement gives."""
    return announced_patch_url(own) if kind == "announce" else pull


def find_summary(diffs: list[str], kind: str | None, diffstat: list[str]) -> DiffSummary | None:
    """Return the files and line counts the patch changes: from its diffs, or for a cover
    letter from its diffstat (the series' list of files)."""
    if diffs:
        return summarize_diffs(diffs)
    if kind == "cover" and diffstat:
        stat = summarize_diffstat(diffstat)
        return stat if stat.files else None
    return None
