"""Deterministic benchmark inputs, generated once and cached under ``benches/.data/`` (git-ignored).

The supplier CSV follows ../shared/reference/perf-baselines.md (gen_data.py's recipe, re-implemented): seeded, 1,000,000
rows of ~120 bytes, about a third of the names quoted because they contain a comma, some non-ASCII.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

DATA_DIR = Path(os.environ.get("CAPFAST_BENCH_DATA", Path(__file__).resolve().parent / ".data"))

_WORDS = (
    "Precision Components Holding Industries Manufacturing Logistics Textiles Electronics Automotive Chemicals "
    "Solutions Systems Metals Plastics Trading Services International Global Nordic Alpine Pacific Atlantic Mueller "
    "Schmidt Rossi Dubois Nakamura Kowalski García Østergaard Société Générale Fabrik Werke Group Partners Süd Nord "
    "Tools Packaging Foods Optics"
).split()
_SUFFIX = ["GmbH", "GmbH & Co. KG", "Ltd", "S.A.", "S.p.A.", "B.V.", "Inc.", "K.K.", "Sp. z o.o.", "AG", "Oy", "AB",
           "SAS", "LLC"]
_JUR = "DE FR IT ES NL PL SE FI DK AT CH GB US CN JP IN VN BD TR MX BR".split()
_TIERS = ["TIER_1", "TIER_2", "TIER_3"]


def supplier_csv(rows: int = 1_000_000, seed: int = 42) -> Path:
    """Path of the cached supplier CSV with ``rows`` data rows (generated on first use, atomically)."""
    path = DATA_DIR / f"suppliers-{rows}-{seed}.csv"
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    rng = random.Random(seed)
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "jurisdiction", "tier"])
        for i in range(rows):
            target = rng.randint(98, 122)
            parts = [f"Supplier {i:06d}"]
            while len(" ".join(parts)) < target - 12:
                parts.append(rng.choice(_WORDS))
            sep = ", " if rng.random() < 0.33 else " "
            w.writerow([" ".join(parts) + sep + rng.choice(_SUFFIX), rng.choice(_JUR), rng.choice(_TIERS)])
    os.replace(tmp, path)
    return path
