"""Benchmark fixtures. Benchmarks are disabled in the normal test run (``--benchmark-disable``); run ``make bench``.

Every case records ``extra_info`` ``case``/``role``/``label`` (see ``benchgate``): ``role="subject"`` is the capfast
path, ``role="baseline"`` a named competitor run in the same process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

QUICK = os.environ.get("CAPFAST_BENCH_QUICK", "") not in ("", "0")


def tag(benchmark, case: str, role: str, label: str) -> None:
    benchmark.group = case
    benchmark.extra_info.update({"case": case, "role": role, "label": label})


@pytest.fixture(scope="session")
def quick() -> bool:
    return QUICK
