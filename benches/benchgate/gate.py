"""The benchmark gate: run ``benches/``, turn the run into ratios, and fail when capfast got slower than promised.

Three things make the gate fail (exit code 1):

* a **floor**: ``benches/floors.toml`` declares, per mode (``full`` / ``quick``), per case and baseline label, the
  minimum ``baseline median / capfast median`` ratio; a measured ratio below it fails;
* a **missing case**: a declared floor whose case/baseline did not run (a renamed or deleted benchmark fails loudly
  instead of silently dropping out of the gate);
* a **regression**: with ``--baseline-file``, a subject whose median is slower than the saved median from the same
  machine by more than the declared tolerance (``[tolerance]`` in the floors file).

A benchmark run that itself fails (a bench asserting that native and baseline agree, an import error) fails the gate
too. Every run writes ``gate.json`` and ``gate.md`` into the report directory.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from benchgate.ratios import RatioRow, fmt_seconds, ratio_rows, subject_medians

__all__ = [
    "Check",
    "Floor",
    "FloorsFile",
    "GateError",
    "GateResult",
    "evaluate",
    "load_baseline",
    "load_floors",
    "load_report",
    "render_markdown",
    "run_suite",
    "save_baseline",
    "write_atomic",
    "write_report",
]

Mode = Literal["full", "quick"]
MODES: tuple[Mode, ...] = ("full", "quick")
REPORT_SCHEMA = "capfast-bench-gate/1"
BASELINE_SCHEMA = "capfast-bench-baseline/1"


class GateError(Exception):
    """A gate input is unusable (floors file, benchmark JSON or baseline file): the message says which and why."""


@dataclass(frozen=True)
class Floor:
    """Minimum ratio of one baseline against the subject(s) of one case."""

    case: str
    baseline: str
    floor: float
    subject: str | None = None  # None: every subject of the case must meet the floor
    target: str = ""  # which issue target this floor enforces (free text, shown in the report)


@dataclass(frozen=True)
class FloorsFile:
    """The parsed floors file: floors per mode and the regression tolerance per mode."""

    floors: dict[str, list[Floor]]
    tolerance: dict[str, float]


@dataclass
class Check:
    """One gate verdict: a floor, a missing case, a regression, or the benchmark run itself."""

    kind: Literal["floor", "missing", "regression", "run"]
    ok: bool
    message: str
    case: str = ""
    subject: str = ""
    baseline: str = ""
    value: float | None = None
    limit: float | None = None
    target: str = ""


@dataclass
class GateResult:
    """Everything the reports are made of."""

    mode: str
    rows: list[RatioRow]
    checks: list[Check]
    subjects: dict[str, float]
    machine: dict[str, Any] = field(default_factory=dict)
    commit: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    measured: str = ""  # when pytest-benchmark ran (its JSON's "datetime")

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


# ---------------------------------------------------------------------------------------------------------------------
# inputs


def _positive_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise GateError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def load_floors(path: str | os.PathLike[str]) -> FloorsFile:
    """Parse and validate a floors file (see ``benches/floors.toml`` for the format)."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"floors file {p} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise GateError(f"floors file {p} is not valid TOML: {e}") from None
    unknown = set(doc) - {"tolerance", *MODES}
    if unknown:
        raise GateError(f"floors file {p}: unknown top-level keys {sorted(unknown)}")
    tol_doc = doc.get("tolerance", {})
    if not isinstance(tol_doc, dict):
        raise GateError(f"floors file {p}: [tolerance] must be a table")
    tolerance: dict[str, float] = {m: _positive_number(tol_doc.get(m, 0.30), f"{p}: tolerance.{m}") for m in MODES}
    floors: dict[str, list[Floor]] = {}
    for mode in MODES:
        entries = doc.get(mode, [])
        if not isinstance(entries, list):
            raise GateError(f"floors file {p}: [[{mode}]] must be an array of tables")
        seen: set[tuple[str, str, str | None]] = set()
        out: list[Floor] = []
        for i, entry in enumerate(entries):
            where = f"{p}: [[{mode}]] #{i + 1}"
            if not isinstance(entry, dict):
                raise GateError(f"{where}: must be a table")
            extra = set(entry) - {"case", "baseline", "subject", "floor", "target"}
            if extra:
                raise GateError(f"{where}: unknown keys {sorted(extra)}")
            for key in ("case", "baseline"):
                if not isinstance(entry.get(key), str) or not entry[key]:
                    raise GateError(f"{where}: '{key}' must be a non-empty string")
            subject = entry.get("subject")
            if subject is not None and (not isinstance(subject, str) or not subject):
                raise GateError(f"{where}: 'subject' must be a non-empty string when given")
            key3 = (entry["case"], entry["baseline"], subject)
            if key3 in seen:
                raise GateError(f"{where}: duplicate floor for case {entry['case']!r} / baseline {entry['baseline']!r}")
            seen.add(key3)
            out.append(
                Floor(
                    case=entry["case"],
                    baseline=entry["baseline"],
                    floor=_positive_number(entry.get("floor"), f"{where}: floor"),
                    subject=subject,
                    target=str(entry.get("target", "")),
                )
            )
        floors[mode] = out
    return FloorsFile(floors=floors, tolerance=tolerance)


