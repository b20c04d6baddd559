"""Real failing storage for tests: a tmpfs of a given size (a disk that fills up) or a
read-only bind mount, made in a user and mount namespace of its own (`unshare -Urm`),
so only the commands run there see it and it is gone when they end. No root, no
mock: the kernel answers ENOSPC and EROFS."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def namespaces_work() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /mnt || "
                            "mount -t tmpfs none /tmp"], capture_output=True, timeout=30)
    return probe.returncode == 0


def in_namespace(script: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a shell script in a new user and mount namespace; skip the test when the
    system does not allow one. In the script, $ABIWATCH runs the CLI of this checkout
    and $PYTHON this interpreter."""
    if not namespaces_work():
        pytest.skip("no user and mount namespaces here (unshare -Urm): cannot make a full "
                    "disk or read-only storage without root")
    env = dict(os.environ, PYTHONPATH=str(REPO), ABIWATCH_CONFIG="", PYTHON=sys.executable,
               ABIWATCH=f"{sys.executable} -m abiwatch.bot.cli")
    return subprocess.run(["unshare", "-Urm", "sh", "-c", script], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=timeout)


def sections(out: str) -> dict[str, str]:
    """Split a script's output at lines '== NAME' into {NAME: text}."""
    parts: dict[str, str] = {}
    name = ""
    for line in out.splitlines(keepends=True):
        if line.startswith("== "):
            name = line[3:].strip()
            parts[name] = ""
        else:
            parts[name] = parts.get(name, "") + line
    return parts
