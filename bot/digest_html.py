"""The weekly digest's HTML part: the same blocks and wording as the text part, for web
mail. Every piece of mail text is escaped; the style sits in the head and on a few
elements, and the mail reads the same without it."""

from __future__ import annotations

import html

from abiwatch.bot.digest_content import Block, DigestContent, resolved_in
from abiwatch.bot.digest_render import (
    ask_command,
    block_line,
    day,
    dormant_line,
    earlier_head,
    earlier_open_line,
    lore_link,
    merged_line,
    open_summary,
    quote,
    remark_head,
    resolved_line,
    review_head,
    summary_line,
    trailer_line,
    version_line,
)

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 52em; margin: 1em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 0.2em; padding-top: 0.6em; border-top: 2px solid #d0d7de; }
h3 { font-size: 1em; margin: 0.9em 0 0.3em; color: #57606a; }
h4 { font-size: 1em; margin: 0.8em 0 0.2em; }
ul { margin: 0.2em 0; padding-left: 1.4em; }
li { margin: 0.35em 0; }
q { display: block; margin: 0.15em 0; padding-left: 0.6em; border-left: 3px solid #d0d7de;
    color: #424a53; quotes: none; }
.meta { color: #57606a; margin: 0.1em 0 0.4em; }
.summary { background: #f6f8fa; padding: 0.5em 0.8em; border-radius: 4px; }
.nak { color: #cf222e; font-weight: bold; }
code { font-size: 0.95em; background: #f6f8fa; padding: 0 0.2em; }
a { color: #0969da; }
"""


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _a(message_id: str, label: str) -> str:
    return f'<a href="{_e(lore_link(message_id))}">{_e(label)}</a>'


def _ul(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _q(c: dict) -> str:
    return f"<q>{_e(quote(c['text']))}</q>"


def _split(text: str, sep: str) -> tuple[str, str]:
    """Return (first word, the rest with its separator): ("v3", ", 2020-12-17, ...")."""
    first, found, rest = text.partition(sep)
    return first, found + rest


def _head(text: str) -> str:
    """Return a remark's first line with its "#N" in bold, the rest escaped."""
    num, _, rest = text.partition(" ")
    return f"<b>{_e(num)}</b> {_e(rest)}"


def _how(c: dict) -> str:
    """Return how a concern was resolved, with the resolving mail's link, as its own line."""
    link = " &middot; " + _a(c["resolved_by"], "resolving mail") if c["resolved_by"] else ""
    return f"<div>{_e(resolved_line(c))}{link}</div>"


def _remarks(b: Block, d: DigestContent) -> list[str]:
    items = []
    for r in b.reviews:
        inner = []
        for i, c in enumerate(r.concerns):
            prev = r.concerns[i - 1]["message_id"] if i else None
            after = r.concerns[i + 1]["message_id"] if i + 1 < len(r.concerns) else None
            # Remarks of one mail share its link, after the last of them.
            item = _head(remark_head(c, b, d, c["message_id"] != prev))
            if c["message_id"] != after:
                item += " &middot; " + _a(c["message_id"], "mail")
            item += _q(c)
            if resolved_in(c, d) or c.get("correction") == "resolved-by":
                item += _how(c)
            inner.append(item)
        name, _, rest = review_head(r).partition(", ")
        items.append(f"<b>{_e(name)}</b>, {_e(rest)}{_ul(inner)}")
    return items


def _earlier(c: dict, b: Block, d: DigestContent, age: bool = True) -> str:
    return (_head(earlier_head(c, b, d, age)) + " &middot; " + _a(c["message_id"], "mail")
            + _q(c))


def _block(b: Block, d: DigestContent) -> list[str]:
    out = [f"<h2>{_a(b.link_id, b.title)}</h2>", f'<p class="meta">{_e(block_line(b))}</p>']
    if b.versions:
        out.append(f"<h3>Posted ({len(b.versions)})</h3>")
        out.append(_ul([_a(x["link_id"], name) + _e(rest)
                        + (f" ({_a(x['supersedes'], 'previous version')})"
                           if x["supersedes"] else "")
                        for x in b.versions for name, rest in [_split(version_line(x), ",")]]))
    if b.reviews:
        out.append(f"<h3>New concerns ({len(b.raised)})</h3>")
        out.append(_ul(_remarks(b, d)))
    if b.resolved:
        out.append(f"<h3>Resolved ({len(b.resolved)})</h3>")
        out.append(_ul([_earlier(c, b, d, age=False) + _how(c) for c in b.resolved]))
    if b.trailers:
        out.append(f"<h3>NAKs and maintainer acks ({len(b.trailers)})</h3>")
        out.append(_ul([(f'<span class="nak">{_e(kind)}</span>' if t in b.naks else _e(kind))
                        + _e(rest) + " &middot; " + _a(t["message_id"], "mail")
                        for t in b.trailers for kind, rest in [_split(trailer_line(t, b), " ")]]))
    if b.merged:
        out.append(f"<h3>Merged ({len(b.merged)})</h3>")
        out.append(_ul([_a(x["link_id"], name) + _e(rest)
                        for x in b.merged for name, rest in [_split(merged_line(x), " ")]]))
    if b.open_earlier:
        out.append(f'<p class="meta">{_e(earlier_open_line(b))}</p>')
    return out


def _still_open(d: DigestContent) -> list[str]:
    out = []
    if d.open_blocks:
        out.append(f"<h2>Still open on series with mail in the {d.active_days} days to "
                   f"{_e(d.last_day)} ({d.count('open')}, oldest first)</h2>")
        for b in d.open_blocks:
            out.append(f"<h3>{_a(b.link_id, b.title)}</h3>")
            out.append(f'<p class="meta">{_e(block_line(b))}; last mail '
                       f"{_e(day(b.last_active))}</p>")
            out.append(_ul([_earlier(c, b, d) for c in b.still_open]))
    if d.unlisted_open:
        out.append(f"<p>{d.unlisted_open} more open concerns on active series: "
                   f"<code>{_e(ask_command(d))}</code></p>")
    if d.dormant_open:
        text, _, _ = dormant_line(d).partition(": `")
        out.append(f"<p>{_e(text)}: <code>{_e(ask_command(d))}</code></p>")
    return out


def render_html(d: DigestContent) -> str:
    """Return the HTML part of a digest; every piece of mail text is escaped."""
    title = f"abiwatch weekly digest {d.label}"
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
           f"<title>{_e(title)}</title><style>{_STYLE}</style></head>", "<body>"]
    if d.empty:
        out.append(f"<p>{_e(summary_line(d))}</p>")
    else:
        out.append(f"<h1>{_e(title)}</h1>")
        out.append(f'<p class="meta">{_e(d.start)} to {_e(d.last_day)}; interfaces: '
                   f"{_e(', '.join(d.interfaces) if d.interfaces else 'all')}</p>")
        out.append(f'<p class="summary">{_e(summary_line(d))}<br>{_e(open_summary(d))}</p>')
        for b in d.blocks:
            out += _block(b, d)
        out += _still_open(d)
    out.append("<hr><p><small>Each #N is a concern: <code>abiwatch explain N</code> says why it "
               "was flagged.")
    if d.recipient:
        link = (f'<a href="{_e(d.unsubscribe)}">{_e(d.unsubscribe)}</a>'
                if d.unsubscribe.startswith(("mailto:", "https:")) else _e(d.unsubscribe))
        out.append(f"<br>Sent to {_e(d.recipient)}; unsubscribe: {link}")
    out.append("</small></p></body></html>")
    return "\n".join(out) + "\n"
