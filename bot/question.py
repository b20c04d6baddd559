"""Understanding a question: explicit commands ("unresolved VMI", "concerns Xen
--status open --by Ingo") and free-form English ("which concerns about VMI
are still open?"), mapped to one intent with its arguments.

Interfaces are found with the same catalog ruler the tagger uses; dates with
a few patterns and dateutil; people are resolved later against the database.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date, timedelta

from dateutil import parser as dateparser

from abiwatch.db.lore import message_id_from
from abiwatch.nlp.catalog import Catalog

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000  # --all: a list longer than this is a query for `abiwatch sql`
KINDS = ("nak", "objection", "request", "question", "risk")
INTENTS = ("unresolved", "concerns", "interface", "patch", "thread", "search", "who", "merged",
           "help")
MAX_QUESTION = 1000
_MONTHS = ("january february march april may june july august september october november "
           "december").split()
_MONTH_RE = re.compile(r"\b(" + "|".join(m[:3] + r"[a-z]*" for m in _MONTHS) + r")\.?\s+(\d{4})\b", re.I)
_YEAR_RE = re.compile(r"\b(?:in|during|of)\s+((?:19|20)\d{2})\b", re.I)
_ISO_RE = re.compile(r"\b((?:19|20)\d{2}-\d{2}-\d{2})\b")
_BEFORE_RE = re.compile(r"\b(?:before|until)\s+((?:19|20)\d{2}(?:-\d{2}(?:-\d{2})?)?)\b", re.I)
_SINCE_RE = re.compile(r"\b(?:since|after|from)\s+((?:19|20)\d{2}(?:-\d{2}(?:-\d{2})?)?)\b", re.I)
_OPEN_WORDS = re.compile(r"\b(open|unresolved|still open|outstanding|pending|unanswered|not resolved|"
                         r"remain|remaining)\b", re.I)
_MERGED_WORDS = re.compile(r"^(?:(?:with|over|despite|the|still|open|unresolved|concerns?|"
                           r"objections?|about|for)\s+)*", re.I)
# "which concerns were merged over?", "merged with open concerns", "merged despite objections"
_MERGED_QUESTION = re.compile(r"\bmerged\b.*\b(?:over|despite|with|still|open|concerns?|"
                              r"objections?|unresolved)\b|\b(?:concerns?|objections?)\b.*\bmerged\b")
_QUESTION_VERB = re.compile(r"(?:nak|nack|object|raise|complain|said|say|asked|worr|objected|"
                            r"disagree|reject)", re.I)
_NAK_WORDS = re.compile(r"\b(?:nak|nack)(?:s|ed|ing)?\b", re.I)
# "resolved in 2021", "answered since 2020-06", "closed before March 2021"
_RESOLVED_WHEN = re.compile(r"\b(?:resolved|answered|addressed|closed|fixed|settled)\s+"
                            r"(?:in|during|since|after|before|until|from|on)\b", re.I)
# "what happened to the major paravirt cleanup series?", "what became of 'x86: pvops'"
_HAPPENED = re.compile(r"\bwhat(?:'s| has| is)?\s+(?:happened|happening|became)\s+(?:to|with|of)\s+"
                       r"(?:the\s+)?(.+?)(?:\s+(?:patch(?:es)?|series|patchset|patch\s+set|"
                       r"posting))?\s*\??\s*$", re.I)
_RESOLVED_WORDS = re.compile(r"\b(resolved|answered|addressed|closed|fixed|settled)\b", re.I)
_STOP = set("""a an the of in on to for about with by from and or is are was were be been what which who
whom whose show me list tell give find did does do any all still open resolved unresolved concerns concern
objections objection object objected raise raised raising worries worry nak naks happened happen
interface series patch patches thread how many much please there their they this that these those
it its i my
can could would should will up over since after before until during month year week""".split())


@dataclass
class Question:
    """A question, understood: the intent and its arguments."""

    intent: str
    raw: str = ""
    interface: str | None = None
    status: str | None = None
    person: str | None = None
    since: str | None = None
    until: str | None = None
    query: str | None = None
    message_id: str | None = None
    unsure: bool = False    # also concerns kept under the model's shown threshold
    kind: str | None = None  # nak, objection, request, question, risk
    dates_of: str = "raised"  # what since/until filter on: "raised" or "resolved"
    limit: int = DEFAULT_LIMIT
    offset: int = 0          # "more" in chat pages on
    explicit: bool = False
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Return how the question was understood, as an explicit command a user can type."""
        parts = [self.intent]
        if self.intent in ("unresolved", "concerns", "interface", "merged") and self.interface:
            parts.append(self.interface)
        if self.intent in ("patch", "search") and self.query:
            parts.append(shlex.quote(self.query))
        if self.intent == "thread" and self.message_id:
            parts.append(self.message_id)
        if self.intent == "who" and self.person:
            parts.append(shlex.quote(self.person))
        if self.intent == "concerns":
            if self.status:
                parts.append(f"--status {self.status}")
            if self.person:
                parts.append(f"--by {shlex.quote(self.person)}")
        if self.intent in ("concerns", "unresolved", "who") and self.kind:
            parts.append(f"--kind {self.kind}")
        prefix = "--resolved-" if self.dates_of == "resolved" else "--"
        if self.intent in ("concerns", "who") and self.since:
            parts.append(f"{prefix}since {self.since}")
        if self.intent in ("concerns", "who") and self.until:
            parts.append(f"{prefix}until {self.until}")
        if self.limit != DEFAULT_LIMIT and self.intent in ("unresolved", "concerns", "who", "search"):
            parts.append(f"--limit {self.limit}")
        if self.offset:
            parts.append(f"(from {self.offset + 1})")
        if self.unsure and self.intent in ("unresolved", "concerns", "who"):
            parts.append("--unsure")
        return " ".join(parts)


