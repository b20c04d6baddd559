#!/usr/bin/env python3
"""Peer scores: how many facts the peers' own tests assert about their own mail hold here.

    /work/venv13c/bin/python bench/peer_suites.py            # score, then list what fails
    /work/venv13c/bin/python bench/peer_suites.py --quiet    # only the two scores

Each mail file goes into a fresh database, as the peers' tests do. The facts are
read from the peers' tests, not from our output:

- Patchwork (patchwork/tests/test_series.py, `_parse_mbox` + `assertSerialized`):
  for each series file its tests use, how the patches split into series, as a list
  of (cover letters, patches) per series. One fact per file.
- b4 (src/tests/test___init__.py, `test_followup_trailers` and its
  `trailers-followup-*-ref-defaults.txt` references; `test_naked_cover_letter_detection`;
  `test_mismatched_trailer_already_on_patch_is_not_flagged`): for each patch, the
  follow-up trailers b4 applies to it (name, person name, address), as a set; each
  trailer b4 flags as not from its sender, which must be kept but not counted; and
  whether a naked cover letter is the series' cover. Files whose reference b4 builds
  from a later revision (partial-reroll) or whose reference is not in the store
  (with-diffstat) are left out.

Facts where we differ from b4 on purpose (docs/schema.md, trailers) are counted as
failing b4's fact and listed as deliberate, so the score says how close to the peer
we are, not how right.

To score an older checkout, export it and put a package tree first on PYTHONPATH,
running from outside the worktree (so ./abiwatch does not shadow it).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

from abiwatch.db import open_db
from abiwatch.ingest.load import ingest

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
PW = DATA / "patchwork-tests" / "series"
B4 = DATA / "b4-samples"

# file -> (covers, patches) of each series, as Patchwork's test_series.py asserts them
PATCHWORK_SERIES: dict[str, list[tuple[int, int]]] = {
    "base-single-patch.mbox": [(0, 1)],
    "base-cover-letter.mbox": [(1, 2)],
    "base-no-cover-letter.mbox": [(0, 2)],
    "base-deep-threaded.mbox": [(1, 2)],
    "base-out-of-order.mbox": [(1, 2)],
    "base-different-versions.mbox": [(1, 4)],
    "bugs-multiple-references.mbox": [(1, 4)],
    "base-no-references.mbox": [(0, 2)],
    "base-no-references-no-cover.mbox": [(1, 2)],
    "bugs-multiple-content-types.mbox": [(0, 1)],
    "revision-basic.mbox": [(1, 2), (1, 2)],
    "revision-threaded-to-single-patch.mbox": [(0, 1), (0, 1)],
    "revision-threaded-to-cover.mbox": [(1, 2), (1, 2)],
    "revision-threaded-to-patch.mbox": [(1, 2), (1, 2)],
    "revision-out-of-order.mbox": [(1, 2), (1, 2)],
    "revision-no-cover-letter.mbox": [(1, 2), (0, 2)],
    "revision-unlabeled.mbox": [(1, 2), (1, 2)],
    "revision-unlabeled-noreferences.mbox": [(0, 2), (0, 2)],
    "bugs-unnumbered.mbox": [(1, 1), (0, 1)],
    "bugs-nocover-noversion.mbox": [(0, 2), (0, 2)],
    "bugs-nocover.mbox": [(0, 2), (0, 2)],
    "bugs-spamming.mbox": [(0, 1), (0, 1), (0, 1)],
    "bugs-mixed-versions.mbox": [(0, 1), (0, 1)],
    "base-incomplete.mbox": [(1, 1)],
    "base-extra-patches.mbox": [(1, 3)],
    "mercurial-cover-letter.mbox": [(1, 2)],
    "mercurial-no-cover-letter.mbox": [(0, 2)],
}

R1 = ("Reviewed-by", "Followup Reviewer1", "followup-reviewer1@example.com")
T2 = ("Tested-by", "Followup Reviewer2", "followup-reviewer2@example.com")
R1_CORP = ("Reviewed-by", "Followup Reviewer1 (corporate)", "followup-reviewer1@example.com")
COVER_R1 = ("Reviewed-by", "Coverletter Reviewer1", "followup-reviewer1@example.com")
MISMATCHED = ("Reviewed-by", "Mismatched Reviewer1", "mismatched-reviewer1@example.net")
ORIG = "orig-message@example.com"

# file -> {patch: follow-up trailers b4 applies to it} (the -ref-defaults.txt files)
B4_APPLIED: dict[str, dict[str, set[tuple[str, str, str]]]] = {
    "trailers-followup-single.mbox": {ORIG: {R1, T2}},
    "trailers-followup-with-cover.mbox": {"patch-1-message@example.com": {COVER_R1},
                                          "patch-2-message@example.com": {R1, COVER_R1}},
    "trailers-followup-custody.mbox": {ORIG: {R1, T2}},
    "trailers-followup-nore.mbox": {ORIG: {R1}},
    "trailers-followup-non-git-patch.mbox": {ORIG: {R1}},
    "trailers-followup-non-git-patch-with-comments.mbox": {ORIG: {R1}},
    "trailers-followup-stripped-lines.mbox": {ORIG: {R1}},
    "trailers-followup-htmljunk.mbox": {
        ORIG: {("Reviewed-by", "HTML Junker", "html-junker@example.com")}},
    "trailers-followup-name-parens.mbox": {ORIG: {R1_CORP, T2}},
    "trailers-followup-bare-address.mbox": {ORIG: {R1_CORP, T2}},
    "trailers-followup-already-present.mbox": {ORIG: set()},
}
# file -> follow-up trailers b4 flags as not given by their sender
B4_FLAGGED: dict[str, set[tuple[str, str, str]]] = {
    "trailers-followup-single.mbox": {MISMATCHED},
    "trailers-followup-name-parens.mbox": {MISMATCHED},
    "trailers-followup-bare-address.mbox": {MISMATCHED},
    "trailers-followup-already-present.mbox": {
        ("Tested-by", "Someone Else", "someone-else@example.com")},
}
# file -> the series' cover letter b4 finds (None: no cover)
B4_NAKED_COVER = {
    "naked-cover-single.mbox": "20221025-widget-v1-0-author@example.org",
    "naked-cover-bugreport.mbox": None,
}
# b4 facts we fail on purpose, with the reason (docs/schema.md, trailers)
DELIBERATE = {
    ("b4", "trailers-followup-name-parens.mbox", ORIG):
        "we also count 'Followup Tester1 [corporate]' and 'Tester2, Followup', each from "
        "its own sender; b4's address parser cannot read those names",
}


def _ingested(path: Path, tmp: Path) -> sqlite3.Connection:
    db = open_db(tmp / (path.stem + ".db"))
    ingest(db, [str(path)], progress=False)
    return db.conn


def _series_shape(conn) -> list[tuple[int, int]]:
    return sorted(conn.execute(
        "SELECT (s.cover_message_id IS NOT NULL), "
        "(SELECT COUNT(*) FROM patches p WHERE p.series_id = s.id AND p.kind != 'cover') "
        "FROM series s").fetchall())


def _applied(conn, patch: str) -> set[tuple[str, str, str]]:
    """Return the follow-up trailers counted on a patch (before patch_trailers existed:
    those pointed at the patch itself)."""
    try:
        rows = conn.execute("SELECT name, person_name, person_addr FROM patch_trailers "
                            "WHERE patch_message_id = ? AND message_id != ?", [patch, patch])
        return set(rows)
    except sqlite3.OperationalError:
        return set(conn.execute("SELECT name, person_name, person_addr FROM trailers "
                                "WHERE patch_message_id = ? AND message_id != ?",
                                [patch, patch]))


def _flagged(conn) -> set[tuple[str, str, str]]:
    try:
        return set(conn.execute("SELECT name, person_name, person_addr FROM trailers "
                                "WHERE ignored_reason = 'not-sender'"))
    except sqlite3.OperationalError:
        return set()


def facts(tmp: Path) -> list[tuple[str, str, str, bool, str]]:
    """Return (peer, file, fact, holds, what we found) for every fact checked."""
    out = []
    for name, want in PATCHWORK_SERIES.items():
        got = _series_shape(_ingested(PW / name, tmp))
        out.append(("patchwork", name, f"series {sorted(want)}", got == sorted(want), str(got)))
    for name, patches in B4_APPLIED.items():
        conn = _ingested(B4 / name, tmp)
        for patch, want in patches.items():
            got = _applied(conn, patch)
            out.append(("b4", name, f"{patch} carries {sorted(want)}", got == want, str(got)))
        flagged = _flagged(conn)
        for t in B4_FLAGGED.get(name, set()):
            out.append(("b4", name, f"{t} kept but not counted", t in flagged,
                        str(sorted(flagged))))
        others = flagged - B4_FLAGGED.get(name, set())
        out.append(("b4", name, "flags nothing else", not others, str(sorted(others))))
    for name, want in B4_NAKED_COVER.items():
        conn = _ingested(B4 / name, tmp)
        got = [r[0] for r in conn.execute("SELECT cover_message_id FROM series")]
        out.append(("b4", name, f"series cover is {want}", got == [want], str(got)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quiet", action="store_true", help="print only the scores")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        checked = facts(Path(d))
    held, total = Counter(), Counter()
    for peer, _, _, ok, _ in checked:
        total[peer] += 1
        held[peer] += ok
    for peer in ("patchwork", "b4"):
        print(f"{peer}: {held[peer]}/{total[peer]} facts hold")
    if not args.quiet:
        for peer, name, fact, ok, got in checked:
            if not ok:
                why = DELIBERATE.get((peer, name, fact.split(" ")[0]))
                tag = f"deliberate: {why}" if why else "fails"
                print(f"  {peer} {name}: {fact}\n    {tag}; found {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
