"""A cover letter's diffstat is the series' file list: it is recorded in patch_files."""

from __future__ import annotations

from pathlib import Path

from abiwatch.db import open_db
from abiwatch.ingest.diff import summarize_diffstat
from abiwatch.ingest.load import ingest

THREAD = (Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "nlp_devset" / "threads"
          / "virt-20201217-x86-major-paravirt-cleanup.mbox")


def test_cover_letter_diffstat_files_are_recorded(tmp_path):
    db = open_db(tmp_path / "c.db")
    ingest(db, [str(THREAD)], progress=False)
    cover = "20201217093133.1507-1-jgross@suse.com"  # [PATCH v3 00/15] x86: major paravirt cleanup
    kind, files, ins, dels = db.execute(
        "SELECT kind, files_changed, insertions, deletions FROM patches WHERE message_id = ?",
        [cover]).fetchone()
    assert (kind, files) == ("cover", 34)
    assert ins + dels > 1000
    paths = {r[0] for r in db.execute("SELECT path FROM patch_files WHERE message_id = ?", [cover])}
    assert {"arch/x86/include/asm/paravirt_types.h", "arch/x86/xen/irq.c",
            "drivers/clocksource/hyperv_timer.c"} <= paths


def test_shortened_and_renamed_diffstat_paths_are_skipped():
    s = summarize_diffstat([" .../asm/paravirt_types.h | 4 ++--", " a.c => b.c | 0",
                            " arch/x86/kernel/paravirt.c | 10 +++++-----", " 3 files changed"])
    assert list(s.files) == ["arch/x86/kernel/paravirt.c"]
    assert (s.files["arch/x86/kernel/paravirt.c"].insertions,
            s.files["arch/x86/kernel/paravirt.c"].deletions) == (5, 5)