def first_day(value: str) -> str:
    """Return the first day named by YYYY, YYYY-MM or YYYY-MM-DD."""
    return value + {4: "-01-01", 7: "-01"}.get(len(value), "")


def _month_range(month: int, year: int) -> tuple[str, str]:
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return start.isoformat(), end.isoformat()


def parse_dates(text: str) -> tuple[str | None, str | None]:
    """Return (since, until) ISO dates named in text ("in January 2007", "since 2006-08")."""
    m = _MONTH_RE.search(text)
    if m:
        month = next(i for i, name in enumerate(_MONTHS, 1) if name.startswith(m.group(1)[:3].lower()))
        return _month_range(month, int(m.group(2)))
    m = _BEFORE_RE.search(text)
    if m:
        return None, first_day(m.group(1))
    m = _SINCE_RE.search(text)
    if m:
        return first_day(m.group(1)), None
    m = _ISO_RE.search(text)
    if m:
        d = date.fromisoformat(m.group(1))
        return d.isoformat(), (d + timedelta(days=1)).isoformat()
    m = _YEAR_RE.search(text)
    if m:
        y = int(m.group(1))
        return f"{y}-01-01", f"{y + 1}-01-01"
    return None, None


def _date_arg(value: str) -> str:
    try:
        return dateparser.parse(value, default=dateparser.parse("2000-01-01")).date().isoformat()
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"cannot read the date {value!r}; use YYYY-MM-DD") from exc


