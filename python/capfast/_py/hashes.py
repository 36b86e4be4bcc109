"""Hash constructors and RFC 6962 domain-separated helpers shared by the twin modules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import blake3 as _blake3

from capfast.errors import InvalidArgumentError

__all__ = ["hash_bytes"]

Hasher = Callable[..., Any]

_HASHERS: dict[str, Hasher] = {
    "blake3": _blake3.blake3,
    "sha3-256": hashlib.sha3_256,
    "sha256": hashlib.sha256,
}

# Buffer formats of unsigned single bytes, as accepted by the native core's buffer reader.
_BYTE_FORMATS = frozenset({"B", "c", "@B", "@c", "=B", "=c", ">B", ">c"})

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def hasher_for(name: str) -> Hasher:
    """The constructor for a public hash name; ``TypeError`` for a non-``str`` (as the native argument parser)."""
    if not isinstance(name, str):
        raise TypeError(f"argument 'hash': expected str, got {type(name).__name__}")
    try:
        return _HASHERS[name]
    except KeyError:
        raise InvalidArgumentError(
            f'unknown hash {name!r}: expected one of "blake3", "sha3-256", "sha256"'
        ) from None


def as_bytes(data: object) -> bytes | memoryview:
    """Accepts any C-contiguous bytes-like object; rejects ``str`` like the native core does."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise TypeError("expected a bytes-like object, got str (encode it first)")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"expected a bytes-like object, got {type(data).__name__}") from None
    if view.format not in _BYTE_FORMATS:
        # Like the native core (PyO3's `PyBuffer<u8>`): only buffers of unsigned single bytes are bytes-like.
        view.release()
        raise TypeError(f"expected a bytes-like object, got {type(data).__name__}")
    if not view.c_contiguous:
        view.release()
        raise BufferError("buffer must be C-contiguous")
    if view.format == "B" and view.ndim == 1:
        return view
    flat = view.cast("B")
    view.release()
    return flat


def digest(h: Hasher, *parts: object) -> bytes:
    """H(parts[0] ‖ parts[1] ‖ …) without building the concatenation; buffers are released on return."""
    state = h()
    for part in parts:
        view = as_bytes(part)
        try:
            state.update(view)
        finally:
            if isinstance(view, memoryview):
                view.release()
    return bytes(state.digest())


def leaf(h: Hasher, data: object) -> bytes:
    """RFC 6962 leaf hash: H(0x00 ‖ data)."""
    return digest(h, LEAF_PREFIX, data)


def node(h: Hasher, left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: H(0x01 ‖ left ‖ right)."""
    return bytes(h(NODE_PREFIX + left + right).digest())


def hash_bytes(data: object, hash: str = "blake3") -> bytes:
    """Plain digest of ``data`` (no domain prefix): BLAKE3, SHA3-256 or SHA-256, 32 bytes."""
    return digest(hasher_for(hash), data)
