"""The documentation is part of the interface: docs/schema.md describes every
table, column and view, and the README names every command."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from abiwatch.bot.cli import cli
from abiwatch.bot.datasette_meta import documented_columns, live_columns
from abiwatch.db import open_db

REPO = Path(__file__).resolve().parents[1]


def test_schema_doc_describes_every_table_column_and_view(tmp_path):
    db = open_db(tmp_path / "schema.db")
    documented = documented_columns((REPO / "docs" / "schema.md").read_text(), live_columns(db))
    missing = []
    for name in db.table_names() + db.view_names():
        if name.startswith(("messages_fts_", "_", "sqlite_")):
            continue
        if name not in documented:
            missing.append(name)
            continue
        if name == "messages_fts":
            continue
        cols = {c.name for c in db[name].columns}
        missing += [f"{name}.{c}" for c in sorted(cols - documented[name])]
    assert not missing, f"add these to docs/schema.md: {missing}"


def test_readme_names_every_command():
    readme = (REPO / "README.md").read_text()
    runner = CliRunner()
    commands = set(cli.commands)
    for name, cmd in cli.commands.items():
        if hasattr(cmd, "commands"):
            commands |= {f"{name} {sub}" for sub in cmd.commands}
    missing = [c for c in sorted(commands) if f"abiwatch {c}" not in readme]
    assert not missing, f"document these commands in README.md: {missing}"
    assert runner.invoke(cli, ["--help"]).exit_code == 0


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "pip install -e '.[dev]' && abiwatch demo" in readme
    test_cmd = "python3 -m pytest"
    assert test_cmd in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert test_cmd in ci and "pip install" in ci
