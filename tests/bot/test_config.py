"""Settings: defaults, the TOML file, environment overrides, secrets only from the
environment, and `abiwatch config check` saying what is wrong in plain words."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

from abiwatch.bot.cli import cli
from abiwatch.bot.config import (
    ConfigError,
    Settings,
    load_settings,
    read_settings,
    send_problems,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "abiwatch.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "abiwatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file():
    s = load_settings(None, {})
    assert s == Settings()
    assert s.database.path == "abiwatch.db"
    assert (s.smtp.host, s.smtp.effective_port, s.smtp.security) == ("localhost", 25, "none")
    assert (s.serve.host, s.serve.port) == ("127.0.0.1", 8001)
    assert s.subscribers == ()


def test_file_then_environment(tmp_path):
    path = write(tmp_path, """
[database]
path = "/var/lib/abiwatch/abiwatch.db"
[smtp]
host = "mail.example.org"
security = "starttls"
username = "abiwatch"
[digest]
from = "abiwatch <abiwatch@example.org>"
maintainers = ["peterz@infradead.org"]
[[subscribers]]
email = "zach@example.org"
name = "Zach"
interfaces = ["VMI", "paravirt_ops"]
""")
    env = {"ABIWATCH_SMTP_PASSWORD": "s3cret", "ABIWATCH_SMTP_HOST": "relay.example.org",
           "ABIWATCH_SMTP_PORT": "2525", "DISCORD_TOKEN": "tok"}
    s = load_settings(path, env)
    assert s.database.path == "/var/lib/abiwatch/abiwatch.db"
    assert (s.smtp.host, s.smtp.port, s.smtp.security) == ("relay.example.org", 2525, "starttls")
    assert s.smtp.password == "s3cret" and s.discord_token == "tok"
    assert s.digest.sender == "abiwatch <abiwatch@example.org>"
    assert s.subscribers[0].interfaces == ("VMI", "paravirt_ops")
    # Secrets never show in a repr (tracebacks and logs print reprs).
    assert "s3cret" not in repr(s) and "tok" not in repr(s).replace("token", "")
    # The path comes from ABIWATCH_CONFIG when no explicit path is given.
    assert load_settings(None, {"ABIWATCH_CONFIG": str(path)}).source == str(path)
    assert load_settings(None, {"ABIWATCH_DB": "/tmp/x.db"}).database.path == "/tmp/x.db"


def test_every_problem_in_plain_words(tmp_path):
    path = write(tmp_path, """
