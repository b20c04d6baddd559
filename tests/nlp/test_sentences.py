"""Sentences as a reader of mail about code sees them: punctuation that belongs to code
does not end one. The text is Vitaly Kuznetsov's review of the Hyper-V root-partition
series (virtualization list, 2020-09-15), as abiwatch stores its own text."""

from __future__ import annotations

import mailbox

from corpus import shared

from abiwatch.nlp.pipeline import build_nlp

THREAD = "virt-20200915-clocksource-hyperv-use-msr-based-access-if-running-as-root.mbox"


def _own_words() -> str:
    box = mailbox.mbox(str(shared("lfdr-virtualization-list", THREAD)))
    for msg in box:
        body = msg.get_payload(decode=True) or b""
        if b"for !CONFIG_X86_64 we can probably" in body:
            text = body.decode("utf-8", "replace")
            start = text.index("I think it makes little sense")
            return " ".join(text[start:text.index("e.g.", start) + 4].split())
    raise AssertionError("the review is not in the thread")


def test_a_negated_config_symbol_does_not_end_a_sentence():
    sents = [s.text for s in build_nlp()(_own_words()).sents]
    assert sents[1].startswith("If we still care about Hyper-V enablement for !CONFIG_X86_64 "
                               "we can probably introduce something like")


def test_code_operators_and_an_opening_bracket_stay_with_their_sentence():
    nlp = build_nlp()
    assert [s.text for s in nlp("if (a != b) return; Really? Yes!").sents] == [
        "if (a != b) return; Really?", "Yes!"]
    assert [s.text for s in nlp("Why don't we use it? (as the TSC page is there)").sents] == [
        "Why don't we use it?", "(as the TSC page is there)"]
