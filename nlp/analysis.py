"""Per-message analysis: run the pipeline over a message's subject and own
words and return plain data (interfaces, cue hits, candidate sentences).

This runs in worker processes; it returns only what was extracted, never
spaCy objects, so nothing heavy crosses the process boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spacy.language import Language

from abiwatch.nlp.catalog import Catalog
from abiwatch.nlp.pipeline import CUE_KEY, IFACE_KEY

_TRAILER_LINE = re.compile(r"^\s*[A-Za-z][\w-]*-by:\s|^\s*(Cc|Link|Fixes|Closes|change-id|base-commit):\s",
                           re.I)
# 0-day bot boilerplate: "[auto build test ERROR on linus/master]", "[cannot apply to xen-tip/...]"
_ROBOT_LINE = re.compile(r"^\s*\[(?:auto|also) build test|^\s*\[cannot apply to|^\s*\[If your patch is applied",
                         re.I)
_BULLET = re.compile(r"^\s*(?:[-*+o]\s|\d+[.)]\s|v\d+[:\s])")
_CODE_LINE = re.compile(r"^(?:\s{2,}|\t)\S|^\S+\.[ch]:\d+|^ld: |^\$ |^#")
_DIFF_CHANGED = re.compile(r"^[+-](?![+-]{2} )(.*)$", re.M)
MAX_CHARS = 20000  # a 200 kB "reply" is a pasted log; its first pages say what it is about
# A subject is a line; a fuzzed or broken one of a megabyte made spaCy refuse the whole
# batch (E088: text longer than nlp.max_length), and tag stopped on it every run.
MAX_SUBJECT_CHARS = 1000


@dataclass
class Sentence:
    start: int
    end: int
    text: str
    interfaces: dict[str, str] = field(default_factory=dict)   # name -> rule id
    cues: list[tuple[str, str, str | None, float, str]] = field(default_factory=list)
    question: bool = False
    in_subject: bool = False
    model: float = 0.0          # P(concern) from the learned classifier, when it ran


@dataclass
class Analysis:
    message_id: str
    interfaces: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (evidence, source)
    abi: list[tuple[str, str]] = field(default_factory=list)              # (rule id, text)
    sentences: list[Sentence] = field(default_factory=list)
    hits: list[tuple[str, str, int, int, str]] = field(default_factory=list)


def _is_question(text: str) -> bool:
    # "...at fault time? (" or "...instead ? ;)": the '?' need not be the last character
    return text.rstrip(" ()[]\"';:-").endswith("?")


def prepare_text(subject_title: str, own_text: str) -> tuple[str, int]:
    """Return (subject + own text unwrapped into paragraphs, length of the subject part)."""
    paras: list[str] = []
    cur: list[str] = []
    for line in own_text.split("\n")[:2000]:
        if _TRAILER_LINE.match(line) or _ROBOT_LINE.match(line):
            continue
        if not line.strip():
            if cur:
                paras.append(" ".join(cur))
                cur = []
            continue
        if (_BULLET.match(line) or _CODE_LINE.match(line)) and cur:
            paras.append(" ".join(cur))
            cur = []
        cur.append(line.strip())
        if _CODE_LINE.match(line):
            # logs and code stay one line each, so a concern quotes the line, not the block
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    body = "\n\n".join(paras)[:MAX_CHARS]
    head = subject_title.strip()[:MAX_SUBJECT_CHARS]
    return (head + "\n\n" + body if body else head), len(head)


def analyze(nlp: Language, items: list[tuple[str, str, str]], batch_size: int = 128,
            every_sentence: bool = False) -> list[Analysis]:
    """Return the analysis of (message_id, subject title, own text) items, in order.

    Sentences are kept where a rule fired, or all of the own text's with every_sentence
    (for the learned classifier, which reads sentences no rule marked)."""
    prepared = [prepare_text(title, own) for _, title, own in items]
    patterns = nlp.get_pipe("abiwatch_ruler").pattern_by_id
    out = []
    for (mid, _, _), (_text, subj_len), doc in zip(
            items, prepared, nlp.pipe((t for t, _ in prepared), batch_size=batch_size), strict=True):
        out.append(_analysis(mid, doc, subj_len, patterns, every_sentence))
    return out


def _analysis(mid: str, doc, subj_len: int, patterns, every_sentence: bool = False) -> Analysis:
    a = Analysis(mid)
    sents = list(doc.sents)
    starts = [s.start_char for s in sents]
    by_sent: dict[int, Sentence] = {}

    def sentence_of(char: int) -> Sentence:
        # bisect by hand: sentences are few
        idx = 0
        lo, hi = 0, len(starts) - 1
        while lo <= hi:
            mid_ = (lo + hi) // 2
            if starts[mid_] <= char:
                idx = mid_
                lo = mid_ + 1
            else:
                hi = mid_ - 1
        if idx not in by_sent:
            s = sents[idx]
            text = s.text.strip()
            by_sent[idx] = Sentence(s.start_char, s.end_char, text, question=_is_question(text),
                                    in_subject=s.start_char < subj_len)
        return by_sent[idx]

    for span in doc.spans[IFACE_KEY]:
        name = span.label_
        source = "subject" if span.start_char < subj_len else "text"
        evidence = span.text
        prev = a.interfaces.get(name)
        if prev is None or (prev[1] == "text" and source == "subject"):
            a.interfaces[name] = (evidence, source)
        sentence_of(span.start_char).interfaces.setdefault(name, span.id_)
        a.hits.append((span.id_, f"interface:{name}", span.start_char, span.end_char, span.text))
    for span in doc.spans[CUE_KEY]:
        label = span.label_
        rid = span.id_
        a.hits.append((rid, label, span.start_char, span.end_char, span.text))
        if label == "ABI":
            a.abi.append((rid, span.text))
            continue
        sent = sentence_of(span.start_char)
        p = patterns.get(rid)
        sent.cues.append((rid, label, p.kind if p else None, p.weight if p else 0.5, span.text))
    if every_sentence:
        for s in sents:
            if s.start_char >= subj_len:
                sentence_of(s.start_char)
    a.sentences = [by_sent[i] for i in sorted(by_sent)]
    return a


_SYMBOL_CACHE: dict[tuple[str, tuple[str, ...]], re.Pattern] = {}


def _symbols_regex(iface) -> re.Pattern:
    """One pattern for an interface's symbols and (as whole words, any case) its aliases."""
    key = (iface.name, iface.symbols + iface.aliases)
    if key not in _SYMBOL_CACHE:
        words = "|".join(re.escape(a) for a in sorted(iface.aliases, key=len, reverse=True))
        parts = [f"(?:{s})" for s in iface.symbols]
        if words:
            parts.append(f"(?i:(?<![\\w-])(?:{words})(?![\\w-]))")
        _SYMBOL_CACHE[key] = re.compile("|".join(parts))
    return _SYMBOL_CACHE[key]


def diff_interfaces(catalog: Catalog, paths: list[str], diff: str | None) -> dict[str, str]:
    """Return interfaces a message's own diff touches: by file path, else by changed symbols."""
    out: dict[str, str] = {}
    for path in paths:
        for name in catalog.interfaces_for_path(path):
            out.setdefault(name, path)
    if diff:
        changed = "\n".join(m.group(1) for m in _DIFF_CHANGED.finditer(diff[:400000]))
        for iface in catalog.interfaces:
            if iface.name in out or not (iface.symbols or iface.aliases):
                continue
            m = _symbols_regex(iface).search(changed)
            if m:
                out[iface.name] = m.group(0)
    return out
