"""The weekly digest's content, as plain data: one block per series (or per thread when
its patches are not in the archive) that had news in the period, and the concerns still
open on series active lately. `group` builds it from the query rows; the renderers
(digest_render, digest_html) only read it.

A block gathers the versions of a series posted in the period, the concerns raised
(grouped by reviewer, so the ten remarks of one review read as one review), the
concerns resolved and how, NAKs and acks, and merges. A series that touches several
interfaces is one block listing them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

_REPLY = re.compile(r"^\s*((re|fwd?|aw|sv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
NAK_NAMES = ("NAK", "Nacked-by")


def clean_subject(subject: str | None) -> str:
    """Return a subject without its "Re: " prefixes and with its spaces folded."""
    return " ".join(_REPLY.sub("", subject or "").split()) or "(no subject)"


_PART = re.compile(r"^\[([^\]]*?)\b0*(\d+)/(\d+)\]")


def cover_title(subject: str) -> str:
    """Return the title of a thread known only by a reply to one of its patches: the
    series' cover letter, named as its parts name it ("[PATCH RFC v1 00/18] (cover letter
    not in the archive)"), or the reply's subject when it names no part."""
    m = _PART.match(subject)
    if not m or int(m[2]) == 0:
        return subject
    return f"[{m[1]}{'0' * len(m[3])}/{m[3]}] (cover letter not in the archive)"


@dataclass
class Review:
    """The concerns one reviewer raised on one series in the period."""

    reviewer: str
    date: str  # of the first remark
    concerns: list[dict] = field(default_factory=list)


@dataclass
class Block:
    """One series (all its versions) or one thread, and what happened to it."""

    key: str  # "series:<a version's id>" or "thread:<thread id>"
    kind: str  # "series" or "thread"
    title: str
    link_id: str  # the newest version's cover letter or first patch; the thread's root
    author: str | None = None
    # False when the title is only the first mail's subject (the thread's start is not in
    # the archive): every remark then says which patch it is about.
    names_root: bool = True
    interfaces: list[str] = field(default_factory=list)
    last_active: str | None = None  # last mail before the period's end, any version
    versions: list[dict] = field(default_factory=list)  # posted in the period
    reviews: list[Review] = field(default_factory=list)  # concerns raised in the period
    resolved: list[dict] = field(default_factory=list)  # earlier concerns resolved in it
    trailers: list[dict] = field(default_factory=list)  # NAKs and maintainer acks
    merged: list[dict] = field(default_factory=list)
    still_open: list[dict] = field(default_factory=list)  # raised earlier, open at its end
    open_earlier: int = 0  # how many of those there are, before digest.max_open cuts the list

    @property
    def raised(self) -> list[dict]:
        """Return the concerns raised in the period, reviewer by reviewer."""
        return [c for r in self.reviews for c in r.concerns]

    @property
    def concern_interfaces(self) -> set[str]:
        """Return the interfaces of the concerns it holds (not of its versions or trailers)."""
        return {c["interface"] for c in self.raised + self.resolved + self.still_open}

    @property
    def naks(self) -> list[dict]:
        """Return the NAKs given in the period."""
        return [t for t in self.trailers if t["name"] in NAK_NAMES]

    @property
    def news(self) -> bool:
        """Return True when something happened to it in the period."""
        return bool(self.versions or self.reviews or self.resolved or self.trailers
                    or self.merged)

    @property
    def first_news(self) -> str:
        """Return the date of its first news in the period, to order blocks by."""
        dates = [x["first_date"] for x in self.versions] + [c["date"] for c in self.raised]
        dates += [c["resolved_date"] or "" for c in self.resolved]
        dates += [t["date"] for t in self.trailers] + [x["merged_date"] for x in self.merged]
        return min((d for d in dates if d), default="")


@dataclass
class DigestContent:
    """A digest for one period and one set of interfaces, ready to render."""

    label: str  # "2006-W31", or "2006-07-31..2006-08-06" for other periods
    start: date
    end: date  # first day after the period
    interfaces: list[str] | None  # None: all
    blocks: list[Block] = field(default_factory=list)  # with news in the period
    open_blocks: list[Block] = field(default_factory=list)  # with still-open concerns listed
    active_days: int = 90
    dormant_open: int = 0  # open concerns on series quiet for longer than active_days
    unlisted_open: int = 0  # open concerns on active series beyond digest.max_open
    recipient: str | None = None
    unsubscribe: str = ""

    @property
    def empty(self) -> bool:
        """Return True when nothing new happened to any interface in the period."""
        return not self.blocks

    @property
    def last_day(self) -> date:
        """Return the last day of the period."""
        return self.end - timedelta(days=1)

    @property
    def active_since(self) -> date:
        """Return the first day of the window in which a series counts as active."""
        return self.end - timedelta(days=self.active_days)

    def count(self, what: str) -> int:
        """Return how many items of one kind the blocks hold: versions, raised, resolved
        (earlier concerns resolved), resolved_new (concerns raised and resolved in the
        period), naks, acks, merged, series, threads, open (still-open concerns listed)."""
        b = self.blocks
        if what == "series":
            return sum(x.kind == "series" for x in b)
        if what == "threads":
            return sum(x.kind == "thread" for x in b)
        if what == "open":
            return sum(len(x.still_open) for x in self.open_blocks)
        if what == "resolved_new":
            return sum(1 for x in b for c in x.raised if resolved_in(c, self))
        if what == "acks":
            return sum(len(x.trailers) - len(x.naks) for x in b)
        return sum(len(getattr(x, what)) for x in b)

    @property
    def open_total(self) -> int:
        """Return how many concerns raised before the period were open at its end."""
        return self.count("open") + self.unlisted_open + self.dormant_open


