"""Threads: real reply trees, placeholders for missing parents, order independence."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from abiwatch.ingest.threads import Node, build_forest

LKML = "lore-inbox-lkml-2006-2007"
ORPHANS = "lkml-2006-orphan-replies-paravirt-h.mbox"


def _truth(h) -> list[dict]:
    """MESSAGES.json, written when the corpus was assembled: the independent truth."""
    return json.loads(h.shared(LKML, "MESSAGES.json").read_text())


def _norm(mid: str | None) -> str | None:
    return "".join(mid.split()).strip("<>") if mid else None


@pytest.mark.slow
def test_lkml_2006_parents_are_the_in_reply_to_of_the_real_mail(corpus_db, h):
    db, _, _ = corpus_db
    truth = _truth(h)
    assert len(truth) == 35
    for m in truth:
        row = h.one(db, "SELECT parent_id, parent_source FROM messages WHERE message_id = ?",
                    [_norm(m["message_id"])])
        assert row[0] == _norm(m["in_reply_to"]), m["message_id"]
        if m["in_reply_to"]:
            assert row[1] == "in-reply-to"


@pytest.mark.slow
def test_lkml_2006_each_file_is_one_whole_tree(corpus_db, h):
    """Every file is a connected thread; missing parents are placeholders in it."""
    db, _, _ = corpus_db
    by_file: dict[str, list[str]] = {}
    for m in _truth(h):
        by_file.setdefault(m["file"], []).append(_norm(m["message_id"]))
    assert by_file
    for name, ids in by_file.items():
        marks = ",".join("?" * len(ids))
        threads = {r[0] for r in db.execute(
            f"SELECT thread_id FROM messages WHERE message_id IN ({marks})", ids)}
        assert len(threads) == 1, name
        (tid,) = threads
        # the thread row counts exactly these messages
        count = h.one(db, "SELECT message_count FROM threads WHERE thread_id = ?", [tid])[0]
        assert count == len(ids), name


@pytest.mark.slow
def test_parents_missing_from_the_archive_become_placeholders(corpus_db, h):
    db, _, _ = corpus_db
    missing = [irt for m in _truth(h) if (irt := _norm(m["in_reply_to"])) and not m["parent_in_file"]]
    assert missing
    for irt in missing:
        assert db.execute("SELECT 1 FROM placeholders WHERE message_id = ?", [irt]).fetchone(), irt
        assert not db.execute("SELECT 1 FROM messages WHERE message_id = ?", [irt]).fetchone()


def test_paravirt_h_fragment_with_every_parent_missing_is_one_thread(h, ingest_into):
    """Rusty's '[PATCH] paravirt.h' is not in the archive: five replies, one tree."""
    db, stats = ingest_into([h.fixture(ORPHANS)])
    assert stats.new == 5
    threads = db.execute("SELECT DISTINCT thread_id FROM messages").fetchall()
    assert len(threads) == 1
    root = threads[0][0]
    assert root == "1155202505.18420.5.camel@localhost.localdomain"  # Rusty's patch mail
    row = h.one(db, "SELECT root_is_placeholder, message_count FROM threads")
    assert row == (1, 5)
    assert h.one(db, "SELECT parent_id, depth FROM placeholders WHERE message_id = ?",
                 [root]) == (None, 0)
    # depths are consistent with parents, through placeholders
    nodes = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT message_id, parent_id, depth FROM messages UNION ALL "
        "SELECT message_id, parent_id, depth FROM placeholders")}
    for mid, (parent, depth) in nodes.items():
        if parent is None:
            assert depth == 0 and mid == root
        else:
            assert depth == nodes[parent][1] + 1


def test_placeholder_parents_come_from_the_references_chain(h, ingest_into):
    db, _ = ingest_into([h.fixture(ORPHANS)])
    # Andi's reply 20060810103012.GA2356@muc.de is missing; Rusty answered it and
    # his References name the patch before it, so the placeholder hangs under the patch
    row = h.one(db, "SELECT parent_id FROM placeholders WHERE message_id = ?",
                ["20060810103012.GA2356@muc.de"])
    assert row[0] == "1155202505.18420.5.camel@localhost.localdomain"


