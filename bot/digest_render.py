"""The weekly digest's content (a plain data structure) and its text and HTML forms."""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from abiwatch.bot.verdicts import hand_note, verdict
from abiwatch.db.lore import lore_url

WIDTH = 76


lore_link = lore_url  # one way to write a lore link, shared with the bot and the views


@dataclass
class Section:
    """Everything that happened to one interface in the period."""

    interface: str
    raised: list[dict] = field(default_factory=list)
    resolved: list[dict] = field(default_factory=list)
    still_open: list[dict] = field(default_factory=list)
    open_total: int = 0  # still open from before the period, before the display limit
    series: list[dict] = field(default_factory=list)
    merged: list[dict] = field(default_factory=list)  # versions merged in the period
    trailers: list[dict] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Return True when something new happened to the interface in the period."""
        return bool(self.raised or self.resolved or self.series or self.merged or self.trailers)


@dataclass
class DigestContent:
    """A digest for one period and one set of interfaces, ready to render."""

    label: str  # "2006-W31", or "2006-07-31..2006-08-06" for other periods
    start: date
    end: date  # first day after the period
    interfaces: list[str] | None  # None: all
    sections: list[Section]
    recipient: str | None = None
    unsubscribe: str = ""

    @property
    def empty(self) -> bool:
        """Return True when nothing new happened to any interface in the period."""
        return not any(s.active for s in self.sections)

    @property
    def last_day(self) -> date:
        """Return the last day of the period."""
        return self.end - timedelta(days=1)

    def total(self, attr: str) -> int:
        """Return how many items of one kind (raised, resolved, ...) all sections hold."""
        return sum(len(getattr(s, attr)) for s in self.sections)

    @property
    def open_total(self) -> int:
        """Return how many concerns raised before the period were open at its end."""
        return sum(s.open_total for s in self.sections)


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "?"


def age_days(raised: str | None, end: date) -> int:
    """Return how many whole days a concern raised at `raised` had been open at `end`."""
    if not raised:
        return 0
    when = datetime.fromisoformat(raised.replace("Z", "+00:00"))
    return (datetime(end.year, end.month, end.day, tzinfo=when.tzinfo) - when).days


def _who(name: str | None, addr: str | None) -> str:
    return name or addr or "someone"


def _said(c: dict) -> list[str]:
    """Return the lines quoting a concern's sentence and linking its message."""
    return _wrap(f'"{_quote(c["text"])}"') + [f"      {lore_link(c['message_id'])}"]


def _quote(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _state(c: dict, resolved_now: set[int]) -> str:
    """Return a new concern's state: "open", "resolved this week", "resolved later", or
    the verdict a person gave ("resolved (by hand, Juergen Gross)")."""
    if c.get("correction"):
        return verdict(c["status"], c["correction"], c["corrected_by"])
    if c["id"] in resolved_now:
        return "resolved this week"
    return "resolved later" if c["status"] == "resolved" else "open"


def _resolved_line(c: dict) -> str:
    """Return how and when a resolved concern was resolved, and by whose mail."""
    who = _who(c["resolver_name"], c["resolver_addr"])
    if c.get("correction") == "resolved-by":
        cites = f", citing the mail of {who}" if c["resolved_by"] else ""
        return f"resolved ({c['resolution']}) {_day(c['resolved_date'])}{cites}"
    return f"resolved {_day(c['resolved_date'])} by {who}: {c['resolution']}"


def _reopened(c: dict) -> str:
    """Return " (reopened by hand, NAME)" for a concern a person reopened, else ""."""
    note = hand_note(c.get("correction"), c.get("corrected_by"))
    return f" ({note})" if c.get("correction") == "reopen" else ""


def _series_name(s: dict) -> str:
    tag = ("RFC " if s["is_rfc"] else "") + f"v{s['version']}"
    return f"{s['title']} ({tag})"


def _series_note(s: dict) -> str:
    if s["supersedes"]:
        prev = ("RFC " if s["prev_is_rfc"] else "") + f"v{s['prev_version']}"
        return f"new version of {prev} posted {_day(s['prev_date'])}"
    return "new series"


def _merged_note(x: dict) -> str:
    """Return "merged in v6.8-rc1 as a0905d5fa8e2 (3 of 4 parts; 1 concern still open at merge)"."""
    where = f" in {x['release']}" if x["release"] else ""
    details = [f"{x['merged_parts']} of {x['parts']} parts"] if x["state"] == "partial" else []
    n = x["open_at_merge"]
    details.append(f"{n} concern{'s' if n != 1 else ''} still open at merge" if n
                   else "no concern open at merge")
    return f"merged{where} as {(x['first_commit'] or '')[:12]} ({'; '.join(details)})"


def _trailer_line(t: dict) -> str:
    kind = "NAK" if t["name"] in ("NAK", "Nacked-by") else t["name"]
    who = _who(t["person_name"], t["person_addr"])
    return f"{kind} from {who}, {_day(t['date'])}"


def summary_line(d: DigestContent) -> str:
    """Return the one-line summary of a digest (the whole body of an empty one)."""
    names = ", ".join(d.interfaces) if d.interfaces else "any interface"
    if d.empty:
        still = f"; {d.open_total} concerns raised earlier are still open" if d.open_total else ""
        return (f"Nothing new on {names} in {d.label} ({d.start} to {d.last_day}): no concerns "
                f"raised or resolved, no new series, no NAKs or maintainer acks{still}.")
    return (f"{d.total('raised')} concerns raised, {d.total('resolved')} resolved, "
            f"{d.open_total} still open from earlier weeks, {d.total('series')} new series or "
            f"versions, {d.total('merged')} merged, {d.total('trailers')} NAKs or maintainer acks.")


def subject(d: DigestContent, prefix: str) -> str:
    """Return the Subject of a digest."""
    if d.empty:
        return f"{prefix} digest {d.label}: nothing new".strip()
    return (f"{prefix} digest {d.label}: {d.total('raised')} concerns raised, "
            f"{d.total('resolved')} resolved, {d.total('series')} new series").strip()


# --- plain text -------------------------------------------------------------

def _wrap(text: str, indent: int = 6) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=" " * indent,
                         subsequent_indent=" " * indent, break_on_hyphens=False) or [""]


