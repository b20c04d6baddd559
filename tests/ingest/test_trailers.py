"""Trailers: who gave which Acked-by/Reviewed-by/NAK, and to which patch."""

from __future__ import annotations

import pytest

from abiwatch.ingest.trailers import extract_trailers


def _trailers(db, mid: str) -> set[tuple]:
    return set(db.execute(
        "SELECT name, person_name, person_addr, patch_message_id, applies_to FROM trailers "
        "WHERE message_id = ?", [mid]).fetchall())


def test_follow_up_review_is_credited_to_the_reviewer_on_the_patch(h, ingest_into):
    db, _ = ingest_into([h.fixture("b4-quoted-trailer-not-credited.mbox")])
    assert _trailers(db, "fwup-message-1@example.com") == {
        ("Reviewed-by", "Followup Reviewer1", "followup-reviewer1@example.com",
         "orig-message@example.com", "patch")}


def test_trailer_in_quoted_text_is_not_credited_to_the_replier(h, ingest_into):
    # fwup-message-2 quotes reviewer1's Reviewed-by and adds its own Tested-by
    db, _ = ingest_into([h.fixture("b4-quoted-trailer-not-credited.mbox")])
    assert _trailers(db, "fwup-message-2@example.com") == {
        ("Tested-by", "Followup Reviewer2", "followup-reviewer2@example.com",
         "orig-message@example.com", "patch")}
    quoted = h.one(db, "SELECT quoted_text FROM messages WHERE message_id = ?",
                   ["fwup-message-2@example.com"])[0]
    assert "> Reviewed-by: Followup Reviewer1 <reviewer1@example.com>" in quoted


def test_patch_authors_own_trailers_point_at_the_patch(h, ingest_into):
    db, _ = ingest_into([h.fixture("b4-quoted-trailer-not-credited.mbox")])
    got = _trailers(db, "orig-message@example.com")
    assert ("Signed-off-by", "Original Submitter", "original-submitter@example.com",
            "orig-message@example.com", "patch") in got
    assert ("Reviewed-by", "Original Reviewer", "original-reviewer@example.com",
            "orig-message@example.com", "patch") in got


def test_trailer_sent_to_a_cover_letter_applies_to_the_series(h, ingest_into):
    db, _ = ingest_into([h.fixture("b4-trailer-on-cover-letter.mbox")])
    row = h.one(db, "SELECT name, person_addr, patch_message_id, series_id, applies_to "
                    "FROM trailers WHERE message_id = ?", ["fwup-message-2@example.com"])
    assert row == ("Reviewed-by", "followup-reviewer1@example.com", "cover-message@example.com",
                   "cover-message@example.com", "series")
    # a review of part 2 applies to part 2 only, within the same series
    row = h.one(db, "SELECT patch_message_id, series_id, applies_to FROM trailers "
                    "WHERE message_id = ?", ["fwup-message-1@example.com"])
    assert row == ("patch-2-message@example.com", "cover-message@example.com", "patch")


def test_non_person_trailers_keep_their_value(h, ingest_into):
    db, _ = ingest_into([h.fixture("b4-trailer-on-cover-letter.mbox")])
    got = dict(db.execute("SELECT name, value FROM trailers WHERE message_id = ? AND "
                          "name IN ('Fixes', 'Link')", ["patch-1-message@example.com"]))
    assert got == {"Fixes": "abcdef01234567890", "Link": "https://msgid.link/some@msgid.here"}


