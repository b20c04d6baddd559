"""Which patch each message is about: the reply chain, missing patches named by
their replies' subjects, and versions of one series."""

from __future__ import annotations

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag

from .conftest import REPO


def _link(db, mid: str) -> tuple[str, str] | None:
    row = db.execute("SELECT patch_message_id, how FROM message_patch WHERE message_id = ?", [mid]).fetchone()
    return tuple(row) if row else None


def test_a_patch_is_about_itself(devset_db):
    assert _link(devset_db, "20190715151641.29210-1-andrew.cooper3@citrix.com") == (
        "20190715151641.29210-1-andrew.cooper3@citrix.com", "self")


def test_a_reply_is_about_the_nearest_patch_up_its_chain(devset_db):
    # Andy Lutomirski answers deep in the [PATCH v2] cr8 thread
    pid, how = _link(devset_db, "CALCETrWBO6dUNzkyD12ZfEQ+biN8rhrWxm8YoNhgisDd2Spujg@mail.gmail.com")
    assert pid == "20190715151641.29210-1-andrew.cooper3@citrix.com" and how == "reply-chain"


def test_a_reply_to_a_missing_patch_is_linked_to_it_by_its_subject(devset_db):
    # Replies to the VMI RFC cover letter, which is not in the archive
    pid, how = _link(devset_db, "1142273346.3023.38.camel@laptopd505.fenrus.org")
    assert pid == "200603131758.k2DHwQM7005618@zach-dev.vmware.com"
    assert how == "reply-subject"


def test_replies_to_different_versions_link_to_their_own_version(devset_db):
    # Waiman Long on v4 and on v7 of "useless assignment instructions" (patches missing)
    assert _link(devset_db, "c69f25d2-128d-0ff8-ecba-93c82e1adfde@redhat.com")[0] == \
        "20220627142732.31067-1-guohui@uniontech.com"
    assert _link(devset_db, "b2d958e0-e500-fb5c-676c-00fe542ff56c@redhat.com")[0] == \
        "20220628161251.21950-1-guohui@uniontech.com"


def test_a_reply_to_v1_and_the_v2_posting_are_about_the_same_series(devset_db):
    rfc_reply = "20230920145222.GB6687@noisy.programming.kicks-ass.net"  # Peter on the RFC
    v2_cover = "20231016123933.17284-1-jgross@suse.com"
    key = "SELECT s.series_key FROM message_patch mp JOIN series s ON s.id = mp.series_id WHERE mp.message_id = ?"
    assert devset_db.execute(key, [rfc_reply]).fetchone() == devset_db.execute(key, [v2_cover]).fetchone()
    v1, v2 = devset_db.execute(
        "SELECT id, supersedes FROM series WHERE title = 'x86/paravirt: Get rid of paravirt patching' "
        "ORDER BY version").fetchall()
    assert v2[1] == v1[0]


def test_replies_to_a_revision_posted_in_a_reply_link_to_the_revision(tmp_path):
    # 2006 style (tests/fixtures/ingest/lkml-2006-style-revisions-in-replies.mbox): Rusty's
    # "Updated patch below." and Zach's replacement patch are answered in their own right
    db = open_db(tmp_path / "t.db")
    ingest(db, [str(REPO / "tests" / "fixtures" / "ingest" /
                    "lkml-2006-style-revisions-in-replies.mbox")], progress=False)
    tag(db, progress=False)
    assert _link(db, "200608101331.style-example.2@muc.de") == (
        "1155186601.style-example.1@rustcorp.com.au", "reply-chain")
    assert _link(db, "1155250964.style-example.3@rustcorp.com.au") == (
        "1155250964.style-example.3@rustcorp.com.au", "self")
    assert _link(db, "200608111015.style-example.4@muc.de") == (
        "1155250964.style-example.3@rustcorp.com.au", "reply-chain")
    assert _link(db, "20060811190510.style-example.6@sequoia.sous-sol.org") == (
        "44DCCF2B.style-example.5@vmware.com", "reply-chain")
