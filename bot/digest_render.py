"""The weekly digest's wording, shared by both parts, and its plain-text part.

The text part is for mutt and other terminal readers: 76 columns, links on lines of
their own (never wrapped, so they stay clickable), one block per series.
"""

from __future__ import annotations

import re
import textwrap
from datetime import date, datetime

from abiwatch.bot.digest_content import (
    NAK_NAMES,
    Block,
    DigestContent,
    Review,
    clean_subject,
    resolved_in,
)
from abiwatch.bot.verdicts import hand_note, merge_details, merged_phrase, verdict
from abiwatch.db.lore import lore_url

WIDTH = 76
RULE = "=" * WIDTH

lore_link = lore_url  # one way to write a lore link, shared with the bot and the views

_PATCH_TITLE = re.compile(r"\[[^\]]*\b(PATCH|RFC)\b", re.IGNORECASE)


def day(iso: str | None) -> str:
    """Return the day of an ISO date-time ("2020-04-08"), "?" when unknown."""
    return iso[:10] if iso else "?"


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def age_days(raised: str | None, end: date) -> int:
    """Return how many whole days a concern raised at `raised` had been open at `end`."""
    if not raised:
        return 0
    when = datetime.fromisoformat(raised.replace("Z", "+00:00"))
    return (datetime(end.year, end.month, end.day, tzinfo=when.tzinfo) - when).days


def who(name: str | None, addr: str | None) -> str:
    return name or addr or "someone"