def _text_items(d: DigestContent, s: Section) -> list[str]:
    out: list[str] = []

    def head(title: str, items: list) -> None:
        out.extend(["", f"{title} ({len(items)})"])

    if s.raised:
        head("New concerns", s.raised)
        resolved_now = {r["id"] for r in s.resolved}
        for c in s.raised:
            out.append(f"  #{c['id']} {c['kind']}, {_day(c['date'])}, "
                       f"{_who(c['author_name'], c['author_addr'])} ({_state(c, resolved_now)})")
            out += _said(c)
    if s.resolved:
        head("Resolved", s.resolved)
        for c in s.resolved:
            out.append(f"  #{c['id']} {c['kind']} raised {_day(c['date'])} by "
                       f"{_who(c['author_name'], c['author_addr'])}")
            out += _said(c)
            out += _wrap(_resolved_line(c))
            if c["resolved_by"]:
                out.append(f"      {lore_link(c['resolved_by'])}")
    if s.still_open:
        more = s.open_total - len(s.still_open)
        out.extend(["", f"Still open from earlier weeks ({s.open_total}, oldest first"
                        + (f"; the {len(s.still_open)} oldest shown" if more else "") + ")"])
        for c in s.still_open:
            out.append(f"  #{c['id']} {c['kind']}, {age_days(c['date'], d.end)} days old "
                       f"(raised {_day(c['date'])} by {_who(c['author_name'], c['author_addr'])})"
                       + _reopened(c))
            out += _said(c)
    if s.series:
        head("New series and versions", s.series)
        for x in s.series:
            out.append(f"  {_series_name(x)}")
            out += _wrap(f"by {_who(x['author_name'], x['author_addr'])}, {_day(x['first_date'])}"
                         f"; {_series_note(x)}")
            out.append(f"      {lore_link(x['link_id'])}")
            if x["supersedes"]:
                out.append(f"      previous: {lore_link(x['supersedes'])}")
    if s.merged:
        head("Merged", s.merged)
        for x in s.merged:
            out.append(f"  {_series_name(x)}")
            out += _wrap(f"by {_who(x['author_name'], x['author_addr'])}; {_merged_note(x)}, "
                         f"{_day(x['merged_date'])}")
            out.append(f"      {lore_link(x['link_id'])}")
    if s.trailers:
        head("NAKs and maintainer acks", s.trailers)
        for t in s.trailers:
            out.append(f"  {_trailer_line(t)}")
            if t["patch_title"]:
                out += _wrap(f'on "{_quote(t["patch_title"], 120)}"')
            out.append(f"      {lore_link(t['message_id'])}")
    return out


def render_text(d: DigestContent) -> str:
    """Return the plain-text part of a digest."""
    if d.empty:
        return summary_line(d) + "\n" + _text_footer(d)
    out = [f"abiwatch weekly digest {d.label} ({d.start} to {d.last_day})",
           "Interfaces: " + (", ".join(d.interfaces) if d.interfaces else "all"), ""]
    out += textwrap.wrap(summary_line(d), WIDTH)
    for s in d.sections:
        if s.active:
            out += ["", "=" * WIDTH, s.interface, "=" * WIDTH]
            out += _text_items(d, s)
    quiet = [f"{s.interface} ({s.open_total} still open)" for s in d.sections
             if not s.active and s.open_total]
    if quiet:
        out += ["", "Nothing new on: " + ", ".join(quiet)]
    return "\n".join(out) + "\n" + _text_footer(d)


def _text_footer(d: DigestContent) -> str:
    lines = ["", "-- ", "Each #N is a concern: `abiwatch explain N` says why it was flagged."]
    if d.recipient:
        lines.append(f"Sent to {d.recipient}; unsubscribe: {d.unsubscribe}")
    return "\n".join(lines) + "\n"


