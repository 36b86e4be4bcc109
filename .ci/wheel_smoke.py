"""Smoke test for an installed capfast wheel, run from a fresh virtualenv (make wheel-smoke, cibuildwheel's test step).

Checks that the native core loads (no silent fallback to the pure-Python twin), that an RFC 6962 Merkle root matches
the published known answer, and that the `cap` console script starts. Needs nothing but the installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# The eight leaves of the RFC 6962 reference test tree (certificate-transparency's merkle_tree_test, reused by
# transparency-dev/merkle's testdata, ../shared/vectors/rfc6962-merkle/): roots of the first 5 and all 8 leaves.
LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f"]]
ROOT_5 = "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"
ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def main() -> int:
    os.environ.pop("CAPFAST_BACKEND", None)
    import capfast
    from capfast import merkle

    where = Path(capfast.__file__).resolve()
    assert capfast.backend == "native", f"capfast at {where} fell back to the {capfast.backend!r} backend"
    assert merkle.root(LEAVES[:5], hash="sha256").hex() == ROOT_5, "RFC 6962 root of 5 leaves is wrong"
    assert merkle.root(LEAVES, hash="sha256").hex() == ROOT_8, "RFC 6962 root of 8 leaves is wrong"

    from capfast import _native

    assert capfast.__version__ == _native.__version__, (capfast.__version__, _native.__version__)
    import importlib.util

    assert importlib.util.find_spec("capfast.bench") is None, "developer tooling (the benchmark gate) is in the wheel"

    scripts = Path(sys.executable).parent
    cap = shutil.which("cap", path=str(scripts)) or shutil.which("cap")
    assert cap, f"the `cap` console script is not installed next to {sys.executable}"
    out = subprocess.run([cap, "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, f"`cap --help` exited {out.returncode}: {out.stderr.strip()}"
    assert "usage" in out.stdout.lower(), f"`cap --help` printed no usage: {out.stdout[:200]!r}"
    print(f"wheel smoke test passed: capfast {capfast.__version__} ({capfast.backend}) from {where.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