def test_a_late_parent_replaces_its_placeholder(h, tmp_path, new_db):
    """Ingesting the replies first and the parent later gives the same tree."""
    from abiwatch.ingest.load import ingest

    src = h.fixture("b4-quoted-trailer-not-credited.mbox").read_bytes()
    parts = src.split(b"\nFrom foo@z Thu Jan  1 00:00:00 1970\n")
    first, rest = parts[0] + b"\n", b"From foo@z Thu Jan  1 00:00:00 1970\n" + \
        b"\nFrom foo@z Thu Jan  1 00:00:00 1970\n".join(parts[1:])
    (tmp_path / "replies.mbox").write_bytes(rest)
    (tmp_path / "patch.mbox").write_bytes(first)
    db = new_db()
    ingest(db, [str(tmp_path / "replies.mbox")], progress=False)
    assert db.execute("SELECT message_id FROM placeholders").fetchall() == \
        [("orig-message@example.com",)]
    ingest(db, [str(tmp_path / "patch.mbox")], progress=False)
    assert db.execute("SELECT COUNT(*) FROM placeholders").fetchone()[0] == 0
    assert {r[0] for r in db.execute("SELECT thread_id FROM messages")} == \
        {"orig-message@example.com"}
    one_go = new_db()
    ingest(one_go, [str(h.fixture("b4-quoted-trailer-not-credited.mbox"))], progress=False)
    q = "SELECT message_id, parent_id, thread_id, depth FROM messages ORDER BY message_id"
    assert db.execute(q).fetchall() == one_go.execute(q).fetchall()


@pytest.mark.slow
def test_thread_structure_does_not_depend_on_file_order(h, tmp_path, new_db):
    """The same LKML mail fed file by file in two orders gives the same trees."""
    from abiwatch.ingest.load import ingest

    files = sorted(h.shared(LKML).glob("*.mbox"))
    q = ("SELECT message_id, parent_id, parent_source, thread_id, depth FROM messages "
         "UNION ALL SELECT message_id, parent_id, 'placeholder', thread_id, depth "
         "FROM placeholders ORDER BY 1")
    results = []
    for order in (files, list(reversed(files))):
        db = new_db()
        for f in order:
            copy = tmp_path / f"{len(results)}-{f.name}"
            shutil.copy(f, copy)
            ingest(db, [str(copy)], progress=False)
        results.append(db.execute(q).fetchall())
    assert results[0] == results[1]


def test_build_forest_is_order_independent_and_breaks_cycles():
    nodes = {
        "a": Node("a", None, [], "t", "t", False, "2006-01-01T00:00:00Z"),
        "b": Node("b", "a", ["a"], "t", "Re: t", True, "2006-01-02T00:00:00Z"),
        "c": Node("c", "x", ["a", "x"], "t", "Re: t", True, "2006-01-03T00:00:00Z"),
        # a cycle made by broken headers: d <-> e
        "d": Node("d", "e", ["e"], "u", "Re: u", True, "2006-01-04T00:00:00Z"),
        "e": Node("e", "d", ["d"], "u", "Re: u", True, "2006-01-05T00:00:00Z"),
    }
    forest = build_forest(nodes, {})
    assert forest.placeholders == {"x"}
    assert forest.parent["x"] == "a" and forest.thread["c"] == "a" and forest.depth["c"] == 2
    assert forest.thread["d"] == forest.thread["e"]
    assert "cycle-broken" in (forest.source["d"], forest.source["e"])
    items = list(nodes.items())
    random.Random(1).shuffle(items)
    again = build_forest(dict(items), {})
    assert (again.parent, again.thread, again.depth) == (forest.parent, forest.thread,
                                                         forest.depth)


def test_reply_without_headers_is_threaded_by_subject(h, tmp_path, ingest_into):
    """A 'Re:' with neither In-Reply-To nor References joins the thread by subject."""
    raw = h.fixture("b4-quoted-trailer-not-credited.mbox").read_bytes()
    stripped = raw.replace(b"In-Reply-To: <orig-message@example.com>\n"
                           b"References: <orig-message@example.com>\n", b"", 1)
    assert stripped != raw
    path = tmp_path / "noheaders.mbox"
    path.write_bytes(stripped)
    db, _ = ingest_into([path])
    row = h.one(db, "SELECT parent_id, parent_source FROM messages WHERE message_id = ?",
                ["fwup-message-1@example.com"])
    assert row == ("orig-message@example.com", "subject")


