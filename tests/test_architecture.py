"""Dependencies point one way: bot -> {ingest, nlp} -> db. ingest and nlp meet
only in tables; nothing imports bot."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {
    "db": {"db"},
    "ingest": {"ingest", "db"},
    "nlp": {"nlp", "db"},
    "bot": {"bot", "ingest", "nlp", "db"},
}


def _layer(module: str) -> str:
    """Return the abiwatch layer a module name belongs to ('abiwatch.nlp.x' -> 'nlp')."""
    parts = module.split(".")
    return parts[1] if parts[0] == "abiwatch" and len(parts) > 1 else parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {_layer(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(_layer(node.module))
            if node.module == "abiwatch":
                out |= {a.name for a in node.names}
    return out


def test_packages_import_only_downstream():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in (REPO / package).rglob("*.py"):
            ours = _imports(path) & set(ALLOWED)
            wrong += [f"{path.relative_to(REPO)} imports {m}" for m in sorted(ours - allowed)]
    assert not wrong, wrong


def test_the_layers_are_never_imported_by_their_bare_names():
    bare = []
    for package in ALLOWED:
        for path in [*(REPO / package).rglob("*.py"), *(REPO / "tests").rglob("*.py"),
                     *(REPO / "bench").rglob("*.py")]:
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module
                         and node.level == 0 else [])
                bare += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in ALLOWED]
    assert not bare, sorted(set(bare))


def test_one_installed_namespace(tmp_path):
    # Outside the checkout, only the installed package is importable: abiwatch.db, never db.
    run = [sys.executable, "-c"]
    ok = subprocess.run([*run, "import abiwatch.db, abiwatch.nlp, abiwatch.bot, abiwatch.ingest"],
                        cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    for bare in ("db", "bot", "nlp", "ingest"):
        gone = subprocess.run([*run, f"import {bare}"], cwd=tmp_path, capture_output=True, text=True)
        assert gone.returncode != 0 and "ModuleNotFoundError" in gone.stderr, bare
