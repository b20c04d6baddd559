"""Search queries: words for FTS5 (quoted, so no FTS syntax leaks from chat) and lore's
prefixes (s: f: b: d: dfn:), with lore's relative dates."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from abiwatch.bot.question import first_day


def fts_phrase(text: str | None) -> str | None:
    """Return words as an FTS5 query that matches them all, each quoted (no FTS syntax leaks)."""
    words = re.findall(r"[\w]+", text or "")
    return " ".join('"' + w.replace('"', '""') + '"' for w in words[:20]) or None


def fts_terms(parts: list[str]) -> str | None:
    """Return an FTS5 query matching every part: a part of several words ("ABI stable",
    quoted by the user) is a phrase, in that order; each word is quoted."""
    out = []
    for part in parts:
        words = re.findall(r"[\w]+", part)
        if words:
            out.append('"' + " ".join(w.replace('"', '""') for w in words) + '"')
    return " ".join(out[:20]) or None


_RELATIVE = re.compile(r"^(\d+)\.(day|week|month|year)s?\.ago$")
_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_LAST = {"yesterday": 1, "last.week": 7, "last.month": 30, "last.year": 365}


def lore_date(value: str, today: date) -> str | None:
    """Return an ISO date for one end of a lore d: range: 2007-01-01, 20070101, or a
    relative date as lore takes it (2.weeks.ago, 1.year.ago, last.week, yesterday)."""
    value = value.strip().lower()
    if not value:
        return None
    m = _RELATIVE.match(value)
    if m:
        return (today - timedelta(days=int(m.group(1)) * _DAYS[m.group(2)])).isoformat()
    if value in _LAST:
        return (today - timedelta(days=_LAST[value])).isoformat()
    if value == "today":
        return today.isoformat()
    if re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    if re.fullmatch(r"\d{4}(?:-\d{2}){0,2}", value):
        return first_day(value)
    raise ValueError(f"cannot read the date {value!r} in d:; use YYYY-MM-DD or N.days.ago, "
                     "N.weeks.ago, N.months.ago, N.years.ago, last.week")


def parse_search(query: str, today: date | None = None) -> dict[str, Any]:
    """Return search_messages() arguments for a lore-style query: s: subject, f: from,
    t: to, c: cc, a: any address, m: Message-ID, b: body, d: date range (absolute or
    relative), dfn: file in the diff; "quoted words" are a phrase."""
    today = today or date.today()
    terms: dict[str, Any] = {"fts": None, "subject_fts": None, "from_like": None, "since": None,
                             "until": None, "file_like": None, "to_like": None, "cc_like": None,
                             "any_like": None, "message_id": None}
    body, subject, body_only = [], [], False
    for tok in re.findall(r'(\w+:"[^"]*"|\w+:\S+|"[^"]*"|\S+)', query):
        key, colon, value = tok.partition(":")
        value = value.strip('"')
        if colon and key == "s":
            subject.append(value)
        elif colon and key == "f":
            terms["from_like"] = f"%{value.lower()}%"
        elif colon and key == "b":
            body.append(value)
            body_only = True
        elif colon and key in ("t", "c", "a"):
            terms[{"t": "to_like", "c": "cc_like", "a": "any_like"}[key]] = f"%{value.lower()}%"
        elif colon and key == "m":
            terms["message_id"] = value.strip("<>")
        elif colon and key == "dfn":
            terms["file_like"] = f"%{value}%"
        elif colon and key == "d":
            a, _sep, b = value.partition("..")
            terms["since"] = lore_date(a, today)
            terms["until"] = lore_date(b, today)
        else:
            body.append(tok.strip('"'))
    q = fts_terms(body)
    if q:
        terms["fts"] = f"own_text : ({q})" if body_only else q
    q = fts_terms(subject)
    if q:
        terms["subject_fts"] = f"subject : ({q})"
    return terms