@pytest.mark.parametrize("original_date, adopted", [
    (b"Tue, 30 Aug 2022 11:19:07 -0400", True),  # as old as the reply: it may answer it
    (b"Wed, 31 Aug 2022 11:19:07 -0400", False),  # newer than the reply: it cannot
])
def test_a_header_less_reply_is_adopted_by_an_original_that_arrives_later_only_if_it_is_older(
        h, tmp_path, new_db, original_date, adopted):
    """The orphan is rethreaded when a message that may answer it arrives in a later run;
    the result is the one a single run over both files gives."""
    import io

    from abiwatch.ingest.load import ingest
    from abiwatch.ingest.sources import iter_mbox

    mails = list(iter_mbox(io.BytesIO(
        h.fixture("b4-quoted-trailer-not-credited.mbox").read_bytes()), "x"))
    original = mails[0].raw.replace(b"Tue, 30 Aug 2022 11:19:07 -0400", original_date)
    reply = mails[1].raw.replace(b"In-Reply-To: <orig-message@example.com>\n", b"")
    reply = reply.replace(b"References: <orig-message@example.com>\n", b"")
    assert b"In-Reply-To" not in reply and b"References" not in reply
    sep = b"From foo@z Thu Jan  1 00:00:00 1970\n"
    first, later = tmp_path / "reply.mbox", tmp_path / "original.mbox"
    first.write_bytes(sep + reply)
    later.write_bytes(sep + original)
    q = ("SELECT parent_id, parent_source, thread_id FROM messages "
         "WHERE message_id = 'fwup-message-1@example.com'")
    db = new_db("runs.db")
    ingest(db, [str(first)], progress=False)
    assert db.execute(q).fetchone() == (None, "none", "fwup-message-1@example.com")
    ingest(db, [str(later)], progress=False)
    one_go = new_db("one.db")
    ingest(one_go, [str(first), str(later)], progress=False)
    expected = (("orig-message@example.com", "subject", "orig-message@example.com") if adopted
                else (None, "none", "fwup-message-1@example.com"))
    assert db.execute(q).fetchone() == one_go.execute(q).fetchone() == expected


def test_a_database_made_before_migration_014_is_upgraded_and_keeps_its_threads(
        h, tmp_path, monkeypatch):
    """Migration 014 rebuilds messages_norm_subject for the subject lookup; a database
    ingested under the old index comes out with the same rows and a lookup without a sort."""
    import abiwatch.db.migrations as migrations
    from abiwatch.db import open_db
    from abiwatch.ingest.load import ingest

    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        # every migration but 014: the ingest of today writes the columns of later ones
        # (021's trailers.ignored_reason)
        m.setattr(migrations, "MIGRATIONS",
                  migrations.MIGRATIONS[:13] + migrations.MIGRATIONS[14:])
        old = open_db(path)
        ingest(old, [str(h.fixture("b4-quoted-trailer-not-credited.mbox"))], progress=False)
        assert "014_subject_order" not in migrations.applied_migrations(old)
        q = "SELECT message_id, parent_id, thread_id, depth FROM messages ORDER BY message_id"
        before = old.execute(q).fetchall()
        old.conn.close()
    db = open_db(path)
    assert "014_subject_order" in migrations.applied_migrations(db)
    assert db.execute(q).fetchall() == before
    assert [r[2] for r in db.execute("PRAGMA index_info(messages_norm_subject)")] == [
        "norm_subject", "is_reply", "date", "message_id"]
    plan = " ".join(r[3] for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT message_id FROM messages WHERE norm_subject = ? "
        "AND message_id != ? AND (date <= ? OR ? IS NULL) ORDER BY is_reply, date, message_id "
        "LIMIT 1", ["x", "y", None, None]))
    assert "TEMP B-TREE" not in plan
