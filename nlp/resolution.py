"""Was a concern answered? Only a later message can say so, never silence.

Each policy returns the message that shows the resolution and says how; the
first piece of evidence in time wins. Without evidence a concern stays open.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from abiwatch.nlp.catalog import DATA_DIR

ACK_TRAILERS = {"Acked-by", "Reviewed-by", "Tested-by"}
STRONG_AGREE = 0.8
_CHANGELOG_HEAD = re.compile(
    r"(?im)^\s*(?:(?:v\d+\s+)?changes?(?:\s+(?:in|since|from))?\s*(?:v\d+)?|changelog|v\d+\s*(?:->|-|:)|"
    r"since\s+v\d+|v\d+\s*->\s*v\d+|---\s*v\d+)")


@dataclass
class LaterMessage:
    message_id: str
    author_addr: str | None
    author_name: str | None
    date: str | None
    agree: float = 0.0
    willfix: float = 0.0
    raises_concern: bool = False
    replies_to_concern: bool = False   # a descendant of the concern's message
    near_concern: bool = False         # answers the concern, or an answer to it
    has_diff: bool = False             # carries a diff of its own (an inline respin)
    acks: tuple[str, ...] = ()         # addresses given Acked/Reviewed/Tested-by in it
    parent_id: str | None = None


@dataclass
class Posting:
    message_id: str
    date: str | None
    own_text: str


@dataclass
class LaterVersion:
    series_id: str
    version: int
    first_date: str | None
    anchor: str
    postings: list[Posting] = field(default_factory=list)
    trailers: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    # (message_id, name, person_addr, person_name)


@dataclass
class Evidence:
    raiser_addr: str | None
    raiser_name: str | None
    concern_date: str | None
    kind: str
    patch_author_addr: str | None
    text: str = ""
    later_in_thread: list[LaterMessage] = field(default_factory=list)
    raiser_trailers: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    # (message_id, trailer name, date, series id) given by the raiser after the concern
    later_versions: list[LaterVersion] = field(default_factory=list)


@dataclass
class Resolution:
    status: str
    resolved_by: str | None = None
    resolution: str | None = None
    date: str | None = None
    stale: str | None = None


def _is_raiser(addr: str | None, name: str | None, ev: Evidence) -> bool:
    if addr and ev.raiser_addr and addr.lower() == ev.raiser_addr.lower():
        return True
    return bool(name and ev.raiser_name and name.strip().lower() == ev.raiser_name.strip().lower())


def _name_tokens(name: str | None, addr: str | None) -> list[str]:
    toks = []
    if name:
        toks += [t for t in re.split(r"[\s,.]+", name) if len(t) >= 3 and t[0].isupper()]
    local = (addr or "").split("@")[0]
    if len(local) >= 4:  # "bp" or "hch" would match inside other words
        toks.append(local)
    return toks


def _changelog_credits(text: str, tokens: list[str]) -> bool:
    region = _changelog_region(text)
    if not region or not tokens:
        return False
    return any(re.search(rf"(?<![\w]){re.escape(t)}(?![\w])", region) for t in tokens)


def policy_raiser_acked(ev: Evidence) -> Resolution | None:
    """The raiser acked or reviewed a later version, or a later version carries their trailer."""
    later = {v.series_id for v in ev.later_versions}
    hits = [(d or "", mid, f"raiser gave {name} on a later version")
            for mid, name, d, sid in ev.raiser_trailers if name in ACK_TRAILERS and sid in later]
    for v in ev.later_versions:
        for mid, name, addr, pname in v.trailers:
            if name in ACK_TRAILERS and _is_raiser(addr, pname, ev):
                posting = next((p for p in v.postings if p.message_id == mid), None)
                hits.append(((posting.date if posting else v.first_date) or "", mid,
                             f"v{v.version} carries the raiser's {name}"))
    if not hits:
        return None
    date, mid, how = min(hits)
    return Resolution("resolved", mid, how, date or None)


def policy_raiser_acked_in_thread(ev: Evidence) -> Resolution | None:
    """After an answer (or a reworked diff), the raiser acked or reviewed, raising nothing new."""
    later_diffs = {m.message_id for m in ev.later_in_thread if m.has_diff}
    for m in ev.later_in_thread:
        if not (_is_raiser(m.author_addr, m.author_name, ev) and ev.raiser_addr
                and ev.raiser_addr.lower() in m.acks) or m.raises_concern:
            continue
        if m.near_concern or m.parent_id in later_diffs:
            return Resolution("resolved", m.message_id, "raiser acked after the answer", m.date)
    return None


def policy_author_respun_in_thread(ev: Evidence) -> Resolution | None:
    """The patch author posted a changed patch in the thread, after the concern."""
    for m in ev.later_in_thread:
        if m.has_diff and m.author_addr and m.author_addr == ev.patch_author_addr:
            return Resolution("resolved", m.message_id,
                              "author posted a changed patch in the thread", m.date)
    return None


def policy_raiser_withdrew(ev: Evidence) -> Resolution | None:
    """The raiser later agreed ("you're right", "makes sense") without raising it again."""
    for m in ev.later_in_thread:
        if _is_raiser(m.author_addr, m.author_name, ev) and m.near_concern \
                and m.agree >= STRONG_AGREE and not m.raises_concern:
            return Resolution("resolved", m.message_id, "raiser agreed or withdrew it", m.date)
    return None


def policy_changelog(ev: Evidence) -> Resolution | None:
    """A later version's changelog credits the raiser ("v2: split as suggested by Peter")."""
    tokens = _name_tokens(ev.raiser_name, ev.raiser_addr)
    for v in ev.later_versions:
        for p in sorted(v.postings, key=lambda p: (p.date or "", p.message_id)):
            if _changelog_credits(p.own_text, tokens):
                return Resolution("resolved", p.message_id,
                                  f"v{v.version} changelog credits the raiser", p.date)
    return None


