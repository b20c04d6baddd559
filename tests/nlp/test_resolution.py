"""A concern is resolved only by a later message that shows it, never by silence;
each path is checked on a real thread, and each resolution names its evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from abiwatch.db import open_db
from abiwatch.nlp.catalog import load_catalog
from abiwatch.nlp.evidence import ThreadCache, evidence_for, resolve_concerns
from abiwatch.nlp.resolution import (
    Evidence,
    LaterVersion,
    Posting,
    policy_author_agreed_and_respun,
    policy_changelog_code,
    resolve,
)

from .conftest import concern_rows


def _concern(db, message_id: str, interface: str | None = None) -> dict:
    rows = concern_rows(db, message_id=message_id)
    rows = [r for r in rows if interface is None or r["interface"] == interface]
    assert rows, message_id
    return rows[0]


@pytest.fixture(scope="module")
def devset_db(devset_db, tmp_path_factory):
    """A copy of the session's tagged dev threads: _raised records concerns in it, which
    other modules must not see."""
    devset_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    source = devset_db.execute("PRAGMA database_list").fetchone()[2]
    copy = tmp_path_factory.mktemp("resolution") / "devset.db"
    copy.write_bytes(Path(source).read_bytes())
    return open_db(copy)


def _raised(db, message_id: str, interface: str, text: str) -> dict:
    """Return the concern a message raises, recording it first when detection missed it:
    resolution is judged on the concern, however it was found."""
    rows = concern_rows(db, message_id=message_id, interface=interface)
    if not rows:
        m = db.execute("SELECT from_name, from_addr, date FROM messages WHERE message_id = ?",
                       [message_id]).fetchone()
        link = db.execute("SELECT patch_message_id, series_id FROM message_patch WHERE message_id = ?",
                          [message_id]).fetchone() or (None, None)
        with db.conn:
            db.execute("INSERT INTO concerns (message_id, interface, text, kind, patch_message_id, "
                       "series_id, confidence, rule_id, cue, author_name, author_addr, date, status) "
                       "VALUES (?, ?, ?, 'request', ?, ?, 1.0, 'test', 'test', ?, ?, ?, 'open')",
                       [message_id, interface, text, *link, *m])
            cid = db.execute("SELECT id FROM concerns WHERE message_id = ? AND interface = ?",
                             [message_id, interface]).fetchone()[0]
            resolve_concerns(db.conn, [cid], load_catalog())
        rows = concern_rows(db, message_id=message_id, interface=interface)
    return rows[0]


def test_the_raiser_reviewing_a_later_version_resolves_it(devset_db):
    # Waiman Long's nit on v4 is answered by his Reviewed-by on v7
    c = _raised(devset_db, "c69f25d2-128d-0ff8-ecba-93c82e1adfde@redhat.com", "paravirt_ops",
                "Waiman Long's point on v4")
    assert c["status"] == "resolved"
    assert c["resolved_by"] == "b2d958e0-e500-fb5c-676c-00fe542ff56c@redhat.com"
    assert "later version" in c["resolution"]


def test_a_later_changelog_crediting_the_raiser_resolves_it(devset_db):
    # Peter Zijlstra asked for the RFC to be split; the v2 cover letter says it was
    c = _concern(devset_db, "20230920145222.GB6687@noisy.programming.kicks-ass.net")
    assert c["status"] == "resolved"
    assert c["resolved_by"] == "20231016123933.17284-1-jgross@suse.com"
    assert "changelog" in c["resolution"]


def _real_evidence(db, c: dict) -> Evidence:
    row = db.execute("SELECT c.*, m.thread_id FROM concerns c JOIN messages m "
                     "ON m.message_id = c.message_id WHERE c.id = ?", [c["id"]])
    cols = [d[0] for d in row.description]
    return evidence_for(db.conn, dict(zip(cols, row.fetchone(), strict=True)), ThreadCache(db.conn, {}))


def test_a_later_changelog_changing_the_named_code_resolves_it(devset_db):
    # Borislav Petkov's "multiple definition of __pcpu_unique_steal_time";
    # the v2 cover letter: "renamed steal_time to vmw_steal_time ... found by Borislav Petkov"
    c = _raised(devset_db, "20200313131742.GA8142@zn.tnic", "VMware",
                "ld: arch/x86/kernel/kvm.o:(.discard+0x2): multiple definition of "
                "`__pcpu_unique_steal_time'; arch/x86/kernel/cpu/vmware.o:(.discard+0x0): first defined here")
    assert c["status"] == "resolved"
    assert c["resolved_by"] == "20200323195707.31242-1-amakhalov@vmware.com"
    r = policy_changelog_code(_real_evidence(devset_db, c), c["text"])
    assert r is not None and r.resolved_by == c["resolved_by"] and "steal_time" in r.resolution


def test_the_author_agreeing_then_posting_a_new_version_resolves_it(devset_db):
    # Juergen Gross answered Peter's split request on the RFC, then posted v2
    c = _concern(devset_db, "20230920145222.GB6687@noisy.programming.kicks-ass.net")
    ev = _real_evidence(devset_db, c)
    ev.later_in_thread = [m for m in ev.later_in_thread if m.author_addr == ev.patch_author_addr]
    for m in ev.later_in_thread:
        m.willfix = 0.9
        m.replies_to_concern = True
    r = policy_author_agreed_and_respun(ev)
    assert r is not None and r.resolved_by == "20231016123933.17284-1-jgross@suse.com"


def test_silence_leaves_a_concern_open(devset_db):
    # A concern nobody answered (no reply to its mail, none later in its thread from the
    # patch's author or anyone else) cannot have been resolved by a message.
    unanswered = [c for c in concern_rows(devset_db) if not devset_db.execute(
        "SELECT 1 FROM messages r JOIN messages m ON m.message_id = ? "
        "WHERE r.thread_id = m.thread_id AND r.date > m.date LIMIT 1",
        [c["message_id"]]).fetchone()]
    assert unanswered
    for c in unanswered:
        assert c["status"] == "open" and c["resolved_by"] is None, c["message_id"]


def test_every_resolution_names_the_message_and_how(devset_db):
    resolved = concern_rows(devset_db, status="resolved")
    assert resolved
    for c in resolved:
        assert c["resolved_by"] and c["resolution"]
        assert devset_db.execute("SELECT 1 FROM messages WHERE message_id = ?", [c["resolved_by"]]).fetchone()


def test_a_nak_is_not_resolved_by_a_changelog_only_by_the_raiser():
    later = LaterVersion("s2", 2, "2020-01-02T00:00:00Z", "cover2",
                         [Posting("cover2", "2020-01-02T00:00:00Z", "Changes in v2:\n- dropped it, as Peter asked")])
    ev = Evidence("peterz@infradead.org", "Peter Zijlstra", "2020-01-01T00:00:00Z", "nak", "a@b",
                  later_versions=[later])
    assert resolve(ev).status == "open"
    ev.kind = "objection"
    assert resolve(ev).status == "resolved"


def test_only_policies_measured_at_090_precision_and_specific_evidence_are_used():
    import tomllib

    from abiwatch.nlp.catalog import DATA_DIR
    from abiwatch.nlp.resolution import ALL_POLICIES, enabled_policies

    table = tomllib.loads((DATA_DIR / "resolution.toml").read_text())["policy"]
    assert set(table) == set(ALL_POLICIES)
    enabled = enabled_policies()
    assert ALL_POLICIES["raiser_withdrew"] not in enabled        # 0.67 on the tuning labels
    assert ALL_POLICIES["author_respun_in_thread"] not in enabled  # any diff, not the point
    assert ALL_POLICIES["raiser_acked_later_version"] in enabled


def test_an_open_concern_whose_series_got_a_later_version_is_stale_superseded():
    from abiwatch.nlp.resolution import staleness

    # Peter Zijlstra's point on v2 of the paravirt cleanup; v3 came, nothing answered it
    ev = Evidence("peterz@infradead.org", "Peter Zijlstra", "2020-11-20T12:00:00+01:00", "request",
                  "jgross@suse.com",
                  later_versions=[LaterVersion("s3", 3, "2020-12-17T10:31:18+01:00", "c3@suse.com")])
    assert resolve(ev).status == "open"
    assert staleness(ev, "2020-12-17T10:31:18+01:00", "2020-12-18T00:00:00+01:00") == \
        "superseded: v3 posted 2020-12-17 without answering it"


def test_a_thread_quiet_for_longer_than_the_window_leaves_its_concern_abandoned():
    from abiwatch.nlp.resolution import abandoned_days, staleness

    ev = Evidence("ak@suse.de", "Andi Kleen", "2006-08-04T23:00:00+02:00", "objection", None)
    assert staleness(ev, "2006-08-05T10:00:00+02:00", "2007-01-05T10:00:00+01:00") is None
    assert abandoned_days() == 365
    assert staleness(ev, "2006-08-05T10:00:00+02:00", "2023-10-19T10:00:00+00:00") == \
        "abandoned: no reply since 2006-08-05"


def test_resolved_concerns_are_never_stale(devset_db):
    assert devset_db.execute("SELECT COUNT(*) FROM concerns WHERE status = 'resolved'").fetchone()[0]
    assert devset_db.execute(
        "SELECT COUNT(*) FROM concerns WHERE status = 'resolved' AND stale IS NOT NULL").fetchone()[0] == 0