def quote(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


# --- wording shared by the text and HTML parts ------------------------------------

def block_line(b: Block) -> str:
    """Return what a block is and which interfaces it touches."""
    if b.kind == "series":
        what = f"Series by {b.author}" if b.author else "Series"
    elif _PATCH_TITLE.search(b.title):
        what = "Thread on patches not in the archive"
    else:
        what = "Thread"
    return f"{what}; {', '.join(b.interfaces)}"


def version_name(is_rfc: int | None, version: int | None) -> str:
    return ("RFC " if is_rfc else "") + f"v{version or 1}"


def about(row: dict, b: Block) -> str:
    """Return which patch of the block a concern or trailer is about ("on v3 05/15 x86:
    ..."), or "" when it is about the block as a whole (its cover letter or thread)."""
    part, total = row.get("patch_part"), row.get("patch_total")
    if row.get("patch_title") and (part is not None or row.get("patch_version") is not None):
        if part == 0:
            label = "the cover letter"
        elif part and total and total > 1:
            width = len(str(total))
            label = f"{part:0{width}d}/{total} {row['patch_title']}"
        else:
            label = row["patch_title"]
        version, rfc = row.get("patch_version") or 1, row.get("patch_is_rfc")
        if b.kind == "series" and (version > 1 or rfc):  # a block holds every version
            label = f"{version_name(rfc, version)} {label}"
        return "" if label == b.title and b.names_root else f"on {label}"
    if not row.get("subject"):
        return ""
    subject = clean_subject(row["subject"])
    return "" if subject == b.title and b.names_root else f"on {subject}"


def state(c: dict, d: DigestContent) -> str:
    """Return a new concern's state: "open", "resolved this week", "resolved later", or
    the verdict a person gave ("resolved (by hand, Juergen Gross)")."""
    if c.get("correction"):
        return verdict(c["status"], c["correction"], c["corrected_by"])
    if resolved_in(c, d):
        return "resolved this week"
    return "resolved later" if c["status"] == "resolved" else "open"


def resolved_line(c: dict) -> str:
    """Return how and when a resolved concern was resolved, and by whose mail."""
    by = who(c["resolver_name"], c["resolver_addr"])
    if c.get("correction") == "resolved-by":
        cites = f", citing the mail of {by}" if c["resolved_by"] else ""
        return f"resolved ({c['resolution']}) {day(c['resolved_date'])}{cites}"
    return f"resolved {day(c['resolved_date'])} by {by}: {c['resolution']}"


def reopened(c: dict) -> str:
    """Return " (reopened by hand, NAME)" for a concern a person reopened, else ""."""
    note = hand_note(c.get("correction"), c.get("corrected_by"))
    return f" ({note})" if c.get("correction") == "reopen" else ""


def remark_head(c: dict, b: Block, d: DigestContent, on: bool) -> str:
    """Return "#29 nak (paravirt_ops), open, on 09/26 x86/paravirt: ..." for a new concern."""
    iface = f" ({c['interface']})" if len(b.concern_interfaces) > 1 else ""
    where = about(c, b) if on else ""
    return f"#{c['id']} {c['kind']}{iface}, {state(c, d)}" + (f", {where}" if where else "")


def review_head(r: Review) -> str:
    return f"{r.reviewer}, {day(r.date)}: {_n(len(r.concerns), 'remark')}"


def earlier_head(c: dict, b: Block, d: DigestContent, age: bool = True) -> str:
    """Return the line of a concern raised before the period (still open, or resolved)."""
    where = about(c, b)
    iface = f" ({c['interface']})" if len(b.concern_interfaces) > 1 else ""
    days = f", {age_days(c['date'], d.end)} days ago" if age else ""
    return (f"#{c['id']} {c['kind']}{iface} by {who(c['author_name'], c['author_addr'])}, "
            f"raised {day(c['date'])}{days}" + reopened(c) + (f", {where}" if where else ""))


def version_line(x: dict) -> str:
    parts = f"{x['total']} patches" if x["total"] and x["total"] > 1 else "1 patch"
    if x["received"] is not None and x["total"] and x["received"] < x["total"]:
        parts += f", {x['received']} in the archive"
    if x["supersedes"]:
        note = (f"new version of {version_name(x['prev_is_rfc'], x['prev_version'])} "
                f"posted {day(x['prev_date'])}")
    else:
        note = "new series"
    return (f"{version_name(x['is_rfc'], x['version'])}, {day(x['first_date'])}, {parts}; "
            f"{note}")


def merged_line(x: dict) -> str:
    """Return "v2 merged in v6.8-rc1 as a0905d5fa8e2 on 2023-12-01 (3 of 4 parts; 1 concern
    still open at merge)"."""
    details = merge_details(x["state"], x["merged_parts"], x["parts"], x["open_at_merge"]) \
        or ["no concern open at merge"]
    return (f"{version_name(x['is_rfc'], x['version'])} "
            + merged_phrase(x["release"], x["first_commit"], x["merged_date"], details))


def trailer_line(t: dict, b: Block) -> str:
    kind = "NAK" if t["name"] in NAK_NAMES else t["name"]
    where = about(t, b)
    return f"{kind} from {who(t['person_name'], t['person_addr'])}, {day(t['date'])}" + (
        f", {where}" if where else "")


def earlier_open_line(b: Block) -> str:
    ids = ", ".join(f"#{c['id']}" for c in b.still_open)
    more = b.open_earlier - len(b.still_open)
    listed = f" ({ids}{f' and {more} more' if more > 0 and ids else ''})" if ids else ""
    return (f"{_n(b.open_earlier, 'earlier concern')} still open{listed}, listed under "
            "Still open below" if ids else f"{_n(b.open_earlier, 'earlier concern')} still open")


def news_counts(d: DigestContent) -> list[str]:
    """Return the period's counts, as the subject and the summary give them."""
    where = [_n(d.count("series"), "series", "series")] if d.count("series") else []
    where += [_n(d.count("threads"), "thread")] if d.count("threads") else []
    resolved = d.count("resolved") + d.count("resolved_new")
    items = [(d.count("versions"), "new version"), (d.count("raised"), "new concern"),
             (resolved, "resolved", "resolved"), (d.count("naks"), "NAK"),
             (d.count("acks"), "maintainer ack"), (d.count("merged"), "merged", "merged")]
    return [" and ".join(where)] + [_n(n, *words) for n, *words in items if n]


def open_summary(d: DigestContent) -> str:
    """Return the summary's second line: how many earlier concerns are still open, where."""
    listed = d.count("open") + d.unlisted_open
    if not listed + d.dormant_open:
        return "Still open: no concern raised earlier."
    where = f"on series with mail in the {d.active_days} days to {d.last_day}"
    active = f"{_n(listed, 'concern')} {where}, listed below" if listed else f"none {where}"
    return f"Still open: {active}; {d.dormant_open} on dormant series."


def dormant_line(d: DigestContent) -> str:
    """Return the one line that stands for the open concerns on dormant series."""
    return f"{_n(d.dormant_open, 'older open concern')} on dormant series: `{ask_command(d)}`"


def ask_command(d: DigestContent) -> str:
    one = f" {d.interfaces[0]}" if d.interfaces and len(d.interfaces) == 1 else ""
    return f'abiwatch ask "unresolved{one}"'


def summary_line(d: DigestContent) -> str:
    """Return the one-line summary of a digest (the whole body of an empty one)."""
    names = ", ".join(d.interfaces) if d.interfaces else "any interface"
    if d.empty:
        still = f"; {d.open_total} concerns raised earlier are still open" if d.open_total else ""
        return (f"Nothing new on {names} in {d.label} ({d.start} to {d.last_day}): no concerns "
                f"raised or resolved, no new series, no NAKs or maintainer acks{still}.")
    head, *items = news_counts(d)
    return f"News on {head}: {', '.join(items) or 'new mail'}."


def subject(d: DigestContent, prefix: str) -> str:
    """Return the Subject of a digest: the same counts as the summary at the top of the body."""
    if d.empty:
        return f"{prefix} digest {d.label}: nothing new".strip()
    return f"{prefix} digest {d.label}: {', '.join(news_counts(d))}".strip()


# --- plain text -------------------------------------------------------------------

def _wrap(text: str, indent: int = 6, first: int | None = None) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=" " * (indent if first is None else first),
                         subsequent_indent=" " * indent, break_on_hyphens=False,
                         break_long_words=False) or [""]


