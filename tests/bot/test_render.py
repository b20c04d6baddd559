"""Answers rendered for Discord stay within Discord's limits, however long."""

from __future__ import annotations

from pathlib import Path

import pytest

from abiwatch.bot.engine import Answer, ConcernItem, Engine
from abiwatch.bot.render import (
    EMBED_FIELDS,
    EMBED_TOTAL,
    FIELD_NAME,
    FIELD_VALUE,
    embed_size,
    to_embeds,
    to_text,
)
from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = tmp_path_factory.mktemp("render") / "r.db"
    db = open_db(path)
    ingest(db, [str(REPO / "bot" / "sample")], progress=False)
    tag(db, progress=False)
    return Engine(path)


def _check(pages: list[dict]) -> None:
    for e in pages:
        assert len(e["fields"]) <= EMBED_FIELDS
        assert embed_size(e) <= EMBED_TOTAL
        assert all(len(f["name"]) <= FIELD_NAME and len(f["value"]) <= FIELD_VALUE for f in e["fields"])


def test_a_real_answer_pages_within_limits_and_keeps_links_on_their_own_line(engine):
    a = engine.ask("unresolved --unsure")
    pages = to_embeds(a)
    _check(pages)
    assert sum(len(p["fields"]) for p in pages) == len(a.items) > 8 and len(pages) > 1
    first = pages[0]["fields"][0]["value"]
    assert "\n[message](https://lore.kernel.org/r/" in first


def test_huge_items_are_cut_to_fit():
    big = ConcernItem(1, "x@y", "Xen", "open", "objection", "word " * 2000, "A" * 400, "a@b",
                      "2007-01-01T00:00:00Z", None, None, None, None, "https://lore.kernel.org/r/x@y",
                      None, None)
    a = Answer("concerns", "concerns Xen", [big] * 60, {}, "note " * 2000, "T" * 500)
    _check(to_embeds(a))
    assert "word" in to_text(a)
