"""Prints the ratio table of a pytest-benchmark JSON file (thin wrapper over ``benchgate.ratios``).

    python benches/ratios.py .benchmarks/latest.json      # same as: PYTHONPATH=benches python -m benchgate ratios FILE
"""

from __future__ import annotations

import sys

from benchgate.__main__ import main
from benchgate.ratios import markdown, ratio_rows

__all__ = ["markdown", "ratio_rows"]

if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python benches/ratios.py BENCHMARK.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(["ratios", sys.argv[1]]))
