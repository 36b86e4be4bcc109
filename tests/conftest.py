"""Shared fixtures. The whole suite runs once per backend (`make test`); these help tests that compare both."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

import capfast
from shared_vectors import REPO, SHARED, VECTORS, missing_message

__all__ = ["REPO", "SHARED", "VECTORS"]


def pytest_report_header(config: pytest.Config) -> str:
    return f"capfast backend: {capfast.backend}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.once`` tests run in the native pass of ``make test`` only (their result cannot depend on the
    backend); a run on the twin skips them, saying so. ``CAPFAST_RUN_ONCE=1`` runs them on any backend."""
    if capfast.backend == "native" or os.environ.get("CAPFAST_RUN_ONCE") == "1":
        return
    skip = pytest.mark.skip(reason="backend-independent (@pytest.mark.once): runs in the native pass only")
    for item in items:
        if item.get_closest_marker("once") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def native_core():
    """The native module, for differential tests. Missing is a failure unless the twin was forced."""
    try:
        return importlib.import_module("capfast._native")
    except ImportError:
        if os.environ.get("CAPFAST_BACKEND") == "python":
            pytest.skip("native core not built and CAPFAST_BACKEND=python")
        raise


@pytest.fixture(scope="session")
def py_core():
    return importlib.import_module("capfast._py")


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(missing_message(VECTORS))
    return VECTORS
