"""capfast: verifiable commitments, signed capability packages and tamper-evident audit trails.

The hot paths run in a Rust core (``capfast._native``); every native function has a pure-Python twin
(``capfast._py``). ``capfast.backend`` says which one is in use; ``CAPFAST_BACKEND=python`` forces the twin.
"""

from capfast import commit, merkle
from capfast._backend import backend
from capfast.cap.delta import missing_blobs
from capfast.commit import Commitment, RowProof, verify_row
from capfast.errors import CapfastError, CsvFormatError, InvalidArgumentError, ProofError

__version__ = "0.1.0"

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
