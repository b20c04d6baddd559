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


# "Name <addr>" with anything before the brackets taken as the name: trailer names are
# not RFC 5322 phrases, and "Tester2, Followup", "Tester1 [corporate]" or "Reviewer1
# (corporate)" read as address lists or comments lose all but a piece of the name. An
# HTML mailer's "<addr<mailto:addr>>" is the same address (b4's htmljunk sample).
_NAME_ADDR = re.compile(r"^([^<]*?)\s*<([^<>\s@]+@[^<>\s@]+)(?:<mailto:[^<>]*>)?>")


def person(value: str) -> tuple[str | None, str | None]:
    """Return (name as written, lowercased address) of a person trailer's value."""
    m = _NAME_ADDR.match(value)
    if m:
        return m.group(1).strip().strip('"').strip() or None, m.group(2).lower()
    name, addr, _ = parse_address(value)
    return name, addr


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
                    pname, paddr = person(value)
                trailer = Trailer(name, value, pname, paddr)
        if trailer is None and "N" in line and _BARE_NAK.match(line) and len(line.strip()) <= 80:
            trailer = Trailer("NAK", line.strip(), author[0], author[1])
        if trailer and (trailer.name, trailer.value) not in seen:
            seen.add((trailer.name, trailer.value))
            out.append(trailer)
    return out


def _local_and_domain(addr: str) -> tuple[str, str]:
    # "foo+kernel@example.com" is foo@example.com: people tag their own addresses
    local, _, domain = addr.lower().partition("@")
    return local.split("+", 1)[0], domain


def same_address(a: str, b: str) -> bool:
    """Return whether two addresses are one mailbox as b4 judges it: equal, equal without
    a "+tag", or the same local part where one domain ends the other (foo@linux.intel.com
    and foo@intel.com)."""
    if a.lower() == b.lower():
        return True
    (la, da), (lb, db) = _local_and_domain(a), _local_and_domain(b)
    if not (la and da and lb and db) or la != lb:
        return False
    return da == db or da.endswith("." + db) or db.endswith("." + da)


def not_sender_reason(name: str, person_name: str | None, person_addr: str | None,
                      from_name: str | None, from_addr: str | None) -> str | None:
    """Return why a person trailer in a follow-up is not counted, or None if it is.

    As b4 does by default, someone's Acked-by/Reviewed-by/Tested-by counts only when
    they sent it: the trailer's address is the sender's (see same_address) or its name
    is the sender's name. b4 also accepts any trailer when the sender's name holds a
    comma (its check compares the name with itself); we do not (docs/schema.md).
    """
    if not name.lower().endswith("-by") or not person_addr:
        return None
    if from_addr and same_address(person_addr, from_addr):
        return None
    if person_name and from_name and person_name.lower() == from_name.lower():
        return None
    return "not-sender"
