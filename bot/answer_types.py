"""What answers are made of: typed items and the answer itself, shared by the engine,
the series answers and the renderers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from abiwatch.db.lore import lore_url


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
    ok: bool = True  # False when the question could not be answered as asked (exit 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def concern_item(r: dict) -> ConcernItem:
    """Return the answer item of one concern row (as answer_queries.concerns gives it)."""
    return ConcernItem(
        r["id"], r["message_id"], r["interface"], r["status"], r["kind"], r["text"],
        r["author_name"] or r["author_addr"], r["author_addr"], r["date"], r["patch_message_id"],
        r["patch_title"], r["resolved_by"], r["resolution"], lore_url(r["message_id"]),
        lore_url(r["resolved_by"]) if r["resolved_by"] else None,
        lore_url(r["patch_message_id"]) if r["patch_message_id"] else None, r.get("stale"),
        r.get("correction"), r.get("corrected_by"))
