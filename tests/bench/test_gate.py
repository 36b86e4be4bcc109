"""The benchmark gate (benchgate): floors, missing cases, regressions, reports — on synthetic pytest-benchmark JSON,
plus one end-to-end run of the real gate on a tiny quick-mode subset of benches/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import capfast
from benchgate.__main__ import main
from benchgate.gate import GateError, evaluate, load_baseline, load_floors, save_baseline
from benchgate.ratios import ratio_rows
from benchgate.readme import END, START, update_readme

# Backend-independent (the benchmark gate's logic on synthetic reports (its real run measures the native core only)): runs in the native pass only.
pytestmark = pytest.mark.once

REPO = Path(__file__).resolve().parents[2]
BENCHES = REPO / "benches"


def bench(case: str, role: str, label: str, median: float, group: str = "g") -> dict[str, Any]:
    return {
        "name": f"test_{label.replace(' ', '_')}",
        "fullname": f"benches/test_x.py::test_{label}",
        "group": group,
        "extra_info": {"case": case, "role": role, "label": label},
        "stats": {"median": median, "mean": median, "rounds": 5},
    }


def run_doc(*benches: dict[str, Any], node: str = "ci-box") -> dict[str, Any]:
    return {
        "machine_info": {"node": node, "cpu": {"brand_raw": "Test CPU", "count": 2}, "python_version": "3.11.7"},
        "commit_info": {"id": "abc", "branch": "main", "dirty": False},
        "benchmarks": list(benches),
    }


# native 10 ms, twin 80 ms, naive 120 ms -> ratios 8 and 12
RUN = run_doc(
    bench("merkle root 50k leaves blake3", "subject", "capfast native", 0.010),
    bench("merkle root 50k leaves blake3", "baseline", "capfast Python twin", 0.080),
    bench("merkle root 50k leaves blake3", "baseline", "naive tree", 0.120),
)


def floors_file(tmp_path: Path, body: str, name: str = "floors.toml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def one_floor(tmp_path: Path, floor: float, mode: str = "quick", baseline: str = "naive tree", extra: str = "") -> Path:
    return floors_file(
        tmp_path,
        f"""
[tolerance]
full = 0.30
quick = 0.30

