"""Deciding which candidate sentences are concerns, and about which interface.

Pure policy over plain data: the candidate sentences the pipeline found in a
message's own words, and the message's place in its thread. Each concern
keeps the rule that fired, so `abiwatch explain` can show why.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache

from abiwatch.nlp.catalog import DATA_DIR
from abiwatch.nlp.classifier import COMBINER_PATH, Combiner, Quoted, features, load_combiner

THRESHOLD = 0.6  # cue score a sentence needs when no learned model is shipped
KIND_ORDER = {"nak": 5, "objection": 4, "risk": 3, "question": 2, "request": 1}
# Weak agreement words ("thanks") do not cancel a concern; these do.
STRONG_AGREE = 0.8


@dataclass
class Candidate:
    start: int
    text: str
    interfaces: dict[str, str]
    cues: list[tuple[str, str, str | None, float, str]]  # rule id, label, kind, weight, text
    question: bool
    model: float = 0.0   # P(concern) from the sentence classifier


@dataclass
class MessageContext:
    message_id: str
    author_addr: str | None
    author_name: str | None
    date: str | None
    is_patch: bool
    is_root: bool
    patch_message_id: str | None
    series_id: str | None
    patch_author_addr: str | None
    root_author_addr: str | None
    interfaces: dict[str, str]          # name -> source ('subject', 'text', 'diff')
    topic_interfaces: list[str]         # the thread's / patch's interfaces, most relevant first
    defer: dict[str, str] = field(default_factory=dict)  # VMware -> VMI in a VMI thread
    patch_interfaces: list[str] = field(default_factory=list)  # of the patch it is about
    mentions: list[tuple[int, str]] = field(default_factory=list)  # (offset, interface) in own text
    quoted: Quoted = Quoted(False, False)  # the code the message quotes and answers


@dataclass
class Concern:
    message_id: str
    interface: str
    text: str
    kind: str
    confidence: float
    rule_id: str
    cue: str
    patch_message_id: str | None
    series_id: str | None
    author_name: str | None
    author_addr: str | None
    date: str | None
    confident: bool = True   # at or above the shown threshold; else kept for --unsure


@lru_cache(maxsize=1)
def _bot_senders() -> re.Pattern:
    data = tomllib.loads((DATA_DIR / "senders.toml").read_text())
    return re.compile("|".join(re.escape(b) for b in data["bots"]), re.I)


def is_bot(ctx: MessageContext) -> bool:
    """Return True for mail from build/test bots (kernel test robot, syzbot, patchwork-bot...)."""
    return bool(_bot_senders().search(f"{ctx.author_name or ''} <{ctx.author_addr or ''}>"))


def is_author_reply(ctx: MessageContext) -> bool:
    """Return True when the message is by the person who posted the patch or proposal."""
    addr = ctx.author_addr
    return bool(addr) and addr in {ctx.patch_author_addr, ctx.root_author_addr}


def score_sentence(c: Candidate) -> tuple[float, tuple[str, str, str | None, float, str] | None]:
    """Return (score, strongest concern cue) of one candidate sentence."""
    concern = [cue for cue in c.cues if cue[1] == "CONCERN"
               and (cue[2] != "question" or c.question)]
    if not concern:
        return 0.0, None
    best = max(concern, key=lambda cue: (cue[3], KIND_ORDER.get(cue[2] or "", 0)))
    score = best[3] + 0.05 * min(3, len({cue[0] for cue in concern}) - 1)
    if c.question and best[2] != "question":
        score += 0.05
    agree = max((cue[3] for cue in c.cues if cue[1] == "AGREE"), default=0.0)
    if agree >= STRONG_AGREE:
        score -= 0.3
    return min(score, 1.0), best


def _prefer(names: list[str], order: list[str]) -> str:
    for t in order:
        if t in names:
            return t
    return names[0]


def sentence_interface(c: Candidate, ctx: MessageContext) -> str | None:
    """Return the interface a concern sentence is about.

    A name the sentence says outright wins; then the interface of the patch
    under review; then a code symbol in the sentence; then the interface the
    writer mentioned last before the sentence; then what the thread is about.
    """
    d = ctx.defer
    said = [d.get(i, i) for i, rule in c.interfaces.items() if rule.startswith("alias:")]
    if said:
        return _prefer(said, ctx.patch_interfaces + ctx.topic_interfaces)
    if ctx.patch_interfaces:
        return ctx.patch_interfaces[0]
    coded = [d.get(i, i) for i in c.interfaces]
    if coded:
        return _prefer(coded, ctx.topic_interfaces)
    before = [d.get(i, i) for pos, i in ctx.mentions if pos < c.start]
    if before:
        return before[-1]
    if ctx.topic_interfaces:
        return ctx.topic_interfaces[0]
    named = [d.get(i, i) for i in ctx.interfaces]
    return named[0] if named else None


MODEL_RULE = "model.textcat"  # the rule id of a concern no cue fired for


def learned_score(c: Candidate, ctx: MessageContext, combiner: Combiner
                  ) -> tuple[float, tuple[str, str, str | None, float, str] | None]:
    """Return (calibrated confidence, strongest cue or the model's own marker) of a sentence."""
    feats = features(c.model, c.cues, c.question, bool(c.interfaces), ctx.quoted, c.text)
    conf = combiner.confidence(feats)
    _, cue = score_sentence(c)
    if cue is None:
        kind = "question" if c.question else "objection"
        cue = (MODEL_RULE, "CONCERN", kind, 0.0, c.text[:60])
    return conf, cue


def decide_concerns(cands: list[Candidate], ctx: MessageContext,
                    threshold: float | None = None) -> list[Concern]:
    """Return one concern per interface this message raises, strongest sentence first."""
    if ctx.is_patch or ctx.is_root or is_author_reply(ctx) or is_bot(ctx):
        return []
    combiner = load_combiner() if COMBINER_PATH.exists() else None
    shown = threshold if threshold is not None else combiner.threshold if combiner else THRESHOLD
    if threshold is None:
        threshold = combiner.keep if combiner else THRESHOLD
    best: dict[str, tuple[float, Candidate, tuple]] = {}
    for c in cands:
        score, cue = learned_score(c, ctx, combiner) if combiner else score_sentence(c)
        if cue is None or score < threshold:
            continue
        iface = sentence_interface(c, ctx)
        if iface is None:
            continue
        prev = best.get(iface)
        if prev is None or score > prev[0]:
            best[iface] = (score, c, cue)
    out = []
    for iface, (score, c, cue) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        out.append(Concern(ctx.message_id, iface, c.text, cue[2] or "objection", round(score, 3),
                           cue[0], cue[4], ctx.patch_message_id, ctx.series_id,
                           ctx.author_name, ctx.author_addr, ctx.date, score >= shown))
    return out
