"""Helpers for driving the real ``cap`` console script (the venv's ``bin/cap``) as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples"
CAP_AGENT_VECTORS = REPO / "tests" / "vectors" / "cap-agent"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cap_executable() -> Path:
    exe = Path(sys.executable).parent / ("cap.exe" if os.name == "nt" else "cap")
    if not exe.exists():
        pytest.fail(f"console script {exe} not found: install the package into this venv (make develop)")
    return exe


@pytest.fixture(scope="session")
def cap_exe() -> Path:
    return cap_executable()


@pytest.fixture
def cap(cap_exe: Path, tmp_path: Path):
    """``cap(*args, cwd=tmp_path, timeout=300)`` runs the console script; CAPFAST_BACKEND is inherited from the test
    run; a command still running after ``timeout`` seconds fails the test (``subprocess.TimeoutExpired``)."""

    def run(*args: str | os.PathLike[str], cwd: Path | None = None, input: str | None = None,
            timeout: float = 300) -> Result:
        proc = subprocess.run(
            [str(cap_exe), *map(str, args)],
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=dict(os.environ),
            input=input,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def one_line_error():
    """``one_line_error(result, code)`` asserts a single ``cap: error:`` line on stderr and returns it."""
    return assert_one_line_error


def assert_one_line_error(r: Result, code: int) -> str:
    """The command failed with ``code`` and a single ``cap: error:`` line on stderr, no traceback."""
    assert r.code == code, (r.code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip("\n").split("\n")
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("cap: error: "), r.stderr
    return lines[0]
