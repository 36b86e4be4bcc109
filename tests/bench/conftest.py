"""The benchmark gate is developer tooling kept out of the wheel (``benches/benchgate/``): make it importable."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHES = Path(__file__).resolve().parents[2] / "benches"
if str(BENCHES) not in sys.path:
    sys.path.insert(0, str(BENCHES))
