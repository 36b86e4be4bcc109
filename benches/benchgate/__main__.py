"""Command line of the benchmark gate: ``PYTHONPATH=benches python -m benchgate {gate,readme,ratios} ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchgate.gate import (
    GateError,
    Mode,
    evaluate,
    load_baseline,
    load_benchmark_json,
    load_floors,
    load_report,
    render_markdown,
    report_dict,
    run_suite,
    save_baseline,
    write_report,
)
from benchgate.ratios import markdown, ratio_rows
from benchgate.readme import update_readme


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchgate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gate", help="run benches/, check ratios against floors and a saved baseline")
    g.add_argument("--quick", action="store_true", help="small inputs and short rounds (CAPFAST_BENCH_QUICK=1)")
    g.add_argument("--floors", default="benches/floors.toml", help="floors file (default: %(default)s)")
    g.add_argument("--benches", default="benches", help="benchmark directory or file (default: %(default)s)")
    g.add_argument("--baseline-file", help="fail when a subject is slower than this saved run beyond the tolerance")
    g.add_argument("--save-baseline", help="save this run's subject medians as a same-machine baseline")
    g.add_argument("--report-dir", default=".benchmarks/gate", help="where gate.json/gate.md go (default: %(default)s)")
    g.add_argument("--from-json", help="evaluate an existing pytest-benchmark JSON instead of running the suite")
    g.add_argument("-k", dest="select", help="pytest -k expression: run a subset (declared floors still apply)")
    g.add_argument("--pytest-arg", action="append", default=[], help="extra argument for pytest (repeatable)")

    r = sub.add_parser("readme", help="regenerate the README performance table from a gate report")
    r.add_argument("--report", default=".benchmarks/gate/gate.json", help="gate report (default: %(default)s)")
    r.add_argument("--readme", default="README.md", help="README to update (default: %(default)s)")

    c = sub.add_parser("calibrate", help="compare declared floors with the ratios of several gate reports")
    c.add_argument("reports", nargs="+", help="gate.json files of repeated runs on the reference machine")
    c.add_argument("--floors", default="benches/floors.toml", help="floors file (default: %(default)s)")
    c.add_argument("--margin", type=float, default=0.7, help="suggested floor = margin x lowest ratio (%(default)s)")

    t = sub.add_parser("ratios", help="print the ratio table of a pytest-benchmark JSON file")
    t.add_argument("json", help="pytest-benchmark --benchmark-json output")
    return p


def _gate(args: argparse.Namespace) -> int:
    mode: Mode = "quick" if args.quick else "full"
    floors = load_floors(args.floors)
    baseline = load_baseline(args.baseline_file) if args.baseline_file else None
    report_dir = Path(args.report_dir)
    if args.from_json:
        run_check = None
        data = load_benchmark_json(args.from_json)
    else:
        report_dir.mkdir(parents=True, exist_ok=True)
        json_out = report_dir / "pytest-benchmark.json"
        json_out.unlink(missing_ok=True)
        run_check = run_suite(args.benches, json_out, quick=args.quick, select=args.select, extra_args=args.pytest_arg)
        if json_out.exists():
            data = load_benchmark_json(json_out)
        else:
            data = {"benchmarks": []}
    result = evaluate(data, floors, mode, baseline)
    if run_check is not None:
        result.checks.insert(0, run_check)
    jpath, mpath = write_report(result, report_dir)
    if args.save_baseline:
        if result.passed:
            save_baseline(result, args.save_baseline)
            print(f"saved same-machine baseline to {args.save_baseline}")
        else:
            print(f"not saving a baseline from a failed gate run ({args.save_baseline} left as it was)")
    print(render_markdown(report_dict(result)))
    print(f"reports: {jpath} {mpath}")
    if not result.passed:
        print(f"benchmark gate FAILED: {len(result.failures)} failing check(s)", file=sys.stderr)
        for c in result.failures:
            print(f"  {c.kind}: {c.message}", file=sys.stderr)
        return 1
    print(f"benchmark gate passed ({mode} mode, {len(result.checks)} checks)")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    """Print, per declared floor, the lowest ratio seen across the reports and margin x that lowest ratio."""
    floors = load_floors(args.floors)
    reports = [load_report(r) for r in args.reports]
    modes = {r["mode"] for r in reports}
    if len(modes) != 1:
        raise GateError(f"reports mix modes {sorted(modes)}: calibrate one mode at a time")
    mode = modes.pop()
    print(f"{len(reports)} {mode}-mode report(s), margin {args.margin}")
    print("| case | subject | baseline | floor | lowest | highest | suggested |\n|---|---|---|---:|---:|---:|---:|")
    for fl in floors.floors[mode]:
        seen = [
            (row["subject"], row["ratio"])
            for rep in reports
            for row in rep["rows"]
            if (row["case"], row["baseline"]) == (fl.case, fl.baseline) and fl.subject in (None, row["subject"])
        ]
        if not seen:
            print(f"| {fl.case} | {fl.subject or '*'} | {fl.baseline} | {fl.floor:.2f} | missing | | |")
            continue
        for subject in sorted({s for s, _ in seen}):
            ratios = [r for s, r in seen if s == subject]
            low, high = min(ratios), max(ratios)
            flag = " (floor above lowest!)" if fl.floor > low else ""
            print(
                f"| {fl.case} | {subject} | {fl.baseline} | {fl.floor:.2f}{flag} | {low:.2f} | {high:.2f} | "
                f"{int(low * args.margin * 100) / 100:.2f} |"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 passed, 1 gate failed, 2 unusable input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "gate":
            return _gate(args)
        if args.command == "readme":
            changed = update_readme(args.readme, args.report)
            print(f"{args.readme}: performance table {'updated' if changed else 'already up to date'}")
            return 0
        if args.command == "calibrate":
            return _calibrate(args)
        print(markdown(ratio_rows(load_benchmark_json(args.json))))
        return 0
    except GateError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