@pytest.mark.slow
def test_virtualization_acks_go_to_the_patch_or_cover_they_answer(corpus_db, h):
    """x86/xen: do some paravirt cleanup (Nov 2020): Peter Zijlstra acked the cover,
    Andy Lutomirski acked patches 3 and 4."""
    db, _, _ = corpus_db
    peterz = h.one(db, "SELECT person_addr, patch_message_id, applies_to FROM trailers "
                       "WHERE message_id = ? AND name = 'Acked-by'",
                   ["20201117100017.GB3121406@hirez.programming.kicks-ass.net"])
    assert peterz == ("peterz@infradead.org", "20201116152301.24558-1-jgross@suse.com", "series")
    for reply, patch in (
            ("CALCETrWwnK1AwrGRn8Kuin-23NOG31LrWBO7w=T2QE+EJW=f-w@mail.gmail.com",
             "20201116152301.24558-4-jgross@suse.com"),
            ("CALCETrW_UO9sksa1agOfs5E7yV+RqOyugEEOBjZY8Z47R-04Pg@mail.gmail.com",
             "20201116152301.24558-5-jgross@suse.com")):
        row = h.one(db, "SELECT person_addr, patch_message_id, applies_to FROM trailers "
                        "WHERE message_id = ? AND name = 'Acked-by'", [reply])
        assert row == ("luto@kernel.org", patch, "patch")
        # independent check: the reply's In-Reply-To header names that patch
        assert h.one(db, "SELECT in_reply_to FROM messages WHERE message_id = ?",
                     [reply])[0] == patch


@pytest.mark.slow
def test_every_trailer_on_a_reply_points_at_its_nearest_patch_ancestor(corpus_db):
    db, _, _ = corpus_db
    parents = dict(db.execute("SELECT message_id, parent_id FROM messages UNION ALL "
                              "SELECT message_id, parent_id FROM placeholders"))
    patches = {r[0] for r in db.execute("SELECT message_id FROM patches")}
    checked = 0
    for mid, target in db.execute("SELECT message_id, patch_message_id FROM trailers"):
        cur, seen = mid, set()
        while cur is not None and cur not in patches and cur not in seen:
            seen.add(cur)
            cur = parents.get(cur)
        assert target == (cur if cur in patches else None), mid
        checked += 1
    assert checked > 500


@pytest.mark.slow
def test_bare_nak_lines_are_recorded_for_the_author(corpus_db):
    # Peter Zijlstra on "[RFC PATCH 09/26] x86/paravirt: Add runtime_patch()", Apr 2020
    db, _, _ = corpus_db
    naks = db.execute("SELECT message_id, value, person_addr, patch_message_id FROM trailers "
                      "WHERE name = 'NAK' ORDER BY message_id").fetchall()
    assert ("20200408110501.GS20713@hirez.programming.kicks-ass.net",
            "NAK, this is probably a stright preemption bug, also, afaict, there",
            "peterz@infradead.org", None) in naks
    assert any(v.startswith("NAK, this grows the structure") for _, v, _, _ in naks)


@pytest.mark.slow
def test_a_sentence_about_naks_is_not_a_nak(corpus_db):
    # mst, Jul 2021 (virtualization negatives): "NAK won't help us improve the situation."
    db, _, _ = corpus_db
    assert db.execute("SELECT COUNT(*) FROM trailers WHERE name = 'NAK' AND message_id = ?",
                      ["20210705143952-mutt-send-email-mst@kernel.org"]).fetchone()[0] == 0


@pytest.mark.parametrize(("line", "is_nak"), [
    ("NAK", True),
    ("NAK.", True),
    ("Nak, this grows the structure from 16 to 20 bytes.", True),
    ("NACK: breaks the ABI", True),
    ("NAK for now, until the spec is public.", True),
    ("NAK won't help us improve the situation.", False),
    ("Nacked-by: Christoph Hellwig <hch@lst.de>", False),  # a trailer, not a bare NAK
    ("NAKs are cheap", False),
])
def test_bare_nak_forms(line, is_nak):
    got = extract_trailers(line, ("Author", "author@example.com"))
    assert (any(t.name == "NAK" for t in got)) == is_nak


def test_nacked_by_trailer_names_the_nacker_not_the_author():
    got = extract_trailers("Nacked-by: Christoph Hellwig <hch@lst.de>", ("A", "a@example.com"))
    assert [(t.name, t.person_name, t.person_addr) for t in got] == \
        [("Nacked-by", "Christoph Hellwig", "hch@lst.de")]


def _b4(h, name: str):
    return h.shared("b4-samples", name)


