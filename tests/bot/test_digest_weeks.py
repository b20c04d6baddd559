"""The digest of real weeks of the virtualization list, read back as a maintainer reads it
in mutt: one block per series (or per thread when the patches are missing from the
archive), the remarks of one review under one reviewer line, each concern naming the
patch it is about, "Still open" limited to series active lately, and a subject whose
counts are the body's. Expected values come from the database with plain SQL.

2020-W15: "[RFC PATCH 00/26] Runtime paravirt patching" (Ankur Arora) is reviewed by
Peter Zijlstra (two NAKs), Juergen Gross and Thomas Gleixner; its postings are not in
the archive, only the replies. 2020-W51: v3 of Juergen Gross's "x86: major paravirt
cleanup", whose mails touch five interfaces. 2021-W06: Michael Kelley reviews the
Microsoft Hypervisor root partition RFC with eight remarks on eight patches.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from dbfile import sql
from digest_parse import LORE, Block, parse_text

from abiwatch.bot.config import DigestSettings
from abiwatch.bot.digest import build_digest, parse_week
from abiwatch.db import open_db

RUNTIME = "[RFC PATCH 00/26] Runtime paravirt patching"


def digest(db: Path, week: str, **settings) -> tuple[str, str]:
    """Return (subject, text part) of the digest of a week for all interfaces."""
    msg = build_digest(open_db(db, readonly=True), *parse_week(week),
                       settings=DigestSettings(**settings))
    return msg["Subject"], msg.get_body(("plain",)).get_content()


def raised(db: Path, week: str) -> list[tuple]:
    """Return (id, author, subject of its mail) of the confident concerns raised in a week."""
    a, b = parse_week(week)
    return sql(db, "SELECT c.id, c.author_name, m.subject FROM concerns c JOIN messages m "
                   "ON m.message_id = c.message_id WHERE c.confident = 1 AND c.date >= ? "
                   "AND c.date < ? ORDER BY c.date, c.id", [str(a), str(b)])


def open_at_end(db: Path, week: str, active_days: int = 90) -> dict[str, list[int]]:
    """Return the concerns raised before a week and open at its end, split by whether their
    thread had mail in the active_days before the week's end, oldest first."""
    a, b = parse_week(week)
    since = b - timedelta(days=active_days)
    rows = sql(db, "SELECT c.id, (SELECT MAX(t.date) FROM messages t WHERE t.thread_id = "
                   "m.thread_id AND t.date < ?) FROM concerns c JOIN messages m ON m.message_id "
                   "= c.message_id LEFT JOIN messages r ON r.message_id = c.resolved_by "
                   "WHERE c.confident = 1 AND c.date < ? AND (c.status = 'open' OR r.date >= ?) "
                   "ORDER BY c.date, c.id", [str(b), str(a), str(b)])
    return {"active": [i for i, last in rows if last >= str(since)],
            "dormant": [i for i, last in rows if last < str(since)]}


def unreply(subject: str) -> str:
    return re.sub(r"^(re|RE|Re):\s*", "", subject)


# --- one block per series ------------------------------------------------------------

def test_a_series_touching_five_interfaces_is_one_block_listing_them(digest_db):
    a, b = parse_week("2020-W51")
    [(v3, title)] = sql(digest_db, "SELECT id, title FROM series WHERE first_date >= ? AND "
                                   "first_date < ?", [str(a), str(b)])
    interfaces = [r[0] for r in sql(
        digest_db, "SELECT name FROM interfaces WHERE name IN (SELECT mi.interface FROM patches "
                   "p JOIN message_interfaces mi ON mi.message_id = p.message_id WHERE "
                   "p.series_id = ?) ORDER BY rowid", [v3])]
    assert title == "x86: major paravirt cleanup" and len(interfaces) == 5
    subject, text = digest(digest_db, "2020-W51")
    [block] = parse_text(text).blocks
    assert (block.title, block.link) == (title, LORE + v3)
    assert block.line == f"Series by Juergen Gross; {', '.join(interfaces)}"
    assert block.counts == {"Posted": 1}
    assert text.count(f"\n{title}\n") == 1  # the series is named once, not once per interface
    assert subject == "[abiwatch] digest 2020-W51: 1 series, 1 new version"