# --- HTML ---------------------------------------------------------------------

def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _a(message_id: str, label: str | None = None) -> str:
    url = lore_link(message_id)
    return f'<a href="{_e(url)}">{_e(label or url)}</a>'


def _html_items(d: DigestContent, s: Section) -> list[str]:
    out: list[str] = []

    def block(title: str, n: int, items: list[str]) -> None:
        out.append(f"<h3>{_e(title)} ({n})</h3>")
        out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")

    resolved_ids = {r["id"] for r in s.resolved}
    if s.raised:
        block("New concerns", len(s.raised), [
            f"<b>#{c['id']}</b> {_e(c['kind'])}, {_e(_day(c['date']))}, "
            f"{_e(_who(c['author_name'], c['author_addr']))} ({_e(_state(c, resolved_ids))})"
            f"<br><q>{_e(_quote(c['text']))}</q><br>{_a(c['message_id'])}" for c in s.raised])
    if s.resolved:
        block("Resolved", len(s.resolved), [
            f"<b>#{c['id']}</b> {_e(c['kind'])} raised {_e(_day(c['date']))} by "
            f"{_e(_who(c['author_name'], c['author_addr']))}<br><q>{_e(_quote(c['text']))}</q>"
            f"<br>{_a(c['message_id'])}<br>{_e(_resolved_line(c))}"
            + (f"<br>{_a(c['resolved_by'])}" if c["resolved_by"] else "") for c in s.resolved])
    if s.still_open:
        more = s.open_total - len(s.still_open)
        title = "Still open from earlier weeks, oldest first"
        out.append(f"<h3>{_e(title)} ({s.open_total}"
                   + (f"; the {len(s.still_open)} oldest shown" if more else "") + ")</h3>")
        out.append("<ul>" + "".join(
            f"<li><b>#{c['id']}</b> {_e(c['kind'])}, {age_days(c['date'], d.end)} days old "
            f"(raised {_e(_day(c['date']))} by {_e(_who(c['author_name'], c['author_addr']))})"
            f"{_e(_reopened(c))}<br><q>{_e(_quote(c['text']))}</q><br>{_a(c['message_id'])}</li>"
            for c in s.still_open) + "</ul>")
    if s.series:
        block("New series and versions", len(s.series), [
            f"{_a(x['link_id'], _series_name(x))} by "
            f"{_e(_who(x['author_name'], x['author_addr']))}, {_e(_day(x['first_date']))}; "
            f"{_e(_series_note(x))}"
            + (f" ({_a(x['supersedes'], 'previous version')})" if x["supersedes"] else "")
            + f"<br>{_a(x['link_id'])}" for x in s.series])
    if s.merged:
        block("Merged", len(s.merged), [
            f"{_a(x['link_id'], _series_name(x))} by "
            f"{_e(_who(x['author_name'], x['author_addr']))}; {_e(_merged_note(x))}, "
            f"{_e(_day(x['merged_date']))}<br>{_a(x['link_id'])}" for x in s.merged])
    if s.trailers:
        block("NAKs and maintainer acks", len(s.trailers), [
            f"{_e(_trailer_line(t))}"
            + (f" on <q>{_e(_quote(t['patch_title'], 120))}</q>" if t["patch_title"] else "")
            + f"<br>{_a(t['message_id'])}" for t in s.trailers])
    return out


def render_html(d: DigestContent) -> str:
    """Return the HTML part of a digest; every piece of mail text is escaped."""
    title = f"abiwatch weekly digest {d.label}"
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
           f"<title>{_e(title)}</title></head>", "<body>"]
    if d.empty:
        out.append(f"<p>{_e(summary_line(d))}</p>")
    else:
        out.append(f"<h1>{_e(title)}</h1>")
        out.append(f"<p>{_e(d.start)} to {_e(d.last_day)}; interfaces: "
                   f"{_e(', '.join(d.interfaces) if d.interfaces else 'all')}</p>")
        out.append(f"<p>{_e(summary_line(d))}</p>")
        for s in d.sections:
            if s.active:
                out.append(f"<h2>{_e(s.interface)}</h2>")
                out += _html_items(d, s)
        quiet = [f"{s.interface} ({s.open_total} still open)" for s in d.sections
                 if not s.active and s.open_total]
        if quiet:
            out.append(f"<p>Nothing new on: {_e(', '.join(quiet))}</p>")
    out.append("<hr><p><small>Each #N is a concern: <code>abiwatch explain N</code> says why it "
               "was flagged.")
    if d.recipient:
        link = (f'<a href="{_e(d.unsubscribe)}">{_e(d.unsubscribe)}</a>'
                if d.unsubscribe.startswith(("mailto:", "https:")) else _e(d.unsubscribe))
        out.append(f"<br>Sent to {_e(d.recipient)}; unsubscribe: {link}")
    out.append("</small></p></body></html>")
    return "\n".join(out) + "\n"
