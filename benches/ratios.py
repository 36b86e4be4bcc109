"""Prints the ratio table of a pytest-benchmark JSON file (thin wrapper over ``capfast.bench.ratios``).

    python benches/ratios.py .benchmarks/latest.json      # same as: python -m capfast.bench ratios FILE
"""

from __future__ import annotations

import sys

from capfast.bench.__main__ import main
from capfast.bench.ratios import markdown, ratio_rows

__all__ = ["markdown", "ratio_rows"]

if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python benches/ratios.py BENCHMARK.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(["ratios", sys.argv[1]]))