def parse_explicit(text: str, catalog: Catalog) -> Question | None:
    """Return the Question for an explicit command, or None if text is not one."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    if not words or words[0].lower().lstrip("/!") not in INTENTS:
        return None
    intent = words[0].lower().lstrip("/!")
    if intent == "who" and len(words) > 1 and _QUESTION_VERB.match(words[1]):
        return None  # "who NAKed the VMI patch?" asks for people, it does not name one
    q = Question(intent, raw=text, explicit=True)
    rest: list[str] = []
    i = 1
    while i < len(words):
        w = words[i]
        if w == "--unsure":
            q.unsure = True
            i += 1
            continue
        if w == "--all":
            q.limit = MAX_LIMIT
            i += 1
            continue
        if w in ("--status", "--by", "--since", "--until", "--kind", "--limit",
                 "--resolved-since", "--resolved-until") and i + 1 < len(words):
            value = words[i + 1]
            if w == "--kind":
                if value.lower() not in KINDS:
                    raise ValueError(f"--kind takes one of {', '.join(KINDS)}")
                q.kind = value.lower()
            elif w == "--limit":
                if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
                    raise ValueError(f"--limit takes a number from 1 to {MAX_LIMIT}")
                q.limit = int(value)
            elif w.startswith("--resolved-"):
                q.dates_of = "resolved"
                q.status = "resolved"
                if w == "--resolved-since":
                    q.since = _date_arg(value)
                else:
                    q.until = _date_arg(value)
            elif w == "--status":
                if value not in ("open", "resolved", "all"):
                    raise ValueError("--status takes open, resolved or all")
                q.status = None if value == "all" else value
            elif w == "--by":
                q.person = value
            elif w == "--since":
                q.since = _date_arg(value)
            else:
                q.until = _date_arg(value)
            i += 2
            continue
        rest.append(w)
        i += 1
    arg = " ".join(rest).strip()
    if intent in ("unresolved", "concerns", "interface"):
        if arg:
            q.interface = catalog.resolve(arg) or arg
        if intent == "unresolved":
            q.status = "open"
    elif intent == "merged":
        # "merged with open concerns paravirt_ops", "merged over VMI": the words before the name
        arg = _MERGED_WORDS.sub("", arg).strip()
        if arg:
            q.interface = catalog.resolve(arg) or arg
    elif intent in ("patch", "search"):
        q.query = arg or None
        if intent == "patch" and len(rest) == 1:
            q.message_id = message_id_from(arg)
    elif intent == "thread":
        q.message_id = message_id_in(arg) or (arg or None)
    elif intent == "who":
        q.person = arg or None
    return q


def understand(text: str, catalog: Catalog, interfaces_in: list[str]) -> Question:
    """Return the closest intent for a free-form question; interfaces_in are the catalog
    interfaces the pipeline found in it, in order."""
    low = text.lower()
    q = Question("help", raw=text)
    q.interface = interfaces_in[0] if interfaces_in else None
    q.since, q.until = parse_dates(text)
    q.unsure = bool(re.search(r"--unsure\b|\b(?:unsure|low[- ]confidence|even uncertain|all candidates)\b", low))
    mid = message_id_in(text)
    if ("thread" in low or "tree" in low) and mid:
        q.intent, q.message_id = "thread", mid
        return q
    m = _HAPPENED.search(text)
    if m:
        q.intent, q.query = "patch", _quoted(text) or m.group(1).strip()
        q.interface = None
        return q
    if _MERGED_QUESTION.search(low):
        q.intent = "merged"
        return q
    stop = _STOP | interface_words(catalog)
    person = _person_in(text, stop)
    if _NAK_WORDS.search(text):
        q.kind = "nak"
        if not person and re.match(r"\s*who\b", low):
            q.intent = "concerns"
            return q
    if _RESOLVED_WHEN.search(text) and (q.since or q.until):
        q.dates_of = "resolved"
    if _RESOLVED_WORDS.search(text) and not re.search(r"\bnot\s+(resolved|answered|addressed)", low):
        q.status = "resolved"
    if _OPEN_WORDS.search(text):
        q.status = "open"
    if re.search(r"\b(patch|series|posting|respin)\b", low) and not q.interface and not person:
        q.intent = "patch"
        q.query = _quoted(text) or _keywords(text, stop)
        return q
    if re.search(r"\b(patch|series)\b", low) and _quoted(text):
        q.intent, q.query = "patch", _quoted(text)
        return q
    if person and re.search(r"\b(object|objected|objection|objections|raise|raised|nak|naked|"
                            r"complain|complained|worr|concern|against|say|said|think)", low):
        q.person = person
        q.intent = "concerns" if q.interface else "who"
        return q
    if re.search(r"\b(search|mention|mentions|mentioned|messages about|talk about|find)\b", low):
        q.intent = "search"
        q.query = _quoted(text) or _keywords(text, stop)
        return q
    if re.search(r"\b(summary|summarise|summarize|overview|tell me about|what is|status of|"
                 r"what's going on|activity)\b", low) and q.interface and not q.status:
        q.intent = "interface"
        return q
    if re.search(r"\b(concern|concerns|objection|objections|worr|issue|issues|nak|naks|open|"
                 r"unresolved|problem|problems|complaint)", low):
        q.intent = "unresolved" if q.status == "open" and not (q.since or person) else "concerns"
        if person:
            q.person = person
        if q.intent == "concerns" and not (q.interface or q.person or q.since or q.until or q.kind):
            q.intent = "unresolved" if q.status != "resolved" else "concerns"
        return q
    if q.interface:
        q.intent = "interface"
        return q
    if person:
        q.intent, q.person = "who", person
        return q
    keywords = _keywords(text, stop)
    if keywords:
        q.intent, q.query = "search", keywords
        q.notes.append("no interface, person or thread named: searching the archive instead")
    return q


def message_id_in(text: str) -> str | None:
    """Return the first Message-ID named in text: a lore link, '<id>', 'id:ID', else a
    bare id token."""
    tokens = text.split()
    for token in tokens:
        if "/" in token or token.startswith(("<", "id:")):
            mid = message_id_from(token.rstrip("?.,;"))
            if mid:
                return mid
    return next((m for t in tokens if (m := message_id_from(t.rstrip("?.,;")))), None)


def _quoted(text: str) -> str | None:
    m = re.search(r"[\"'“‘]([^\"'”’]{3,})[\"'”’]", text)
    return m.group(1).strip() if m else None


def interface_words(catalog: Catalog) -> set[str]:
    """Return the lowercased words of every interface name and alias in the catalog: not
    keywords to search for, nor a person's name."""
    words = set()
    for i in catalog.interfaces:
        for name in (i.name, *i.aliases):
            words |= set(name.lower().split())
    return words


def _keywords(text: str, stop: set[str] = _STOP) -> str:
    words = re.findall(r"[\w./-]+", text)
    return " ".join(w for w in words if w.lower() not in stop and len(w) > 1)[:200]


_PERSON = re.compile(
    r"\b(?:did|has|have|by|from|of|does)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)"
    r"|\b([A-Z][a-z][\w-]+)'s\b"
    r"|^(?:show\s+me\s+)?([A-Z][a-z][\w-]+)\s+(?:object|said|raised|think)")


def _person_in(text: str, stop: set[str] = _STOP) -> str | None:
    for m in _PERSON.finditer(text):
        # "what did Peter NAK?": an all-capitals word (NAK, ABI, KVM) is not part of a name
        words = [w for w in next(g for g in m.groups() if g).split() if w.upper() != w]
        if words and words[0].lower() not in stop:
            return " ".join(w for w in words if w.lower() not in stop)
    return None
