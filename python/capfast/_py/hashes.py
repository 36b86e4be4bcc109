"""Hash constructors and RFC 6962 domain-separated helpers shared by the twin modules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import blake3 as _blake3

from capfast.errors import InvalidArgumentError

Hasher = Callable[..., Any]

_HASHERS: dict[str, Hasher] = {
    "blake3": _blake3.blake3,
    "sha3-256": hashlib.sha3_256,
    "sha256": hashlib.sha256,
}

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def hasher_for(name: str) -> Hasher:
    try:
        return _HASHERS[name]
    except (KeyError, TypeError):
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
    if not view.c_contiguous:
        raise BufferError("buffer must be C-contiguous")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def leaf(h: Hasher, data: object) -> bytes:
    return h(LEAF_PREFIX + bytes(as_bytes(data))).digest()


def node(h: Hasher, left: bytes, right: bytes) -> bytes:
    return h(NODE_PREFIX + left + right).digest()
