"""Twin of ``rust/src/cap/verify.rs``: blob checks with bounded memory (declared sizes, ratio, total, zstd window,
one frame, CRC-32, SHA-256)."""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterable
from typing import Any

from capfast._py.cap import unhex
from capfast.errors import BlobMismatchError, DecompressionBombError, InvalidArgumentError, ZipFormatError

__all__ = ["cap_read_blob", "cap_verify_blobs"]

_RATIO_FLOOR = 1 << 20


def _limits(max_blob: int, max_total: int, max_ratio: int, window_log_max: int) -> tuple[int, int, int, int]:
    if not 10 <= window_log_max <= 31:
        raise InvalidArgumentError("window_log_max must be between 10 and 31")
    return max_blob, max_total, max_ratio, window_log_max


def _check_declared(blobs: list[tuple[bytes, int, int, int, int]], lim: tuple[int, int, int, int]) -> None:
    max_blob, max_total, max_ratio, _ = lim
    total = 0
    for digest, _, csize, _, size in blobs:
        h = digest.hex()
        if size > max_blob:
            raise DecompressionBombError(f"blob {h}: declared size {size} exceeds the {max_blob}-byte cap")
        if size > _RATIO_FLOOR and size > csize * max_ratio:
            raise DecompressionBombError(f"blob {h}: {size} bytes from {csize} compressed exceeds the "
                                         f"{max_ratio}:1 ratio cap")
        total += size
        if total > max_total:
            raise DecompressionBombError(f"blobs declare more than the {max_total}-byte total cap")


def _check_frame_header(data: bytes, declared: int, window_log_max: int, h: str) -> None:
    if len(data) < 6:
        raise BlobMismatchError(f"blob {h}: {len(data)} bytes is too short for a zstd frame")
    magic = int.from_bytes(data[:4], "little")
    if magic & 0xFFFFFFF0 == 0x184D2A50:
        raise BlobMismatchError(f"blob {h}: skippable zstd frame (exactly one data frame is allowed)")
    if magic != 0xFD2FB528:
        raise BlobMismatchError(f"blob {h}: not a zstd frame")
    fhd = data[4]
    single, dict_flag, fcs_flag = fhd & 0x20, fhd & 3, fhd >> 6
    if dict_flag:
        raise BlobMismatchError(f"blob {h}: zstd frame needs a dictionary")
    pos = 5
    if not single:
        wd = data[5]
        base = 1 << (10 + (wd >> 3))
        window = base + (base // 8) * (wd & 7)
        if window > 1 << window_log_max:
            raise DecompressionBombError(f"blob {h}: zstd window of {window} bytes exceeds the cap")
        pos = 6
    fcs_len = (1 if single else 0) if fcs_flag == 0 else {1: 2, 2: 4, 3: 8}[fcs_flag]
    if fcs_len:
        if len(data) < pos + fcs_len:
            raise BlobMismatchError(f"blob {h}: truncated zstd frame header")
        fcs = int.from_bytes(data[pos : pos + fcs_len], "little") + (256 if fcs_len == 2 else 0)
        if fcs != declared:
            raise BlobMismatchError(f"blob {h}: frame content size {fcs} differs from the index size {declared}")


def _decode_checked(data: bytes, digest: bytes, size: int, window_log_max: int, sink: list[bytes] | None) -> None:
    import zstandard

    h = digest.hex()
    _check_frame_header(data, size, window_log_max, h)
    dobj = zstandard.ZstdDecompressor(max_window_size=1 << window_log_max).decompressobj()
    hasher = hashlib.sha256()
    produced = 0
    pos = 0
    # Feed small input slices: a zstd block of >= 4 input bytes yields at most 128 KiB (32768 bytes out per byte
    # in), so a call's output is bounded by 32768 × step. The step starts at 256 (≤ 8 MiB out) and only grows while
    # even the worst case stays within the declared size, so decoding stops soon after the declared size is passed.
    step = 256
    while not dobj.eof and pos < len(data):
        try:
            out = dobj.decompress(data[pos : pos + step])
        except zstandard.ZstdError as exc:
            raise BlobMismatchError(f"blob {h}: corrupt zstd data: {exc}") from None
        pos += step
        produced += len(out)
        if produced > size:
            raise DecompressionBombError(f"blob {h}: decompresses to more than its declared {size} bytes")
        hasher.update(out)
        if sink is not None:
            sink.append(out)
        if step < 1 << 16 and produced + (step << 16) <= size:
            step <<= 1  # grow while far below the declared size
    if not dobj.eof:
        raise BlobMismatchError(f"blob {h}: truncated zstd frame")
    trailing = len(dobj.unused_data) + max(0, len(data) - pos)
    if trailing:
        raise BlobMismatchError(f"blob {h}: {trailing} bytes after the zstd frame")
    if produced != size:
        raise BlobMismatchError(f"blob {h}: decompressed size {produced} differs from the index size {size}")
    got = hasher.digest()
    if got != digest:
        raise BlobMismatchError(f"blob {h}: content hashes to {got.hex()}")


def _blob_tuple(item: Any) -> tuple[bytes, int, int, int, int]:
    hash_hex, offset, csize, crc, size = item
    return unhex(hash_hex), int(offset), int(csize), int(crc), int(size)


def _payload(fh: Any, file_len: int, blob: tuple[bytes, int, int, int, int]) -> bytes:
    digest, offset, csize, crc, _ = blob
    h = digest.hex()
    if offset + csize > file_len:
        raise ZipFormatError(f"blob {h}: payload lies outside the archive")
    fh.seek(offset)
    data = fh.read(csize)
    if len(data) != csize:
        raise ZipFormatError(f"blob {h}: cannot read payload")
    if zlib.crc32(data) & 0xFFFFFFFF != crc:
        raise ZipFormatError(f"blob {h}: CRC-32 mismatch in the archive")
    return data


def cap_verify_blobs(path: str | os.PathLike[str], blobs: Iterable[Any], max_blob: int = 1 << 30,
                     max_total: int = 4 << 30, max_ratio: int = 10_000, window_log_max: int = 25) -> None:
    """Decompresses and checks every blob ``(hash_hex, offset, csize, crc32, size)``; raises on the first violation."""
    refs = [_blob_tuple(b) for b in blobs]
    lim = _limits(max_blob, max_total, max_ratio, window_log_max)
    with open(path, "rb") as fh:
        file_len = os.fstat(fh.fileno()).st_size
        _check_declared(refs, lim)
        for ref in refs:
            _decode_checked(_payload(fh, file_len, ref), ref[0], ref[4], window_log_max, None)


def cap_read_blob(path: str | os.PathLike[str], blob: Any, max_blob: int = 1 << 30, max_total: int = 4 << 30,
                  max_ratio: int = 10_000, window_log_max: int = 25) -> bytes:
    """Reads one checked blob ``(hash_hex, offset, csize, crc32, size)`` and returns its content."""
    ref = _blob_tuple(blob)
    lim = _limits(max_blob, max_total, max_ratio, window_log_max)
    with open(path, "rb") as fh:
        file_len = os.fstat(fh.fileno()).st_size
        _check_declared([ref], lim)
        out: list[bytes] = []
        _decode_checked(_payload(fh, file_len, ref), ref[0], ref[4], window_log_max, out)
    return b"".join(out)
