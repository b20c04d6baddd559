"""The interface catalog and the cue patterns: rules as data, loaded from files.

Users extend abiwatch by editing `nlp/data/interfaces.toml` (or passing their
own catalog) and the JSONL files in `nlp/data/patterns/`; no code changes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_CATALOG = DATA_DIR / "interfaces.toml"
DEFAULT_PATTERNS = DATA_DIR / "patterns"


class CatalogError(ValueError):
    """A catalog or pattern file that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Interface:
    name: str
    kind: str
    description: str
    aliases: tuple[str, ...]
    symbols: tuple[str, ...]
    paths: tuple[str, ...]
    defer_to: str | None = None

    def path_matches(self, path: str) -> bool:
        """Return True when a diff's file path belongs to this interface."""
        for p in self.paths:
            if "*" in p or "?" in p:
                if fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path, p + "*"):
                    return True
            elif path.startswith(p):
                return True
        return False


@dataclass(frozen=True)
class Pattern:
    id: str
    label: str
    weight: float
    kind: str | None = None
    phrase: str | None = None
    regex: str | None = None
    sent_start: bool = False
    case: bool = False


@dataclass
class Catalog:
    interfaces: list[Interface]
    patterns: list[Pattern]
    version: str
    by_name: dict[str, Interface] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {i.name: i for i in self.interfaces}

    def interfaces_for_path(self, path: str) -> list[str]:
        """Return the names of the interfaces whose files include path."""
        return [i.name for i in self.interfaces if i.path_matches(path)]

    def resolve(self, name: str) -> str | None:
        """Return the canonical name for a name or alias typed by a person, or None."""
        low = name.strip().lower().replace("_", " ").replace("-", " ")
        for i in self.interfaces:
            if low == i.name.lower().replace("_", " ").replace("-", " "):
                return i.name
        for i in self.interfaces:
            if low in {a.lower().replace("_", " ").replace("-", " ") for a in i.aliases}:
                return i.name
        return None


def _load_interfaces(path: Path) -> tuple[list[Interface], bytes]:
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"catalog file {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"catalog file {path} is not valid TOML: {exc}") from exc
    out = []
    for n, entry in enumerate(data.get("interface", []), 1):
        name = entry.get("name")
        if not name:
            raise CatalogError(f"{path}: interface #{n} has no name")
        kind = entry.get("kind", "both")
        if kind not in ("ABI", "API", "both"):
            raise CatalogError(f"{path}: interface {name}: kind must be ABI, API or both, not {kind!r}")
        for s in entry.get("symbols", []):
            try:
                re.compile(s)
            except re.error as exc:
                raise CatalogError(f"{path}: interface {name}: bad symbol regex {s!r}: {exc}") from exc
        out.append(Interface(name, kind, entry.get("description", ""),
                             tuple(a.lower() for a in entry.get("aliases", [])),
                             tuple(entry.get("symbols", [])), tuple(entry.get("paths", [])),
                             entry.get("defer_to")))
    if not out:
        raise CatalogError(f"{path}: no [[interface]] entries")
    names = {i.name for i in out}
    for i in out:
        if i.defer_to and i.defer_to not in names:
            raise CatalogError(f"{path}: interface {i.name}: defer_to {i.defer_to!r} is not in the catalog")
    return out, raw


def _load_patterns(directory: Path) -> tuple[list[Pattern], bytes]:
    out: list[Pattern] = []
    digest = b""
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise CatalogError(f"no pattern files (*.jsonl) in {directory}")
    for f in files:
        raw = f.read_bytes()
        digest += raw
        for lineno, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                d = json.loads(line)
                p = Pattern(d["id"], d["label"], float(d.get("weight", 0.5)), d.get("kind"),
                            d.get("phrase"), d.get("regex"), bool(d.get("sent_start")),
                            bool(d.get("case")))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise CatalogError(f"{f}:{lineno}: bad pattern ({exc}); each line needs "
                                   "id, label and a phrase or regex") from exc
            if not (p.phrase or p.regex):
                raise CatalogError(f"{f}:{lineno}: pattern {p.id} has neither phrase nor regex")
            if p.regex:
                try:
                    re.compile(p.regex)
                except re.error as exc:
                    raise CatalogError(f"{f}:{lineno}: pattern {p.id}: bad regex: {exc}") from exc
            out.append(p)
    return out, digest


def catalog_of(tagged: list[tuple[str, str, str, list[str]]], base: Catalog) -> Catalog:
    """Return the catalog a database was tagged with, from its `interfaces` rows (name, kind,
    description, aliases), keeping base's symbols and paths for the interfaces it also has:
    questions then know every interface `abiwatch tag --catalog FILE` added."""
    if not tagged:
        return base
    out = []
    for name, kind, description, aliases in tagged:
        known = base.by_name.get(name)
        out.append(Interface(name, kind, description, tuple(aliases),
                             known.symbols if known else (), known.paths if known else (),
                             known.defer_to if known else None))
    return Catalog(out, base.patterns, base.version)


# Part of the version: bumped when the pipeline reads text differently (how sentences are
# split), so every message is tagged again as after a changed rule.
PIPELINE_REVISION = "2: code punctuation does not end a sentence"


def load_catalog(path: str | Path | None = None, patterns: str | Path | None = None) -> Catalog:
    """Return the catalog from a TOML file and the cue patterns from a folder of JSONL files."""
    interfaces, raw = _load_interfaces(Path(path) if path else DEFAULT_CATALOG)
    pats, praw = _load_patterns(Path(patterns) if patterns else DEFAULT_PATTERNS)
    # a retrained model changes what is found, so it re-tags like a changed rule
    combiner = DATA_DIR / "model" / "combiner.json"
    mraw = combiner.read_bytes() if combiner.exists() else b""
    version = hashlib.sha256(raw + b"\x00" + praw + b"\x00" + mraw + b"\x00"
                             + PIPELINE_REVISION.encode()).hexdigest()[:16]
    return Catalog(interfaces, pats, version)
