"""Answers as text for a terminal, as JSON for scripts, and as Discord embed
dicts within Discord's limits (the Discord adapter turns them into embeds)."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, is_dataclass
from typing import Any

from abiwatch.bot.engine import Answer, ConcernItem
from abiwatch.bot.verdicts import merge_details, merged_phrase, verdict

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
EMBED_TOTAL = 6000
MESSAGE_CONTENT = 2000
FIELDS_PER_PAGE = 8


def _day(date: str | None) -> str:
    return (date or "????-??-??")[:10]


def _cut(text: str, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _cut_lines(text: str, n: int) -> str:
    """Cut to n characters keeping line breaks (an embed field's lines are meaningful)."""
    return text if len(text) <= n else text[: n - 1] + "…"


def outcome_phrase(o: dict | None) -> str:
    """Return what became of a posting: "merged in v6.8-rc1 as 94d4a32d9648 on 2023-12-01
    (3 of 4 parts; 1 concern still open at merge)", "superseded", "not merged yet"..."""
    if not o:
        return ""
    if o["state"] not in ("merged", "partial"):
        return {"superseded": "superseded", "abandoned": "abandoned (unmerged, quiet)",
                "open": "not merged yet"}.get(o["state"], o["state"])
    return merged_phrase(o.get("release"), o["first_commit"], o["merged_date"], merge_details(
        o["state"], o["merged_parts"], o["parts"], o.get("open_at_merge") or 0))


def merge_line(c: ConcernItem) -> str:
    """Return the line saying when and as what the code a concern was about went in."""
    m = c.merge or {}
    return (merged_phrase(m.get("release"), m.get("commit"), m.get("date"), [f"v{m.get('version')}"])
            + f" with this still open: {m.get('url')}")


def concern_lines(c: ConcernItem, width: int = 100) -> list[str]:
    """Return the terminal lines for one concern."""
    head = (f"[{verdict(c.status, c.correction, c.corrected_by)}] {c.interface} · {c.kind} · "
            f"{c.author or '?'} · {_day(c.date)} · #{c.id}")
    out = [head]
    out += ["    " + line for line in textwrap.wrap(f"\"{_cut(c.text, 400)}\"", width - 4)]
    if c.patch_message_id:
        out.append(f"    patch: {_cut(c.patch_title or '(not in the archive)', 70)}  {c.patch_url}")
    out.append(f"    {c.url}")
    if c.status == "resolved" and c.resolved_url:
        out.append(f"    resolved: {c.resolution}  {c.resolved_url}")
    if c.stale:
        out.append(f"    stale, can no longer be answered ({c.stale})")
    if c.merge:
        out.append(f"    {merge_line(c)}")
    return out


def to_text(a: Answer, width: int = 100) -> str:
    """Return the answer as plain text for a terminal."""
    out = [a.title] if a.title else []
    if a.intent in ("unresolved", "concerns", "who"):
        counts = a.summary.get("counts")
        if counts:
            out.append(f"({counts.get('open', 0)} open, {counts.get('resolved', 0)} resolved in all)")
    if a.intent == "patch" and a.summary.get("threads"):
        for t in a.summary["threads"]:
            out.append(f"thread: {_cut(t['subject'] or '', 70)} · {t['messages']} messages · "
                       f"{_day(t['first_date'])} .. {_day(t['last_date'])}  {t['url']}")
        if a.items:
            out.append("concerns:")
    if a.intent == "patch" and a.summary.get("patch"):
        p = a.summary["patch"]
        out.append(f"{p['url']}  by {p['from_name']}  {_day(p['date'])}")
        if a.summary["versions"]:
            out.append("versions:")
            for v in a.summary["versions"]:
                outcome = outcome_phrase(v.get("outcome"))
                out.append(f"  v{v['version']}{' RFC' if v['is_rfc'] else ''} "
                           f"({_day(v['first_date'])}) {v['url']}" + (f"  {outcome}" if outcome else ""))
            if not a.summary.get("trees_read"):
                out.append("  (whether it was merged is unknown: no kernel tree read, see "
                           "`abiwatch commits`)")
        for t in a.summary["trailers"]:
            out.append(f"  {t['name']}: {t['person_name'] or t['person_addr']}  {t['url']}")
        if a.summary.get("other_matches"):
            out.append(f"other series that match ({a.summary['found_by']}):")
            for o in a.summary["other_matches"]:
                out.append(f"  {_cut(o['title'] or '', 60)} (v{o['version']}) · {o['author']} · "
                           f"last {_day(o['last'])}  {o['url']}")
        if a.items:
            out.append("concerns:")
    if a.intent == "interface" and a.summary:
        s = a.summary
        c = s["counts"]
        out.append(f"{s['messages']} messages in {s['threads']} threads, {_day(s['first'])} .. "
                   f"{_day(s['last'])}; concerns: {c.get('open', 0)} open, {c.get('resolved', 0)} resolved")
        if s["people"]:
            out.append("people: " + ", ".join(f"{p['name'] or p['addr']} ({p['n']})" for p in s["people"]))
        if s["series"]:
            out.append("series:")
            for ser in s["series"]:
                outcome = outcome_phrase(ser.get("outcome"))
                out.append(f"  v{ser['version']}{' RFC' if ser['is_rfc'] else ''} {_cut(ser['title'], 60)} "
                           f"· {ser['author_name']} · {_day(ser['first_date'])}  {ser['url']}"
                           + (f"\n      {outcome}" if outcome else ""))
        if s["open_concerns"]:
            out.append("newest open concerns:")
            for c in s["open_concerns"]:
                out += ["  " + line for line in concern_lines(ConcernItem(**c), width - 2)]
        if a.note:
            out.append(a.note)
        return "\n".join(out)
    for item in a.items:
        if isinstance(item, ConcernItem):
            out += concern_lines(item, width)
        elif a.intent == "thread":
            who = item["from_name"] or item["from_addr"] or "?"
            line = ("  " * item["depth"] + (f"{_cut(item['subject'] or '', 60)} · {who} · "
                                             f"{_day(item['date'])}" if not item["missing"]
                                             else "(not in the archive)"))
            if item.get("concerns"):
                line += f"  [{item['concerns']} concern{'s' if item['concerns'] > 1 else ''}]"
            out.append(line)
            out.append("  " * item["depth"] + "  " + item["url"])
        elif a.intent == "search":
            out.append(f"{_day(item['date'])} {item['from_name']}: {_cut(item['subject'] or '', 70)}")
            out.append(f"    {item['url']}")
    if a.note:
        out.append(a.note)
    return "\n".join(out)


def _plain(obj: Any) -> Any:
    if is_dataclass(obj):
        return asdict(obj)
    return obj


def to_json(a: Answer) -> str:
    """Return the answer as JSON: {"intent", "understood_as", "items", ...}."""
    d = {"intent": a.intent, "understood_as": a.understood_as, "title": a.title,
         "items": [_plain(i) for i in a.items], "summary": a.summary, "note": a.note}
    for item in d["items"]:
        if isinstance(item, dict) and "author" in item and "author_addr" in item:
            item.setdefault("url", None)
    return json.dumps(d, indent=2, default=str)


def _field_for(item: Any, intent: str) -> tuple[str, str]:
    if isinstance(item, ConcernItem):
        # The concern's number comes last: corrections name it (the ✎ #N buttons, /correct).
        name = _cut(f"[{verdict(item.status, item.correction, item.corrected_by)}] {item.interface} · "
                    f"{item.kind} · {item.author} · {_day(item.date)} · #{item.id}", FIELD_NAME)
        parts = [f"“{_cut(item.text, 500)}”", f"[message]({item.url})"]
        if item.patch_url:
            parts[-1] += f" · [patch]({item.patch_url})"
        if item.resolved_url:
            parts[-1] += f" · [resolved]({item.resolved_url})"
        if item.stale:
            parts.append(f"stale: {item.stale}")
        if item.merge:
            parts.append(merge_line(item))
        return name, _cut_lines("\n".join(parts), FIELD_VALUE)
    if intent == "thread":
        label = "(not in the archive)" if item["missing"] else \
            f"{item['from_name'] or item['from_addr']} · {_day(item['date'])}"
        return _cut("—" * item["depth"] + " " + label, FIELD_NAME), \
            _cut_lines(f"{_cut(item['subject'] or '', 200)}\n[message]({item['url']})", FIELD_VALUE)
    if intent == "search":
        return _cut(f"{_day(item['date'])} · {item['from_name']}", FIELD_NAME), \
            _cut_lines(f"{_cut(item['subject'] or '', 200)}\n[message]({item['url']})", FIELD_VALUE)
    if intent == "interface":
        return _cut(f"v{item['version']} {item['title']}", FIELD_NAME), \
            _cut_lines(f"{item['author_name']} · {_day(item['first_date'])}\n[cover]({item['url']})"
                       + (f"\n{outcome_phrase(item.get('outcome'))}" if item.get("outcome") else ""),
                       FIELD_VALUE)
    return "item", _cut(json.dumps(_plain(item), default=str), FIELD_VALUE)


def to_embeds(a: Answer) -> list[dict]:
    """Return the answer as pages of Discord embed dicts, each within Discord's limits."""
    fields = [_field_for(i, a.intent) for i in a.items]
    description = a.note or ""
    if a.intent == "interface" and a.summary:
        c = a.summary["counts"]
        description = (f"{a.summary['messages']} messages · {c.get('open', 0)} open / "
                       f"{c.get('resolved', 0)} resolved concerns\n" + description)
    if a.intent == "patch" and a.summary.get("patch"):
        versions = " → ".join(f"[v{v['version']}]({v['url']})" for v in a.summary["versions"])
        latest = a.summary["versions"][-1].get("outcome") if a.summary["versions"] else None
        if latest:
            versions += f"\nlatest: {outcome_phrase(latest)}"
        acks = ", ".join(f"{t['name']} {t['person_name'] or t['person_addr']}" for t in a.summary["trailers"])
        description = f"[posting]({a.summary['patch']['url']}) {versions}\n{acks}\n{description}"
    pages: list[dict] = []
    chunks = [fields[i:i + FIELDS_PER_PAGE] for i in range(0, len(fields), FIELDS_PER_PAGE)] or [[]]
    for n, chunk in enumerate(chunks, 1):
        embed = {"title": _cut(a.title or a.intent, EMBED_TITLE),
                 "description": _cut(description, EMBED_DESCRIPTION) if n == 1 else "",
                 "fields": [{"name": k, "value": v, "inline": False} for k, v in chunk],
                 "footer": {"text": _cut(f"understood as: {a.understood_as}"
                                         + (f" · page {n}/{len(chunks)}" if len(chunks) > 1 else ""), 2048)}}
        while embed_size(embed) > EMBED_TOTAL and embed["fields"]:
            embed["fields"].pop()
        pages.append(embed)
    return pages


def embed_size(embed: dict) -> int:
    """Return the character count Discord checks against its 6,000 limit."""
    return (len(embed.get("title", "")) + len(embed.get("description", ""))
            + len(embed.get("footer", {}).get("text", ""))
            + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", [])))
