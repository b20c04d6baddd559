"""Dependencies point one way: bot -> {ingest, nlp} -> db. ingest and nlp meet
only in tables; nothing imports bot."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {
    "db": {"db"},
    "ingest": {"ingest", "db"},
    "nlp": {"nlp", "db"},
    "bot": {"bot", "ingest", "nlp", "db"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_packages_import_only_downstream():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in (REPO / package).rglob("*.py"):
            ours = _imports(path) & set(ALLOWED)
            wrong += [f"{path.relative_to(REPO)} imports {m}" for m in sorted(ours - allowed)]
    assert not wrong, wrong
