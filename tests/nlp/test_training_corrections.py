"""Corrections as training labels: the verdicts people gave on concerns become judged
sentences for the classifier, read back from the corrected mail as `tag` read it."""

from __future__ import annotations

from corpus import LKML, require

from abiwatch.db import corrections as corr
from abiwatch.db import open_db
from abiwatch.db.correction_reports import raw_mail, training_labels
from abiwatch.ingest.load import ingest
from abiwatch.nlp.tagging import tag
from abiwatch.nlp.training import judged_rows

ARJAN = "1142273346.3023.38.camel@laptopd505.fenrus.org"  # "Why can't vmware use the Xen ...?"
RIK = "Pine.LNX.4.63.0603132304200.17874@cuia.boston.redhat.com"  # "How would VMI allow ...?"
HCH = "20060315102522.GA5926@infradead.org"


def _id(db, message_id: str) -> int:
    return db.execute("SELECT id FROM concerns WHERE message_id = ?", [message_id]).fetchone()[0]


def test_verdicts_people_gave_become_sentence_labels_of_their_own_mail(tmp_path):
    require(LKML)
    db = open_db(tmp_path / "abiwatch.db")
    ingest(db, [str(LKML)], progress=False)
    tag(db, progress=False, workers=1)
    texts = dict(db.execute("SELECT message_id, text FROM concerns"))

    def fix(message_id: str, text: str) -> None:
        corr.correct(db, _id(db, message_id), corr.parse_action(text), author="t", source="cli")

    fix(RIK, "not-a-concern")
    fix(ARJAN, "resolved-by <4415B857.9010902@vmware.com>")
    fix(HCH, "not-a-concern")
    fix(HCH, "reopen")  # a later verdict supersedes: HCH's sentence is a concern after all
    fix(ARJAN, "interface Xen")  # not a verdict: no label of its own

    labels = training_labels(db)
    assert [(lab["message_id"], lab["sentence"], lab["concern"]) for lab in labels] == [
        (RIK, texts[RIK], False), (ARJAN, texts[ARJAN], True), (HCH, texts[HCH], True)]

    # The trainer reads them from a fresh database of the corrected mail, byte for byte.
    mail = tmp_path / "corrected"
    mail.mkdir()
    for n, raw in enumerate(raw_mail(db, [lab["message_id"] for lab in labels]).values()):
        (mail / f"{n}.eml").write_bytes(raw)
    train_db = open_db(tmp_path / "train.db")
    ingest(train_db, [str(mail)], progress=False)
    rows = judged_rows(train_db, labels)
    assert sorted((r.message_id, r.text, r.y) for r in rows) == sorted(
        [(RIK, texts[RIK], 0), (ARJAN, texts[ARJAN], 1), (HCH, texts[HCH], 1)])
    assert all(r.thread.startswith("judged:") for r in rows)  # never used to fit the combiner
