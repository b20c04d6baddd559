"""Series on the peers' own test mail: what Patchwork's test_series.py and b4's
naked-cover tests assert about their files, one fresh database per file."""

from __future__ import annotations


def _series(db) -> list[tuple]:
    """Return (cover, sorted member parts, supersedes) of every series, oldest first."""
    out = []
    for sid, cover, supersedes in db.execute(
            "SELECT id, cover_message_id, supersedes FROM series ORDER BY first_date, id"):
        parts = sorted(r[0] for r in db.execute(
            "SELECT part FROM patches WHERE series_id = ? AND kind != 'cover'", [sid]))
        out.append((cover, parts, supersedes))
    return out


def _patchwork(h, name: str):
    return h.shared("patchwork-tests", "series", name)


def test_unthreaded_parts_join_the_cover_sent_with_them(h, ingest_into):
    # Patchwork's base-no-references-no-cover: 0/2, 1/2, 2/2 without References
    db, _ = ingest_into([_patchwork(h, "base-no-references-no-cover.mbox")])
    assert _series(db) == [("790af26b-7055-7997-2080-f967aef2d26d@linux.vnet.ibm.com",
                            [1, 2], None)]


def test_unlabelled_repost_in_reply_to_the_old_one_is_the_next_version(h, ingest_into):
    # Patchwork's bugs-nocover-noversion: 1/2, 2/2, then 1/2, 2/2 again in reply to
    # the first 1/2, with no version label: two series of two
    db, _ = ingest_into([_patchwork(h, "bugs-nocover-noversion.mbox")])
    first = "1473632524-8585-2-git-send-email-stephenfinucane@gmail.com"
    assert _series(db) == [(None, [1, 2], None), (None, [1, 2], first)]
    second = h.one(db, "SELECT series_id FROM patches WHERE message_id = ?",
                   ["1473633055-10316-3-git-send-email-stephenfinucane@gmail.com"])[0]
    assert second == "1473633055-10316-2-git-send-email-stephenfinucane@gmail.com"


def test_part_beyond_the_announced_total_joins_its_cover(h, ingest_into):
    # Patchwork's base-extra-patches: "[PATCH 3/2]" sent later in reply to the 0/2 cover
    db, _ = ingest_into([_patchwork(h, "base-extra-patches.mbox")])
    cover = "1473632524-8585-1-git-send-email-stephenfinucane@gmail.com"
    assert _series(db) == [(cover, [1, 2, 3], None)]
    assert h.one(db, "SELECT received FROM series")[0] == 3


def test_naked_cover_letter_is_the_series_cover(h, ingest_into):
    # b4's naked-cover-single: no "0/N", no diffstat, but the author's own thread root
    db, _ = ingest_into([h.shared("b4-samples", "naked-cover-single.mbox")])
    assert _series(db) == [("20221025-widget-v1-0-author@example.org", [None], None)]


def test_bug_report_answered_with_a_fix_is_not_its_cover(h, ingest_into):
    # b4's naked-cover-bugreport: the patch replies to someone else's report
    db, _ = ingest_into([h.shared("b4-samples", "naked-cover-bugreport.mbox")])
    assert _series(db) == [(None, [None], None)]


def test_review_of_a_naked_cover_letter_applies_to_the_series(h, ingest_into, tmp_path):
    # naked-cover-single with a reviewer's reply to the cover, as in b4's
    # trailers-followup-with-cover (Reviewed-by on the 0/N)
    mbox = tmp_path / "naked-cover-reviewed.mbox"
    mbox.write_bytes(h.shared("b4-samples", "naked-cover-single.mbox").read_bytes() + (
        b"\nFrom mboxrd@git Thu Jan  1 00:00:00 1970\n"
        b"Subject: Re: do a thing to the widget subsystem\n"
        b"From: Followup Reviewer1 <followup-reviewer1@example.com>\n"
        b"Date: Tue, 25 Oct 2022 14:38:42 -0400\n"
        b"Message-Id: <naked-cover-fwup@example.com>\n"
        b"In-Reply-To: <20221025-widget-v1-0-author@example.org>\n"
        b"References: <20221025-widget-v1-0-author@example.org>\n\n"
        b"> this changes how the widget works.\n\n"
        b"Reviewed-by: Coverletter Reviewer1 <followup-reviewer1@example.com>\n"))
    db, _ = ingest_into([mbox])
    assert h.one(db, "SELECT patch_message_id, series_id, applies_to FROM trailers "
                     "WHERE message_id = 'naked-cover-fwup@example.com'") == (
        "20221025-widget-v1-0-author@example.org", "20221025-widget-v1-1-author@example.org",
        "series")
    assert h.one(db, "SELECT person_addr FROM patch_trailers WHERE patch_message_id = ? "
                     "AND name = 'Reviewed-by'", ["20221025-widget-v1-1-author@example.org"]
                 ) == ("followup-reviewer1@example.com",)
