"""The learned part of concern detection: a spaCy text classifier over
sentences, and a small logistic combiner that weighs its probability with
structural features into one calibrated `confidence`.

Both are data shipped in `nlp/data/model/` and made by `abiwatch model
train` (see nlp/training.py): `textcat/` is a spaCy pipeline saved by `spacy
train`, `combiner.json` holds the combiner's weights, the display threshold
and the figures it was fitted with.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from abiwatch.nlp.analysis import diff_interfaces
from abiwatch.nlp.catalog import DATA_DIR, Catalog
from abiwatch.nlp.linking import QUOTED_HUNK

MODEL_DIR = DATA_DIR / "model"
TEXTCAT_DIR = MODEL_DIR / "textcat"
COMBINER_PATH = MODEL_DIR / "combiner.json"
# Feature order of the combiner; nlp/training.py fits weights in this order.
FEATURES = ("model", "cue", "agree", "question", "names_interface", "answers_hunk",
            "quotes_interface_code", "code_like")
_QUOTE_MARK = re.compile(r"(?m)^[ \t]*(?:>[ \t]?)+")
# a compiler error, a log line, a call trace or a bare code line: text a person did not write as prose
_CODE_LIKE = re.compile(r"\w+\.[ch]:\d+|\b(?:error|warning):|\[\s*\d+\.\d+\]|^\W|[;{}]\s*$|->|::|==")


@dataclass(frozen=True)
class Combiner:
    bias: float
    weights: tuple[float, ...]
    threshold: float        # confidence at which a concern is shown by default (`confident`)
    floor: float            # model probability under which a cue-less sentence is not kept
    keep: float             # confidence from which a concern is kept, shown on request

    def confidence(self, feats: list[float]) -> float:
        z = self.bias + sum(w * f for w, f in zip(self.weights, feats, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class Quoted:
    """What a reply quotes: a hunk of a diff, and whether that code is an interface's."""
    hunk: bool
    interface_code: bool


def quoted_context(quoted_text: str | None, catalog: Catalog) -> Quoted:
    """Return what a message's quoted text shows of the code it answers."""
    if not quoted_text or not QUOTED_HUNK.search(quoted_text):
        return Quoted(False, False)
    code = _QUOTE_MARK.sub("", quoted_text[:200000])
    paths = re.findall(r"(?m)^(?:\+\+\+ b/|--- a/|diff --git a/)(\S+)", code)
    return Quoted(True, bool(diff_interfaces(catalog, paths, code)))


def code_like(text: str) -> bool:
    """Return True for a sentence that reads as code or a log line rather than prose."""
    return bool(_CODE_LIKE.search(text))


def features(model_prob: float, cues: list, question: bool, names_interface: bool,
             quoted: Quoted, text: str) -> list[float]:
    """Return the combiner's inputs for one sentence, in FEATURES order."""
    concern = [c[3] for c in cues if c[1] == "CONCERN" and (c[2] != "question" or question)]
    agree = [c[3] for c in cues if c[1] == "AGREE"]
    return [logit(model_prob), max(concern, default=0.0), max(agree, default=0.0),
            float(question), float(names_interface), float(quoted.hunk),
            float(quoted.interface_code), float(code_like(text))]


@lru_cache(maxsize=4)
def load_combiner(path: str | None = None) -> Combiner:
    data = json.loads(Path(path or COMBINER_PATH).read_text())
    weights = tuple(float(data["weights"][name]) for name in FEATURES)
    threshold = float(data["threshold"])
    return Combiner(float(data["bias"]), weights, threshold, float(data["floor"]),
                    min(threshold, float(data.get("keep_threshold", threshold))))


@lru_cache(maxsize=4)
def load_textcat(path: str | None = None):
    """Return the shipped sentence classifier (a spaCy pipeline), loaded once per process."""
    import spacy

    return spacy.load(Path(path or TEXTCAT_DIR))


def concern_probabilities(textcat, texts: list[str]) -> list[float]:
    """Return P(CONCERN) for each sentence."""
    return [doc.cats.get("CONCERN", 0.0) for doc in textcat.pipe(texts, batch_size=256)]
