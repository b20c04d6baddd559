"""The answer engine: a question in, a typed answer out. No Discord, no
formatting, no SQL text: it reads the database read-only through db/ queries.

Every item carries the lore.kernel.org link of the mail it comes from.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, replace
from pathlib import Path

from abiwatch.bot import series_answers
from abiwatch.bot.answer_types import Answer, ConcernItem, concern_item
from abiwatch.bot.question import MAX_QUESTION, Question, parse_explicit, understand
from abiwatch.bot.search_terms import parse_search
from abiwatch.db import DatabaseMissing, open_db
from abiwatch.db import answer_queries as aq
from abiwatch.db import merge_queries as mq
from abiwatch.db.lore import lore_url
from abiwatch.nlp.catalog import Catalog, catalog_of, load_catalog

logger = logging.getLogger(__name__)

# chat follow-ups: "and for Xen?", "what about KVM", "and Hyper-V"
_AND_FOR = re.compile(r"^(?:and|what about|how about)\s+(?:for\s+|about\s+)?(.+)$")


HELP = (
    "Ask in plain words (\"which concerns about VMI are still open?\", \"what did Ingo "
    "object to in January 2007?\") or use a command:\n"
    "  unresolved [INTERFACE] [--kind KIND]   open concerns, newest first\n"
    "  concerns INTERFACE [--status open|resolved|all] [--by PERSON] [--since DATE]\n"
    "           [--until DATE] [--kind nak|objection|request|question|risk]\n"
    "           [--resolved-since DATE] [--resolved-until DATE]\n"
    "  interface NAME                patches, versions, concern counts, people\n"
    "  patch WORDS|MESSAGE-ID        a series, its versions, trailers and concerns\n"
    "  thread MESSAGE-ID             the thread as a tree\n"
    "  search QUERY                  s:subject f:from b:body d:2007-01-01..2007-03-31 dfn:file\n"
    "  who PERSON                    what a person raised and whether it was resolved\n"
    "  merged [INTERFACE]            concerns still open when their series was merged\n"
    "Add --unsure to unresolved, concerns and who to include concerns under the model's\n"
    "confidence threshold (kept, but not shown by default); --limit N or --all to lists\n"
    "(50 by default). Message-IDs may be given as <id>, id:ID or any lore.kernel.org link."
)


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

    def follow_up(self, text: str, last: Question | None) -> Question | None:
        """Return the question a chat follow-up asks after last: "more" pages on, "and for
        Xen?" asks the same with another interface; None if text is a new question."""
        if last is None:
            return None
        low = text.strip().lower().rstrip("?!. ")
        if low in ("more", "next", "show more", "more please", "and more"):
            return replace(last, offset=last.offset + last.limit, explicit=True, notes=[])
        m = _AND_FOR.match(low)
        if m and last.intent in ("unresolved", "concerns", "interface", "merged", "who"):
            name = self.catalog.resolve(m.group(1).strip())
            if name:
                return replace(last, interface=name, offset=0, explicit=True, notes=[])
        return None

    def ask(self, text: str) -> Answer:
        """Return the answer to a question typed by a person."""
        try:
            q = self.understand(text)
        except ValueError as exc:
            return Answer("help", "help", note=f"{exc}.\n{HELP}", title="I could not read that",
                          ok=False)
        return self.answer(q)

    def answer(self, q: Question) -> Answer:
        """Return the answer to an understood question."""
        if not self.db_path.exists():
            return Answer(q.intent, q.describe(), note=f"no database at {self.db_path}: run "
                          "`abiwatch ingest ARCHIVE` and `abiwatch tag` first", title="No data")
        try:
            db = open_db(self.db_path, readonly=True)
        except DatabaseMissing as exc:
            return Answer(q.intent, q.describe(), note=str(exc), title="Database not ready", ok=False)
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

    def _filter(self, q: Question, people: list[dict] | None) -> aq.ConcernFilter:
        """Return the concern filter a question asks for (dates on raising or resolving)."""
        on_resolution = q.dates_of == "resolved"
        return aq.ConcernFilter(
            interface=q.interface, status=q.status, kind=q.kind,
            person_addrs=[p["addr"] for p in people] if people is not None else None,
            since=None if on_resolution else q.since, until=None if on_resolution else q.until,
            resolved_since=q.since if on_resolution else None,
            resolved_until=q.until if on_resolution else None, unsure=q.unsure)

    def _concern_list(self, db, q: Question, f: aq.ConcernFilter) -> tuple[list[ConcernItem], dict, str | None]:
        """Return one page of concerns, the counts behind it and a note saying what was left out."""
        rows = aq.concerns(db, f, limit=q.offset + q.limit)[q.offset:]
        items = [concern_item(r) for r in rows]
        total = aq.concern_total(db, f)
        summary = {"total": total, "shown": len(items), "offset": q.offset}
        note = None
        if q.offset + len(items) < total:
            first = q.offset + 1
            note = (f"{first}-{q.offset + len(items)} of {total} shown: add --all or --limit N "
                    f"(or narrow with --since, --by, --kind), or say \"more\" in chat")
        elif q.offset:
            note = f"{q.offset + 1}-{q.offset + len(items)} of {total} shown (the last of them)"
        if q.dates_of == "resolved" and (q.since or q.until):
            when = " and ".join(x for x in (q.since and f"on or after {q.since}",
                                            q.until and f"before {q.until}") if x)
            dated = f"dates are when each was resolved (by its resolving mail): {when}"
            note = f"{note}; {dated}" if note else dated
        return items, summary, note

    def _concerns(self, db, q: Question, intent: str = "concerns") -> Answer:
        err = self._check_interface(db, q)
        if err:
            return Answer(intent, q.describe(), note=err, title="Unknown interface", ok=False)
        people = self._people(db, q.person)
        f = self._filter(q, people)
        items, summary, note = self._concern_list(db, q, f)
        what = {"open": "Open concerns", "resolved": "Resolved concerns"}.get(q.status or "", "Concerns")
        if q.kind:
            what = {"nak": "NAKs"}.get(q.kind, f"{what} of kind {q.kind}")
            what = f"Open {what}" if q.status == "open" and q.kind == "nak" else what
        title = f"{what} about {q.interface}" if q.interface else f"{what}, all interfaces"
        if q.person:
            names = list(dict.fromkeys(p["name"] or p["addr"] for p in people[:3]))
            title += f" raised by {', '.join(names) or q.person}"
        if people == []:
            note = f"nobody called {q.person!r} is in the archive"
        elif not items:
            note = "none found" + ("" if aq.concern_counts(db) else
                                   " (the database has no concerns yet: run `abiwatch tag`)")
        summary["counts"] = aq.concern_counts(db, q.interface, unsure=q.unsure)
        unsure_more = 0 if q.unsure or people == [] else aq.unsure_count(db, f)
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
            return Answer("interface", q.describe(), note=err, title="Unknown interface", ok=False)
        s = aq.interface_summary(db, q.interface)
        open_rows = aq.concerns(db, aq.ConcernFilter(interface=q.interface, status="open"), limit=5)
        s["open_concerns"] = [asdict(concern_item(r)) for r in open_rows]
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
        return series_answers.patch_answer(db, q)

    def _merged(self, db, q: Question) -> Answer:
        err = self._check_interface(db, q)
        if err:
            return Answer("merged", q.describe(), note=err, title="Unknown interface", ok=False)
        return series_answers.merged_answer(db, q)

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
        try:
            terms = parse_search(q.query or "")
        except ValueError as exc:
            return Answer("search", q.describe(), note=str(exc), title="Search", ok=False)
        if not any(terms.values()):
            return Answer("search", q.describe(), note="nothing to search for", title="Search")
        try:
            rows, total = aq.search_messages(db, **terms, limit=q.offset + q.limit)
        except Exception as exc:  # an FTS syntax error from odd input: say so, do not crash
            logger.info("search failed for %r: %s", q.query, exc)
            return Answer("search", q.describe(), note="that search could not be run; try plain words",
                          title="Search", ok=False)
        rows = rows[q.offset:]
        for r in rows:
            r["url"] = lore_url(r["message_id"])
        note = None if rows else "no message matches"
        more = "+" if total >= aq.SEARCH_POOL else ""
        if q.offset + len(rows) < total:
            note = (f"{q.offset + 1}-{q.offset + len(rows)} of {total}{more} shown, newest first: "
                    "add --limit N or --all, narrow with s: f: d:, or say \"more\" in chat")
        return Answer("search", q.describe(), rows,
                      {"count": len(rows), "shown": len(rows), "total": total, "offset": q.offset},
                      note, f"Search: {q.query}")

    def _who(self, db, q: Question) -> Answer:
        if not q.person:
            return Answer("who", q.describe(), note="who? give a name or an address", title="Who")
        people = aq.people_matching(db, q.person)
        if not people:
            return Answer("who", q.describe(), note=f"nobody called {q.person!r} is in the archive",
                          title="Who")
        items, summary, note = self._concern_list(db, q, self._filter(q, people))
        summary.update({"people": people[:5], "open": sum(i.status == "open" for i in items),
                        "resolved": sum(i.status == "resolved" for i in items)})
        name = people[0]["name"] or people[0]["addr"]
        what = "NAKs" if q.kind == "nak" else "Concerns"
        return Answer("who", q.describe(), items, summary,
                      note if items else f"{name} raised no concern the tagger found"
                      + (f" of kind {q.kind}" if q.kind else ""),
                      f"{what} raised by {name}")

    def _help(self, db, q: Question) -> Answer:
        return Answer("help", "help", note=HELP, title="How to ask")


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
