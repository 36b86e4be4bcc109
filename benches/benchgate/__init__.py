"""capfast's benchmark gate (``python -m capfast.bench``): ratios against same-run baselines, floors, regressions.

``python -m capfast.bench gate [--quick]`` runs ``benches/`` with pytest-benchmark, computes every
``baseline / capfast`` ratio, writes ``gate.json`` and ``gate.md`` and exits 1 when a ratio is below its floor in
``benches/floors.toml``, a declared case did not run, or (with ``--baseline-file``) a subject got slower than a saved
same-machine run by more than the declared tolerance. ``python -m capfast.bench readme`` puts the report's table into
the README. ``python -m capfast.bench ratios RUN.json`` prints the plain ratio table of any pytest-benchmark run.
"""

from __future__ import annotations

from capfast.bench.gate import Check, Floor, FloorsFile, GateError, GateResult, evaluate, load_floors
from capfast.bench.ratios import RatioRow, markdown, ratio_rows

__all__ = [
    "Check",
    "Floor",
    "FloorsFile",
    "GateError",
    "GateResult",
    "RatioRow",
    "evaluate",
    "load_floors",
    "markdown",
    "ratio_rows",
]
