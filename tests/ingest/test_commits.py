"""Reading a kernel git tree and matching the list's postings to its commits.

The tree is a real git repository built in the test: real postings of the
virtualization list committed as a maintainer would (b4's Link: and
Message-Id: trailers, a patch renamed on the way in, one reworked), after
unrelated history; one posted series is never merged.
"""

from __future__ import annotations

import kernel_tree as kt
import pytest

from abiwatch.db import open_db
from abiwatch.ingest.commits import GitError, parse_trailers
from abiwatch.ingest.git_tree import read_tree
from abiwatch.ingest.load import ingest


@pytest.fixture(scope="module")
def mail_db(tmp_path_factory, h):
    """A database of the four real threads, ingested once for this module."""
    path = tmp_path_factory.mktemp("mail") / "mail.db"
    db = open_db(path)
    ingest(db, [str(h.shared("lfdr-virtualization-list", f)) for f in kt.THREAD_FILES],
           progress=False)
    db.conn.close()
    return path


@pytest.fixture
def db(mail_db, tmp_path):
    copy = tmp_path / "abiwatch.db"
    copy.write_bytes(mail_db.read_bytes())
    return open_db(copy)


def _diff_of(db):
    return lambda mid: db.conn.execute("SELECT diff FROM patches WHERE message_id = ?",
                                       [mid]).fetchone()[0]


@pytest.fixture
def tree(db, tmp_path):
    repo = kt.new_tree(tmp_path / "linux")
    kt.unrelated_history(repo)
    shas = kt.paravirt_history(repo, _diff_of(db))
    return repo, shas


def _matches(db) -> dict[str, tuple[str, str]]:
    return {mid: (sha, method) for mid, sha, method in
            db.conn.execute("SELECT message_id, sha, method FROM patch_commits")}


def _state(db, series_id) -> dict:
    cur = db.conn.execute("SELECT * FROM series_state WHERE series_id = ?", [series_id])
    return dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))


def test_every_merged_posting_is_matched_by_its_best_evidence_and_nothing_else(db, tree):
    repo, shas = tree
    read_tree(db, repo, patch_ids=True, progress=False)
    assert _matches(db) == {
        kt.CLEANUP_V7_PART4: (shas["cleanup"], "link"),
        kt.GET_RID_V2_PART1: (shas["part1"], "link"),
        kt.GET_RID_V2_PART3: (shas["part3"], "patch-id"),
        kt.GET_RID_V2_PART4: (shas["part4"], "subject"),
    }


def test_a_renamed_patch_needs_patch_ids_to_be_found(db, tree):
    repo, _ = tree
    read_tree(db, repo, progress=False)
    assert kt.GET_RID_V2_PART3 not in _matches(db)
    assert len(_matches(db)) == 3


def test_a_series_with_some_parts_merged_is_partly_merged_in_the_release_that_first_holds_it(db, tree):
    repo, shas = tree
    read_tree(db, repo, patch_ids=True, progress=False)
    state = _state(db, kt.GET_RID_V2)
    assert (state["state"], state["merged_parts"], state["parts"]) == ("partial", 3, 4)
    assert state["release"] == "v6.8-rc1"
    assert state["first_commit"] == shas["part1"]
    assert state["merged_date"] == "2023-12-01T10:00:00Z"


def test_an_earlier_version_is_superseded_and_points_at_the_merged_one(db, tree):
    repo, _ = tree
    read_tree(db, repo, progress=False)
    state = _state(db, kt.GET_RID_V1)
    assert state["state"] == "superseded"
    assert state["merged_series_id"] == kt.GET_RID_V2
    assert state["chain_merged_date"] == "2023-12-01T10:00:00Z"


def test_an_older_release_is_named_for_an_older_merge(db, tree):
    repo, _ = tree
    read_tree(db, repo, progress=False)
    assert _state(db, kt.CLEANUP_V7)["release"] == "v5.13-rc1"


def test_an_unmerged_series_is_open_until_the_tree_is_past_its_quiet_time(db, tree):
    repo, _ = tree
    read_tree(db, repo, progress=False)
    assert _state(db, kt.CONVERT_ASM)["state"] == "open"
    read_tree(db, repo, abandoned_days=90, progress=False)
    assert _state(db, kt.CONVERT_ASM)["state"] == "abandoned"