def test_remarks_of_one_review_stand_under_one_reviewer_line(digest_db):
    for week in ("2021-W06", "2020-W15"):
        by_author: dict[str, list[int]] = {}
        for cid, author, _ in raised(digest_db, week):
            by_author.setdefault(author, []).append(cid)
        [block] = parse_text(digest(digest_db, week)[1]).blocks
        assert block.reviewers == list(by_author.items())
    _, text = digest(digest_db, "2021-W06")
    assert len(by_author := dict(parse_text(text).blocks[0].reviewers)) == 1
    assert len(by_author["Michael Kelley"]) == 8
    assert "\n  Michael Kelley, 2021-02-08: 8 remarks\n" in text


def test_each_concern_names_the_patch_it_is_about(digest_db):
    # Replies to patches missing from the archive: the patch is the reply's subject; a
    # remark on the cover letter is about the block itself and names nothing more.
    for week in ("2020-W15", "2021-W06"):
        [block] = parse_text(digest(digest_db, week)[1]).blocks
        concerns = raised(digest_db, week)
        assert concerns, week
        for cid, _, subject in concerns:
            about = unreply(subject)
            if about == block.title:
                assert ", on " not in block.heads[cid]
            else:
                assert block.heads[cid].endswith(f", on {about}")
    [block] = parse_text(digest(digest_db, "2020-W15")[1]).blocks
    assert block.title == RUNTIME
    assert sum(", on [RFC PATCH 09/26] x86/paravirt: Add runtime_patch()" in h
               for h in block.heads.values()) == 1
    # A series in the archive: its version, part and title, for any version in the block.
    [ingo] = sql(digest_db, "SELECT c.id FROM concerns c WHERE c.message_id = ?",
                 ["ZS/C1HS/EEXTtVji@gmail.com"])
    text = digest(digest_db, "2023-W42")[1]
    block = next(b for b in parse_text(text).blocks if ingo[0] in b.heads)
    assert block.heads[ingo[0]] == (f"#{ingo[0]} request, open, on v2 3/4 x86/paravirt: switch "
                                    "mixed paravirt/alternative calls to alternative_2")
    [(peter,)] = sql(digest_db, "SELECT id FROM concerns WHERE message_id = ?",
                     ["20230920145222.GB6687@noisy.programming.kicks-ass.net"])
    assert block.ids["Resolved"] == [peter]
    assert block.heads[peter].endswith(", on RFC v1 3/3 x86/paravirt: switch mixed "
                                       "paravirt/alternative calls to alternative_2")


def test_naks_on_patches_missing_from_the_archive_count_for_their_thread(digest_db):
    a, b = parse_week("2020-W15")
    naks = sql(digest_db, "SELECT m.subject, m.from_name, m.message_id FROM trailers t JOIN "
                          "messages m ON m.message_id = t.message_id WHERE t.name = 'NAK' AND "
                          "m.date >= ? AND m.date < ? ORDER BY m.date", [str(a), str(b)])
    assert len(naks) == 2  # 09/26 is tagged paravirt_ops; 14/26 only by its thread
    text = digest(digest_db, "2020-W15")[1]
    [block] = parse_text(text).blocks
    assert block.trailers == [f"NAK from {who}, 2020-04-08, on {unreply(subject)}"
                              for subject, who, _ in naks]
    for *_, mid in naks:
        assert LORE + mid in text


# --- still open ------------------------------------------------------------------------

def test_still_open_lists_concerns_on_series_active_in_the_window_oldest_first(digest_db):
    want = open_at_end(digest_db, "2020-W51")
    assert want["active"] and want["dormant"]
    d = parse_text(digest(digest_db, "2020-W51")[1])
    assert [i for b in d.open_blocks for i in b.ids["Still open"]] == want["active"]
    assert d.open_title == ("Still open on series with mail in the 90 days to 2020-12-20 "
                            f"({len(want['active'])}, oldest first)")
    assert d.dormant == (f"{len(want['dormant'])} older open concerns on dormant series: "
                         '`abiwatch ask "unresolved"`')
    # A week whose earlier concerns all sit on threads quiet for months (2006's VMI and
    # paravirt threads, 5,000 days old): nothing listed, one count line.
    want = open_at_end(digest_db, "2020-W15")
    assert not want["active"] and len(want["dormant"]) == 12
    d = parse_text(digest(digest_db, "2020-W15")[1])
    assert d.open_blocks == [] and d.dormant.startswith("12 older open concerns on dormant")
    assert not re.search(r"\b\d{4,} days ago", digest(digest_db, "2020-W15")[1])


