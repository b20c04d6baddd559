"""Questions a paravirt maintainer asks first, on the real virtualization-list threads:
the right series for a title, threads from pasted lore links, NAKs by kind and person,
resolution dates, what was left out, follow-ups in chat, and exit codes that tell."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus import VIRT, require
from dbfile import sql, tagged_db

from abiwatch.bot.cli import cli
from abiwatch.bot.search_terms import parse_search

RUNTIME_PATCHING = "20200408050323.4237-1-ankur.a.arora@oracle.com"  # replies only archived


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    require(VIRT)
    return tagged_db(tmp_path_factory.mktemp("questions") / "abiwatch.db", [VIRT], workers=1)


def ask(db: Path, question: str, *, code: int = 0) -> dict:
    result = CliRunner().invoke(cli, ["--db", str(db), "ask", "--json", question])
    assert result.exit_code == code, result.output
    return json.loads(result.output)


# --- finding series and threads ----------------------------------------------------


def test_an_exact_title_finds_its_series_before_series_sharing_its_words(db):
    answer = ask(db, "patch Remove 32-bit Xen PV guest support")
    assert answer["title"] == "Remove 32-bit Xen PV guest support"
    assert answer["summary"]["found_by"] == "exact title"
    assert [v["version"] for v in answer["summary"]["versions"]] == [1, 2, 3]


def test_what_happened_to_a_series_asks_for_that_series(db):
    answer = ask(db, "what happened to the major paravirt cleanup series?")
    assert answer["intent"] == "patch"
    assert answer["title"] == "x86: major paravirt cleanup"
    assert [v["version"] for v in answer["summary"]["versions"]] == [2, 3, 4, 5, 6, 7]


def test_a_patch_whose_posting_is_missing_is_found_by_its_thread(db):
    answer = ask(db, "patch runtime paravirt patching")
    assert [t["thread_id"] for t in answer["summary"]["threads"]] == [RUNTIME_PATCHING]
    in_thread = {r[0] for r in sql(db, "SELECT c.message_id FROM concerns c JOIN messages m "
                                       "ON m.message_id = c.message_id WHERE m.thread_id = ? "
                                       "AND c.confident = 1", [RUNTIME_PATCHING])}
    assert in_thread and {i["message_id"] for i in answer["items"]} == in_thread
    assert "not in the archive" in answer["note"]


@pytest.mark.parametrize("form", [
    "https://lore.kernel.org/r/{}",
    "https://lore.kernel.org/lkml/{}/",
    "https://lore.kernel.org/all/{}/",
    "https://lore.kernel.org/virtualization/{}/T/#u",
    "https://lore.kernel.org/r/{}".replace("@", "%40"),
    "<{}>",
    "id:{}",
])
def test_a_thread_is_found_from_any_form_of_its_lore_link(db, form):
    root = "20201120114630.13552-1-jgross@suse.com"  # major paravirt cleanup v2
    answer = ask(db, "thread " + form.format(root.replace("@", "%40") if "%40" in form else root))
    assert answer["summary"]["thread_id"] == root


# --- kinds, people and dates -------------------------------------------------------


def test_who_naked_lists_exactly_the_naks(db):
    naks = {r[0] for r in sql(db, "SELECT message_id FROM concerns WHERE kind = 'nak' "
                                  "AND confident = 1")}
    answer = ask(db, "who NAKed something?")
    assert naks and {i["message_id"] for i in answer["items"]} == naks
    assert answer["understood_as"] == "concerns --kind nak"


def test_what_a_person_naked_is_their_naks_only(db):
    answer = ask(db, "what did Peter Zijlstra NAK?")
    assert answer["items"] and all(i["kind"] == "nak" and i["author"] == "Peter Zijlstra"
                                   for i in answer["items"])


def test_resolved_in_a_month_filters_on_when_the_resolving_mail_was_sent(db):
    want = {r[0] for r in sql(db, "SELECT c.message_id FROM concerns c JOIN messages m "
                                  "ON m.message_id = c.resolved_by WHERE c.interface = 'Hyper-V' "
                                  "AND c.confident = 1 AND m.date >= '2021-02-01' "
                                  "AND m.date < '2021-03-01'")}
    raised_then = {r[0] for r in sql(db, "SELECT message_id FROM concerns WHERE interface = "
                                         "'Hyper-V' AND confident = 1 AND date >= '2021-02-01' "
                                         "AND date < '2021-03-01'")}
    answer = ask(db, "which Hyper-V concerns were resolved in February 2021?")
    assert want and not want & raised_then  # raised in January, answered in February
    assert {i["message_id"] for i in answer["items"]} == want
    assert "dates are when each was resolved" in answer["note"]


def test_search_takes_lore_relative_dates_and_quoted_phrases():
    today = date(2026, 12, 5)
    assert parse_search("d:2.weeks.ago..", today)["since"] == "2026-11-21"
    assert parse_search("d:1.year.ago..last.week", today)[("until")] == "2026-11-28"
    assert parse_search('b:"ABI stable"', today)["fts"] == 'own_text : ("ABI stable")'
    with pytest.raises(ValueError, match="cannot read the date"):
        parse_search("d:someday..", today)


# --- saying what was left out ------------------------------------------------------


def test_a_list_says_how_many_of_how_many_are_shown(db):
    total = sql(db, "SELECT COUNT(*) FROM concerns WHERE status = 'open' AND confident = 1")[0][0]
    answer = ask(db, "unresolved --limit 3")
    assert (answer["summary"]["shown"], answer["summary"]["total"]) == (3, total)
    assert answer["note"].startswith(f"1-3 of {total} shown")


def test_text_answers_show_each_concerns_id(db):
    result = CliRunner().invoke(cli, ["--db", str(db), "ask", "unresolved --limit 1"])
    [cid] = sql(db, "SELECT id FROM concerns WHERE status = 'open' AND confident = 1 "
                    "ORDER BY date DESC, id DESC LIMIT 1")[0]
    assert f"· #{cid}" in result.output.splitlines()[2]


def test_chat_pages_on_with_more_and_repeats_a_question_for_another_interface(db):
    result = CliRunner().invoke(cli, ["--db", str(db), "chat"],
                                input="unresolved paravirt_ops --limit 2\nmore\nand for Hyper-V?\n")
    assert result.exit_code == 0, result.output
    assert "1-2 of " in result.output and "3-4 of " in result.output
    assert "Open concerns about Hyper-V" in result.output


# --- exit codes --------------------------------------------------------------------


def test_a_question_that_cannot_be_read_exits_nonzero(db):
    assert ask(db, "concerns Xen --status maybe", code=1)["title"] == "I could not read that"
    assert ask(db, "unresolved NoSuchABI", code=1)["title"] == "Unknown interface"


def test_a_missing_database_is_refused_with_a_nonzero_exit(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "typo.db"), "ask", "unresolved"])
    assert result.exit_code == 1
    assert "no database at" in result.output and not (tmp_path / "typo.db").exists()


def test_a_database_from_an_older_version_is_refused_in_one_line(db, tmp_path):
    old = tmp_path / "old.db"
    old.write_bytes(db.read_bytes())
    conn = sqlite3.connect(old)
    conn.execute("DELETE FROM _migrations WHERE name = (SELECT MAX(name) FROM _migrations)")
    conn.commit()
    conn.close()
    result = CliRunner().invoke(cli, ["--db", str(old), "ask", "unresolved"])
    assert result.exit_code == 1
    assert "made by an older abiwatch" in result.output and "abiwatch tag" in result.output


def test_explain_takes_the_lore_link_of_the_mail_that_raised_a_concern(db):
    [(cid, mid)] = sql(db, "SELECT id, message_id FROM concerns WHERE confident = 1 "
                           "ORDER BY id LIMIT 1")
    by_id = CliRunner().invoke(cli, ["--db", str(db), "explain", str(cid)])
    by_link = CliRunner().invoke(cli, ["--db", str(db), "explain",
                                       f"https://lore.kernel.org/all/{mid}/"])
    assert by_id.exit_code == by_link.exit_code == 0
    assert by_id.output in by_link.output


def test_a_broken_config_file_is_refused_by_every_command_before_it_writes(db, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("this is [not toml\n")
    target = tmp_path / "new.db"
    result = CliRunner().invoke(cli, ["--db", str(target), "ingest", str(VIRT)],
                                env={"ABIWATCH_CONFIG": str(broken)})
    assert result.exit_code == 1
    assert "the configuration cannot be used" in result.output and "not valid TOML" in result.output
    assert not target.exists()
    asked = CliRunner().invoke(cli, ["--db", str(db), "ask", "unresolved"],
                               env={"ABIWATCH_CONFIG": str(broken)})
    assert asked.exit_code == 1


def test_search_takes_lores_address_and_message_id_prefixes(db):
    cc = {r[0] for r in sql(db, "SELECT message_id FROM messages WHERE lower(cc_addrs) LIKE "
                                "'%linux-doc@vger.kernel.org%'")}
    answer = ask(db, "search c:linux-doc@vger.kernel.org --all")
    assert cc and {i["message_id"] for i in answer["items"]} == cc
    [(mid,)] = sql(db, "SELECT message_id FROM messages ORDER BY date LIMIT 1")
    assert [i["message_id"] for i in ask(db, f"search m:<{mid}>")["items"]] == [mid]