_CODE_TOKEN = re.compile(r"\b[A-Za-z_][A-Za-z0-9]*_[A-Za-z0-9_]+\b|\b[a-z]+[A-Z][A-Za-z0-9]+\b")


def _changelog_region(text: str) -> str:
    m = _CHANGELOG_HEAD.search(text)
    return text[m.start():] if m else ""


def policy_changelog_code(ev: Evidence, concern_text: str) -> Resolution | None:
    """A later version's changelog names the code the concern was about
    ("v2: renamed steal_time to vmw_steal_time" after a clash on __pcpu_unique_steal_time)."""
    for v in ev.later_versions:
        for p in sorted(v.postings, key=lambda p: (p.date or "", p.message_id)):
            region = _changelog_region(p.own_text)
            for tok in set(_CODE_TOKEN.findall(region)):
                if len(tok) >= 6 and tok in concern_text:
                    return Resolution("resolved", p.message_id,
                                      f"v{v.version} changelog changes {tok}, which it was about", p.date)
    return None


def policy_author_agreed_and_respun(ev: Evidence) -> Resolution | None:
    """The patch author agreed in the thread, then posted a changed version."""
    for m in ev.later_in_thread:
        if not (m.replies_to_concern and m.author_addr and m.author_addr == ev.patch_author_addr):
            continue
        if max(m.willfix, m.agree) < 0.7:
            continue
        for v in ev.later_versions:
            if (v.first_date or "") >= (m.date or ""):
                return Resolution("resolved", v.anchor,
                                  f"author agreed, then posted v{v.version}", v.first_date)
    return None


def policy_changelog_names_code(ev: Evidence) -> Resolution | None:
    return policy_changelog_code(ev, ev.text)


ALL_POLICIES = {
    "raiser_acked_later_version": policy_raiser_acked,
    "raiser_acked_in_thread": policy_raiser_acked_in_thread,
    "raiser_withdrew": policy_raiser_withdrew,
    "changelog_credits_raiser": policy_changelog,
    "changelog_names_code": policy_changelog_names_code,
    "author_agreed_and_respun": policy_author_agreed_and_respun,
    "author_respun_in_thread": policy_author_respun_in_thread,
}
_NAK_POLICIES = {policy_raiser_acked, policy_raiser_acked_in_thread, policy_raiser_withdrew}


@lru_cache(maxsize=1)
def _settings() -> dict:
    return tomllib.loads((DATA_DIR / "resolution.toml").read_text())


def enabled_policies() -> list:
    """The policies whose measured precision on the tuning labels earned them a place
    (nlp/data/resolution.toml, set from bench/resolution_table.py)."""
    return [ALL_POLICIES[name] for name, row in _settings()["policy"].items() if row["enabled"]]


def abandoned_days() -> int:
    return int(_settings()["stale"]["abandoned_days"])


def staleness(ev: Evidence, last_activity: str | None, newest: str | None) -> str | None:
    """Return why an open concern can no longer be answered, or None while it can."""
    later = sorted(ev.later_versions, key=lambda v: (v.first_date or "", v.version))
    if later:
        v = later[-1]
        return f"superseded: v{v.version} posted {(v.first_date or '?')[:10]} without answering it"
    if last_activity and newest:
        try:
            quiet = datetime.fromisoformat(newest) - datetime.fromisoformat(last_activity)
        except (TypeError, ValueError):  # a date without a zone against one with
            return None
        if quiet > timedelta(days=abandoned_days()):
            return f"abandoned: no reply since {last_activity[:10]}"
    return None


def resolve(ev: Evidence) -> Resolution:
    """Return the earliest resolution the evidence shows; open when there is none."""
    found = []
    for policy in enabled_policies():
        if ev.kind == "nak" and policy not in _NAK_POLICIES:
            continue
        r = policy(ev)
        if r is not None:
            found.append(r)
    if not found:
        return Resolution("open")
    return min(found, key=lambda r: r.date or "9999")
