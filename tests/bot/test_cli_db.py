"""Every command finds its database: --db, then ABIWATCH_DB, then the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from abiwatch.bot.cli import cli

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "sample" / "lkml-20060810-paravirt-h-patch.mbox"


def _ingest(tmp_path, env, *args):
    return CliRunner().invoke(cli, [*args, "ingest", str(SAMPLE), "--no-progress"], env=env,
                              catch_exceptions=False)


def test_the_config_file_names_the_database_when_nothing_else_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "abiwatch.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "from-config.db"}"\n')
    res = _ingest(tmp_path, {"ABIWATCH_CONFIG": str(config), "ABIWATCH_DB": None})
    assert res.exit_code == 0, res.output
    assert (tmp_path / "from-config.db").exists()


def test_abiwatch_db_beats_the_config_file_and_db_beats_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "abiwatch.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "from-config.db"}"\n')
    env = {"ABIWATCH_CONFIG": str(config), "ABIWATCH_DB": str(tmp_path / "from-env.db")}
    assert _ingest(tmp_path, env).exit_code == 0
    assert (tmp_path / "from-env.db").exists() and not (tmp_path / "from-config.db").exists()
    assert _ingest(tmp_path, env, "--db", str(tmp_path / "from-option.db")).exit_code == 0
    assert (tmp_path / "from-option.db").exists()


def test_global_options_may_follow_the_subcommand(tmp_path):
    # the README says every command takes --db; users put it where they like
    path = tmp_path / "after.db"
    sample = Path(__file__).resolve().parents[2] / "bot" / "sample" / "lkml-20060810-paravirt-h-patch.mbox"
    res = CliRunner().invoke(cli, ["ingest", str(sample), "--db", str(path)], env={"ABIWATCH_CONFIG": ""})
    assert res.exit_code == 0, res.output
    assert path.exists()
    res = CliRunner().invoke(cli, ["stats", f"--db={path}"], env={"ABIWATCH_CONFIG": ""})
    assert res.exit_code == 0 and res.output.startswith("5 messages")


@pytest.mark.parametrize("args", [["tag"], ["ask", "unresolved"], ["stats"], ["explain", "1"]])
def test_a_command_that_needs_a_database_refuses_a_missing_one(tmp_path, args):
    # only ingest creates a database: a typo in --db must not become an empty "success"
    path = tmp_path / "typo.db"
    res = CliRunner().invoke(cli, ["--db", str(path), *args], env={"ABIWATCH_CONFIG": ""})
    assert res.exit_code == 1
    assert f"no database at {path}" in res.output and "abiwatch ingest" in res.output
    assert not path.exists()
