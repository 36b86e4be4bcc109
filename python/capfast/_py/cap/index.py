"""Twin of ``rust/src/cap/index.rs``'s fast path: the rows of a canonically encoded ``_cap/index.cbor``, read with
the one CBOR codec's :func:`capfast.cbor.read_head` (anything not exactly canonical gives ``None``, and the caller
then runs the general strict decoder for the error)."""

from __future__ import annotations

import re
from typing import Any

from capfast.cbor import read_head
from capfast.errors import CborError

__all__ = ["IndexRow", "cap_index_rows"]


_INDEX_MAX_ROWS = 2_000_000
_K_HASH, _K_SIZE, _K_CSIZE, _K_COMP, _K_MIME = b"\x64hash", b"\x64size", b"\x6fcompressed_size", \
    b"\x6bcompression", b"\x64mime"
_HEX64B = re.compile(rb"[0-9a-f]{64}")
IndexRow = tuple[str, str, int, int, str, "str | None"]


class _NotCanonical(Exception):
    pass


def _uint(data: bytes, pos: int, major: int) -> tuple[int, int]:
    """Shortest-form head of ``major`` at ``pos``: (argument, next position)."""
    try:
        return read_head(data, pos, major)
    except CborError:
        raise _NotCanonical from None


def _text(data: bytes, pos: int) -> tuple[str, int]:
    n, pos = _uint(data, pos, 3)
    end = pos + n
    if end > len(data):
        raise _NotCanonical
    try:
        return data[pos:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise _NotCanonical from None


def _key(data: bytes, pos: int, key: bytes) -> int:
    end = pos + len(key)
    if data[pos:end] != key:
        raise _NotCanonical
    return end


def cap_index_rows(data: Any) -> list[IndexRow] | None:
    """The entries ``[(path, hash_hex, size, compressed_size, compression, mime)]`` of ``_cap/index.cbor`` if
    ``data`` is exactly the canonical CAP encoding, else ``None`` (the caller then runs the general strict decoder
    for the error)."""
    if isinstance(data, str):
        raise TypeError("expected a bytes-like object, got str (encode it first)")
    data = data if isinstance(data, bytes) else bytes(memoryview(data).cast("B"))
    try:
        if data[:7] != b"\xa1\x65files":
            raise _NotCanonical
        n, pos = _uint(data, 7, 5)
        if n > _INDEX_MAX_ROWS or n > len(data) // 64:
            raise _NotCanonical
        rows: list[IndexRow] = []
        prev: bytes | None = None
        for _ in range(n):
            plen, pos = _uint(data, pos, 3)
            raw_path = data[pos : pos + plen]
            if len(raw_path) != plen or (prev is not None and prev >= raw_path):
                raise _NotCanonical
            prev = raw_path
            try:
                path = raw_path.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotCanonical from None
            pos += plen
            fields, pos = _uint(data, pos, 5)
            if fields not in (4, 5):
                raise _NotCanonical
            pos = _key(data, pos, _K_HASH)
            if data[pos : pos + 2] != b"\x78\x40" or not _HEX64B.fullmatch(data, pos + 2, pos + 66):
                raise _NotCanonical
            hash_hex = data[pos + 2 : pos + 66].decode("ascii")
            pos = _key(data, pos + 66, _K_SIZE)
            size, pos = _uint(data, pos, 0)
            pos = _key(data, pos, _K_CSIZE)
            csize, pos = _uint(data, pos, 0)
            pos = _key(data, pos, _K_COMP)
            compression, pos = _text(data, pos)
            mime = None
            if fields == 5:
                pos = _key(data, pos, _K_MIME)
                mime, pos = _text(data, pos)
            rows.append((path, hash_hex, size, csize, compression, mime))
        if pos != len(data):
            raise _NotCanonical
        return rows
    except _NotCanonical:
        return None
