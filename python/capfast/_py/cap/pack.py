"""Twin of ``rust/src/cap/pack.rs``: read, hash and zstd-compress the files of a package."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from capfast.errors import InvalidArgumentError

__all__ = ["MAX_FILE_BYTES", "cap_pack_files"]

MAX_FILE_BYTES = 1 << 30


def _compress(data: bytes, level: int) -> bytes:
    import zstandard

    cobj = zstandard.ZstdCompressor(level=level).compressobj()
    return cobj.compress(data) + cobj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def cap_pack_files(paths: Sequence[str | os.PathLike[str]], level: int = 10) -> list[tuple[str, int, bytes]]:
    """Reads, hashes and zstd-compresses files: ``[(hash_hex, size, blob)]``; equal contents share one blob."""
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 19:
        raise InvalidArgumentError(f"zstd level must be between 1 and 19, got {level}")
    blobs: dict[str, bytes] = {}
    out: list[tuple[str, int, bytes]] = []
    for path in paths:
        p = os.fspath(path)
        try:
            size = os.stat(p).st_size
            if size > MAX_FILE_BYTES:
                raise InvalidArgumentError(f"{p}: {size} bytes, larger than the {MAX_FILE_BYTES}-byte limit")
            with open(p, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise InvalidArgumentError(f"{p}: {exc.strerror or exc}") from None
        h = hashlib.sha256(data).hexdigest()
        if h not in blobs:
            blobs[h] = _compress(data, level)
        out.append((h, len(data), blobs[h]))
    return out
