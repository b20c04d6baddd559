"""Which patch (or cover letter) each message is about.

In order of trust: the message is a patch; the nearest patch up its reply
chain; for a reply whose patch is missing from the archive, the missing
message it quotes hunks from or the thread's root; a `Link:` trailer naming
a patch; a `Re: [PATCH ...]` subject matching a stored patch's title.
Every link records how it was made (`message_patch.how`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from abiwatch.db.lore import message_ids_in_links

QUOTED_HUNK = re.compile(r"^\s*>+\s?(?:[+-](?![+-]{2})\S|@@ |diff --git )", re.M)


@dataclass
class LinkMessage:
    message_id: str
    parent_id: str | None
    is_patch_subject: bool
    quoted_text: str | None
    norm_title: str | None
    version: int
    date: str | None
    link_trailers: list[str]


def link_ids(values: list[str]) -> list[str]:
    """Return the Message-IDs named in Link: trailer values (lore / lkml.kernel.org URLs)."""
    return [mid for v in values for mid in message_ids_in_links(v)[:1]]


def patch_for(msg: LinkMessage, parents: dict[str, str | None], real: set[str],
              patches: set[str], title_index: dict[str, list[tuple[int, str | None, str]]],
              replied_as_patch: dict[str, set[tuple[int, str]]] | None = None,
              ) -> tuple[str, str] | None:
    """Return (patch message id, how) for one message, or None when it is about no patch."""
    if msg.message_id in patches:
        return msg.message_id, "self"
    chain: list[str] = []
    seen = {msg.message_id}
    cur = parents.get(msg.message_id)
    while cur is not None and cur not in seen:
        if cur in patches:
            return cur, "reply-chain"
        chain.append(cur)
        seen.add(cur)
        cur = parents.get(cur)
    if msg.is_patch_subject and chain:
        missing = [c for c in chain if c not in real]
        # The missing patch is the highest missing ancestor that stored mail answers
        # as "Re: [PATCH vN] <same title>": the subject names what was replied to.
        key = (msg.version, msg.norm_title or "")
        for c in reversed(missing):
            if key in (replied_as_patch or {}).get(c, ()):
                return c, "reply-subject"
        if missing:
            if chain[0] not in real and msg.quoted_text and QUOTED_HUNK.search(msg.quoted_text):
                return chain[0], "quoted-hunk"
            top = chain[-1]
            if top not in real:
                return top, "thread-root"
    for target in link_ids(msg.link_trailers):
        if target in patches:
            return target, "link-trailer"
    if msg.is_patch_subject and msg.norm_title:
        cands = title_index.get(msg.norm_title, [])
        if cands:
            # same version if posted, else the latest posting before the message
            same = [c for c in cands if c[0] == msg.version]
            pool = same or [c for c in cands if not msg.date or not c[1] or c[1] <= msg.date] or cands
            best = max(pool, key=lambda c: (c[1] or "", c[2]))
            if best[2] != msg.message_id:
                return best[2], "subject"
    return None
