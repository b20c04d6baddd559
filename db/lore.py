"""Message-IDs and their lore.kernel.org links, both ways: one implementation for every
layer (answers print links, people paste them back, commits and replies cite them)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

LORE = "https://lore.kernel.org/r/"

# lore (/r/, /all/, /lkml/, /LIST/, with /T/, /t.mbox.gz... after), lkml.kernel.org,
# patch.msgid.link (b4's Link: form) and patchwork's message links.
_LINK = re.compile(r"^(?:https?://)?(?:lore\.kernel\.org|lkml\.kernel\.org|patch\.msgid\.link|"
                   r"patchwork\.kernel\.org)/(?:[\w.+-]+/)*?(?=[^/\s]*(?:@|%40))([^/\s?#]+)",
                   re.I)
_IN_TEXT = re.compile(r"(?:https?://)?(?:lore\.kernel\.org|lkml\.kernel\.org|patch\.msgid\.link|"
                      r"patchwork\.kernel\.org)/\S+", re.I)
_BAD = set('<> \t\r\n"')


def lore_url(message_id: str) -> str:
    """Return the lore.kernel.org link of a message id, escaped for a URL path.

    '/', '#', '?', '%' and spaces occur in real Message-IDs (`ZS/C1HS/EEXTtVji@gmail.com`)
    and would otherwise cut the link short. The SQL views escape the same characters.
    """
    return LORE + quote(message_id, safe="@!$&'()*+,;=:~")


def message_id_from(text: str | None) -> str | None:
    """Return the Message-ID one token names: '<id>', 'id', 'id:ID' (lore's search
    prefix), a lore.kernel.org link in any of its forms (URL-escaped or not), or a
    patch.msgid.link / lkml.kernel.org link; None if it names none."""
    text = (text or "").strip()
    if text[:3].lower() == "id:":
        text = text[3:].strip()
    m = _LINK.match(text)
    if m:
        text = unquote(m.group(1))
    elif text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    text = text.strip().strip("<>")
    if ("@" not in text or len(text) > 900 or text.startswith("@") or text.endswith("@")
            or any(c in _BAD for c in text)):
        return None
    return text


def message_ids_in_links(text: str) -> list[str]:
    """Return the Message-IDs named by the archive links in free text (a Link: trailer's
    value, a sentence with a URL), in order."""
    out = []
    for m in _IN_TEXT.finditer(text or ""):
        mid = message_id_from(m.group(0).rstrip(">).,;"))
        if mid:
            out.append(mid)
    return out
