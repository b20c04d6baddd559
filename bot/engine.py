"""The answer engine: a question in, a typed answer out. No Discord, no
formatting, no SQL text: it reads the database read-only through db/ queries.

Every item carries the lore.kernel.org link of the mail it comes from.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from abiwatch.bot.question import MAX_QUESTION, Question, parse_explicit, understand
from abiwatch.db import answer_queries as aq
from abiwatch.db import merge_queries as mq
from abiwatch.db import open_db
from abiwatch.db.queries import lore_url
from abiwatch.nlp.catalog import Catalog, catalog_of, load_catalog

logger = logging.getLogger(__name__)


@dataclass
class ConcernItem:
    id: int
    message_id: str
    interface: str
    status: str
    kind: str
    text: str
    author: str | None
    author_addr: str | None
    date: str | None
    patch_message_id: str | None
    patch_title: str | None
    resolved_by: str | None
    resolution: str | None
    url: str
    resolved_url: str | None
    patch_url: str | None
    stale: str | None = None   # why an open concern can no longer be answered
    correction: str | None = None  # the verdict a person gave ('resolved-by', 'reopen'), if any
    corrected_by: str | None = None
    merge: dict | None = None  # for concerns merged over: the release, commit and date


@dataclass
class Answer:
    """What the engine says: the intent it answered, how it understood the question,
    the items, and an optional summary and note."""

    intent: str
    understood_as: str
    items: list[Any] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HELP = (
    "Ask in plain words (\"which concerns about VMI are still open?\", \"what did Ingo "
    "object to in January 2007?\") or use a command:\n"
    "  unresolved [INTERFACE]        open concerns, newest first\n"
    "  concerns INTERFACE [--status open|resolved|all] [--by PERSON] [--since DATE]\n"
    "  interface NAME                patches, versions, concern counts, people\n"
    "  patch WORDS|MESSAGE-ID        a series, its versions, trailers and concerns\n"
    "  thread MESSAGE-ID             the thread as a tree\n"
    "  search QUERY                  s:subject f:from b:body d:2007-01-01..2007-03-31 dfn:file\n"
    "  who PERSON                    what a person raised and whether it was resolved\n"
    "  merged [INTERFACE]            concerns still open when their series was merged\n"
    "Add --unsure to unresolved, concerns and who to include concerns under the model's\n"
    "confidence threshold (kept, but not shown by default)."
)


def _concern_item(r: dict) -> ConcernItem:
    return ConcernItem(
        r["id"], r["message_id"], r["interface"], r["status"], r["kind"], r["text"],
        r["author_name"] or r["author_addr"], r["author_addr"], r["date"], r["patch_message_id"],
        r["patch_title"], r["resolved_by"], r["resolution"], lore_url(r["message_id"]),
        lore_url(r["resolved_by"]) if r["resolved_by"] else None,
        lore_url(r["patch_message_id"]) if r["patch_message_id"] else None, r.get("stale"),
        r.get("correction"), r.get("corrected_by"))


class Engine:
    """Answers questions from one database, opened read-only for every question."""

    def __init__(self, db_path: str | Path, catalog: Catalog | None = None):
        self.db_path = Path(db_path)
        self._catalog = catalog
        self._nlp = None

    @property
    def catalog(self) -> Catalog:
        """The catalog the database was tagged with (so a `tag --catalog` interface is known)."""
        if self._catalog is None:
            base = load_catalog()
            try:
                tagged = aq.tagged_interfaces(open_db(self.db_path, readonly=True))
            except Exception:  # no database yet, or one from before tagging: the shipped catalog
                tagged = []
            self._catalog = catalog_of(tagged, base)
        return self._catalog

    def _interfaces_in(self, text: str) -> list[str]:
        if self._nlp is None:
            from abiwatch.nlp.pipeline import build_nlp

            self._nlp = build_nlp(self.catalog)
        doc = self._nlp(text)
        out: list[str] = []
        for span in sorted(doc.spans["interfaces"], key=lambda s: s.start):
            if span.label_ not in out:
                out.append(span.label_)
        return out

    def understand(self, text: str) -> Question:
        """Return the question understood from text (explicit command or free form)."""
        text = (text or "").strip()
        truncated = len(text) > MAX_QUESTION
        text = text[:MAX_QUESTION]
        q = parse_explicit(text, self.catalog)
        if q is None:
            q = understand(text, self.catalog, self._interfaces_in(text))
        if truncated:
            q.notes.append(f"the question was cut to its first {MAX_QUESTION} characters")
        return q

    def ask(self, text: str) -> Answer:
        """Return the answer to a question typed by a person."""
        try:
            q = self.understand(text)
        except ValueError as exc:
            return Answer("help", "help", note=f"{exc}.\n{HELP}", title="I could not read that")
        return self.answer(q)

    def answer(self, q: Question) -> Answer:
        """Return the answer to an understood question."""
        if not self.db_path.exists():
            return Answer(q.intent, q.describe(), note=f"no database at {self.db_path}: run "
                          "`abiwatch ingest ARCHIVE` and `abiwatch tag` first", title="No data")
        db = open_db(self.db_path, readonly=True)
        try:
            handler = getattr(self, f"_{q.intent}", None) or self._help
            ans = handler(db, q)
        finally:
            db.conn.close()
        notes = list(q.notes)
        if ans.note:
            notes.insert(0, ans.note)
        if not q.explicit and q.intent != "help":
            notes.append(f"understood as: {q.describe()}")
        ans.note = "\n".join(notes) or None
        return ans

    # --- intents -------------------------------------------------------------

    def _check_interface(self, db, q: Question) -> str | None:
        if q.interface and q.interface not in self.catalog.by_name:
            known = ", ".join(i.name for i in self.catalog.interfaces)
            return f"unknown interface {q.interface!r}; known interfaces: {known}"
        return None

    def _people(self, db, person: str | None) -> list[dict] | None:
        if not person:
            return None
        return aq.people_matching(db, person)

    def _unresolved(self, db, q: Question) -> Answer:
        q.status = "open"
        return self._concerns(db, q, intent="unresolved")

    def _concerns(self, db, q: Question, intent: str = "concerns") -> Answer:
        err = self._check_interface(db, q)
        if err:
            return Answer(intent, q.describe(), note=err, title="Unknown interface")
        people = self._people(db, q.person)
        rows = aq.concerns(db, interface=q.interface, status=q.status,
                           person_addrs=[p["addr"] for p in people] if people is not None else None,
                           since=q.since, until=q.until, limit=50, unsure=q.unsure)
        items = [_concern_item(r) for r in rows]
        what = {"open": "Open concerns", "resolved": "Resolved concerns"}.get(q.status or "", "Concerns")
        title = f"{what} about {q.interface}" if q.interface else f"{what}, all interfaces"
        if q.person:
            names = list(dict.fromkeys(p["name"] or p["addr"] for p in people[:3]))
            title += f" raised by {', '.join(names) or q.person}"
        note = None
        if people == []:
            note = f"nobody called {q.person!r} is in the archive"
        elif not items:
            note = "none found" + ("" if aq.concern_counts(db) else
                                   " (the database has no concerns yet: run `abiwatch tag`)")
        summary = {"counts": aq.concern_counts(db, q.interface, unsure=q.unsure)}
        unsure_more = 0 if q.unsure or people == [] else aq.unsure_count(
            db, interface=q.interface, status=q.status, since=q.since, until=q.until,
            person_addrs=[p["addr"] for p in people] if people is not None else None)
        if unsure_more:
            summary["unsure"] = unsure_more
            hint = (f"{unsure_more} more concern{'s' if unsure_more != 1 else ''} under the model's "
                    "confidence threshold: add --unsure to see them")
            note = f"{note}; {hint}" if note else hint
        if not q.interface:
            items.sort(key=lambda i: (i.interface, -(int((i.date or "0")[:4]) * 10000 +
                                                     int((i.date or "0000-00-00")[5:7] or 0))))
        return Answer(intent, q.describe(), items, summary, note, title)

    def _interface(self, db, q: Question) -> Answer:
        if not q.interface:
            names = ", ".join(i.name for i in self.catalog.interfaces)
            return Answer("interface", q.describe(), note=f"which interface? one of: {names}",
                          title="Interfaces")
        err = self._check_interface(db, q)
        if err:
            return Answer("interface", q.describe(), note=err, title="Unknown interface")
        s = aq.interface_summary(db, q.interface)
        open_rows = aq.concerns(db, interface=q.interface, status="open", limit=5)
        s["open_concerns"] = [asdict(_concern_item(r)) for r in open_rows]
        outcomes = mq.series_outcomes(db, [ser["id"] for ser in s["series"]])
        merged_open = mq.merged_open_counts(db, q.interface)
        for ser in s["series"]:
            ser["url"] = lore_url(ser["id"])
            ser["outcome"] = outcomes.get(ser["id"])
            if ser["outcome"]:
                ser["outcome"]["open_at_merge"] = merged_open.get(ser["id"], 0)
        s["merged_open"] = sum(merged_open.values())
        note = None if s["messages"] else f"no message in the archive discusses {q.interface}"
        return Answer("interface", q.describe(), s["series"], s, note, f"{q.interface}: summary")

    def _patch(self, db, q: Question) -> Answer:
        if not q.query and not q.message_id:
            return Answer("patch", q.describe(), note="which patch? give words of its subject "
                          "or its message id", title="Patch")
        words = fts_phrase(q.query) if not q.message_id else None
        if not q.message_id and words is None:  # "patch !!!": nothing FTS could look for
            return Answer("patch", q.describe(), note="no words to look for: give words of the "
                          "patch's subject or its message id", title="Patch")
        rows = aq.patches_matching(db, words, q.message_id)
        if not rows:
            return Answer("patch", q.describe(), note="no patch matches", title="Patch")
        top = rows[0]
        versions = aq.series_versions(db, top["series_key"]) if top["series_key"] else []
        series_ids = [v["id"] for v in versions] or [top["series_id"]]
        outcomes = mq.series_outcomes(db, [s for s in series_ids if s])
        merged_open = mq.merged_open_counts(db)
        for v in versions:
            v["url"] = lore_url(v["cover_message_id"] or v["id"])
            v["outcome"] = outcomes.get(v["id"])
            if v["outcome"]:
                v["outcome"]["open_at_merge"] = merged_open.get(v["id"], 0)
        trailers = aq.series_trailers(db, [s for s in series_ids if s])
        for t in trailers:
            t["url"] = lore_url(t["message_id"])
        concerns = [_concern_item(r) for r in aq.concerns(db, series_ids=[s for s in series_ids if s])]
        summary = {"patch": {**top, "url": lore_url(top["message_id"])}, "versions": versions,
                   "trees_read": mq.trees_read(db),
                   "trailers": trailers, "other_matches": [
                       {"title": r["title"], "url": lore_url(r["message_id"])} for r in rows[1:]]}
        return Answer("patch", q.describe(), concerns, summary, None, top["title"] or "Patch")

    def _merged(self, db, q: Question) -> Answer:
        err = self._check_interface(db, q)
        if err:
            return Answer("merged", q.describe(), note=err, title="Unknown interface")
        title = ("Merged with concerns still open" + (f": {q.interface}" if q.interface else
                                                      ", all interfaces"))
        if not mq.trees_read(db):
            return Answer("merged", q.describe(), title=title, note=(
                "no kernel git tree has been read, so nothing is known to be merged: run "
                "`abiwatch commits PATH-TO-LINUX-CLONE` first"))
        items = []
        for r in mq.merged_open_concerns(db, q.interface):
            item = _concern_item(r)
            item.merge = {"release": r["release"], "commit": r["merge_commit"],
                          "date": r["merged_date"], "title": r["merged_title"],
                          "version": r["merged_version"], "parts": r["parts"],
                          "merged_parts": r["merged_parts"],
                          "url": lore_url(r["merged_series_id"])}
            items.append(item)
        note = None if items else ("no concern was still open when its series was merged"
                                   + (f" ({q.interface})" if q.interface else ""))
        return Answer("merged", q.describe(), items, {"count": len(items)}, note, title)

    def _thread(self, db, q: Question) -> Answer:
        if not q.message_id:
            return Answer("thread", q.describe(), note="which thread? give a message id", title="Thread")
        tid = aq.thread_of(db, q.message_id)
        if tid is None:
            return Answer("thread", q.describe(), note=f"no message {q.message_id} in the archive",
                          title="Thread")
        nodes = aq.thread_nodes(db, tid)
        items = thread_tree(nodes, tid)
        return Answer("thread", q.describe(), items, {"thread_id": tid, "messages": len(items)},
                      None, next((n["subject"] for n in items if n["subject"]), "Thread"))

    def _search(self, db, q: Question) -> Answer:
        terms = parse_search(q.query or "")
        if not any(terms.values()):
            return Answer("search", q.describe(), note="nothing to search for", title="Search")
        try:
            rows = aq.search_messages(db, **terms)
        except Exception as exc:  # an FTS syntax error from odd input: say so, do not crash
            logger.info("search failed for %r: %s", q.query, exc)
            return Answer("search", q.describe(), note="that search could not be run; try plain words",
                          title="Search")
        for r in rows:
            r["url"] = lore_url(r["message_id"])
        return Answer("search", q.describe(), rows, {"count": len(rows)},
                      None if rows else "no message matches", f"Search: {q.query}")

    def _who(self, db, q: Question) -> Answer:
        if not q.person:
            return Answer("who", q.describe(), note="who? give a name or an address", title="Who")
        people = aq.people_matching(db, q.person)
        if not people:
            return Answer("who", q.describe(), note=f"nobody called {q.person!r} is in the archive",
                          title="Who")
        rows = aq.concerns(db, person_addrs=[p["addr"] for p in people], since=q.since,
                           until=q.until, interface=q.interface, limit=50, unsure=q.unsure)
        items = [_concern_item(r) for r in rows]
        summary = {"people": people[:5], "open": sum(i.status == "open" for i in items),
                   "resolved": sum(i.status == "resolved" for i in items)}
        name = people[0]["name"] or people[0]["addr"]
        return Answer("who", q.describe(), items, summary,
                      None if items else f"{name} raised no concern the tagger found",
                      f"Concerns raised by {name}")

    def _help(self, db, q: Question) -> Answer:
        return Answer("help", "help", note=HELP, title="How to ask")


def fts_phrase(text: str | None) -> str | None:
    """Return words as an FTS5 query that matches them all, each quoted (no FTS syntax leaks)."""
    words = re.findall(r"[\w]+", text or "")
    return " ".join('"' + w.replace('"', '""') + '"' for w in words[:20]) or None


def parse_search(query: str) -> dict[str, Any]:
    """Return search_messages() arguments for a lore-style query (s: f: b: d: dfn:)."""
    terms: dict[str, Any] = {"fts": None, "subject_fts": None, "from_like": None, "since": None,
                             "until": None, "file_like": None}
    body, subject = [], []
    for tok in re.findall(r'(\w+:"[^"]*"|\w+:\S+|"[^"]*"|\S+)', query):
        key, _, value = tok.partition(":")
        value = value.strip('"')
        if _ and key == "s":
            subject.append(value)
        elif _ and key == "f":
            terms["from_like"] = f"%{value.lower()}%"
        elif _ and key == "b":
            body.append(value)
        elif _ and key == "dfn":
            terms["file_like"] = f"%{value}%"
        elif _ and key == "d":
            a, _sep, b = value.partition("..")
            terms["since"] = a or None
            terms["until"] = b or None
        else:
            body.append(tok.strip('"'))
    if body:
        q = fts_phrase(" ".join(body))
        terms["fts"] = f"own_text : ({q})" if q and any(t.startswith("b:") for t in query.split()) else q
    if subject:
        q = fts_phrase(" ".join(subject))
        terms["subject_fts"] = f"subject : ({q})" if q else None
    return terms


def thread_tree(nodes: list[dict], root: str) -> list[dict]:
    """Return the thread's nodes in tree order (depth-first, by date), each with its depth."""
    children: dict[str | None, list[dict]] = {}
    ids = {n["message_id"] for n in nodes}
    for n in nodes:
        parent = n["parent_id"] if n["parent_id"] in ids else None
        if n["message_id"] == root:
            parent = None
        children.setdefault(parent, []).append(n)
    for kids in children.values():
        kids.sort(key=lambda n: (n["date"] or "", n["message_id"]))
    out: list[dict] = []
    stack = [(n, 0) for n in reversed(children.get(None, []))]
    seen = set()
    while stack:
        n, depth = stack.pop()
        if n["message_id"] in seen:
            continue
        seen.add(n["message_id"])
        out.append({**n, "depth": depth, "url": lore_url(n["message_id"])})
        stack += [(c, depth + 1) for c in reversed(children.get(n["message_id"], []))]
    return out