[[{mode}]]
case = "merkle root 50k leaves blake3"
baseline = "{baseline}"
floor = {floor}
target = "test"
{extra}
""",
    )


def test_ratio_rows_is_baseline_over_subject() -> None:
    rows = ratio_rows(RUN)
    assert [(r["baseline"], round(r["ratio"], 6)) for r in rows] == [("capfast Python twin", 8.0), ("naive tree", 12.0)]
    assert {r["subject"] for r in rows} == {"capfast native"}


def test_floor_below_measured_ratio_passes(tmp_path: Path) -> None:
    result = evaluate(RUN, load_floors(one_floor(tmp_path, 11.5)), "quick")
    assert result.passed
    [check] = result.checks
    assert check.kind == "floor" and check.value == pytest.approx(12.0) and check.limit == 11.5


def test_floor_above_measured_ratio_fails(tmp_path: Path) -> None:
    result = evaluate(RUN, load_floors(one_floor(tmp_path, 12.5)), "quick")
    assert not result.passed
    [check] = result.failures
    assert check.kind == "floor" and "BELOW floor 12.50" in check.message


def test_floors_of_the_other_mode_do_not_apply(tmp_path: Path) -> None:
    floors = load_floors(one_floor(tmp_path, 99.0, mode="full"))
    assert evaluate(RUN, floors, "quick").passed
    assert not evaluate(RUN, floors, "full").passed


def test_missing_case_fails(tmp_path: Path) -> None:
    result = evaluate(RUN, load_floors(one_floor(tmp_path, 1.0, baseline="hashlib loop")), "quick")
    assert not result.passed
    [check] = result.failures
    assert check.kind == "missing" and "did not run" in check.message


def test_floor_without_subject_applies_to_every_subject(tmp_path: Path) -> None:
    run = run_doc(
        bench("ed25519 verify", "subject", "native batch", 0.01),
        bench("ed25519 verify", "subject", "native single", 0.05),
        bench("ed25519 verify", "baseline", "PyNaCl loop", 0.10),
    )
    base = '[[quick]]\ncase = "ed25519 verify"\nbaseline = "PyNaCl loop"\nfloor = 5.0\n'
    assert not evaluate(run, load_floors(floors_file(tmp_path, base)), "quick").passed  # single is only 2x
    scoped = load_floors(floors_file(tmp_path, base + 'subject = "native batch"\n', "f2.toml"))
    result = evaluate(run, scoped, "quick")
    assert result.passed and [c.subject for c in result.checks] == ["native batch"]


def test_regression_beyond_tolerance_fails(tmp_path: Path) -> None:
    floors = load_floors(one_floor(tmp_path, 1.0))
    saved = tmp_path / "baseline.json"
    save_baseline(evaluate(RUN, floors, "quick"), saved)
    slower = json.loads(json.dumps(RUN))
    slower["benchmarks"][0]["stats"]["median"] = 0.0131  # +31 % > 30 % tolerance; ratios still above the floor
    result = evaluate(slower, floors, "quick", load_baseline(saved))
    assert [(c.kind, c.subject) for c in result.failures] == [("regression", "capfast native")]
    within = json.loads(json.dumps(RUN))
    within["benchmarks"][0]["stats"]["median"] = 0.0125  # +25 %
    assert evaluate(within, floors, "quick", load_baseline(saved)).passed


def test_baseline_from_other_mode_or_machine(tmp_path: Path) -> None:
    floors = load_floors(one_floor(tmp_path, 1.0, extra="\n[[full]]\ncase = 'x'\nbaseline = 'y'\nfloor = 1.0\n"))
    saved = tmp_path / "baseline.json"
    save_baseline(evaluate(RUN, floors, "quick"), saved)
    result = evaluate(RUN, floors, "full", load_baseline(saved))
    assert any(c.kind == "regression" and "quick mode" in c.message for c in result.failures)
    other = run_doc(*RUN["benchmarks"], node="laptop")
    warned = evaluate(other, floors, "quick", load_baseline(saved))
    assert warned.passed and any("different machine" in w for w in warned.warnings)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[[quick]]\ncase = 'a'\nbaseline = 'b'\nfloor = 0\n", "positive number"),
        ("[[quick]]\ncase = 'a'\nbaseline = 'b'\nfloor = 'fast'\n", "positive number"),
        ("[[quick]]\ncase = 'a'\nfloor = 2.0\n", "'baseline' must be"),
        ("[[quick]]\ncase = 'a'\nbaseline = 'b'\nfloor = 2.0\nflor = 3\n", "unknown keys"),
        ("[[quick]]\ncase='a'\nbaseline='b'\nfloor=2.0\n[[quick]]\ncase='a'\nbaseline='b'\nfloor=3.0\n", "duplicate"),
        ("[[nightly]]\ncase = 'a'\n", "unknown top-level"),
        ("[[quick]\n", "not valid TOML"),
    ],
)
def test_bad_floors_files_are_rejected(tmp_path: Path, body: str, problem: str) -> None:
    with pytest.raises(GateError, match=problem):
        load_floors(floors_file(tmp_path, body))


def test_cli_exit_codes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(RUN), encoding="utf-8")
    common = ["gate", "--quick", "--from-json", str(run_json), "--report-dir", str(tmp_path / "r")]
    assert main([*common, "--floors", str(one_floor(tmp_path, 11.0))]) == 0
    report = json.loads((tmp_path / "r" / "gate.json").read_text(encoding="utf-8"))
    assert report["passed"] and report["mode"] == "quick"
    assert [(r["baseline"], r["floor"]) for r in report["rows"]] == [("capfast Python twin", None), ("naive tree", 11.0)]
    assert "PASSED" in (tmp_path / "r" / "gate.md").read_text(encoding="utf-8")
    assert main([*common, "--floors", str(one_floor(tmp_path, 13.0))]) == 1
    assert "FAILED" in (tmp_path / "r" / "gate.md").read_text(encoding="utf-8")
    assert main([*common, "--floors", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_failed_run_does_not_overwrite_saved_baseline(tmp_path: Path) -> None:
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(RUN), encoding="utf-8")
    saved = tmp_path / "base.json"
    args = ["gate", "--quick", "--from-json", str(run_json), "--report-dir", str(tmp_path), "--save-baseline", str(saved)]
    assert main([*args, "--floors", str(one_floor(tmp_path, 50.0))]) == 1
    assert not saved.exists()
    assert main([*args, "--floors", str(one_floor(tmp_path, 5.0))]) == 0
    assert load_baseline(saved)["subjects"] == {"merkle root 50k leaves blake3 :: capfast native": 0.010}


def test_readme_table_is_replaced_between_markers(tmp_path: Path) -> None:
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(RUN), encoding="utf-8")
    floors = one_floor(tmp_path, 11.0)
    assert main(["gate", "--quick", "--from-json", str(run_json), "--report-dir", str(tmp_path), "--floors", str(floors)]) == 0
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{START}\nold table\n{END}\nafter\n", encoding="utf-8")
    assert update_readme(readme, tmp_path / "gate.json")
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and text.startswith("# x\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "| merkle root 50k leaves blake3 | capfast native | 10.0 ms | naive tree | 120.0 ms | **12.00×** | 11.00× |" in text
    assert not update_readme(readme, tmp_path / "gate.json")  # idempotent
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(GateError, match="exactly one"):
        update_readme(readme, tmp_path / "gate.json")


def test_checked_in_floors_file_is_valid() -> None:
    floors = load_floors(REPO / "benches" / "floors.toml")
    for mode in ("full", "quick"):
        assert floors.floors[mode], f"no {mode} floors declared"
        assert all(f.target for f in floors.floors[mode]), "every floor names the issue target it enforces"
    cases = {m: {f.case.split(" ")[0] for f in floors.floors[m]} for m in ("full", "quick")}
    assert cases["full"] == cases["quick"], "every benchmarked area has floors in both modes"


@pytest.mark.skipif(capfast.backend != "native", reason="the gate always measures the native core; run it once")
def test_real_gate_end_to_end_on_a_tiny_subset(tmp_path: Path) -> None:
    """Run the real gate (pytest-benchmark on benches/, quick mode) on one case, then raise that floor above the
    ratio it measured: same data, exit code 1."""
    case, naive = "merkle root 100k leaves blake3", "naive list-of-levels tree (blake3-py)"

    def gate(floor: float, *extra: str) -> subprocess.CompletedProcess[str]:
        floors = floors_file(tmp_path, f'[[quick]]\ncase = "{case}"\nbaseline = "{naive}"\nfloor = {floor}\n', f"{floor}.toml")
        cmd = [sys.executable, "-m", "benchgate", "gate", "--quick", "--floors", str(floors),
               "--report-dir", str(tmp_path / "report"), *extra]
        env = {k: v for k, v in os.environ.items() if k != "CAPFAST_BENCH_QUICK"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCHES), env.get("PYTHONPATH")]))
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)

    first = gate(1.0, "--benches", "benches/test_bench_merkle.py", "-k", "test_merkle_root and blake3")
    assert first.returncode == 0, first.stdout + first.stderr
    report = json.loads((tmp_path / "report" / "gate.json").read_text(encoding="utf-8"))
    [row] = [r for r in report["rows"] if r["baseline"] == naive]
    measured = row["ratio"]
    assert row["case"] == case and measured > 1.0
    run_json = str(tmp_path / "report" / "pytest-benchmark.json")
    assert gate(measured * 0.99, "--from-json", run_json).returncode == 0
    raised = gate(measured * 1.01, "--from-json", run_json)
    assert raised.returncode == 1, raised.stdout + raised.stderr
    assert "BELOW floor" in raised.stderr


def test_calibrate_reports_lowest_ratio_and_flags_floors_above_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = []
    for i, naive in enumerate((0.120, 0.090)):  # ratios 12 and 9 against the naive tree
        doc = run_doc(RUN["benchmarks"][0], bench("merkle root 50k leaves blake3", "baseline", "naive tree", naive))
        run_json = tmp_path / f"run{i}.json"
        run_json.write_text(json.dumps(doc), encoding="utf-8")
        floors = one_floor(tmp_path, 1.0)
        assert main(["gate", "--quick", "--from-json", str(run_json), "--report-dir", str(tmp_path / f"r{i}"),
                     "--floors", str(floors)]) == 0
        reports.append(str(tmp_path / f"r{i}" / "gate.json"))
    capsys.readouterr()
    assert main(["calibrate", "--floors", str(one_floor(tmp_path, 10.0)), "--margin", "0.5", *reports]) == 0
    out = capsys.readouterr().out
    assert "| 10.00 (floor above lowest!) | 9.00 | 12.00 | 4.50 |" in out
