"""`#abiwatch:` command lines: read from the author's own words only, recorded by
ingest as rows (applying them is for after tagging, see tests/bot/test_corrections.py)."""

from __future__ import annotations

from abiwatch.db import open_db
from abiwatch.ingest.commands import MAX_COMMANDS, find_commands
from abiwatch.ingest.load import ingest
from abiwatch.ingest.record import parse_message

CONCERN = "1142273346.3023.38.camel@laptopd505.fenrus.org"  # Arjan: "Why can't vmware use Xen?"
SUBJECT = "[RFC, PATCH 0/24] VMI i386 Linux virtualization interface proposal"


def _reply(make_reply, body: str, mid: str = "cmd-1@example.org") -> bytes:
    entry = make_reply(parent_id=CONCERN, subject=SUBJECT, sender="Juergen Gross <jgross@suse.com>",
                       message_id=mid, date="Mon, 20 Mar 2006 10:00:00 +0100", body=body)
    return entry.split(b"\n", 1)[1]  # the message without its mbox From_ line


def test_command_lines_in_own_text_are_found_and_quoted_ones_are_not(make_reply):
    body = ("Arjan van de Ven wrote:\n"
            "> Why can't vmware use the Xen interface instead?\n"
            "> #abiwatch: reopen\n\n"
            "Zach answered that the next day.\n\n"
            "#abiwatch: resolved-by <4415B857.9010902@vmware.com>\n"
            "  #ABIWATCH:   interface VMI  \n\n"
            "-- \n#abiwatch: not-a-concern\n")
    parsed = parse_message(_reply(make_reply, body))
    assert parsed.commands == ["resolved-by <4415B857.9010902@vmware.com>", "interface VMI"]


def test_mentions_that_are_not_a_command_line_are_no_command():
    assert find_commands("We should talk about #abiwatch later; abiwatch: no colon form") == []
    assert find_commands("text #abiwatch: inside a line is not a command") == []


def test_a_flood_of_commands_is_cut_at_the_limit():
    assert len(find_commands("\n".join(["#abiwatch: reopen"] * 50))) == MAX_COMMANDS


def test_ingest_records_each_command_once(tmp_path, make_reply):
    mbox = tmp_path / "cmd.mbox"
    mbox.write_bytes(make_reply(parent_id=CONCERN, subject=SUBJECT,
                                sender="Juergen Gross <jgross@suse.com>",
                                message_id="cmd-1@example.org",
                                date="Mon, 20 Mar 2006 10:00:00 +0100",
                                body="#abiwatch: not-a-concern a design remark\n#abiwatch: reopen\n"))
    db = open_db(tmp_path / "t.db")
    for rescan in (False, True):  # reading the mail again adds nothing
        ingest(db, [str(mbox)], progress=False, rescan=rescan)
    assert db.execute("SELECT message_id, position, command FROM mail_commands").fetchall() == [
        ("cmd-1@example.org", 0, "not-a-concern a design remark"),
        ("cmd-1@example.org", 1, "reopen")]
