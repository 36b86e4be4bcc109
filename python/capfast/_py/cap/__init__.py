"""Pure-Python twin of ``rust/src/cap/`` (CAP 1.0 packages), module for module: :mod:`.root` (CAPROOT),
:mod:`.index` (canonical index fast path), :mod:`.pack` (hash + zstd), :mod:`.zip` (deterministic STORED ZIP and its
strict reader), :mod:`.verify` (bounded blob checks). This package module holds what ``cap/mod.rs`` holds: the
lowercase-hex and digest argument rules shared by the others. ``capfast._py`` re-exports the functions.
"""

from __future__ import annotations

import re
from typing import Any

from capfast.errors import InvalidArgumentError, InvalidHashError

__all__ = ["digest_arg", "unhex"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def unhex(h: Any) -> bytes:
    if not isinstance(h, str):
        raise TypeError(f"expected a hex string, got {type(h).__name__}")
    if not _HEX64.fullmatch(h):
        raise InvalidHashError(f"{h[:80]!r} is not 64 lowercase hex characters")
    return bytes.fromhex(h)


def digest_arg(obj: Any, what: str) -> bytes:
    if isinstance(obj, str):
        raise TypeError("expected a bytes-like object, got str (encode it first)")
    b = bytes(memoryview(obj).cast("B")) if not isinstance(obj, bytes) else obj
    if len(b) != 32:
        raise InvalidArgumentError(f"{what} must be 32 bytes, got {len(b)}")
    return b
