"""Fixtures for the CAP package tests (helpers live in caphelpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from caphelpers import RFC_SK, make_app


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return make_app(tmp_path / "app")


@pytest.fixture
def built(tmp_path: Path, app: Path) -> Path:
    from capfast.cap.package import build

    out = tmp_path / "app.cap"
    build(app, RFC_SK, out)
    return out


@pytest.fixture(params=["native", "python"])
def core(request, native_core, py_core):
    """Each differential test runs against both cores directly."""
    return native_core if request.param == "native" else py_core