def test_the_window_and_the_number_listed_are_settings(digest_db):
    # A window reaching back to 2006 lists every open concern, the oldest series first.
    want = open_at_end(digest_db, "2020-W51", active_days=10000)
    assert not want["dormant"] and len(want["active"]) > 20
    d = parse_text(digest(digest_db, "2020-W51", active_days=10000, max_open=100)[1])
    listed = [i for b in d.open_blocks for i in b.ids["Still open"]]
    assert sorted(listed) == sorted(want["active"]) and not d.dormant
    dates = dict(sql(digest_db, "SELECT id, date FROM concerns"))
    for b in d.open_blocks:  # oldest first within a series...
        assert [dates[i] for i in b.ids["Still open"]] == sorted(dates[i] for i in b.ids["Still open"])
    firsts = [dates[b.ids["Still open"][0]] for b in d.open_blocks]
    assert firsts == sorted(firsts)  # ...and series by their oldest concern
    # digest.max_open cuts the list; the rest is one count line.
    d = parse_text(digest(digest_db, "2020-W51", active_days=10000, max_open=10)[1])
    assert [i for b in d.open_blocks for i in b.ids["Still open"]] == listed[:10]
    assert d.unlisted.startswith(f"{len(listed) - 10} more open concerns on active series")


# --- the subject, and the text in a terminal --------------------------------------------

_COUNT = re.compile(r"(\d+) (series|threads?|new versions?|new concerns?|resolved|NAKs?|"
                    r"maintainer acks?|merged)\b")


def _counts(text: str) -> dict[str, int]:
    return {word.rstrip("s") if word != "series" else word: int(n)
            for n, word in _COUNT.findall(text)}


def _body_counts(blocks: list[Block]) -> dict[str, int]:
    def total(section: str) -> int:
        return sum(b.counts.get(section, 0) for b in blocks)

    resolved_new = sum(", resolved this week" in h for b in blocks
                       for i, h in b.heads.items() if i in b.ids.get("New concerns", []))
    counts = {"series": sum(b.line.startswith("Series") for b in blocks),
              "thread": sum(b.line.startswith("Thread") for b in blocks),
              "new version": total("Posted"), "new concern": total("New concerns"),
              "resolved": total("Resolved") + resolved_new,
              "NAK": sum(t.startswith("NAK") for b in blocks for t in b.trailers),
              "maintainer ack": sum(t.startswith("Acked-by") for b in blocks for t in b.trailers),
              "merged": total("Merged")}
    return {k: n for k, n in counts.items() if n}


@pytest.mark.parametrize("week", ["2020-W15", "2020-W51", "2021-W05", "2023-W42", "2006-W31"])
def test_the_subject_counts_are_the_body_s(digest_db, week):
    subject, text = digest(digest_db, week)
    d = parse_text(text)
    assert _counts(subject.split(": ", 1)[1]) == _body_counts(d.blocks)
    assert _counts(d.summary) == _body_counts(d.blocks)


def test_the_text_part_fits_a_terminal(digest_db):
    for week in ("2020-W15", "2020-W51", "2021-W06", "2023-W42"):
        msg = build_digest(open_db(digest_db, readonly=True), *parse_week(week))
        part = msg.get_body(("plain",))
        assert part.get_content_charset() == "utf-8"
        lines = part.get_content().splitlines()
        assert lines, week
        for line in lines:
            # Links and the command to copy are never cut; everything else fits 76 columns.
            if LORE not in line and "abiwatch ask" not in line and "unsubscribe" not in line:
                assert len(line) <= 76, line
            assert "\t" not in line
