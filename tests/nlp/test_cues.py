"""Each cue family fires on real sentences from LKML and the virtualization list,
and agreement or hedging in the same sentence cancels a concern."""

from __future__ import annotations

import json

import pytest

from abiwatch.nlp.analysis import analyze
from abiwatch.nlp.catalog import DEFAULT_PATTERNS
from abiwatch.nlp.concerns import Candidate, score_sentence
from abiwatch.nlp.pipeline import build_nlp

MIN_THREADS = 3


@pytest.fixture(scope="module")
def nlp():
    return build_nlp()


def _best(nlp, sentence: str):
    a = analyze(nlp, [("m", "", sentence)])[0]
    best = (0.0, None)
    for s in a.sentences:
        score, cue = score_sentence(Candidate(s.start, s.text, s.interfaces, s.cues, s.question))
        if score > best[0]:
            best = (score, cue)
    return best, a


@pytest.mark.parametrize("sentence, kind", [
    # Peter Zijlstra on runtime paravirt patching, 2020-04
    ("NAK, this grows the structure from 16 to 20 bytes.", "nak"),
    # Juergen Gross, same thread
    ("I think using pvops for such a feature change is just wrong.", "objection"),
    # Zachary Amsden on [PATCH] paravirt.h, 2006-08
    ("But int3 breakpoints can still cause horrific breakage in the stop_machine code.", "risk"),
    # Arjan van de Ven on the VMI RFC, 2006-03
    ("Why can't vmware use the Xen interface instead?", "question"),
    # Greg KH on "A proposal - binary", 2006-08
    ("Please, start posting code and work together with the other people that are wanting "
     "to achive the same end goal as you are.", "request"),
])
def test_cue_family_fires_on_a_real_sentence(nlp, sentence, kind):
    (score, cue), _ = _best(nlp, sentence)
    assert cue is not None and score >= 0.6
    assert cue[2] == kind


def test_abi_constraint_is_tagged(nlp):
    # Zachary Amsden, "A proposal - binary"
    _, a = _best(nlp, "Only with a specific ABI can you guarantee future compatibility.")
    assert a.abi


@pytest.mark.parametrize("sentence", [
    # Andy Lutomirski on the cr8 hooks: agreeing with the patch
    "I don't see anything wrong with the message.",
])
def test_agreement_in_the_sentence_cancels_the_concern(nlp, sentence):
    (score, _), _ = _best(nlp, sentence)
    assert score < 0.6


def test_question_cues_count_only_in_a_question(nlp):
    # Siddharth Chandrasekaran, XMM fast hypercalls: "why" that asks nothing
    (score, _), _ = _best(nlp, "The reason why I didn't differ this change to actual patch needs "
                               "it is that it pairs nicely with the read/write helpers.")
    assert score < 0.6


@pytest.mark.parametrize("sentence", [
    "I dont like this.",                 # LKML often drops the apostrophe
    "I don’t think this is right.",      # and mail clients curl it
])
def test_cues_match_without_or_with_curly_apostrophes(nlp, sentence):
    (score, cue), _ = _best(nlp, sentence)
    assert cue is not None and score >= 0.6


def _cues() -> list[dict]:
    return [json.loads(line) for f in sorted(DEFAULT_PATTERNS.glob("*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


def test_every_cue_fires_in_three_threads_of_an_unlabelled_archive():
    # A phrase seen in one mail is a memory, not a rule (counts: bench/cue_audit.py over
    # the whole virtualization list, whose threads nobody labelled for cues)
    cues = _cues()
    assert cues
    few = [c["id"] for c in cues if c.get("archive_threads", 0) < MIN_THREADS]
    assert few == []


def test_every_cue_carries_its_precision_on_the_tuning_labels():
    cues = _cues()
    assert cues
    for c in cues:
        t = c.get("tuning")
        assert t is not None and isinstance(t["n"], int), c["id"]
        assert t["precision"] is None if t["n"] == 0 else 0.0 <= t["precision"] <= 1.0, c["id"]