def _said(c: dict, indent: int) -> list[str]:
    return _wrap(f'"{quote(c["text"])}"', indent)


def _link(message_id: str, indent: int, label: str = "") -> str:
    return " " * indent + label + lore_link(message_id)


def _text_block(b: Block, d: DigestContent) -> list[str]:
    out = ["", RULE, *textwrap.wrap(b.title, WIDTH), RULE, *_wrap(block_line(b), 0),
           lore_link(b.link_id)]
    if b.versions:
        out += ["", f"Posted ({len(b.versions)})"]
        for x in b.versions:
            out += _wrap(version_line(x), 6, 2) + [_link(x["link_id"], 6)]
            if x["supersedes"]:
                out.append(_link(x["supersedes"], 6, "previous: "))
    if b.reviews:
        out += ["", f"New concerns ({len(b.raised)})"]
        for r in b.reviews:
            out.append(f"  {review_head(r)}")
            for i, c in enumerate(r.concerns):
                prev = r.concerns[i - 1]["message_id"] if i else None
                after = r.concerns[i + 1]["message_id"] if i + 1 < len(r.concerns) else None
                out += _wrap(remark_head(c, b, d, c["message_id"] != prev), 8, 4)
                out += _said(c, 8)
                if c["message_id"] != after:  # remarks of one mail share its link
                    out.append(_link(c["message_id"], 8))
                if resolved_in(c, d) or c.get("correction") == "resolved-by":
                    out += _wrap(resolved_line(c), 8)
                    if c["resolved_by"]:
                        out.append(_link(c["resolved_by"], 8))
    if b.resolved:
        out += ["", f"Resolved ({len(b.resolved)})"]
        for c in b.resolved:
            out += _wrap(earlier_head(c, b, d, age=False), 6, 2) + _said(c, 6)
            out += [_link(c["message_id"], 6)] + _wrap(resolved_line(c), 6)
            if c["resolved_by"]:
                out.append(_link(c["resolved_by"], 6))
    if b.trailers:
        out += ["", f"NAKs and maintainer acks ({len(b.trailers)})"]
        for t in b.trailers:
            out += _wrap(trailer_line(t, b), 6, 2) + [_link(t["message_id"], 6)]
    if b.merged:
        out += ["", f"Merged ({len(b.merged)})"]
        for x in b.merged:
            out += _wrap(merged_line(x), 6, 2) + [_link(x["link_id"], 6)]
    if b.open_earlier:
        out += ["", *_wrap(earlier_open_line(b), 0)]
    return out


def _text_open(d: DigestContent) -> list[str]:
    out: list[str] = []
    if d.open_blocks:
        out += ["", RULE, *textwrap.wrap(f"Still open on series with mail in the {d.active_days} "
                                         f"days to {d.last_day} ({d.count('open')}, oldest "
                                         "first)", WIDTH), RULE]
        for b in d.open_blocks:
            out += ["", *textwrap.wrap(b.title, WIDTH),
                    *_wrap(f"{block_line(b)}; last mail {day(b.last_active)}", 0),
                    lore_link(b.link_id)]
            for c in b.still_open:
                out += _wrap(earlier_head(c, b, d), 6, 2) + _said(c, 6)
                out.append(_link(c["message_id"], 6))
    if d.unlisted_open:  # one line, however long: the command is copied from it
        out += ["", f"{_n(d.unlisted_open, 'more open concern')} on active series: "
                    f"`{ask_command(d)}`"]
    if d.dormant_open:  # one line, however long: the command is copied from it
        out += ["", dormant_line(d)]
    return out


def render_text(d: DigestContent) -> str:
    """Return the plain-text part of a digest."""
    if d.empty:
        return summary_line(d) + "\n" + _text_footer(d)
    out = [f"abiwatch weekly digest {d.label} ({d.start} to {d.last_day})",
           "Interfaces: " + (", ".join(d.interfaces) if d.interfaces else "all"), ""]
    out += textwrap.wrap(summary_line(d), WIDTH) + textwrap.wrap(open_summary(d), WIDTH)
    for b in d.blocks:
        out += _text_block(b, d)
    out += _text_open(d)
    return "\n".join(out) + "\n" + _text_footer(d)


def _text_footer(d: DigestContent) -> str:
    lines = ["", "-- ", "Each #N is a concern: `abiwatch explain N` says why it was flagged."]
    if d.recipient:
        lines.append(f"Sent to {d.recipient}; unsubscribe: {d.unsubscribe}")
    return "\n".join(lines) + "\n"
