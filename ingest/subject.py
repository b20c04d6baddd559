"""Subject lines: reply markers, [PATCH v3 2/7]-style tags and the bare title.

The edge cases are patchwork's `clean_subject`/`parse_series_marker` and b4's
`LoreSubject`: several bracket groups, "Re: Re: AW:", "[RFC, PATCH 0/24]",
"[patch 01/24]", "[PATCH -mm]", "[PATCH net-next v3 0/4]", Mercurial's "0 of 2".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REPLY = re.compile(r"^\s*(?:(?:re|aw|sv|antw|vs|r|ref|fw|fwd)\s*(?:\[\d+\])?\s*:\s*)+", re.I)
_BRACKET = re.compile(r"^\s*\[([^\]]*)\]\s*(?::\s*)?")
_COUNTER = re.compile(r"^(\d+)\s*/\s*(\d+)$")
_COUNTER_OF = re.compile(r"^(\d+)\s+of\s+(\d+)$", re.I)
_VERSION = re.compile(r"^v(\d+)$", re.I)
_REPLY_WORD = re.compile(r"\b(re|aw|sv|antw|vs|r|ref)\s*(\[\d+\])?\s*:")
_BARE_TAG = re.compile(r"^(patch|rfc)(\s+v(\d+))?\s*:\s*", re.I)
_PATCH_WORDS = {"patch", "rfc", "resend", "git pull", "pull", "patchv", "rfc-patch"}


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ sets each field the slow way
class Subject:
    """What a subject line says about its message."""

    title: str
    is_reply: bool = False
    is_forward: bool = False
    is_patch: bool = False
    is_rfc: bool = False
    is_pull: bool = False
    is_resend: bool = False
    version: int = 1
    counter: int | None = None
    total: int | None = None
    prefixes: tuple[str, ...] = ()

    @property
    def is_cover(self) -> bool:
        return self.counter == 0 and bool(self.total)


def _tokens(group: str) -> list[str]:
    # "[RFC, PATCH 0/24]", "[PATCH net-next v3 0/4]", "[PATCH 2 of 5]"
    group = group.replace(",", " ")
    if "of" in group.lower():
        group = _OF.sub(r"\1/\2", group)
    if "/" in group:
        group = _SLASH.sub(r"\1/\2", group)
    return group.split()


_OF = re.compile(r"(\d+)\s+of\s+(\d+)", re.I)
_SLASH = re.compile(r"(\d+)\s*/\s*(\d+)")


def parse_subject(subject: str | None) -> Subject:
    """Return the parsed form of a subject line."""
    text = " ".join((subject or "").split())
    is_reply = is_forward = False
    prefixes: list[str] = []
    version, counter, total = 1, None, None
    is_patch = is_rfc = is_pull = is_resend = False
    while True:
        m = _REPLY.match(text)
        if m:
            marker = m.group(0).lower()
            if "fw" in marker:
                is_forward = True
            if _REPLY_WORD.search(marker):
                is_reply = True
            text = text[m.end():]
            continue
        m = _BRACKET.match(text)
        if m:
            group = m.group(1).strip()
            low = group.lower()
            text = text[m.end():]
            if not group:
                continue
            prefixes.append(group)
            tokens = _tokens(group)
            for tok in tokens:
                tl = tok.lower()
                if tl.startswith("patch"):
                    is_patch = True
                    rest = tl[5:]
                    if _VERSION.match(rest or ""):
                        version = int(rest[1:])
                if tl == "rfc" or tl.startswith("rfc"):
                    is_rfc = True
                if tl == "resend":
                    is_resend = True
                vm = _VERSION.match(tok)
                if vm:
                    version = int(vm.group(1))
                cm = _COUNTER.match(tok) or _COUNTER_OF.match(tok)
                if cm:
                    counter, total = int(cm.group(1)), int(cm.group(2))
            if "git pull" in low or low in ("pull", "pull request") or "pull request" in low:
                is_pull = True
            continue
        if text.startswith("["):
            # an unclosed "[PATCH v2 foo": the bracket is damage, not part of the title
            text = text.lstrip("[ ")
            continue
        break
    # "[PATCH] [v2] foo" and "PATCH v2: foo" without brackets are rarer; take the common one.
    bare = _BARE_TAG.match(text)
    if bare and not is_patch:
        is_patch = True
        is_rfc = is_rfc or bare.group(1).lower() == "rfc"
        if bare.group(3):
            version = int(bare.group(3))
        text = text[bare.end():]
    if is_rfc and not is_pull:
        is_patch = True
    if total == 0:
        counter = total = None
    elif counter is not None and total is not None and counter > total:
        # "[PATCH 3/2]", a part added to a posting after it was sent: the part number
        # is the author's word, the total is what turned out wrong (Patchwork keeps the
        # part in the cover letter's series too).
        total = None
    return Subject(
        title=text.strip(),
        is_reply=is_reply,
        is_forward=is_forward,
        is_patch=is_patch or is_pull,
        is_rfc=is_rfc,
        is_pull=is_pull,
        is_resend=is_resend,
        version=max(1, version),
        counter=counter,
        total=total,
        prefixes=tuple(prefixes),
    )


def normalize_title(title: str) -> str:
    """Return a title folded for matching across versions and replies."""
    return " ".join(title.lower().split()).rstrip(" .:;,!")