def test_a_second_read_reads_only_new_commits_and_changes_nothing_else(db, tree):
    repo, _ = tree
    first = read_tree(db, repo, patch_ids=True, progress=False)
    before = db.conn.execute("SELECT * FROM patch_commits ORDER BY 1, 2").fetchall()
    again = read_tree(db, repo, patch_ids=True, progress=False)
    assert (first.read, first.full_read) == (10, True)  # 7 commits and 3 bases for patches
    assert (again.read, again.new, again.full_read) == (0, 0, False)
    assert db.conn.execute("SELECT * FROM patch_commits ORDER BY 1, 2").fetchall() == before
    kt.commit(repo, subject="virtio: a later change", author="Other Dev <other@example.com>",
              author_date="2024-01-02T10:00:00Z", commit_date="2024-01-02T10:00:00Z")
    assert read_tree(db, repo, patch_ids=True, progress=False).read == 1


def test_a_tree_of_unrelated_history_matches_nothing(db, tmp_path):
    repo = kt.new_tree(tmp_path / "other")
    kt.unrelated_history(repo)
    read_tree(db, repo, patch_ids=True, progress=False)
    assert _matches(db) == {}
    states = dict(db.conn.execute("SELECT series_id, state FROM series_state"))
    assert states[kt.GET_RID_V2] == "open"
    assert "merged" not in states.values() and "partial" not in states.values()


def test_path_limits_read_only_commits_touching_those_paths(db, tree):
    repo, _ = tree
    st = read_tree(db, repo, paths=["drivers/vhost"], progress=False)
    assert st.read == 1
    assert db.conn.execute("SELECT subject FROM commits").fetchall() == [
        ("vhost: fix a leak in the worker",)]


def test_commit_trailers_and_files_are_kept(db, tree):
    repo, shas = tree
    read_tree(db, repo, progress=False)
    conn = db.conn
    assert conn.execute("SELECT name, message_id FROM commit_trailers WHERE sha = ? AND name = 'Link'",
                        [shas["part1"]]).fetchall() == [("Link", kt.GET_RID_V2_PART1)]
    files = [r[0] for r in conn.execute("SELECT path FROM commit_files WHERE sha = ?", [shas["part4"]])]
    assert files == ["arch/x86/kernel/paravirt.c"]


@pytest.mark.parametrize("value, expected", [
    ("https://lore.kernel.org/r/20231016123933.17284-2-jgross@suse.com", "20231016123933.17284-2-jgross@suse.com"),
    ("https://lore.kernel.org/lkml/20210311142319.4723-5-jgross@suse.com/", "20210311142319.4723-5-jgross@suse.com"),
    ("https://patch.msgid.link/20240101.1-1-a@b.c", "20240101.1-1-a@b.c"),
    ("<20210311142319.4723-5-jgross@suse.com>", "20210311142319.4723-5-jgross@suse.com"),
    ("https://bugzilla.kernel.org/show_bug.cgi?id=1", None),
])
def test_link_and_message_id_trailers_name_the_posting(value, expected):
    name = "Message-Id" if value.startswith("<") else "Link"
    assert parse_trailers(f"{name}: {value}") == [(name, value, expected)]


def test_a_folder_that_is_not_a_git_tree_is_refused_in_one_line(db, tmp_path):
    with pytest.raises(GitError, match="not a git repository"):
        read_tree(db, tmp_path, progress=False)



def test_a_link_to_the_cover_letter_matches_the_part_of_the_same_subject(db, tmp_path):
    repo = kt.new_tree(tmp_path / "tip")
    sha = kt.commit(repo, subject="x86: add new features for paravirt patching", author=kt.JUERGEN,
                    author_date="2021-03-11T14:23:13Z", commit_date="2021-03-15T08:00:00Z",
                    trailers=[f"Link: https://lore.kernel.org/r/{kt.CLEANUP_V7}"])
    read_tree(db, repo, progress=False)
    part8 = db.conn.execute("SELECT message_id FROM patches WHERE series_id = ? AND part = 8",
                            [kt.CLEANUP_V7]).fetchone()[0]
    assert _matches(db) == {part8: (sha, "link")}


def test_a_commit_no_release_holds_yet_has_none_and_the_others_keep_theirs(db, tree):
    repo, shas = tree
    later = kt.commit(repo, subject="x86: add new features for paravirt patching",
                      author=kt.JUERGEN, author_date="2021-03-11T14:23:13Z",
                      commit_date="2021-03-16T08:00:00Z")
    read_tree(db, repo, progress=False)
    releases = dict(db.conn.execute("SELECT sha, release FROM commits"))
    assert releases[later] is None
    assert (releases[shas["cleanup"]], releases[shas["part1"]]) == ("v5.13-rc1", "v6.8-rc1")


def test_a_commit_later_than_the_window_is_not_matched_by_subject(db, tree):
    repo, _ = tree
    read_tree(db, repo, window_days=30, progress=False)  # part 4 went in 46 days after posting
    assert kt.GET_RID_V2_PART4 not in _matches(db)
    assert kt.GET_RID_V2_PART1 in _matches(db)  # a Link: names its posting whatever the delay