def resolved_in(c: dict, d: DigestContent) -> bool:
    """Return True when a concern was resolved within the digest's period."""
    when = c.get("resolved_date")
    return c["status"] == "resolved" and bool(when) and \
        d.start.isoformat() <= when < d.end.isoformat()


def _merge_interfaces(rows: Sequence[dict], key: str) -> list[dict]:
    """Return rows given once per interface as one row each, with `interfaces` listed."""
    out: dict = {}
    for r in rows:
        if r[key] not in out:
            out[r[key]] = {**r, "interfaces": [r["interface"]]}
        elif r["interface"] not in out[r[key]]["interfaces"]:
            out[r[key]]["interfaces"].append(r["interface"])
            if "open_at_merge" in r:  # counted per interface: add them up
                out[r[key]]["open_at_merge"] += r["open_at_merge"]
    return list(out.values())


class _Blocks:
    """Finds the block of each row: its series' chain of versions, else its thread."""

    def __init__(self, threads: dict[str, dict], chains: dict[str, dict]):
        self.threads, self.chains = threads, chains
        self.by_key: dict[str, Block] = {}

    def series_of(self, row: dict) -> str | None:
        sid = row.get("series_id") or self.threads.get(row.get("thread_id") or "", {}).get(
            "series_id")
        return sid if sid in self.chains else None

    def of(self, row: dict, interfaces: Sequence[str]) -> Block:
        sid = self.series_of(row)
        thread = self.threads.get(row.get("thread_id") or "", {})
        if sid:
            chain = self.chains[sid]
            key = "series:" + chain["chain"]
            block = self.by_key.get(key) or Block(
                key, "series", chain["title"] or clean_subject(thread.get("subject")),
                chain["link_id"] or sid, chain["author_name"] or chain["author_addr"],
                last_active=chain["last_active"])
        else:
            tid = row.get("thread_id") or row.get("message_id") or "?"
            key = "thread:" + tid
            root = thread.get("root_subject")
            title = clean_subject(root or thread.get("subject") or row.get("subject"))
            block = self.by_key.get(key) or Block(
                key, "thread", title if root else cover_title(title),
                thread.get("root_message_id") or tid, names_root=bool(root))
        self.by_key[key] = block
        # A block is as active as its most recent thread.
        block.last_active = max(filter(None, (block.last_active, thread.get("last_active"))),
                                default=None)
        for name in interfaces:
            if name not in block.interfaces:
                block.interfaces.append(name)
        return block


def group(d: DigestContent, *, raised: Sequence[dict], resolved: Sequence[dict],
          open_before: Sequence[dict], versions: Sequence[dict], merged: Sequence[dict],
          trailers: Sequence[dict], threads: dict[str, dict], chains: dict[str, dict],
          order: Sequence[str], max_open: int) -> DigestContent:
    """Fill d's blocks and still-open lists from the rows of the digest queries.

    threads and chains map thread ids and series ids to thread_info and series_chains
    rows; order is the interfaces in catalog order, to list a block's interfaces in.
    """
    blocks = _Blocks(threads, chains)
    for x in _merge_interfaces(versions, "id"):
        blocks.of(x, x["interfaces"]).versions.append(x)
    by_reviewer: dict[tuple[str, str], Review] = {}
    raised_ids = set()
    for c in raised:
        block = blocks.of(c, [c["interface"]])
        who = c["author_name"] or c["author_addr"] or "someone"
        key = (block.key, (c["author_addr"] or who).lower())
        if key not in by_reviewer:
            by_reviewer[key] = Review(who, c["date"])
            block.reviews.append(by_reviewer[key])
        by_reviewer[key].concerns.append(c)
        raised_ids.add(c["id"])
    for c in resolved:
        if c["id"] not in raised_ids:  # a concern raised and resolved in the period shows once
            blocks.of(c, [c["interface"]]).resolved.append(c)
    for t in _merge_interfaces(trailers, "id"):
        blocks.of(t, t["interfaces"]).trailers.append(t)
    for x in _merge_interfaces(merged, "id"):
        blocks.of(x, x["interfaces"]).merged.append(x)
    news = [b for b in blocks.by_key.values() if b.news]
    for c in open_before:
        blocks.of(c, [c["interface"]]).still_open.append(c)
    since = d.active_since.isoformat()
    active = [b for b in blocks.by_key.values() if b.still_open and (b.last_active or "") >= since]
    d.dormant_open = sum(len(b.still_open) for b in blocks.by_key.values()
                         if b.still_open and (b.last_active or "") < since)
    for b in blocks.by_key.values():
        b.interfaces.sort(key=lambda n: order.index(n) if n in order else len(order))
        if (b.last_active or "") < since:
            b.still_open = []  # counted as dormant, not listed
    # Blocks with concerns or NAKs first, then new versions, acks and merges; by date.
    d.blocks = sorted(news, key=lambda b: (not (b.reviews or b.resolved or b.naks),
                                           b.first_news, b.key))
    # Still open: the series with the oldest open concern first, each oldest first.
    active.sort(key=lambda b: (b.still_open[0]["date"], b.key))
    room = max_open
    for b in active:
        b.open_earlier = len(b.still_open)
        d.unlisted_open += max(0, len(b.still_open) - room)
        b.still_open = b.still_open[:room]
        room -= len(b.still_open)
    d.open_blocks = [b for b in active if b.still_open]
    return d
