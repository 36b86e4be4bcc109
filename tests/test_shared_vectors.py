"""Without ``../shared`` the suite must fail loudly, not lose its known-answer tests silently (issue 19, item 17)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared_vectors import REPO


@pytest.mark.once
def test_missing_shared_vectors_is_a_collection_error(tmp_path: Path) -> None:
    # A checkout with no ../shared beside it: copy the test tree and the pytest configuration only.
    clone = tmp_path / "checkout"
    shutil.copytree(REPO / "tests", clone / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", clone / "pyproject.toml")
    assert not (tmp_path / "shared").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_merkle.py"],
        cwd=clone, capture_output=True, text=True, timeout=300, env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "error" in out.lower() and "../shared/vectors" in out, out
    assert str(tmp_path / "shared" / "vectors" / "rfc6962-merkle") in out, out
