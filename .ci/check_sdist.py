"""Checks that a maturin sdist holds what a from-source build needs (make sdist).

    python .ci/check_sdist.py dist/capfast-0.1.0.tar.gz
"""

from __future__ import annotations

import sys
import tarfile

REQUIRED = [
    "pyproject.toml",
    "Cargo.toml",
    "Cargo.lock",
    "rust/Cargo.toml",
    "rust/src/lib.rs",
    "python/capfast/__init__.py",
    "python/capfast/py.typed",
    "README.md",
]
FORBIDDEN = (".so", ".pyd", ".dylib", "/target/", "/.venv/", "/benches/.data/")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with tarfile.open(argv[1], "r:gz") as tar:
        names = tar.getnames()
    root = names[0].split("/", 1)[0]
    rel = {n.split("/", 1)[1] for n in names if "/" in n}
    missing = [r for r in REQUIRED if r not in rel]
    junk = [n for n in names if any(f in "/" + n or n.endswith(f) for f in FORBIDDEN)]
    if missing or junk:
        print(f"sdist {argv[1]}: missing {missing}, unexpected build artefacts {junk[:10]}", file=sys.stderr)
        return 1
    print(f"sdist ok: {argv[1]} ({len(names)} entries under {root}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
