"""Corrections from the people who know, on real LKML threads: made with `abiwatch
correct` or with `#abiwatch:` lines in real mail (appended to a real thread and read
by the real `abiwatch ingest`), they change every answer, the views and the digest,
survive `abiwatch tag --redo`, show in `explain` with who made them, and are never
deleted. (The Discord path is in test_discord.py.)

Expected values come from the database with plain SQL, not from the engine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus import LKML, require
from dbfile import sql, tagged_db
from digest_parse import parse_text

from abiwatch.bot.cli import cli

REPO = Path(__file__).resolve().parents[2]
VMI_RFC = LKML / "lkml-20060313-vmi-i386-virtualization-interface-rfc.mbox"
SUBJECT = "[RFC, PATCH 0/24] VMI i386 Linux virtualization interface proposal"
# In that thread: Arjan van de Ven asks "Why can't vmware use the Xen interface
# instead?", Zach Amsden (the series' author) answers it in 4415B857.
ARJAN = "1142273346.3023.38.camel@laptopd505.fenrus.org"
ZACH_ANSWER = "4415B857.9010902@vmware.com"
RIK = "Pine.LNX.4.63.0603132304200.17874@cuia.boston.redhat.com"  # "How would VMI allow ...?"
HCH = "20060315102522.GA5926@infradead.org"  # "... it's totally unacceptable"


@pytest.fixture(scope="module")
def base_db(tmp_path_factory) -> Path:
    """The three real LKML paravirt threads, ingested and tagged."""
    require(LKML)
    return tagged_db(tmp_path_factory.mktemp("corrections") / "base.db", [LKML], workers=1)


@pytest.fixture
def db(base_db, tmp_path) -> Path:
    """A private copy: corrections write to it."""
    path = tmp_path / "abiwatch.db"
    shutil.copy(base_db, path)
    return path


def run(db: Path, *args: str, code: int = 0, env: dict | None = None) -> str:
    """Run `abiwatch --db DB ARGS...` and return its output; it must exit with code."""
    result = CliRunner().invoke(cli, ["--db", str(db), *args],
                                env={"ABIWATCH_CONFIG": "", **(env or {})})
    assert result.exit_code == code, result.output
    return result.output


def concern_id(db: Path, message_id: str) -> int:
    [(cid,)] = sql(db, "SELECT id FROM concerns WHERE message_id = ?", [message_id])
    return cid


def unresolved(db: Path, interface: str = "VMI") -> set[str]:
    """Return the message ids of the concerns `unresolved INTERFACE` answers with."""
    answer = json.loads(run(db, "ask", "--json", f"unresolved {interface}"))
    return {i["message_id"] for i in answer["items"]}


# --- the command line ------------------------------------------------------------------


def test_cli_correction_resolves_a_concern_in_answers_and_views_and_survives_redo(db):
    cid = concern_id(db, ARJAN)
    assert ARJAN in unresolved(db)
    out = run(db, "correct", str(cid), "resolved-by", f"<{ZACH_ANSWER}>",
              "--reason", "answered by the VMI design notes", "--by", "Juergen Gross")
    assert out.startswith(f"concern {cid} (VMI, raised by Arjan van de Ven): resolved (by hand, "
                          "Juergen Gross: answered by the VMI design notes), citing "
                          f"https://lore.kernel.org/r/{ZACH_ANSWER}")

    def check() -> None:
        assert ARJAN not in unresolved(db)
        resolved = json.loads(run(db, "ask", "--json", "concerns VMI --status resolved"))["items"]
        [item] = [i for i in resolved if i["message_id"] == ARJAN]
        assert (item["status"], item["resolved_by"], item["correction"], item["corrected_by"]) == (
            "resolved", ZACH_ANSWER, "resolved-by", "Juergen Gross")
        assert not sql(db, "SELECT 1 FROM open_concerns WHERE message_id = ?", [ARJAN])
        [(answered,)] = sql(db, "SELECT date FROM messages WHERE message_id = ?", [ZACH_ANSWER])
        assert sql(db, "SELECT status, resolved, corrected_by FROM concern_timeline WHERE "
                       "concern_id = ?", [cid]) == [("resolved", answered, "Juergen Gross")]

    check()
    assert sql(db, "SELECT status FROM concerns WHERE id = ?", [cid]) == [("open",)]  # as tagged
    run(db, "tag", "--redo")
    check()
    explained = run(db, "explain", str(cid))
    assert "automatically open: no later message shows it was addressed" in explained
    assert (f"resolved-by <{ZACH_ANSWER}>  -- Juergen Gross, with abiwatch correct  [in effect]"
            in explained)
    assert "reason: answered by the VMI design notes" in explained
    assert (f"in effect: resolved (by hand, Juergen Gross), citing "
            f"https://lore.kernel.org/r/{ZACH_ANSWER}") in explained


def test_a_later_correction_supersedes_an_earlier_one_and_both_are_kept(db):
    cid = concern_id(db, ARJAN)
    run(db, "correct", str(cid), "resolved-by", ZACH_ANSWER, "--by", "Juergen Gross")
    run(db, "correct", f"#{cid}", "reopen", "Zach", "did", "not", "answer", "it", "--by", "Arjan")
    assert ARJAN in unresolved(db)
    assert sql(db, "SELECT action, author, applied FROM corrections ORDER BY id") == [
        ("resolved-by", "Juergen Gross", 1), ("reopen", "Arjan", 1)]
    explained = run(db, "explain", str(cid))
    assert "-- Juergen Gross, with abiwatch correct  [superseded]" in explained
    assert "reopen Zach did not answer it  -- Arjan, with abiwatch correct  [in effect]" in explained
    assert "reason: Zach did not answer it" in explained


def test_not_a_concern_leaves_answers_counts_and_views(db):
    cid = concern_id(db, RIK)
    [(before,)] = sql(db, "SELECT concerns_raised FROM interface_activity WHERE interface = 'VMI' "
                          "AND month = '2006-03'")
    counts = json.loads(run(db, "ask", "--json", "unresolved VMI"))["summary"]["counts"]
    run(db, "correct", str(cid), "not-a-concern", "a question about batching, not the ABI")
    assert RIK not in unresolved(db)
    assert RIK not in {i["message_id"] for i in json.loads(
        run(db, "ask", "--json", "concerns VMI --status all --unsure"))["items"]}
    after = json.loads(run(db, "ask", "--json", "unresolved VMI"))["summary"]["counts"]
    assert after["open"] == counts["open"] - 1
    assert sql(db, "SELECT concerns_raised FROM interface_activity WHERE interface = 'VMI' AND "
                   "month = '2006-03'") == [(before - 1,)]
    assert not sql(db, "SELECT 1 FROM concern_timeline WHERE concern_id = ?", [cid])
    assert "in effect: not a concern" in run(db, "explain", str(cid))


def test_interface_and_patch_corrections_move_a_concern(db):
    cid = concern_id(db, RIK)
    run(db, "correct", str(cid), "interface", "xen")  # any case: the catalog's name is kept
    assert RIK not in unresolved(db, "VMI") and RIK in unresolved(db, "Xen")
    run(db, "correct", str(cid), "patch", f"https://lore.kernel.org/lkml/{ZACH_ANSWER}/T/#u")
    [item] = [i for i in json.loads(run(db, "ask", "--json", "unresolved Xen"))["items"]
              if i["message_id"] == RIK]
    assert (item["interface"], item["patch_message_id"]) == ("Xen", ZACH_ANSWER)
    assert sql(db, "SELECT interface, patch_message_id FROM concerns WHERE id = ?", [cid]) == [
        ("VMI", "200603131758.k2DHwQM7005618@zach-dev.vmware.com")]


@pytest.mark.parametrize("args, error", [
    (["1; DROP TABLE concerns", "reopen"], "CONCERN_ID must be a concern number like 12"),
    (["99999", "reopen"], "no concern with id 99999"),
    (["{cid}"], "say what to correct"),
    (["{cid}", "frobnicate"], "unknown correction 'frobnicate'"),
    (["{cid}", "interface", "x'); DROP TABLE concerns; --"], "unknown interface"),
    (["{cid}", "patch", "not a message id"], "patch needs the patch's Message-ID"),
    (["{cid}", "reopen\x00\x1b[2J", "--by", "\x07"], "a correction needs the name of who makes it"),
])
def test_a_hostile_or_malformed_correction_gets_one_line_and_changes_nothing(db, args, error):
    cid = concern_id(db, ARJAN)
    before = sql(db, "SELECT * FROM concerns ORDER BY id")
    out = run(db, "correct", *[a.format(cid=cid) for a in args], code=1)
    assert out.startswith(f"Error: {error}") and out.count("\n") == 1, out
    assert "Traceback" not in out
    assert sql(db, "SELECT COUNT(*) FROM corrections") == [(0,)]
    assert sql(db, "SELECT * FROM concerns ORDER BY id") == before


# --- the digest and the report ------------------------------------------------------------


def test_the_digest_marks_a_concern_resolved_by_hand(db):
    cid = concern_id(db, ARJAN)
    run(db, "correct", str(cid), "resolved-by", ZACH_ANSWER, "--by", "Juergen Gross")
    out = run(db, "digest", "--week", "2006-W11", "--to", "me@example.org", "--dry-run")
    [block] = parse_text(out).blocks
    assert block.title == SUBJECT
    [(reviewer, ids)] = [r for r in block.reviewers if cid in r[1]]
    assert reviewer == "Arjan van de Ven"
    assert block.heads[cid] == f"#{cid} question (VMI), resolved (by hand, Juergen Gross)"
    # Raised and resolved in the same week: it shows once, with how it was resolved.
    assert "Resolved" not in block.ids
    assert ("        resolved (by hand, Juergen Gross) 2006-03-13, citing the mail of\n"
            "        Zachary Amsden\n"
            f"        https://lore.kernel.org/r/{ZACH_ANSWER}") in out


def test_the_report_lists_the_decisions_most_often_corrected(db):
    rik, hch, arjan = (concern_id(db, m) for m in (RIK, HCH, ARJAN))
    rules = dict(sql(db, "SELECT id, rule_id FROM concerns WHERE id IN (?, ?)", [rik, hch]))
    run(db, "correct", str(rik), "not-a-concern")
    run(db, "correct", str(hch), "not-a-concern")
    run(db, "correct", str(arjan), "resolved-by", ZACH_ANSWER)
    run(db, "correct", str(arjan), "interface", "Xen")
    out = run(db, "corrections", "report")
    lines = out.splitlines()
    assert lines[0] == "4 corrections applied, 0 recorded but not applied"
    assert lines[2] == "raised a concern that was none (2):"
    assert {ln.split()[1] for ln in lines[3:5]} == set(rules.values())
    assert "missed a resolution (1):" in lines and "chose the wrong interface (1):" in lines
    assert any(ln.split()[:3] == ["1", "VMI", "->"] and ln.endswith(f"concerns {arjan}")
               for ln in lines)


# --- mail -----------------------------------------------------------------------------------


@pytest.fixture
def thread_with_commands(tmp_path, make_reply) -> Path:
    """The real VMI RFC thread with three replies carrying #abiwatch: commands appended:
    one from an address the config trusts, one from Rik van Riel on his own concern, and
    one from a stranger."""
    mbox = tmp_path / "vmi-rfc-with-commands.mbox"
    replies = [
        make_reply(parent_id=ARJAN, subject=SUBJECT, sender="Juergen Gross <jgross@suse.com>",
                   message_id="20060320100000.GA1@suse.com", date="Mon, 20 Mar 2006 10:00:00 +0100",
                   body=("Arjan van de Ven wrote:\n> Why can't vmware use the Xen interface "
                         "instead?\n\nZach answered this the same day.\n\n"
                         f"#abiwatch: resolved-by https://lore.kernel.org/lkml/{ZACH_ANSWER}/\n")),
        make_reply(parent_id=RIK, subject=SUBJECT, sender="Rik van Riel <riel@redhat.com>",
                   message_id="Pine.LNX.4.63.0603201100000.1@cuia.boston.redhat.com",
                   date="Mon, 20 Mar 2006 11:00:00 -0500",
                   body=("> #abiwatch: reopen\n\nThat was a question about batching, not about "
                         "the interface.\n\n#abiwatch: not-a-concern\n")),
        make_reply(parent_id=HCH, subject=SUBJECT, sender="Some One <someone@example.org>",
                   message_id="20060321.someone@example.org", date="Tue, 21 Mar 2006 09:00:00 +0000",
                   body="Nonsense.\n\n#abiwatch: not-a-concern\n"),
    ]
    mbox.write_bytes(VMI_RFC.read_bytes() + b"".join(replies))
    return mbox


def test_mail_commands_from_trusted_senders_correct_and_others_are_only_recorded(
        tmp_path, thread_with_commands):
    db = tmp_path / "mail.db"
    config = tmp_path / "abiwatch.toml"
    config.write_text('[corrections]\ntrusted = ["jgross@suse.com"]\n')
    run(db, "ingest", str(thread_with_commands))
    assert len(sql(db, "SELECT * FROM mail_commands")) == 3  # the quoted `> #abiwatch:` is not one
    assert "mail commands: 2 corrections applied, 1 recorded but not applied" in run(
        db, "tag", "--config", str(config))

    def check() -> None:
        open_now = unresolved(db, "VMI") | unresolved(db, "Xen")
        assert ARJAN not in open_now  # resolved by a trusted address
        assert RIK not in open_now  # the raiser withdrew it
        assert HCH in open_now  # a stranger's command is recorded, not applied

    check()
    run(db, "tag", "--redo", "--config", str(config))  # re-tagging changes and re-applies nothing
    check()
    assert sql(db, "SELECT source_ref, action, author_id, applied FROM corrections ORDER BY id") == [
        ("20060320100000.GA1@suse.com", "resolved-by", "jgross@suse.com", 1),
        ("Pine.LNX.4.63.0603201100000.1@cuia.boston.redhat.com", "not-a-concern",
         "riel@redhat.com", 1),
        ("20060321.someone@example.org", "not-a-concern", "someone@example.org", 0)]
    explained = run(db, "explain", str(concern_id(db, ARJAN)))
    assert (f"resolved-by https://lore.kernel.org/lkml/{ZACH_ANSWER}/  -- Juergen Gross "
            "<jgross@suse.com>, by mail https://lore.kernel.org/r/20060320100000.GA1@suse.com  "
            "[in effect]") in explained
    assert "in effect: resolved (by hand, Juergen Gross)" in explained
    stranger = run(db, "explain", str(concern_id(db, HCH)))
    assert ("not-a-concern  -- Some One <someone@example.org>, by mail https://lore.kernel.org/r/"
            "20060321.someone@example.org  [NOT applied: someone@example.org is not trusted: "
            "not in corrections.trusted, not the raiser, not the patch's author]") in stranger
    assert "in effect: open" in stranger


def test_a_mail_command_waits_until_its_concern_is_tagged_and_a_broken_config_defers_it(
        tmp_path, thread_with_commands):
    db = tmp_path / "mail.db"
    run(db, "ingest", str(thread_with_commands))
    assert "waiting: #abiwatch: resolved-by" in run(db, "corrections", "list")
    broken = tmp_path / "broken.toml"
    broken.write_text('[corrections]\ntrusted = ["not an address"]\n')
    out = run(db, "tag", "--config", str(broken))
    assert "mail commands (#abiwatch:) are left for a later run" in out
    assert sql(db, "SELECT COUNT(*) FROM corrections") == [(0,)]
    # Without the trusted list only the raiser's own command applies; each is recorded once.
    run(db, "tag")
    run(db, "tag")
    assert sql(db, "SELECT author_id, applied FROM corrections ORDER BY id") == [
        ("jgross@suse.com", 0), ("riel@redhat.com", 1), ("someone@example.org", 0)]
    assert "waiting:" not in run(db, "corrections", "list")


def test_the_patch_author_resolves_by_mail_and_the_digest_says_by_hand(tmp_path, make_reply):
    # A real paravirt review: Peter Zijlstra objects to Juergen Gross's patch, Juergen
    # answers him the next day. Juergen, the patch's author, tells abiwatch so by mail.
    thread = REPO / "tests/fixtures/nlp_devset/threads/" \
        "virt-20230308-x86-paravirt-convert-simple-paravirt-functions-to-asm.mbox"
    peter = "20230316201421.GA2060174@hirez.programming.kicks-ass.net"
    answer = "58b6a3bf-5cb0-e803-097d-bc058a309412@suse.com"
    mbox = tmp_path / "thread.mbox"
    mbox.write_bytes(thread.read_bytes() + make_reply(
        parent_id=peter, subject="[PATCH] x86/paravirt: convert simple paravirt functions to asm",
        sender="Juergen Gross <jgross@suse.com>", message_id="cmd-20230318@suse.com",
        date="Sat, 18 Mar 2023 08:00:00 +0100",
        body=f"I answered that one in the mail below.\n\n#abiwatch: resolved-by <{answer}>\n"))
    db = tmp_path / "abiwatch.db"
    run(db, "ingest", str(mbox))
    assert "mail commands: 1 corrections applied" in run(db, "tag")  # no config: author trust
    cid = concern_id(db, peter)
    assert peter not in unresolved(db, "paravirt_ops")
    out = run(db, "digest", "--week", "2023-W11", "--to", "me@example.org", "--dry-run")
    [block] = parse_text(out).blocks
    assert ("Peter Zijlstra", [cid]) in block.reviewers
    assert block.heads[cid] == f"#{cid} request, resolved (by hand, Juergen Gross)"
    assert ("resolved (by hand, Juergen Gross) 2023-03-17, citing the mail of\n"
            f"        Juergen Gross\n        https://lore.kernel.org/r/{answer}") in out


# --- training ----------------------------------------------------------------------------


def test_model_train_with_corrections_hands_the_trainer_people_s_verdicts_and_their_mail(
        db, tmp_path, monkeypatch):
    # The spaCy training itself is slow and tested in tests/nlp/test_model.py; here the
    # command's part: which labels reach the trainer, with their mail in its database.
    import abiwatch.nlp.training as training

    seen: list[dict] = []

    def fake_train(train_db, labels, out, *, judged, held_out_subjects, corrections):
        seen.append({"corrections": corrections, "held_out": held_out_subjects, "mail": {
            r[0] for r in train_db.execute("SELECT message_id FROM messages")}})
        return {"trained": True}

    monkeypatch.setattr(training, "train", fake_train)
    run(db, "correct", str(concern_id(db, RIK)), "not-a-concern")
    run(db, "correct", str(concern_id(db, ARJAN)), "reopen")
    [(rik_text,), (arjan_text,)] = sql(db, "SELECT text FROM concerns WHERE message_id IN (?, ?) "
                                           "ORDER BY message_id = ?", [RIK, ARJAN, ARJAN])
    for flag in ([], ["--with-corrections"]):
        run(db, "model", "train", "--set", "tuning-topic", "--out", str(tmp_path / "m"), *flag)
    plain, corrected = seen
    assert plain["corrections"] is None and not {RIK, ARJAN} & plain["mail"]
    assert [(c["message_id"], c["sentence"], c["concern"]) for c in corrected["corrections"]] == [
        (RIK, rik_text, False), (ARJAN, arjan_text, True)]
    assert {RIK, ARJAN} <= corrected["mail"]
    assert corrected["held_out"] == plain["held_out"] and plain["held_out"]
