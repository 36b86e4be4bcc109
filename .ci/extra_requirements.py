"""Prints the requirements of one optional-dependency group of pyproject.toml, one per line (make lint-tools).

Lets the Makefile install tool extras (``lint``) into the venv without rebuilding the package itself.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python .ci/extra_requirements.py EXTRA", file=sys.stderr)
        return 2
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    if argv[1] not in extras:
        print(f"pyproject.toml has no optional-dependencies group {argv[1]!r} (have {sorted(extras)})", file=sys.stderr)
        return 2
    print("\n".join(extras[argv[1]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
