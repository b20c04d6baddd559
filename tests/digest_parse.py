"""Reads a digest's plain-text part back into its blocks, the way a reader's eye does,
so tests can compare what it says with what the database holds. Shared by the digest
tests (tests/ is on sys.path through conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

RULE = "=" * 76
SECTIONS = ("Posted", "New concerns", "Resolved", "NAKs and maintainer acks", "Merged")
LORE = "https://lore.kernel.org/r/"
_SECTION = re.compile(r"^(" + "|".join(SECTIONS) + r") \((\d+)\)$")
_REVIEWER = re.compile(r"^  (\S.*), (\d{4}-\d{2}-\d{2}): (\d+) remarks?$")
_ITEM = re.compile(r"^ {2,4}(#(\d+) .*)$")
_TRAILER = re.compile(r"^  ((NAK|Acked-by|Nacked-by) from .*)$")


@dataclass
class Block:
    title: str
    line: str = ""  # "Series by X; paravirt_ops, Xen" / "Thread; VMI"
    link: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # section -> (N) in its header
    ids: dict[str, list[int]] = field(default_factory=dict)  # section -> concern ids
    heads: dict[int, str] = field(default_factory=dict)  # concern id -> its first line(s)
    reviewers: list[tuple[str, list[int]]] = field(default_factory=list)
    trailers: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)  # lines after the sections

    @property
    def interfaces(self) -> list[str]:
        return self.line.split("; ")[1].split(", ") if "; " in self.line else []


@dataclass
class Digest:
    summary: str = ""
    blocks: list[Block] = field(default_factory=list)
    open_title: str = ""
    open_blocks: list[Block] = field(default_factory=list)
    dormant: str = ""  # the one line standing for the open concerns on dormant series
    unlisted: str = ""  # the line counting open concerns past digest.max_open
    links: set[str] = field(default_factory=set)


def parse_text(body: str) -> Digest:
    """Return what a digest's plain-text part says, block by block."""
    d = Digest(links=set(re.findall(re.escape(LORE) + r"\S+", body)))
    if m := re.search(r"^(News on .*?\.|Nothing new on .*?\.)$", body, re.M | re.S):
        d.summary = " ".join(m[1].split())
    lines = body.split("\n-- \n")[0].splitlines()
    i, block, section, mode = 0, None, None, "top"
    while i < len(lines):
        line = lines[i]
        if line == RULE:
            j = lines.index(RULE, i + 1)
            header = " ".join(lines[i + 1:j])
            if header.startswith("Still open on series with mail"):
                d.open_title, mode, block, section = header, "open", None, None
                i = j + 1
                continue
            block = Block(header, lines[j + 1], lines[j + 2])
            d.blocks.append(block)
            mode, section, i = "block", None, j + 3
            continue
        if " older open concern" in line and "dormant" in line:
            d.dormant = line
        elif " more open concern" in line:
            d.unlisted = line
        elif mode == "open" and line and not line.startswith((" ", "http")):
            if block is None or block.link:  # a new group: title lines, its line, its link
                block = Block(line)
                d.open_blocks.append(block)
            elif line.startswith(("Series", "Thread")):
                block.line = line
            else:
                block.title += " " + line
        elif mode == "open" and line.startswith("http") and block:
            block.link = line
        elif (m := _SECTION.match(line)) and block is not None:
            section = m[1]
            block.counts[section], block.ids[section] = int(m[2]), []
        elif (m := _REVIEWER.match(line)) and section == "New concerns":
            block.reviewers.append((m[1], []))
        elif (m := _ITEM.match(line)) and block is not None:
            head, k = m[1], i + 1
            while k < len(lines) and lines[k].startswith(" " * 6) and \
                    not lines[k].lstrip().startswith(('"', "http")):
                head += " " + lines[k].strip()
                k += 1
            cid = int(m[2])
            block.heads[cid] = head
            block.ids.setdefault(section or "Still open", []).append(cid)
            if section == "New concerns" and mode == "block":
                block.reviewers[-1][1].append(cid)
            i = k
            continue
        elif (m := _TRAILER.match(line)) and section == "NAKs and maintainer acks":
            head, k = m[1], i + 1
            while k < len(lines) and not lines[k].strip().startswith("http"):
                head += " " + lines[k].strip()
                k += 1
            block.trailers.append(head)
            i = k
            continue
        elif block is not None and mode == "block" and line and not line.startswith(" "):
            block.tail.append(line)
        i += 1
    return d


class HtmlBlocks(HTMLParser):
    """Collects, under each h2 (a block, or "Still open") and h3 (a section, or a block
    of Still open), the concern ids shown in bold, and every link and quote."""

    def __init__(self):
        super().__init__()
        self.found: dict[tuple[str, str], list[int]] = {}
        self.links: set[str] = set()
        self.quotes: list[str] = []
        self.h2 = self.h3 = ""
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._open.append(tag)
        if tag == "a":
            self.links.add(dict(attrs)["href"])
        if tag == "h2":
            self.h2, self.h3 = "", ""
        if tag == "h3":
            self.h3 = ""
        if tag == "q":
            self.quotes.append("")

    def handle_endtag(self, tag):
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data):
        if "h2" in self._open:
            self.h2 += data
        elif "h3" in self._open:
            self.h3 += data
        elif self._open and self._open[-1] == "b" and (m := re.match(r"#(\d+)$", data)):
            section = re.sub(r" \(\d+\)$", "", self.h3)
            self.found.setdefault((self.h2, section), []).append(int(m[1]))
        elif "q" in self._open:
            self.quotes[-1] += data


def parse_html(body: str) -> HtmlBlocks:
    p = HtmlBlocks()
    p.feed(body)
    return p
