"""capfast's benchmark gate: ratios against same-run baselines, floors, regressions (developer tooling, not in the
wheel; ``make gate`` / ``make bench`` / ``make readme-table`` run it, or ``PYTHONPATH=benches python -m benchgate``).

``python -m benchgate gate [--quick]`` runs ``benches/`` with pytest-benchmark, computes every ``baseline / capfast``
ratio, writes ``gate.json`` and ``gate.md`` and exits 1 when a ratio is below its floor in ``benches/floors.toml``, a
declared case did not run, or (with ``--baseline-file``) a subject got slower than a saved same-machine run by more
than the declared tolerance. ``python -m benchgate readme`` puts the report's table into the README.
``python -m benchgate ratios RUN.json`` prints the plain ratio table of any pytest-benchmark run.
"""

from __future__ import annotations

from benchgate.gate import Check, Floor, FloorsFile, GateError, GateResult, evaluate, load_floors
from benchgate.ratios import RatioRow, markdown, ratio_rows

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
