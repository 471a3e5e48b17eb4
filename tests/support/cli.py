"""``nocai`` as a user runs it, in a subprocess: the console script of this virtualenv (or ``python -m
ai_service.cli.app`` where it is not installed), from the repository root, with no terminal on stdin."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from tests.conftest import PYTHON, REPO_ROOT

_SCRIPT = Path(PYTHON).parent / "nocai"
#: The command line that starts ``nocai``.
NOCAI: list[str] = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "ai_service.cli.app"]


def run_nocai(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``nocai ARGS`` to completion, its output captured as text; a non-zero exit is returned, not raised."""
    return subprocess.run(
        [*NOCAI, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """A finished command with its exit code and both streams, for an assertion message."""
    return f"{shlex.join(proc.args)} -> {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
