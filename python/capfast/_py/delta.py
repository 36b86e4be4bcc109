"""Twin of ``rust/src/delta.rs``: which blobs of a new index does a client not have yet?"""

from __future__ import annotations

from typing import Any

from capfast.errors import InvalidArgumentError

__all__ = ["missing_blobs"]


def _hash_list(obj: Any, what: str) -> list[bytes]:
    if isinstance(obj, str):
        raise TypeError(f"{what}: expected hashes, got str")
    try:
        view = memoryview(obj)
    except TypeError:
        view = None
    if view is not None:
        if view.format not in ("B", "b", "c") or not view.c_contiguous:
            raise TypeError(f"{what}: expected a C-contiguous uint8 buffer")
        raw = view.tobytes()
        if len(raw) % 32:
            raise InvalidArgumentError(f"{what}: buffer of {len(raw)} bytes is not a whole number of 32-byte hashes")
        return [raw[i : i + 32] for i in range(0, len(raw), 32)]
    out = []
    for i, item in enumerate(obj):
        if isinstance(item, str):
            raise TypeError("expected a bytes-like object, got str (encode it first)")
        b = item if isinstance(item, bytes) else bytes(memoryview(item).cast("B"))
        if len(b) != 32:
            raise InvalidArgumentError(f"{what}[{i}]: expected 32 bytes, got {len(b)}")
        out.append(b)
    return out


def missing_blobs(index_hashes: Any, have: Any) -> list[bytes]:
    """The hashes of ``index_hashes`` that are not in ``have``, in index order, each once."""
    index = _hash_list(index_hashes, "index_hashes")
    have_set = set(_hash_list(have, "have"))
    out: list[bytes] = []
    for h in index:
        if h not in have_set:
            have_set.add(h)
            out.append(h)
    return out