def _read_json(p: Path, what: str, missing_hint: str = "") -> Any:
    """Parse the JSON file ``p``; a missing or malformed file is a :class:`GateError` naming ``what``."""
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"{what} does not exist{missing_hint}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GateError(f"{what} is not valid JSON: {e}") from None


def load_benchmark_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a pytest-benchmark ``--benchmark-json`` file."""
    p = Path(path)
    data = _read_json(p, f"benchmark JSON {p}")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise GateError(f"benchmark JSON {p} has no 'benchmarks' list (not a pytest-benchmark file?)")
    for b in data["benchmarks"]:
        if not isinstance(b, dict) or "name" not in b or "median" not in b.get("stats", {}):
            raise GateError(f"benchmark JSON {p}: an entry lacks 'name' or 'stats.median'")
    return data


def _machine(data: dict[str, Any]) -> dict[str, Any]:
    mi = data.get("machine_info", {}) or {}
    cpu = mi.get("cpu", {}) or {}
    return {
        "node": mi.get("node"),
        "machine": mi.get("machine"),
        "cpu": cpu.get("brand_raw") or mi.get("processor"),
        "cpu_count": cpu.get("count"),
        "python": mi.get("python_version"),
        "system": mi.get("system"),
    }


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``gate.json`` report written by :func:`write_report`."""
    p = Path(path)
    doc = _read_json(p, f"gate report {p}", missing_hint=" (run `PYTHONPATH=benches python -m benchgate gate` first)")
    if not isinstance(doc, dict) or doc.get("schema") != REPORT_SCHEMA or not isinstance(doc.get("rows"), list):
        raise GateError(f"{p} is not a capfast gate report (schema {REPORT_SCHEMA})")
    return doc


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved same-machine baseline (``--save-baseline`` output, or a previous ``gate.json``)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"baseline file {p} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GateError(f"baseline file {p} is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") not in (BASELINE_SCHEMA, REPORT_SCHEMA):
        raise GateError(f"baseline file {p} is not a capfast gate baseline or report")
    subjects = doc.get("subjects")
    if not isinstance(subjects, dict) or doc.get("mode") not in MODES:
        raise GateError(f"baseline file {p} lacks 'subjects' or a valid 'mode'")
    for k, v in subjects.items():
        _positive_number(v, f"baseline file {p}: subjects[{k!r}]")
    return doc


