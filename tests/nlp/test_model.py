"""The learned concern classifier: trained by `abiwatch model train` with spaCy's own
training, shipped ready to use, and never trained on the frozen test set."""

from __future__ import annotations

import json

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