def test_cover_letter_review_is_carried_by_every_patch_of_the_series(h, ingest_into):
    # b4's trailers-followup-with-cover: Reviewed-by on the 0/2 goes on 1/2 and 2/2
    db, _ = ingest_into([_b4(h, "trailers-followup-with-cover.mbox")])
    carried = {}
    for patch, name, who in db.execute(
            "SELECT patch_message_id, name, person_name FROM patch_trailers "
            "WHERE message_id LIKE 'fwup-%'"):
        carried.setdefault(patch, set()).add((name, who))
    assert carried == {
        "patch-1-message@example.com": {("Reviewed-by", "Coverletter Reviewer1")},
        "patch-2-message@example.com": {("Reviewed-by", "Coverletter Reviewer1"),
                                        ("Reviewed-by", "Followup Reviewer1")}}


def test_trailer_given_in_someone_elses_name_is_kept_but_not_counted(h, ingest_into):
    # b4's trailers-followup-single: "Mismatched Reviewer <...@example.com>" sends
    # "Reviewed-by: Mismatched Reviewer1 <...@example.net>"; b4 flags it and leaves it out
    from abiwatch.db.answer_queries import series_trailers

    db, _ = ingest_into([_b4(h, "trailers-followup-single.mbox")])
    got = dict(db.execute("SELECT message_id, ignored_reason FROM trailers "
                          "WHERE message_id LIKE 'fwup-%'").fetchall())
    assert got == {"fwup-message-1@example.com": None, "fwup-message-2@example.com": None,
                   "fwup-message-3@example.com": "not-sender"}
    counted = {t["person_addr"] for t in series_trailers(db, ["orig-message@example.com"])}
    assert counted == {"original-reviewer@example.com", "followup-reviewer1@example.com",
                       "followup-reviewer2@example.com"}


def test_only_the_trailer_not_from_its_sender_is_flagged(h, ingest_into):
    # b4's test_mismatched_trailer_already_on_patch_is_not_flagged: only Tested-by
    db, _ = ingest_into([_b4(h, "trailers-followup-already-present.mbox")])
    assert db.execute("SELECT name, person_addr FROM trailers WHERE ignored_reason IS NOT NULL"
                      ).fetchall() == [("Tested-by", "someone-else@example.com")]


def test_names_before_the_address_are_taken_whole(h, ingest_into):
    # b4's trailers-followup-name-parens, fwup-message-1/4/5 (b4 loses 4 and 5: its
    # address parser reads "[...]" and "," as syntax; docs/schema.md)
    db, _ = ingest_into([_b4(h, "trailers-followup-name-parens.mbox")])
    got = db.execute("SELECT message_id, person_name, person_addr, ignored_reason FROM trailers "
                     "WHERE message_id IN ('fwup-message-1@example.com', "
                     "'fwup-message-4@example.com', 'fwup-message-5@example.com') "
                     "ORDER BY message_id").fetchall()
    assert got == [
        ("fwup-message-1@example.com", "Followup Reviewer1 (corporate)",
         "followup-reviewer1@example.com", None),
        ("fwup-message-4@example.com", "Followup Tester1 [corporate]",
         "followup-tester1@example.com", None),
        ("fwup-message-5@example.com", "Tester2, Followup", "followup-tester2@example.com", None)]


def test_html_mailto_junk_around_a_trailer_address_is_dropped():
    # b4's trailers-followup-htmljunk
    got = extract_trailers("Reviewed-by: HTML Junker <html-junker@example.com"
                           "<mailto:html-junker@example.com>>", ("HTML Junker", None))
    assert [(t.person_name, t.person_addr) for t in got] == [
        ("HTML Junker", "html-junker@example.com")]


@pytest.mark.parametrize(("a", "b", "same"), [
    ("foo@example.com", "FOO@example.com", True),
    ("foo+kernel@example.com", "foo@example.com", True),
    ("foo@linux.intel.com", "foo@intel.com", True),
    ("mismatched-reviewer1@example.net", "mismatched-reviewer1@example.com", False),
    ("foo@example.com", "bar@example.com", False),
    ("foo@badintel.com", "foo@intel.com", False),
])
def test_same_address_as_b4_judges_it(a, b, same):
    from abiwatch.ingest.trailers import same_address

    assert same_address(a, b) is same
