"""The spaCy pipeline: blank English, sentence splitting that respects mail
paragraphs, and one ruler that marks catalog interfaces and cue phrases.

Works offline on `spacy.blank("en")`; a pretrained model is never required.
Phrase rules use a PhraseMatcher on lowercased tokens (nearly free next to the
tokenizer); symbols, paths and a few cues are regular expressions over the
text, turned into token spans. Every span carries the id of the rule that
made it, so any result can be explained.
"""

from __future__ import annotations

import re
from typing import Any

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from abiwatch.nlp.catalog import Catalog, load_catalog

IFACE_KEY = "interfaces"
CUE_KEY = "cues"


_NEWLINE_RUN = re.compile(r"\n\s*")


@Language.component("abiwatch_paragraphs")
def paragraphs(doc: Doc) -> Doc:
    """Start a sentence after every line break: mail paragraphs and list items rarely end in '.'."""
    # Walk the line breaks of the text, not every token: prepared text has few of them.
    text = doc.text
    for m in _NEWLINE_RUN.finditer(text):
        if m.end() >= len(text):
            break
        span = doc.char_span(m.end(), m.end() + 1, alignment_mode="expand")
        if span is not None and len(span) and span.start > 0:
            doc[span.start].is_sent_start = True
    return doc


_OPENING = {"(", "[", "{"}


@Language.component("abiwatch_code_punct")
def code_punct(doc: Doc) -> Doc:
    """Undo the sentencizer's cuts that are not sentence ends in mail about code: '!' or
    '?' glued to what follows (`!CONFIG_X86_64`, `a != b`, `x?y:z`), and an opening
    bracket left at the end of the sentence before it ("use it? (as ...)")."""
    for i in range(len(doc) - 1):
        tok, nxt = doc[i], doc[i + 1]
        if tok.text in ("!", "?") and not tok.whitespace_ and nxt.is_sent_start \
                and (nxt.text[:1].isalnum() or nxt.text[:1] in "_=(:"):
            nxt.is_sent_start = False
        elif nxt.is_sent_start and tok.text in _OPENING and i > 0 and not tok.is_sent_start:
            tok.is_sent_start = True
            nxt.is_sent_start = False
    return doc


@Language.factory("abiwatch_ruler", default_config={"catalog_path": None, "patterns_path": None})
def make_ruler(nlp: Language, name: str, catalog_path: str | None, patterns_path: str | None):
    return CatalogRuler(nlp, name, catalog_path, patterns_path)


class CatalogRuler:
    """Marks interface mentions (doc.spans['interfaces']) and cues (doc.spans['cues'])."""

    def __init__(self, nlp: Language, name: str, catalog_path: str | None,
                 patterns_path: str | None):
        self.nlp = nlp
        self.name = name
        self.catalog_path = catalog_path
        self.patterns_path = patterns_path
        self.catalog: Catalog | None = None
        self.matcher: PhraseMatcher | None = None

    def initialize(self, get_examples=None, *, nlp: Language | None = None,
                   catalog: Catalog | None = None) -> None:
        """Load the catalog and cue patterns from their data files and compile the rules."""
        self.catalog = catalog or load_catalog(self.catalog_path, self.patterns_path)
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self.phrase_rules: dict[str, tuple[str, str, Any]] = {}
        regexes: list[tuple[str, str, str, re.Pattern, Any]] = []
        make = self.nlp.make_doc
        for iface in self.catalog.interfaces:
            for alias in iface.aliases:
                rid = f"alias:{iface.name}:{alias}"
                self.phrase_rules[rid] = (IFACE_KEY, iface.name, None)
                self.matcher.add(rid, [make(alias)])
            if iface.symbols:
                # one pass per interface; the named group tells which symbol matched
                alternation = "|".join(f"(?P<s{n}>{sym})" for n, sym in enumerate(iface.symbols))
                regexes.append((f"symbol:{iface.name}", IFACE_KEY, iface.name,
                                re.compile(alternation), None))
        for p in self.catalog.patterns:
            if p.phrase:
                self.phrase_rules[p.id] = (CUE_KEY, p.label, p)
                self.matcher.add(p.id, [make(v) for v in _spellings(p.phrase)])
            if p.regex:
                flags = 0 if p.case else re.I
                regexes.append((p.id, CUE_KEY, p.label, re.compile(p.regex, flags), p))
        self.regexes = regexes
        self.pattern_by_id = {p.id: p for p in self.catalog.patterns}

    def __call__(self, doc: Doc) -> Doc:
        if self.matcher is None:
            self.initialize()
        iface_spans: list[Span] = []
        cue_spans: list[Span] = []
        strings = self.nlp.vocab.strings
        for match_id, start, end in self.matcher(doc):
            rid = strings[match_id]
            key, label, pattern = self.phrase_rules[rid]
            if pattern is not None:
                if pattern.sent_start and not _at_sentence_start(doc, start):
                    continue
                if pattern.case and doc[start:end].text not in _spellings(pattern.phrase):
                    continue
            span = Span(doc, start, end, label=label, span_id=rid)
            (iface_spans if key == IFACE_KEY else cue_spans).append(span)
        text = doc.text
        for rid, key, label, rx, pattern in self.regexes:
            for m in rx.finditer(text):
                sid = f"{rid}:{m.lastgroup[1:]}" if m.lastgroup else rid
                span = doc.char_span(m.start(), m.end(), label=label, span_id=sid,
                                     alignment_mode="expand")
                if span is None or len(span) == 0:
                    continue
                if pattern is not None and pattern.sent_start and not _at_sentence_start(doc, span.start):
                    continue
                (iface_spans if key == IFACE_KEY else cue_spans).append(span)
        doc.spans[IFACE_KEY] = iface_spans
        doc.spans[CUE_KEY] = cue_spans
        return doc


def _spellings(phrase: str) -> list[str]:
    """Return a phrase as mail writes it: "don't", "dont" (common on LKML) and "don’t"."""
    if "'" not in phrase:
        return [phrase]
    return [phrase, phrase.replace("'", ""), phrase.replace("'", "\u2019")]


def _at_sentence_start(doc: Doc, i: int) -> bool:
    j = i
    while j > 0 and (doc[j - 1].is_punct or doc[j - 1].is_space) and not doc[j - 1].is_sent_end:
        if doc[j - 1].text in (".", "?", "!", ":", ";"):
            return True
        j -= 1
    return j == 0 or bool(doc[j].is_sent_start) or doc[j - 1].text in (".", "?", "!", ":", ";")


def build_nlp(catalog: Catalog | None = None, *, catalog_path: str | None = None,
              patterns_path: str | None = None) -> Language:
    """Return the initialised pipeline: sentencizer, paragraph breaks, catalog ruler."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("abiwatch_code_punct")
    nlp.add_pipe("abiwatch_paragraphs")
    ruler = nlp.add_pipe("abiwatch_ruler", config={"catalog_path": catalog_path,
                                                   "patterns_path": patterns_path})
    ruler.initialize(nlp=nlp, catalog=catalog)
    return nlp