[smtp]
hots = "mail"
security = "tls"
port = "25"
password = "hunter2"
[digest]
from = "not an address"
max_open = 0
active_days = -1
[[subscribers]]
email = "nobody"
[[subscribers]]
email = "a@example.org"
interfaces = ["VMI", 3]
[discord]
token = "abc"
[weird]
""")
    _, problems = read_settings(path, {})
    text = "\n".join(problems)
    assert "unknown setting 'smtp.hots' (did you mean 'host'?)" in text
    assert "smtp.security must be one of none, starttls, ssl (got 'tls')" in text
    assert "smtp.port must be a whole number (got '25')" in text
    assert "smtp.password: secrets are not read from the config file; set " \
           "ABIWATCH_SMTP_PASSWORD in the environment" in text
    assert "discord.token: secrets are not read from the config file; set DISCORD_TOKEN" in text
    assert "digest.from must be an address" in text
    assert "digest.max_open must be more than 0" in text
    assert "digest.active_days must be more than 0 (got -1)" in text
    assert "subscriber #1 needs email = " in text
    assert "interfaces must be a list of texts" in text
    assert "unknown section [weird]" in text
    with pytest.raises(ConfigError) as err:
        load_settings(path, {})
    assert err.value.problems == problems
    # The secret from the file was not taken.
    assert "hunter2" not in text


def test_bad_files(tmp_path):
    _, problems = read_settings(tmp_path / "missing.toml", {})
    assert problems == [f"config file {tmp_path / 'missing.toml'} does not exist "
                        "(given by --config)"]
    bad = write(tmp_path, "[smtp\nhost = 1\n")
    _, problems = read_settings(None, {"ABIWATCH_CONFIG": str(bad)})
    assert problems[0].startswith(f"config file {bad} is not valid TOML")
    _, problems = read_settings(None, {"ABIWATCH_SMTP_PORT": "abc"})
    assert problems == ["ABIWATCH_SMTP_PORT must be a whole number (got 'abc')"]


def test_username_without_password_blocks_sending_only(tmp_path):
    path = write(tmp_path, '[smtp]\nusername = "abiwatch"\nsecurity = "ssl"\n')
    s = load_settings(path, {})  # usable for sql, serve...
    assert send_problems(s) == ["smtp.username is 'abiwatch' but ABIWATCH_SMTP_PASSWORD is not "
                                "set: put the password in the environment (never in the "
                                "config file)"]
    assert s.smtp.effective_port == 465
    assert send_problems(load_settings(path, {"ABIWATCH_SMTP_PASSWORD": "x"})) == []


def test_config_check_command(tmp_path):
    runner = CliRunner()
    good = write(tmp_path, '[digest]\nfrom = "abiwatch <a@example.org>"\n'
                           '[[subscribers]]\nemail = "b@example.org"\ninterfaces = ["vmi"]\n')
    res = runner.invoke(cli, ["--db", str(tmp_path / "none.db"), "config", "check",
                              "--config", str(good)], env={"DISCORD_TOKEN": "x"})
    assert res.exit_code == 0, res.output
    assert "does not exist yet" in res.output and res.output.rstrip().endswith(
        "OK: the settings can be used")
    bad = tmp_path / "bad.toml"
    bad.write_text('[smtp]\nsecurity = "tls"\nusername = "u"\n[[subscribers]]\n'
                   'email = "b@example.org"\ninterfaces = ["VMX"]\n')
    res = runner.invoke(cli, ["--db", str(tmp_path / "none.db"), "config", "check",
                              "--config", str(bad)], env={"ABIWATCH_SMTP_PASSWORD": ""})
    assert res.exit_code == 1
    assert "problem: smtp.security must be one of none, starttls, ssl" in res.output
    assert "problem: subscriber b@example.org: unknown interface 'VMX' (did you mean 'VMI'?)" \
           in res.output
    assert "problem: smtp.username is 'u' but ABIWATCH_SMTP_PASSWORD is not set" in res.output
    assert "3 problem(s)" in res.output
    # Every other command refuses a broken config with the same words.
    res = runner.invoke(cli, ["sql", "SELECT 1", "--config", str(bad)])
    assert res.exit_code == 1 and "smtp.security must be one of" in res.output


def test_config_show_is_valid_toml_and_masks_secrets(tmp_path):
    res = CliRunner().invoke(cli, ["config", "show"], env={
        "ABIWATCH_SMTP_PASSWORD": "pa55word", "ABIWATCH_CONFIG": "", "ABIWATCH_DB": ""})
    assert res.exit_code == 0, res.output
    assert "pa55word" not in res.output and "ABIWATCH_SMTP_PASSWORD: set" in res.output
    shown = write(tmp_path, res.output)
    assert load_settings(shown, {}) == Settings(source=str(shown))


def test_example_config_documents_every_setting():
    s = load_settings(EXAMPLE, {"ABIWATCH_SMTP_PASSWORD": "x"})
    assert s.subscribers, "the example shows a subscriber"
    text = EXAMPLE.read_text()
    from abiwatch.bot.config import _SECTIONS, _keys

    for section in _SECTIONS:
        for key in _keys(section):
            # Each setting appears (set or commented out) with a comment above it.
            assert f"\n{key} = " in text or f"\n# {key} = " in text, f"{section}.{key}"


def test_only_config_reads_the_environment():
    offenders = set()
    for package in ("bot", "db", "nlp", "ingest"):
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if rel == "bot/config.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                    offenders.add(rel)
    assert offenders == set()
