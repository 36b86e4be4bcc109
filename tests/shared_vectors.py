"""Where the published test vectors live, and a loud failure when they are missing.

The vectors are not part of this repository: they are the data files of ``../shared/vectors/`` (a sibling of the
clone, as on CI), copied unchanged from their public sources (Wycheproof, ed25519-speccheck, transparency-dev/merkle,
the official BLAKE3 vectors; see ``../shared/vectors/README.md``). A test module that parametrizes over them calls
:func:`vector_dir` at import, so a missing folder is a collection error naming the folder and its origin, never a
suite that silently shrinks.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO", "SHARED", "VECTORS", "MissingVectorsError", "missing_message", "vector_dir"]

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
VECTORS = SHARED / "vectors"


class MissingVectorsError(RuntimeError):
    """The published test vectors are not where the suite expects them."""


def missing_message(path: Path) -> str:
    return (
        f"published test vectors not found at {path}: they come from ../shared/vectors beside the repository "
        "(copied unchanged from Wycheproof, ed25519-speccheck, transparency-dev/merkle and BLAKE3; see "
        "../shared/vectors/README.md). CI clones ../shared next to the checkout; do the same (or symlink it) "
        f"so that {VECTORS} exists. Without them hundreds of known-answer tests would be skipped silently."
    )


def vector_dir(*parts: str, pattern: str = "*", min_files: int = 1) -> Path:
    """``VECTORS / parts`` holding at least ``min_files`` files matching ``pattern`` (recursively), else
    :class:`MissingVectorsError` with :func:`missing_message`."""
    path = VECTORS.joinpath(*parts)
    if not path.is_dir() or sum(1 for p in path.rglob(pattern) if p.is_file()) < min_files:
        raise MissingVectorsError(missing_message(path))
    return path