def save_baseline(result: GateResult, path: str | os.PathLike[str]) -> None:
    """Store the run's subject medians as the same-machine baseline for later ``--baseline-file`` comparisons."""
    doc = {
        "schema": BASELINE_SCHEMA,
        "mode": result.mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": result.machine,
        "commit": result.commit,
        "subjects": result.subjects,
    }
    write_atomic(Path(path), json.dumps(doc, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------------------------
# verdicts


def evaluate(
    data: dict[str, Any],
    floors: FloorsFile,
    mode: Mode,
    baseline: dict[str, Any] | None = None,
) -> GateResult:
    """Apply the floors of ``mode`` (and, if given, the regression check against ``baseline``) to a benchmark run."""
    rows = ratio_rows(data)
    result = GateResult(
        mode=mode,
        rows=rows,
        checks=[],
        subjects=subject_medians(data),
        machine=_machine(data),
        commit={k: data.get("commit_info", {}).get(k) for k in ("id", "branch", "dirty")},
        measured=str(data.get("datetime") or ""),
    )
    for fl in floors.floors[mode]:
        matches = [
            r
            for r in rows
            if (r["case"], r["baseline"]) == (fl.case, fl.baseline) and fl.subject in (None, r["subject"])
        ]
        if not matches:
            who = f" (subject {fl.subject!r})" if fl.subject else ""
            result.checks.append(
                Check(
                    kind="missing",
                    ok=False,
                    case=fl.case,
                    baseline=fl.baseline,
                    subject=fl.subject or "",
                    limit=fl.floor,
                    target=fl.target,
                    message=f"declared case {fl.case!r} vs baseline {fl.baseline!r}{who} did not run",
                )
            )
            continue
        for r in matches:
            ok = r["ratio"] >= fl.floor
            result.checks.append(
                Check(
                    kind="floor",
                    ok=ok,
                    case=r["case"],
                    subject=r["subject"],
                    baseline=r["baseline"],
                    value=r["ratio"],
                    limit=fl.floor,
                    target=fl.target,
                    message=(
                        f"{r['case']}: {r['subject']} is {r['ratio']:.2f}× {r['baseline']} "
                        f"({'meets' if ok else 'BELOW'} floor {fl.floor:.2f}×)"
                    ),
                )
            )
    if baseline is not None:
        _regressions(result, baseline, floors.tolerance[mode])
    return result


def _regressions(result: GateResult, baseline: dict[str, Any], tolerance: float) -> None:
    if baseline["mode"] != result.mode:
        result.checks.append(
            Check(
                kind="regression",
                ok=False,
                message=f"saved baseline is from {baseline['mode']} mode, this run is {result.mode} mode",
            )
        )
        return
    saved_machine = baseline.get("machine") or {}
    diff = [k for k in ("node", "cpu", "cpu_count") if saved_machine.get(k) != result.machine.get(k)]
    if diff:
        result.warnings.append(
            "saved baseline comes from a different machine (" + ", ".join(diff) + "): regression check is unreliable"
        )
    saved: dict[str, float] = baseline["subjects"]
    for key, now in result.subjects.items():
        if key not in saved:
            result.warnings.append(f"{key}: not in the saved baseline, not compared")
            continue
        limit = saved[key] * (1.0 + tolerance)
        ok = now <= limit
        case, _, label = key.partition(" :: ")
        result.checks.append(
            Check(
                kind="regression",
                ok=ok,
                case=case,
                subject=label,
                value=now,
                limit=limit,
                message=(
                    f"{case}: {label} median {fmt_seconds(now)} vs saved {fmt_seconds(saved[key])} "
                    f"({(now / saved[key] - 1) * 100:+.0f} %, tolerance +{tolerance * 100:.0f} %)"
                ),
            )
        )
    for key in sorted(set(saved) - set(result.subjects)):
        result.warnings.append(f"{key}: in the saved baseline but did not run")


# ---------------------------------------------------------------------------------------------------------------------
# running the suite


def quick_pytest_args() -> list[str]:
    """pytest-benchmark settings for quick mode: fewer, shorter rounds (sizes shrink via CAPFAST_BENCH_QUICK=1)."""
    return ["--benchmark-min-rounds=5", "--benchmark-max-time=0.25"]


def run_suite(
    benches: str | os.PathLike[str],
    json_out: str | os.PathLike[str],
    *,
    quick: bool,
    select: str | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Check:
    """Run pytest-benchmark on ``benches`` with the native backend, writing ``json_out``; returns the run's verdict."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(benches),
        "-q",
        "-p",
        "no:randomly",
        "--benchmark-enable",
        "--benchmark-only",
        f"--benchmark-json={json_out}",
        "--benchmark-columns=median,iqr,rounds",
        "--benchmark-sort=name",
        # an all-skipped run is reported by the gate (missing cases), not as a warning turned error
        "-W",
        "ignore::pytest_benchmark.logger.PytestBenchmarkWarning",
    ]
    if quick:
        cmd += quick_pytest_args()
    if select:
        cmd += ["-k", select]
    cmd += list(extra_args)
    run_env = dict(os.environ if env is None else env)
    run_env["CAPFAST_BACKEND"] = "native"
    if quick:
        run_env["CAPFAST_BENCH_QUICK"] = "1"
    else:
        run_env.pop("CAPFAST_BENCH_QUICK", None)
    print("+ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=run_env, check=False)
    if proc.returncode == 5:
        return Check(kind="run", ok=False, message=f"no benchmark ran from {benches} (none collected, or all skipped)")
    if proc.returncode != 0:
        return Check(kind="run", ok=False, message=f"the benchmark run failed (pytest exit code {proc.returncode})")
    if not Path(json_out).exists():
        return Check(kind="run", ok=False, message="no benchmark ran (all skipped?): no results were written")
    return Check(kind="run", ok=True, message="benchmark run completed")


# ---------------------------------------------------------------------------------------------------------------------
# reports


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _floor_for(result: GateResult, row: RatioRow) -> Check | None:
    for c in result.checks:
        if c.kind == "floor" and (c.case, c.subject, c.baseline) == (row["case"], row["subject"], row["baseline"]):
            return c
    return None


def report_dict(result: GateResult) -> dict[str, Any]:
    """The JSON report: mode, verdict, machine, every ratio row (with its floor, if declared) and every check."""
    rows = []
    for r in result.rows:
        c = _floor_for(result, r)
        rows.append({**r, "floor": c.limit if c else None, "ok": c.ok if c else None, "target": c.target if c else ""})
    return {
        "schema": REPORT_SCHEMA,
        "mode": result.mode,
        "passed": result.passed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "measured": result.measured,
        "machine": result.machine,
        "commit": result.commit,
        "rows": rows,
        "checks": [asdict(c) for c in result.checks],
        "warnings": result.warnings,
        "subjects": result.subjects,
    }


def render_table(report: dict[str, Any]) -> str:
    """The ratio table with floors, as used in the README."""
    out = [
        "| case | capfast | median | baseline | median | baseline / capfast | floor |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for r in report["rows"]:
        floor = "—" if r.get("floor") is None else f"{r['floor']:.2f}×" + ("" if r.get("ok") else " ❌")
        out.append(
            f"| {r['case']} | {r['subject']} | {fmt_seconds(r['subject_s'])} | {r['baseline']} | "
            f"{fmt_seconds(r['baseline_s'])} | **{r['ratio']:.2f}×** | {floor} |"
        )
    return "\n".join(out)


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown report: verdict, failures, the table, regressions and warnings."""
    m = report.get("machine", {})
    when = str(report.get("measured") or report["created"])[:19]
    lines = [
        f"# capfast benchmark gate ({report['mode']} mode): {'PASSED' if report['passed'] else 'FAILED'}",
        "",
        f"Measured {when} on {m.get('cpu') or '?'} ({m.get('cpu_count') or '?'} CPUs), "
        f"Python {m.get('python') or '?'}. Ratios are baseline median / capfast median from the same run.",
        "",
    ]
    failed = [c for c in report["checks"] if not c["ok"]]
    if failed:
        lines += ["## Failures", ""] + [f"- **{c['kind']}**: {c['message']}" for c in failed] + [""]
    lines += ["## Ratios", "", render_table(report), ""]
    regs = [c for c in report["checks"] if c["kind"] == "regression"]
    if regs:
        lines += ["## Against the saved baseline", ""] + [
            f"- {'ok' if c['ok'] else '**REGRESSION**'}: {c['message']}" for c in regs
        ] + [""]
    if report.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in report["warnings"]] + [""]
    return "\n".join(lines)


def write_report(result: GateResult, report_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``gate.json`` and ``gate.md`` into ``report_dir``; returns their paths."""
    d = Path(report_dir)
    report = report_dict(result)
    jpath, mpath = d / "gate.json", d / "gate.md"
    write_atomic(jpath, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_atomic(mpath, render_markdown(report))
    return jpath, mpath
