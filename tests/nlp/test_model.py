"""The learned concern classifier: trained by `abiwatch model train` with spaCy's own
training, shipped ready to use, and never trained on the frozen test set."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from abiwatch.bot.cli import cli
from abiwatch.nlp.classifier import (
    FEATURES,
    Quoted,
    concern_probabilities,
    features,
    load_combiner,
    load_textcat,
)
from abiwatch.nlp.concerns import Candidate, MessageContext, decide_concerns


def test_model_train_writes_a_classifier_and_a_fitted_combiner(tmp_path):
    res = CliRunner().invoke(cli, ["model", "train", "--set", "tuning-topic", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    combiner = json.loads((tmp_path / "combiner.json").read_text())
    assert set(combiner["weights"]) == set(FEATURES)
    assert 0 < combiner["threshold"] < 1
    assert combiner["trained_on"]["sets"] == ["tuning-topic"]
    assert combiner["trained_on"]["positives"] > 0
    textcat = load_textcat(str(tmp_path / "textcat"))
    assert set(textcat.get_pipe("textcat").labels) == {"CONCERN", "OTHER"}


def test_a_broken_label_line_is_refused_in_one_line(tmp_path):
    (tmp_path / "tuning-x.jsonl").write_text('{"message_id": "a@b", "file": "threads/x.mbox"\n')
    res = CliRunner().invoke(cli, ["model", "train", "--labels", str(tmp_path), "--set", "tuning-x",
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "tuning-x.jsonl:1: not a JSON label line" in res.output and "Traceback" not in res.output


def test_training_refuses_the_frozen_test_set():
    res = CliRunner().invoke(cli, ["model", "train", "--set", "test"])
    assert res.exit_code == 2
    assert "never for training" in res.output


def test_the_shipped_classifier_ranks_an_objection_above_thanks():
    # Peter Zijlstra on runtime paravirt patching, 2020-04 (a tuning thread)
    nak, thanks = concern_probabilities(load_textcat(), [
        "NAK, this grows the structure from 16 to 20 bytes.",
        "Thanks, applied to the tip tree."])
    assert nak > thanks


def _ctx(addr: str, name: str) -> MessageContext:
    return MessageContext("m@x", addr, name, "2020-04-08", is_patch=False, is_root=False,
                          patch_message_id="p@x", series_id=None, patch_author_addr="author@x",
                          root_author_addr="author@x", interfaces={"paravirt_ops": "subject"},
                          topic_interfaces=["paravirt_ops"], patch_interfaces=["paravirt_ops"])


def test_mail_from_a_build_bot_raises_no_concern():
    nak = Candidate(0, "NAK, this breaks the paravirt_ops ABI.", {"paravirt_ops": "alias"},
                    [("concern.nak.nak_regex", "CONCERN", "nak", 1.0, "NAK")], False, 0.9)
    assert decide_concerns([nak], _ctx("peterz@infradead.org", "Peter Zijlstra"))
    assert decide_concerns([nak], _ctx("lkp@intel.com", "kernel test robot")) == []


def test_confidence_puts_a_nak_on_interface_code_above_the_threshold_and_thanks_below():
    c = load_combiner()
    nak = c.confidence(features(0.9, [("concern.nak.nak_regex", "CONCERN", "nak", 1.0, "NAK")],
                                False, True, Quoted(True, True), "NAK, this breaks the pv_ops ABI."))
    thanks = c.confidence(features(0.01, [], False, False, Quoted(False, False), "Thanks, applied."))
    assert 0 <= thanks < c.threshold < nak <= 1


def test_the_shipped_model_names_no_path_of_the_machine_it_was_trained_on():
    from abiwatch.nlp.classifier import TEXTCAT_DIR

    config = (TEXTCAT_DIR / "config.cfg").read_text()
    assert 'train = null' in config and 'dev = null' in config
    assert '= "/' not in config


def _quoted_text(devset_db, message_id: str) -> str:
    return devset_db.execute("SELECT quoted_text FROM messages WHERE message_id = ?",
                             [message_id]).fetchone()[0]


def test_a_reply_quoting_a_paravirt_hunk_answers_interface_code(devset_db):
    from abiwatch.nlp.catalog import load_catalog
    from abiwatch.nlp.classifier import quoted_context

    # replies in the noinstr thread quote hunks of arch/x86/include/asm/paravirt.h
    rows = devset_db.execute(
        "SELECT m.message_id FROM messages m WHERE m.is_reply = 1 AND m.quoted_text LIKE "
        "'%a/arch/x86/include/asm/paravirt%' LIMIT 3").fetchall()
    assert rows
    for (mid,) in rows:
        assert quoted_context(_quoted_text(devset_db, mid), load_catalog()) == Quoted(True, True)


def test_a_reply_quoting_a_virtio_hunk_answers_no_interface_code(tmp_path):
    from abiwatch.db import open_db
    from abiwatch.ingest.load import ingest
    from abiwatch.nlp.catalog import load_catalog
    from abiwatch.nlp.classifier import quoted_context

    # a review of virtio-mem that quotes drivers/virtio/virtio_mem.c (a tuning thread)
    thread = (Path(__file__).resolve().parents[1] / "fixtures" / "nlp_devset" / "threads-random" /
              "virt-random-20200611-re-patch-v1-virtio-mem-add-memory-via-add-memory-driver-mana.mbox")
    db = open_db(tmp_path / "virtio.db")
    ingest(db, [str(thread)], progress=False)
    rows = db.execute("SELECT quoted_text FROM messages WHERE is_reply = 1 AND quoted_text LIKE "
                      "'%diff --git a/drivers/virtio/virtio_mem.c%'").fetchall()
    assert rows
    for (quoted,) in rows:
        assert quoted_context(quoted, load_catalog()) == Quoted(True, False)
    assert quoted_context("> Thanks, applied.\n", load_catalog()) == Quoted(False, False)


def test_log_and_code_lines_read_as_code_not_prose():
    from abiwatch.nlp.classifier import code_like

    # a build log pasted in a tuning thread, and a call trace line
    assert code_like("In file included from arch/x86/kernel/asm-offsets.c:13:")
    assert code_like("[ 12.345678] RIP: 0010:native_safe_halt+0x5/0x10")
    assert not code_like("I don't think using pvops for such a feature change is right.")
