"""Ratio rows from a pytest-benchmark JSON run: every baseline of a case against every subject of the same case.

Each benchmark in ``benches/`` records ``extra_info["case"]`` (the table row), ``extra_info["role"]`` (``"subject"``,
the capfast native path, or ``"baseline"``, a named competitor measured in the same process) and
``extra_info["label"]`` (a human name). A ratio is ``baseline median / subject median``: higher is better for capfast,
and because both medians come from the same run on the same machine, the ratio is far less noisy than either time.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TypedDict

__all__ = ["RatioRow", "fmt_seconds", "markdown", "ratio_rows", "subject_medians"]


class RatioRow(TypedDict):
    """One (case, subject, baseline) comparison."""

    case: str
    group: str
    subject: str
    subject_s: float
    baseline: str
    baseline_s: float
    ratio: float


def _label(bench: dict[str, Any]) -> str:
    return str(bench.get("extra_info", {}).get("label") or bench["name"])


def ratio_rows(data: dict[str, Any]) -> list[RatioRow]:
    """All ratio rows of a pytest-benchmark JSON document, in the order the benchmarks ran."""
    cases: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"subject": [], "baseline": []})
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        case = str(info.get("case") or bench.get("group") or bench["name"])
        role = info.get("role", "baseline")
        cases[case]["subject" if role == "subject" else "baseline"].append(bench)
    rows: list[RatioRow] = []
    for case, parts in cases.items():
        for subject in parts["subject"]:
            s = float(subject["stats"]["median"])
            for base in parts["baseline"]:
                m = float(base["stats"]["median"])
                rows.append(
                    RatioRow(
                        case=case,
                        group=str(subject.get("group") or ""),
                        subject=_label(subject),
                        subject_s=s,
                        baseline=_label(base),
                        baseline_s=m,
                        ratio=m / s if s > 0 else float("inf"),
                    )
                )
    return rows


def subject_medians(data: dict[str, Any]) -> dict[str, float]:
    """Median seconds of every subject, keyed ``"case :: label"`` (what a saved same-machine baseline stores)."""
    out: dict[str, float] = {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if info.get("role") == "subject":
            case = str(info.get("case") or bench.get("group") or bench["name"])
            out[f"{case} :: {_label(bench)}"] = float(bench["stats"]["median"])
    return out


def fmt_seconds(s: float) -> str:
    """A median in the unit that keeps three significant digits readable."""
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.1f} µs"


def markdown(rows: list[RatioRow]) -> str:
    """The plain ratio table (no floors): case, subject, baseline, both medians and the ratio."""
    out = ["| case | capfast | median | baseline | median | baseline / capfast |", "|---|---|---:|---|---:|---:|"]
    for r in rows:
        out.append(
            f"| {r['case']} | {r['subject']} | {fmt_seconds(r['subject_s'])} | {r['baseline']} | "
            f"{fmt_seconds(r['baseline_s'])} | **{r['ratio']:.2f}×** |"
        )
    return "\n".join(out)
