"""Series: a posting's cover letter and parts grouped; versions linked v1 -> v2 -> v3."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

pytestmark = pytest.mark.slow


def _chain(db, title: str) -> list[tuple]:
    """Return the version chain (oldest first) of the series whose newest has this title,
    walked through series.supersedes only."""
    newest = db.execute(
        "SELECT id FROM series WHERE title = ? AND superseded_by IS NULL", [title]).fetchall()
    assert len(newest) == 1, newest
    chain = []
    cur = newest[0][0]
    while cur is not None:
        row = db.execute("SELECT id, version, is_rfc, cover_message_id, supersedes, total, "
                         "received FROM series WHERE id = ?", [cur]).fetchone()
        chain.append(row)
        cur = row[4]
    return list(reversed(chain))


def test_major_paravirt_cleanup_v2_to_v7_is_one_chain(corpus_db):
    db, _, _ = corpus_db
    chain = _chain(db, "x86: major paravirt cleanup")
    assert [r[1] for r in chain] == [2, 3, 4, 5, 6, 7]
    # Juergen Gross's git-send-email cover letters, one per version
    assert [r[3] for r in chain] == [
        "20201120114630.13552-1-jgross@suse.com", "20201217093133.1507-1-jgross@suse.com",
        "20210120135555.32594-1-jgross@suse.com", "20210308122844.30488-1-jgross@suse.com",
        "20210309134813.23912-1-jgross@suse.com", "20210311142319.4723-1-jgross@suse.com"]
    # superseded_by mirrors supersedes
    for older, newer in zip(chain, chain[1:], strict=False):
        assert db.execute("SELECT superseded_by FROM series WHERE id = ?", [older[0]]
                          ).fetchone()[0] == newer[0]


def test_remove_32bit_xen_pv_v1_v2_v3_are_linked(corpus_db):
    db, _, _ = corpus_db
    chain = _chain(db, "Remove 32-bit Xen PV guest support")
    assert [(r[1], r[5]) for r in chain] == [(1, 2), (2, 4), (3, 7)]
    assert chain[0][4] is None


def test_rfc_then_v2_is_a_chain(corpus_db):
    db, _, _ = corpus_db
    chain = _chain(db, "x86/paravirt: Get rid of paravirt patching")
    assert [(r[1], r[2]) for r in chain] == [(1, 1), (2, 0)]


def test_parts_of_a_posting_are_grouped_under_its_cover_letter(corpus_db):
    db, _, _ = corpus_db
    rows = db.execute("SELECT p.message_id, p.part, p.series_id FROM patches p "
                      "WHERE p.message_id LIKE '20210311142319.4723-%'").fetchall()
    assert len(rows) == 9  # the cover and the 8 parts on this list
    assert {r[2] for r in rows} == {"20210311142319.4723-1-jgross@suse.com"}
    assert h_received(db, "20210311142319.4723-1-jgross@suse.com") == 8


def h_received(db, series_id: str) -> int:
    return db.execute("SELECT received FROM series WHERE id = ?", [series_id]).fetchone()[0]


def test_every_git_send_email_posting_is_one_series(corpus_db, h):
    """Independent truth: git send-email gives every mail of one posting the same
    '<timestamp>.<pid>-<n>-<address>' Message-ID stem."""
    db, _, _ = corpus_db
    lists = [str(h.shared(d).resolve()) for d in ("lfdr-virtualization-list",
                                                  "lfdr-linux-hyperv")]
    stems: dict[tuple, set] = defaultdict(set)
    for mid, sid, src in db.execute(
            "SELECT p.message_id, p.series_id, r.source FROM patches p JOIN messages m "
            "USING (message_id) JOIN raw_messages r ON r.sha256 = m.raw_sha256"):
        if not src.startswith(tuple(lists)):
            continue
        m = re.fullmatch(r"(\d{14}\.\d+)-\d+-(.+)", mid)
        if m:
            stems[(m.group(1), m.group(2))].add(sid)
    assert len(stems) > 40
    split = {k: v for k, v in stems.items() if len(v) > 1}
    assert not split, split


def test_cover_with_a_single_part_is_one_series(corpus_db):
    # linux-hyperv, Apr 2020: "[PATCH v1 0/1]" + "[PATCH v1 1/1]"
    db, _, _ = corpus_db
    sids = {r[0] for r in db.execute(
        "SELECT series_id FROM patches WHERE message_id LIKE '20200409163745.573547-%'")}
    assert sids == {"20200409163745.573547-1-arilou@gmail.com"}


def test_parts_whose_total_disagrees_with_the_cover_still_join_it(corpus_db):
    # virtualization, Mar 2023: cover "[RFC PATCH 0/4]" then parts "1/5".."5/5"
    db, _, _ = corpus_db
    rows = db.execute("SELECT series_id FROM patches WHERE message_id LIKE "
                      "'20230329104546.108016-%'").fetchall()
    assert len(rows) == 6
    assert {r[0] for r in rows} == {"20230329104546.108016-1-andrew@daynix.com"}


def test_every_patch_belongs_to_a_series(corpus_db):
    db, _, _ = corpus_db
    assert db.execute("SELECT COUNT(*) FROM patches WHERE series_id IS NULL").fetchone()[0] == 0
    dangling = db.execute("SELECT COUNT(*) FROM patches p LEFT JOIN series s "
                          "ON s.id = p.series_id WHERE s.id IS NULL").fetchone()[0]
    assert dangling == 0


def test_mercurial_series_is_grouped(corpus_db, h):
    db, _, _ = corpus_db
    src = str(h.shared("patchwork-tests", "series", "mercurial-cover-letter.mbox").resolve())
    rows = db.execute("SELECT p.part, p.total, p.series_id FROM patches p JOIN messages m "
                      "USING (message_id) JOIN raw_messages r ON r.sha256 = m.raw_sha256 "
                      "WHERE r.source = ? ORDER BY p.part", [src]).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(0, 2), (1, 2), (2, 2)]
    assert len({r[2] for r in rows}) == 1


def test_cross_posted_mail_is_stored_once_with_both_lists(h, new_db):
    """45 Message-IDs are in both the virtualization and linux-hyperv folders."""
    from abiwatch.ingest.load import ingest

    virt, hyperv = h.shared("lfdr-virtualization-list"), h.shared("lfdr-linux-hyperv")
    db = new_db()
    s1 = ingest(db, [str(virt)], list_name="virtualization", progress=False)
    s2 = ingest(db, [str(hyperv)], list_name="linux-hyperv", progress=False)
    both = {r[0] for r in db.execute(
        "SELECT message_id FROM message_lists GROUP BY message_id HAVING COUNT(*) = 2")}
    assert len(both) == 45
    assert s2.duplicate == 45 and s2.new == s2.read - 45
    total = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert total == s1.new + s2.new
    assert {r[0] for r in db.execute("SELECT name FROM lists")} == {"virtualization",
                                                                     "linux-hyperv"}
    # the major paravirt cleanup was cross-posted
    assert "20201120114630.13552-1-jgross@suse.com" in both
    # and re-ingesting with the list names again changes nothing
    s3 = ingest(db, [str(virt)], list_name="virtualization", progress=False)
    assert s3.read == 0  # unchanged files are skipped
    assert db.execute("SELECT COUNT(*) FROM message_lists").fetchone()[0] == \
        s1.read + s2.read


def test_predicted_series_agree_with_the_regrouping(corpus_db):
    # Patch rows are written with a predicted series so that regrouping, which writes
    # only what differs, does not rewrite them (diff and all); a prediction that
    # disagrees with group_series would cost a rewrite on every ingest.
    from abiwatch.ingest.series import predict_series

    db, _, _ = corpus_db
    rows = db.execute("SELECT p.message_id, p.kind, p.version, p.part, p.total, m.from_addr, "
                      "m.parent_id, p.series_id FROM patches p JOIN messages m "
                      "USING (message_id)").fetchall()
    predicted = predict_series(db.conn, [r[:7] for r in rows])
    decided = [(r[0], predicted[r[0]], r[7]) for r in rows if predicted[r[0]] is not None]
    assert len(decided) > 0.8 * len(rows)
    assert [d for d in decided if d[1] != d[2]] == []
