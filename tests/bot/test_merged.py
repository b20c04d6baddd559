"""Answers about merges: which series went in, as what, and which concerns were still
open when they did. The database holds four real virtualization-list threads; the
kernel tree is a real git repository in which two of their series were merged
(tests/kernel_tree.py says how), one never was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import kernel_tree as kt
import pytest
from click.testing import CliRunner
from corpus import VIRT, require
from digest_parse import parse_text

from abiwatch.bot.cli import cli
from abiwatch.bot.engine import Engine
from abiwatch.bot.render import to_text

# Ingo Molnar on v2 3/4 (2023-10-18), never answered before the merge on 2023-12-01.
OPEN_AT_MERGE = "ZS/C1HS/EEXTtVji@gmail.com"
# Peter Zijlstra on the RFC (2023-09-20), answered by v2's cover letter before the merge.
ANSWERED_BEFORE_MERGE = "20230920145222.GB6687@noisy.programming.kicks-ass.net"


@pytest.fixture(scope="module")
def merged_db(tmp_path_factory) -> Path:
    require(VIRT)
    base = tmp_path_factory.mktemp("merged")
    return kt.merged_database(base / "abiwatch.db", VIRT, base / "linux")


@pytest.fixture(scope="module")
def unmerged_db(tmp_path_factory) -> Path:
    require(VIRT)
    base = tmp_path_factory.mktemp("unmerged")
    return kt.merged_database(base / "abiwatch.db", VIRT, base / "linux", read_tree_too=False)


def _ask(db: Path, question: str) -> dict:
    result = CliRunner().invoke(cli, ["--db", str(db), "ask", "--json", question])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_merged_with_open_concerns_lists_exactly_the_concerns_open_at_merge(merged_db):
    answer = _ask(merged_db, "merged with open concerns paravirt_ops")
    assert answer["intent"] == "merged"
    assert [i["message_id"] for i in answer["items"]] == [OPEN_AT_MERGE]
    item = answer["items"][0]
    assert item["url"] == "https://lore.kernel.org/r/ZS%2FC1HS%2FEEXTtVji@gmail.com"
    merge = item["merge"]
    assert merge["release"] == "v6.8-rc1" and merge["date"].startswith("2023-12-01")
    assert merge["url"] == f"https://lore.kernel.org/r/{kt.GET_RID_V2}"


def test_the_merge_line_names_the_commit_that_carries_the_criticised_patch(merged_db):
    sha = kt.git(merged_db.parent / "linux", "log", "--format=%H", "-1", "--grep",
                 "ALTERNATIVE_2 macros").strip()
    text = to_text(Engine(merged_db).ask("merged with open concerns paravirt_ops"))
    assert f"merged in v6.8-rc1 as {sha[:12]} on 2023-12-01 (v2) with this still open" in text


def test_a_concern_answered_before_the_merge_or_on_an_unmerged_series_is_not_listed(merged_db):
    listed = {i["message_id"] for i in _ask(merged_db, "merged")["items"]}
    assert ANSWERED_BEFORE_MERGE not in listed
    # "convert simple paravirt functions to asm" was never merged: its open concerns stay off
    unmerged = Engine(merged_db).ask(f"patch {kt.CONVERT_ASM}")
    assert unmerged.items and not {c.message_id for c in unmerged.items} & listed


def test_free_form_question_about_concerns_merged_over_is_understood(merged_db):
    answer = _ask(merged_db, "which concerns were merged over?")
    assert answer["understood_as"] == "merged"
    assert [i["message_id"] for i in answer["items"]] == [OPEN_AT_MERGE]


def test_patch_answer_says_what_became_of_each_version(merged_db):
    text = to_text(Engine(merged_db).ask("patch get rid of paravirt patching"))
    assert f"v1 RFC (2023-06-08) https://lore.kernel.org/r/{kt.GET_RID_V1}  superseded" in text
    assert ("merged in v6.8-rc1 as " in text
            and "on 2023-12-01 (3 of 4 parts; 1 concern still open at merge)" in text)


def test_patch_answer_of_an_unmerged_series_says_not_merged_yet(merged_db):
    text = to_text(Engine(merged_db).ask(f"patch {kt.CONVERT_ASM}"))
    assert "not merged yet" in text


def test_interface_answer_lists_merged_series_with_their_open_concerns(merged_db):
    text = to_text(Engine(merged_db).ask("interface paravirt_ops"))
    assert "merged in v6.8-rc1" in text and "1 concern still open at merge" in text
    assert "merged in v5.13-rc1" in text


def test_without_a_tree_read_merges_are_said_to_be_unknown(unmerged_db):
    answer = Engine(unmerged_db).ask("merged with open concerns paravirt_ops")
    assert answer.items == []
    assert "no kernel git tree has been read" in answer.note
    assert "abiwatch commits" in answer.note
    text = to_text(Engine(unmerged_db).ask("patch get rid of paravirt patching"))
    assert "whether it was merged is unknown: no kernel tree read" in text


def test_commits_command_reads_a_tree_and_says_what_matched(unmerged_db, tmp_path):
    db = tmp_path / "copy.db"
    db.write_bytes(unmerged_db.read_bytes())
    repo = kt.new_tree(tmp_path / "linux")
    kt.paravirt_history(repo, lambda mid: sqlite3.connect(db).execute(
        "SELECT diff FROM patches WHERE message_id = ?", [mid]).fetchone()[0])
    result = CliRunner().invoke(cli, ["--db", str(db), "commits", str(repo), "--patch-ids"])
    assert result.exit_code == 0, result.output
    assert "postings matched to commits: 4 (2 by Link:/Message-Id:, 1 by patch-id, " \
           "1 by subject and author)" in result.output
    assert "series merged: 0, partly merged: 2" in result.output


def test_commits_command_refuses_a_folder_that_is_not_a_tree_in_one_line(unmerged_db, tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(unmerged_db), "commits", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path.resolve()} is not a git repository: give a kernel clone "
        "(e.g. made with `git clone --bare`)"]


def test_the_digest_of_the_merge_week_says_what_went_in_with_concerns_still_open(merged_db):
    result = CliRunner().invoke(cli, ["--db", str(merged_db), "digest", "--since", "2023-11-27",
                                      "--dry-run", "--to", "maintainer@example.org"])
    assert result.exit_code == 0, result.output
    # One block per series; its Merged section says what went in, as what, and over what.
    [block] = [b for b in parse_text(result.output).blocks if b.counts.get("Merged")]
    assert block.title == "x86/paravirt: Get rid of paravirt patching"
    assert block.counts["Merged"] == 1
    assert block.link == f"https://lore.kernel.org/r/{kt.GET_RID_V2}"
    merged = result.output.split("Merged (1)\n", 1)[1].split("\n\n", 1)[0]
    assert merged.startswith("  v2 merged in v6.8-rc1 as ")
    assert "on 2023-12-01 (3 of 4 parts; 1 concern still open at merge)" in " ".join(merged.split())
    assert f"https://lore.kernel.org/r/{kt.GET_RID_V2}" in merged


def test_a_concern_corrected_as_not_a_concern_is_not_merged_over(merged_db, tmp_path):
    db = tmp_path / "copy.db"
    db.write_bytes(merged_db.read_bytes())
    cid = sqlite3.connect(db).execute(
        "SELECT id FROM concerns WHERE message_id = ?", [OPEN_AT_MERGE]).fetchone()[0]
    result = CliRunner().invoke(cli, ["--db", str(db), "correct", str(cid), "not-a-concern",
                                      "--by", "Ingo Molnar"])
    assert result.exit_code == 0, result.output
    assert _ask(db, "merged with open concerns paravirt_ops")["items"] == []
