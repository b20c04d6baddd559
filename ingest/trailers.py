"""Trailers (Acked-by, Reviewed-by, NAKs...) from a message's own text.

As in b4, a trailer is a `Name: value` line whose name is a known trailer or
ends in `-by`; it is only looked for in the author's own words, so a trailer
quoted from someone else's mail is never credited to the replier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from abiwatch.ingest.headers import parse_address

CANONICAL = {
    "signed-off-by": "Signed-off-by",
    "acked-by": "Acked-by",
    "reviewed-by": "Reviewed-by",
    "tested-by": "Tested-by",
    "reported-by": "Reported-by",
    "suggested-by": "Suggested-by",
    "co-developed-by": "Co-developed-by",
    "requested-by": "Requested-by",
    "debugged-by": "Debugged-by",
    "nacked-by": "Nacked-by",
    "naked-by": "Nacked-by",
    "nak-by": "Nacked-by",
    "nack-by": "Nacked-by",
    "cc": "Cc",
    "link": "Link",
    "closes": "Closes",
    "fixes": "Fixes",
    "change-id": "change-id",
    "base-commit": "base-commit",
}
PERSON_TRAILERS = {"Cc"} | {v for v in CANONICAL.values() if v.endswith("-by")}
NAK_TRAILERS = {"Nacked-by", "NAK"}

_TRAILER = re.compile(r"^\s{0,2}([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)\s*:\s*(\S.*?)\s*$")
# "NAK", "NAK." "Nak, this grows...", "NACK: breaks...", "NAK for now": the word stands
# alone or is set off; "NAK won't help us" (mst, 2021) is a sentence about NAKs.
_BARE_NAK = re.compile(r"^\s*(NAK|NACK|Nak|Nack|NAKed|Nacked|NACKed)"
                       r"(?:\s*$|[.!,:;]|\s+(?:for|to|on|from|until|as|again|too)\b)")


@dataclass(frozen=True)
class Trailer:
    name: str
    value: str
    person_name: str | None
    person_addr: str | None


def extract_trailers(own_text: str, author: tuple[str | None, str | None]) -> list[Trailer]:
    """Return the trailers in own_text, in order, without repeats; a bare NAK is the author's."""
    out: list[Trailer] = []
    seen: set[tuple[str, str]] = set()
    for line in own_text.split("\n"):
        # cheap tests first: a trailer has a colon, a bare NAK starts with N
        m = _TRAILER.match(line) if ":" in line else None
        trailer = None
        if m:
            key = m.group(1).lower()
            name = CANONICAL.get(key)
            if name is None and key.endswith("-by") and len(key) < 30:
                name = m.group(1)[0].upper() + m.group(1)[1:].lower()
            if name is not None:
                value = m.group(2)
                pname = paddr = None
                if name in PERSON_TRAILERS or name.endswith("-by"):
                    pname, paddr, _ = parse_address(value)
                trailer = Trailer(name, value, pname, paddr)
        if trailer is None and "N" in line and _BARE_NAK.match(line) and len(line.strip()) <= 80:
            trailer = Trailer("NAK", line.strip(), author[0], author[1])
        if trailer and (trailer.name, trailer.value) not in seen:
            seen.add((trailer.name, trailer.value))
            out.append(trailer)
    return out
