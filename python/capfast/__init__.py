"""capfast: verifiable commitments, signed capability packages and tamper-evident audit trails.

The hot paths run in a Rust core (``capfast._native``); every native function has a pure-Python twin
(``capfast._py``). ``capfast.backend`` says which one is in use; ``CAPFAST_BACKEND=python`` forces the twin.
"""

from importlib import metadata as _metadata

from capfast import commit, merkle
from capfast._backend import backend
from capfast.cap.delta import missing_blobs
from capfast.commit import Commitment, RowProof, verify_row
from capfast.errors import CapfastError, CsvFormatError, InvalidArgumentError, ProofError

try:  # one source: the version in rust/Cargo.toml, which maturin writes into the package metadata
    __version__ = _metadata.version("capfast")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree on sys.path without an install
    __version__ = "0+unknown"

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
