"""deploy/: the systemd units pass `systemd-analyze verify` (rendered with the
install path pointing at a real abiwatch), the ingest unit's commands really
update a public-inbox mirror and ingest and tag it, the example files cover every
setting, the Dockerfile copies what the package needs, and the README names
every deploy file."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus import LKML, require

from abiwatch.bot import config as cfg
from abiwatch.bot.cli import cli
from abiwatch.ingest.sources import iter_mbox

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
UNITS = sorted(DEPLOY.glob("*.service")) + sorted(DEPLOY.glob("*.timer"))
INSTALL_BIN = "/opt/abiwatch/bin/"  # where README's install steps put the programs
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def on_calendar(path: Path) -> str:
    """Return a timer's OnCalendar= value."""
    return re.search(r"^OnCalendar=(.+)$", path.read_text(), re.M)[1]


def exec_lines(path: Path) -> list[tuple[str, str]]:
    """Return (key, command) for every ExecStartPre=/ExecStart= line, in order."""
    return re.findall(r"^(ExecStartPre|ExecStart)=(.+)$", path.read_text(), re.M)


def render(tmp_path: Path) -> Path:
    """Copy the units with INSTALL_BIN pointing at a folder of real programs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "abiwatch"
    # The abiwatch of the interpreter running the tests, whatever PATH says.
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m abiwatch.bot.cli \"$@\"\n")
    wrapper.chmod(0o755)
    (bin_dir / "abiwatch-fetch-mirrors").symlink_to(DEPLOY / "abiwatch-fetch-mirrors")
    out = tmp_path / "units"
    out.mkdir()
    for u in UNITS:
        text = u.read_text()
        assert INSTALL_BIN in text or u.suffix == ".timer", u.name
        (out / u.name).write_text(text.replace(INSTALL_BIN, f"{bin_dir}/"))
    return out


# --- systemd ----------------------------------------------------------------------

def test_units_run_only_the_installed_programs():
    commands = [(u, command) for u in UNITS for _, command in exec_lines(u)]
    assert commands
    for u, command in commands:
        program = command.split()[0]
        assert program in (INSTALL_BIN + "abiwatch", INSTALL_BIN + "abiwatch-fetch-mirrors"), \
            (u.name, program)
    assert {u.stem for u in UNITS if u.suffix == ".timer"} <= \
        {u.stem for u in UNITS if u.suffix == ".service"}  # every timer has its service
    assert {"abiwatch-bot", "abiwatch-ingest", "abiwatch-digest"} <= {u.stem for u in UNITS}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_analyze_verify(tmp_path):
    if not Path(INSTALL_BIN + "abiwatch").exists():
        # verify really checks the programs: as shipped, they are not installed here.
        res = subprocess.run(["systemd-analyze", "verify", *map(str, UNITS)],
                             capture_output=True, text=True)
        assert res.returncode != 0 and "/opt/abiwatch/bin/abiwatch is not executable" in \
            res.stderr
    rendered = sorted(render(tmp_path).iterdir())
    res = subprocess.run(["systemd-analyze", "verify", *map(str, rendered)],
                         capture_output=True, text=True)
    # Unknown keys and bad values are only warnings: any output at all is a failure.
    assert (res.returncode, res.stdout + res.stderr) == (0, "")
    for timer in (u for u in UNITS if u.suffix == ".timer"):
        spec = on_calendar(timer)
        res = subprocess.run(["systemd-analyze", "calendar", spec], capture_output=True,
                             text=True)
        assert res.returncode == 0, (timer.name, res.stderr)


def test_unit_commands_are_real_commands_and_options():
    checked = 0
    for u in UNITS:
        for _, command in exec_lines(u):
            words = [w for w in command.split() if not w.startswith("$")]
            if not words[0].endswith("/abiwatch"):
                continue
            res = CliRunner().invoke(cli, [*words[1:], "--help"])
            assert res.exit_code == 0, (u.name, command, res.output)
            checked += 1
    assert checked


def test_env_example_defines_what_units_and_settings_read():
    env = {}
    for line in (DEPLOY / "abiwatch.env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), line
            assert not value.startswith(('"', "'")), f"docker keeps quotes: {line}"
            env[name] = value
    used = {v for u in UNITS for v in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", u.read_text())}
    assert used <= set(env), used - set(env)
    text = (DEPLOY / "abiwatch.env.example").read_text()
    for var in (cfg.ENV_CONFIG, cfg.ENV_DB, cfg.ENV_SMTP_PASSWORD, cfg.ENV_DISCORD_TOKEN,
                *cfg.ENV_SMTP.values()):
        assert var in text, var
    # The settings file it points to is the documented example, and it is valid.
    cfg.load_settings(DEPLOY / "abiwatch.example.toml", {})


# --- the ingest unit, for real --------------------------------------------------------

def _git(*args: str, data: bytes | None = None) -> str:
    out = subprocess.run(["git", *args], input=data, env=dict(os.environ, **GIT_ENV),
                         capture_output=True, check=True)
    return out.stdout.decode().strip()


def _commit(epoch: Path, raw: bytes) -> None:
    """Commit one message the way public-inbox does: blob 'm' in a one-file tree."""
    g = f"--git-dir={epoch}"
    blob = _git(g, "hash-object", "-w", "--stdin", data=raw)
    tree = _git(g, "mktree", data=f"100644 blob {blob}\tm\n".encode())
    try:
        parent = ["-p", _git(g, "rev-parse", "--verify", "-q", "refs/heads/master")]
    except subprocess.CalledProcessError:
        parent = []
    _git(g, "update-ref", "refs/heads/master", _git(g, "commit-tree", tree, *parent, "-m", "m"))


def _run_unit(path: Path, env: dict[str, str], cwd: Path) -> None:
    """Run a oneshot unit's ExecStartPre/ExecStart lines in order, as systemd would
    (an exit status listed in SuccessExitStatus= counts as success)."""
    ok = {0} | {int(code) for line in path.read_text().splitlines()
                if line.startswith("SuccessExitStatus=") for code in line.split("=", 1)[1].split()}
    for key, command in exec_lines(path):
        argv = []
        for word in command.split():
            # An unbraced $VAR becomes several words, split at whitespace.
            argv += env.get(word[1:], "").split() if word.startswith("$") else [word]
        res = subprocess.run(argv, env={**os.environ, **env}, cwd=cwd, capture_output=True,
                             text=True)
        assert res.returncode in ok, (key, argv, res.stdout, res.stderr)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_ingest_unit_fetches_mirrors_ingests_and_tags(tmp_path):
    require(LKML)
    files = sorted(LKML.glob("*.mbox"))
    first, second = ([m.raw for m in iter_mbox(io.BytesIO(f.read_bytes()), f.name)]
                     for f in files[:2])
    total = len(first) + len(second) + len(list(iter_mbox(io.BytesIO(files[2].read_bytes()),
                                                             files[2].name)))
    upstream = tmp_path / "lore" / "lkml"  # stands for https://lore.kernel.org/lkml/N
    _git("init", "-q", "--bare", "--initial-branch=master", str(upstream / "0"))
    for raw in first:
        _commit(upstream / "0", raw)
    state = tmp_path / "var-lib-abiwatch"
    mirror = state / "mirrors" / "lkml"
    _git("clone", "-q", "--mirror", str(upstream / "0"), str(mirror / "git" / "0.git"))
    drop = state / "drop"
    drop.mkdir()
    units = render(tmp_path)
    env = {"ABIWATCH_CONFIG": "", "ABIWATCH_DB": str(state / "abiwatch.db"),
           "ABIWATCH_MIRRORS": str(mirror), "ABIWATCH_SOURCES": f"{mirror} {drop}",
           **GIT_ENV}

    def count(sql: str) -> int:
        conn = sqlite3.connect(state / "abiwatch.db")
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()

    _run_unit(units / "abiwatch-ingest.service", env, state)
    assert count("SELECT COUNT(*) FROM messages") == len(first)
    # Later: more mail upstream, a new epoch, and an mbox copied into the drop folder.
    for raw in second[:10]:
        _commit(upstream / "0", raw)
    _git("init", "-q", "--bare", "--initial-branch=master", str(upstream / "1"))
    for raw in second[10:]:
        _commit(upstream / "1", raw)
    shutil.copy(files[2], drop / files[2].name)
    _run_unit(units / "abiwatch-ingest.service", env, state)
    assert (mirror / "git" / "1.git").is_dir()  # the new epoch was cloned
    assert count("SELECT COUNT(*) FROM messages") == total
    assert count("SELECT COUNT(*) FROM tagged_messages") == total
    assert count("SELECT COUNT(*) FROM concerns") > 0


def test_fetch_script_refuses_what_is_not_a_mirror(tmp_path):
    res = subprocess.run([str(DEPLOY / "abiwatch-fetch-mirrors"), str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "is not a public-inbox v2 mirror" in res.stderr
    assert os.access(DEPLOY / "abiwatch-fetch-mirrors", os.X_OK)


# --- Docker -------------------------------------------------------------------------

def test_dockerfile_copies_the_package_and_runs_a_real_command():
    text = (DEPLOY / "Dockerfile").read_text()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    copied = set()
    for src in re.findall(r"^COPY\s+(.+)\s+\S+$", text, re.M):
        for s in src.split():
            assert (REPO / s).exists(), f"COPY {s}: no such file in the repository"
            copied.add(s)
    top = {p.split(".")[0] for p in project["tool"]["setuptools"]["packages"]}
    assert top <= copied and "pyproject.toml" in copied and project["project"]["readme"] in copied
    m = re.search(r"^FROM python:(\d+)\.(\d+)", text, re.M)
    need = re.search(r">=(\d+)\.(\d+)", project["project"]["requires-python"])
    assert m and (int(m[1]), int(m[2])) >= (int(need[1]), int(need[2]))
    entry = re.search(r'^ENTRYPOINT \["([^"]+)"\]', text, re.M)[1]
    assert entry in project["project"]["scripts"]
    cmd = re.findall(r'"([^"]+)"', re.search(r"^CMD (.+)$", text, re.M)[1])
    assert CliRunner().invoke(cli, [*cmd, "--help"]).exit_code == 0


def test_docker_build_when_a_daemon_is_available():
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("no Docker daemon here: the Dockerfile is checked statically above")
    res = subprocess.run(["docker", "build", "-q", "-f", str(DEPLOY / "Dockerfile"), "-t",
                          "abiwatch-test", str(REPO)], capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["docker", "run", "--rm", "abiwatch-test", "--help"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "digest" in res.stdout


# --- documentation --------------------------------------------------------------------

def readme_text() -> str:
    return (REPO / "README.md").read_text()


def test_readme_references_every_deploy_file():
    text = readme_text()
    missing = [f"deploy/{f.name}" for f in sorted(DEPLOY.iterdir())
               if f"deploy/{f.name}" not in text]
    assert not missing, f"mention these in README.md (Run it on a server): {missing}"
    named = {m.rstrip(".") for m in re.findall(r"deploy/[\w.*-]+", text) if "*" not in m}
    dangling = sorted(m for m in named if not (REPO / m).exists())
    assert not dangling, f"README names deploy files that do not exist: {dangling}"
