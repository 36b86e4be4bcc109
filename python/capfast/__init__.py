"""capfast: verifiable commitments, signed capability packages and tamper-evident audit trails.

The hot paths run in a Rust core (``capfast._native``); every native function has a pure-Python twin
(``capfast._py``). ``capfast.backend`` says which one is in use; ``CAPFAST_BACKEND=python`` forces the twin.

The public names (and ``__version__``, read from the package metadata) are resolved on first use (PEP 562), so
``import capfast`` -- which every ``cap`` command does first -- costs only the backend choice and the error classes;
``cap verify`` does not pay for the commitment engine it never calls.
"""

from typing import TYPE_CHECKING, Any

from capfast._backend import backend
from capfast.errors import CapfastError, CsvFormatError, InvalidArgumentError, ProofError

if TYPE_CHECKING:
    from capfast import commit, merkle
    from capfast.cap.delta import missing_blobs
    from capfast.commit import Commitment, RowProof, verify_row

    __version__: str

__all__ = [
    "CapfastError",
    "Commitment",
    "CsvFormatError",
    "InvalidArgumentError",
    "ProofError",
    "RowProof",
    "__version__",
    "backend",
    "commit",
    "merkle",
    "missing_blobs",
    "verify_row",
]

#: name -> (module, attribute or None for the module itself)
_LAZY = {
    "commit": ("capfast.commit", None),
    "merkle": ("capfast.merkle", None),
    "Commitment": ("capfast.commit", "Commitment"),
    "RowProof": ("capfast.commit", "RowProof"),
    "verify_row": ("capfast.commit", "verify_row"),
    "missing_blobs": ("capfast.cap.delta", "missing_blobs"),
}


def _version() -> str:
    """One source: the version in rust/Cargo.toml, which maturin writes into the package metadata."""
    from importlib import metadata

    try:
        return metadata.version("capfast")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree on sys.path without an install
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    else:
        target = _LAZY.get(name)
        if target is None:
            raise AttributeError(f"module 'capfast' has no attribute {name!r}")
        import importlib

        module = importlib.import_module(target[0])
        value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
