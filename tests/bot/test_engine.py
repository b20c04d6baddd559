"""The answer engine against a real database built from real threads: the right
concerns with their lore links, every intent, and hostile or odd input."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from dbfile import tagged_db

from abiwatch.bot.engine import Engine
from abiwatch.bot.render import to_json, to_text
from abiwatch.bot.search_terms import parse_search
from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

REPO = Path(__file__).resolve().parents[2]
DEVSET = REPO / "tests" / "fixtures" / "nlp_devset" / "threads"
LORE = "https://lore.kernel.org/r/"


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    return tagged_db(tmp_path_factory.mktemp("engine") / "abiwatch.db", [DEVSET])


@pytest.fixture(scope="module")
def engine(db_path) -> Engine:
    return Engine(db_path)


def _open_vmi(db_path: Path) -> set[str]:
    conn = sqlite3.connect(db_path)
    return {r[0] for r in conn.execute(
        "SELECT message_id FROM concerns WHERE interface = 'VMI' AND status = 'open' AND confident = 1")}


def test_free_form_open_vmi_question_lists_exactly_the_open_vmi_concerns(engine, db_path):
    a = engine.ask("which concerns about VMI are still open?")
    assert a.intent == "unresolved" and a.understood_as == "unresolved VMI"
    assert {i.message_id for i in a.items} == _open_vmi(db_path)
    assert all(i.url == LORE + i.message_id and i.status == "open" for i in a.items)


def test_explicit_unresolved_command_equals_the_free_form_question(engine):
    free = engine.ask("which concerns about VMI are still open?")
    explicit = engine.ask("unresolved VMI")
    assert [i.id for i in free.items] == [i.id for i in explicit.items]
    assert "understood" not in (explicit.note or "")  # an explicit command needs no "understood as"


def test_concerns_by_person_and_status(engine):
    a = engine.ask("concerns paravirt_ops --by Peter --status open")
    assert a.items and all(i.author == "Peter Zijlstra" and i.status == "open" for i in a.items)
    resolved = engine.ask("concerns paravirt_ops --status resolved")
    assert resolved.items and all(i.status == "resolved" and i.resolved_url.startswith(LORE)
                                  for i in resolved.items)


def test_what_did_a_person_object_to_in_a_series(engine):
    a = engine.ask("what did Peter object to in the paravirt series?")
    assert a.intent == "concerns" and a.understood_as.startswith("concerns paravirt_ops")
    assert a.items and all(i.author == "Peter Zijlstra" for i in a.items)
    assert "understood as: concerns paravirt_ops --by Peter" in a.note


def test_a_month_in_the_question_limits_the_dates(engine):
    a = engine.ask("what did Andi Kleen object to in August 2006?")
    assert a.items and all(i.date.startswith("2006-08") and i.author == "Andi Kleen" for i in a.items)


def test_interface_summary_counts_match_the_database(engine, db_path):
    a = engine.ask("interface paravirt_ops")
    conn = sqlite3.connect(db_path)
    n_open = conn.execute("SELECT COUNT(*) FROM concerns WHERE interface = 'paravirt_ops' AND confident = 1 "
                          "AND status = 'open'").fetchone()[0]
    assert a.summary["counts"]["open"] == n_open
    # the summary tables tag keeps agree with the rows they summarise
    n_msgs, n_threads = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT m.thread_id) FROM message_interfaces mi JOIN messages m "
        "ON m.message_id = mi.message_id WHERE mi.interface = 'paravirt_ops'").fetchone()
    assert (a.summary["messages"], a.summary["threads"]) == (n_msgs, n_threads) and n_msgs
    assert any(s["title"] == "x86/paravirt: Get rid of paravirt patching" for s in a.items)


def test_patch_answer_shows_versions_and_trailers(engine):
    a = engine.ask("patch get rid of paravirt patching")
    versions = [(v["version"], bool(v["is_rfc"])) for v in a.summary["versions"]]
    assert versions == [(1, True), (2, False)]
    assert a.summary["patch"]["url"].startswith(LORE)


def test_thread_answer_is_a_tree_with_missing_parents_marked(engine):
    a = engine.ask("thread 44D1CC7D.4010600@vmware.com")
    assert a.items[0]["message_id"] == "44D1CC7D.4010600@vmware.com" and a.items[0]["depth"] == 0
    assert len(a.items) == 23
    depths = {i["message_id"]: i["depth"] for i in a.items}
    for item in a.items[1:]:
        assert depths[item["parent_id"]] == item["depth"] - 1
    text = to_text(engine.ask("show me the thread for <1142273346.3023.38.camel@laptopd505.fenrus.org>"))
    assert "(not in the archive)" in text


def test_search_with_lore_prefixes(engine):
    a = engine.ask("search s:binary f:greg")
    assert a.items and all("binary" in i["subject"].lower() and i["from_name"] == "Greg KH"
                           for i in a.items)
    d = engine.ask("search paravirt d:2023-01-01..2023-12-31")
    assert d.items and all(i["date"].startswith("2023") for i in d.items)
    f = engine.ask("search dfn:paravirt_types.h")
    assert f.items


def test_who_lists_what_a_person_raised_and_whether_resolved(engine):
    a = engine.ask("who Andi Kleen")
    assert a.items and {i.author for i in a.items} == {"Andi Kleen"}
    assert a.summary["resolved"] == sum(1 for i in a.items if i.status == "resolved")


def test_json_output_has_the_documented_keys(engine):
    d = json.loads(to_json(engine.ask("unresolved VMI")))
    assert set(d) >= {"intent", "understood_as", "items"} and d["items"]
    for item in d["items"]:
        assert {"message_id", "interface", "status", "text", "author", "date",
                "patch_message_id", "url"} <= set(item)


def test_sql_in_a_question_is_only_text(engine, db_path):
    before = sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM concerns").fetchone()[0]
    for q in ("'; DROP TABLE concerns; --", "search \" OR 1=1 --", "who x' OR '1'='1",
              "patch '); DELETE FROM messages; --", "search NEAR(a b) AND *"):
        a = engine.ask(q)
        assert a.intent
    assert sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM concerns").fetchone()[0] == before


def test_a_ten_kilobyte_question_is_cut_and_answered(engine):
    a = engine.ask("which concerns about VMI are still open? " + "x" * 10_000)
    assert a.items and "cut to its first 1000 characters" in a.note


def test_an_unknown_interface_is_named_with_the_known_ones(engine):
    a = engine.ask("concerns FooBarOps")
    assert not a.items and "unknown interface" in a.note and "paravirt_ops" in a.note


def test_a_missing_database_says_how_to_make_one(tmp_path):
    a = Engine(tmp_path / "none.db").ask("unresolved")
    assert "abiwatch ingest" in a.note
    assert not (tmp_path / "none.db").exists()


def test_an_empty_database_answers_with_nothing_found(tmp_path):
    open_db(tmp_path / "empty.db").conn.close()
    a = Engine(tmp_path / "empty.db").ask("which concerns about Xen are still open?")
    assert a.items == [] and "abiwatch tag" in a.note


def test_the_engine_never_writes(engine, db_path):
    mtime = os.stat(db_path).st_mtime_ns
    engine.ask("unresolved")
    engine.ask("interface Xen")
    assert os.stat(db_path).st_mtime_ns == mtime


def test_lore_prefixes_become_parameters_not_sql():
    terms = parse_search('s:"paravirt ops" f:ingo d:2007-01-01..2007-03-31 dfn:paravirt.h b:NAK')
    assert terms["subject_fts"] == 'subject : ("paravirt ops")'  # a quoted phrase stays one
    assert terms["from_like"] == "%ingo%"
    assert (terms["since"], terms["until"]) == ("2007-01-01", "2007-03-31")
    assert terms["file_like"] == "%paravirt.h%"
    assert terms["fts"] == 'own_text : ("NAK")'


def test_lore_links_escape_slashes_the_same_way_everywhere(engine, db_path):
    # Borislav Petkov's Message-IDs carry '/': <20230312204738.GCZA46aqNzDRjqVF/u@fat_crate.local>
    mid = "20230312204738.GCZA46aqNzDRjqVF/u@fat_crate.local"
    url = "https://lore.kernel.org/r/20230312204738.GCZA46aqNzDRjqVF%2Fu@fat_crate.local"
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT url FROM message_links WHERE message_id = ?", [mid]).fetchone()[0] == url
    found = engine.ask("search f:bp@alien8.de d:2023-03-12..2023-03-13").items
    assert [i["url"] for i in found if i["message_id"] == mid] == [url]


def test_concerns_under_the_confidence_threshold_are_shown_only_on_request(engine, db_path):
    conn = sqlite3.connect(db_path)
    # an interface with open concerns on both sides of the threshold
    iface = conn.execute("SELECT interface FROM concerns WHERE status = 'open' GROUP BY interface "
                         "HAVING MIN(confident) = 0 AND MAX(confident) = 1 "
                         "ORDER BY COUNT(*) LIMIT 1").fetchone()[0]
    kept = dict(conn.execute("SELECT id, confident FROM concerns WHERE status = 'open' "
                             "AND interface = ?", [iface]).fetchall())
    conn.close()
    sure = engine.ask(f"unresolved {iface}")
    everything = engine.ask(f"unresolved {iface} --unsure")
    assert len(kept) < 50  # all of them fit in one answer
    assert {i.id for i in sure.items} == {i for i, c in kept.items() if c}
    assert {i.id for i in everything.items} == set(kept)
    more = len(kept) - len(sure.items)
    assert more > 0 and f"{more} more concern" in sure.note and "--unsure" in sure.note
    assert everything.understood_as == f"unresolved {iface} --unsure"


@pytest.mark.parametrize("question", ["patch !!!", "patch 😀"])
def test_a_patch_question_with_no_words_says_so(engine, question):
    a = engine.ask(question)
    assert a.intent == "patch" and not a.items
    assert "no words to look for" in a.note


def test_an_interface_added_to_a_catalog_is_understood_in_questions(tmp_path):
    # no code change: a catalog file with a new interface, `tag --catalog`, and questions know it
    from abiwatch.nlp.catalog import DEFAULT_CATALOG

    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEFAULT_CATALOG.read_text() + '''
[[interface]]
name = "virtio"
kind = "ABI"
description = "The virtio device/driver interface."
aliases = ["virtio", "virtqueue", "virtio-net"]
paths = ["drivers/virtio/", "include/uapi/linux/virtio"]
''')
    path = tmp_path / "virtio.db"
    db = open_db(path)
    ingest(db, [str(REPO / "tests" / "fixtures" / "nlp_devset" / "threads-random")], progress=False)
    tag(db, catalog_path=str(catalog), progress=False)
    db.conn.close()
    engine = Engine(path)
    a = engine.ask("open concerns about virtio")
    assert a.intent == "unresolved" and a.understood_as == "unresolved virtio"
    assert "unknown interface" not in (a.note or "")
    summary = engine.ask("interface virtio")
    assert summary.summary["messages"] > 0  # tagged with the new interface


def test_patch_answer_lists_a_revision_posted_in_a_reply_as_a_version(tmp_path):
    # 2006 style: "Updated patch below." from the author, a replacement from Zach Amsden
    path = tmp_path / "abiwatch.db"
    db = open_db(path)
    ingest(db, [str(REPO / "tests" / "fixtures" / "ingest" /
                    "lkml-2006-style-revisions-in-replies.mbox")], progress=False)
    db.conn.close()
    a = Engine(path).ask("patch paravirt.h")
    assert [(v["version"], v["id"]) for v in a.summary["versions"]] == [
        (1, "1155186601.style-example.1@rustcorp.com.au"),
        (2, "1155250964.style-example.3@rustcorp.com.au"),
        (3, "44DCCF2B.style-example.5@vmware.com")]
    assert f"  v2 (2006-08-10) {LORE}1155250964.style-example.3@rustcorp.com.au" in to_text(a)
