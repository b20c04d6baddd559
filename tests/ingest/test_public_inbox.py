"""public-inbox v2 archives: epochs git/N.git, one commit per message (blob 'm'),
read incrementally from the last commit seen."""

from __future__ import annotations

import os
import shutil
import subprocess

import inbox_repo as ir
import pytest

from abiwatch.db.blobs import decompress_raw
from abiwatch.ingest.load import ingest
from abiwatch.ingest.record import parse_message


def _mid(raw: bytes) -> str:
    return parse_message(raw).message["message_id"]


@ir.needs_git
def test_v2_inbox_is_read_whole_then_only_new_commits(h, tmp_path, new_db):
    mails = h.real_mails()
    inbox = tmp_path / "inbox"
    e0, e1 = ir.epoch(inbox / "git" / "0.git"), ir.epoch(inbox / "git" / "1.git")
    for raw in mails[:4]:
        ir.commit(e0, raw)
    for raw in mails[4:6]:
        ir.commit(e1, raw)

    db = new_db()
    first = ingest(db, [str(inbox)], progress=False)
    assert (first.read, first.new) == (6, 6)
    progress = dict(db.execute("SELECT git_dir, last_commit FROM inbox_progress"))
    assert progress == {str(e0.resolve()): ir.git(e0, "rev-parse", "master"),
                        str(e1.resolve()): ir.git(e1, "rev-parse", "master")}
    # each stored message is the blob byte for byte, with its commit as the source
    for raw in mails[:6]:
        stored, source = h.one(db, "SELECT raw, source FROM raw_messages WHERE message_id = ?",
                               [_mid(raw)])
        assert decompress_raw(stored) == raw
        assert "@" in source and source.split("@")[0].endswith(".git")

    # new mail arrives in both epochs; a removal commit (blob 'd') carries no message
    ir.commit(e0, mails[6])
    ir.commit(e1, b"removed\n", name="d")
    ir.commit(e1, mails[7])
    ir.commit(e1, mails[8])
    second = ingest(db, [str(inbox)], progress=False)
    assert (second.read, second.new, second.duplicate) == (3, 3, 0)
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 9
    assert dict(db.execute("SELECT git_dir, messages FROM inbox_progress")) == {
        str(e0.resolve()): 5, str(e1.resolve()): 4}

    third = ingest(db, [str(inbox)], progress=False)
    assert third.read == 0


@ir.needs_git
def test_inbox_read_incrementally_equals_one_clean_read(h, tmp_path, new_db):
    mails = h.real_mails()
    inbox = tmp_path / "inbox"
    e0 = ir.epoch(inbox / "git" / "0.git")
    step = new_db("step.db")
    for i, raw in enumerate(mails):
        ir.commit(e0, raw)
        if i % 3 == 2:
            ingest(step, [str(inbox)], progress=False)
    ingest(step, [str(inbox)], progress=False)
    clean = new_db("clean.db")
    ingest(clean, [str(inbox)], progress=False)
    diff = h.diff_dumps(h.dump(tmp_path / "clean.db"), h.dump(tmp_path / "step.db"))
    # inbox_progress counts messages per run: equal totals, same last commit
    assert not diff, diff


@ir.needs_git
def test_bare_epoch_given_directly_and_rewritten_history(h, tmp_path, new_db):
    mails = h.real_mails()
    e0 = ir.epoch(tmp_path / "0.git")
    for raw in mails[:3]:
        ir.commit(e0, raw)
    db = new_db()
    assert ingest(db, [str(e0)], progress=False).new == 3
    # history rewritten (an admin purged the inbox): the last seen commit is gone
    shutil.rmtree(e0)
    ir.epoch(e0)
    for raw in mails[3:5]:
        ir.commit(e0, raw)
    again = ingest(db, [str(e0)], progress=False)
    assert again.new == 2 and again.not_mail == 0


@ir.needs_git
def test_empty_epoch_is_not_an_error(tmp_path, new_db):
    inbox = tmp_path / "inbox"
    ir.epoch(inbox / "git" / "0.git")
    stats = ingest(new_db(), [str(inbox)], progress=False)
    assert (stats.read, stats.not_mail) == (0, 0)


PI_TOOLS = ("public-inbox-init", "public-inbox-mda")


@pytest.mark.skipif(any(shutil.which(t) is None for t in PI_TOOLS),
                    reason="public-inbox is not installed (Debian: apt-get install "
                           "--no-install-recommends public-inbox) - the git-plumbing tests "
                           "above cover the same layout")
def test_real_inbox_built_by_public_inbox_tools(h, tmp_path, new_db):
    """An inbox made by public-inbox itself: init -V2, then mail delivered by the MDA."""
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), PI_CONFIG=str(home / "pi-config"),
               ORIGINAL_RECIPIENT="test@example.com", **ir.GIT_ENV)
    inbox = tmp_path / "inbox"
    subprocess.run(["public-inbox-init", "-V2", "test", str(inbox), "http://example.com/test",
                    "test@example.com"], env=env, check=True, capture_output=True)
    subprocess.run(["git", "config", "-f", env["PI_CONFIG"], "publicinboxmda.spamcheck",
                    "none"], env=env, check=True)

    def deliver(raw: bytes) -> None:
        subprocess.run(["public-inbox-mda", "--no-precheck"], input=raw, env=env, check=True,
                       capture_output=True)

    mails = h.real_mails()
    for raw in mails[:3]:
        deliver(raw)
    db = new_db()
    first = ingest(db, [str(inbox)], progress=False)
    assert first.new == 3
    stored = {r[0] for r in db.execute("SELECT message_id FROM messages")}
    assert stored == {_mid(raw) for raw in mails[:3]}
    # the LKML fragment threads the same as from the mbox
    assert db.execute("SELECT COUNT(DISTINCT thread_id) FROM messages").fetchone()[0] == 1

    for raw in mails[3:5]:
        deliver(raw)
    second = ingest(db, [str(inbox)], progress=False)
    assert (second.read, second.new) == (2, 2)
    epoch = inbox / "git" / "0.git"
    last = subprocess.run(["git", f"--git-dir={epoch}", "rev-parse", "HEAD"], env=env,
                          capture_output=True, check=True).stdout.decode().strip()
    assert h.one(db, "SELECT last_commit FROM inbox_progress")[0] == last

