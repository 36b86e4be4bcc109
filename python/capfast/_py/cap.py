"""Pure-Python twin of ``rust/src/py/cap.rs``: CAP root, deterministic ZIP, packing, blob checks, delta sets.

Same names, signatures, results and exception classes as the native functions.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from capfast.errors import (
    BlobMismatchError,
    DecompressionBombError,
    DuplicateEntryError,
    InvalidArgumentError,
    InvalidHashError,
    UnsafePathError,
    ZipFormatError,
)

__all__ = ["cap_root", "cap_index_rows", "cap_pack_files", "zip_write", "zip_entries", "cap_verify_blobs",
           "cap_read_blob",
           "missing_blobs"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOCAL, _CENTRAL, _EOCD = 0x04034B50, 0x02014B50, 0x06054B50
_DOS_DATE, _DOS_TIME, _MADE_BY, _NEEDED, _EXT_ATTR, _UTF8 = 0x0021, 0, 0x032D, 10, 0o100644 << 16, 1 << 11
_RATIO_FLOOR = 1 << 20
_CHUNK = 1 << 17
MAX_FILE_BYTES = 1 << 30


def _unhex(h: Any) -> bytes:
    if not isinstance(h, str):
        raise TypeError(f"expected a hex string, got {type(h).__name__}")
    if not _HEX64.fullmatch(h):
        raise InvalidHashError(f"{h[:80]!r} is not 64 lowercase hex characters")
    return bytes.fromhex(h)


def _digest_arg(obj: Any, what: str) -> bytes:
    if isinstance(obj, str):
        raise TypeError("expected a bytes-like object, got str (encode it first)")
    b = bytes(memoryview(obj).cast("B")) if not isinstance(obj, bytes) else obj
    if len(b) != 32:
        raise InvalidArgumentError(f"{what} must be 32 bytes, got {len(b)}")
    return b


def cap_root(manifest_hash: Any, paths: Iterable[str], hashes: Iterable[str]) -> bytes:
    """CAPROOT root (spec §7.2) of ``(paths[i], hashes[i])``; hashes are 64 lowercase hex characters."""
    mh = _digest_arg(manifest_hash, "manifest_hash")
    paths = list(paths)
    hashes = list(hashes)
    if len(paths) != len(hashes):
        raise InvalidArgumentError("paths and hashes must have the same length")
    for p in paths:
        if not isinstance(p, str):
            raise TypeError(f"paths must be str, got {type(p).__name__}")
    raw = [_unhex(h) for h in hashes]
    pairs = list(zip([p.encode("utf-8") for p in paths], raw))
    if any(pairs[i][0] >= pairs[i + 1][0] for i in range(len(pairs) - 1)):
        pairs.sort(key=lambda e: e[0])
        for i in range(len(pairs) - 1):
            if pairs[i][0] == pairs[i + 1][0]:
                shown = pairs[i][0].decode("utf-8", "replace")
                raise DuplicateEntryError(f"duplicate index path {shown!r}")
    h = hashlib.sha256(b"CAPROOT\0" + mh)
    h.update(b"".join(b"%s\0%s\n" % (p, d) for p, d in pairs))
    return h.digest()


# -- canonical index fast path ---------------------------------------------------------------------------------------

_INDEX_MAX_ROWS = 2_000_000
_K_HASH, _K_SIZE, _K_CSIZE, _K_COMP, _K_MIME = b"\x64hash", b"\x64size", b"\x6fcompressed_size", \
    b"\x6bcompression", b"\x64mime"
_HEX64B = re.compile(rb"[0-9a-f]{64}")
IndexRow = tuple[str, str, int, int, str, "str | None"]


class _NotCanonical(Exception):
    pass


def _uint(data: bytes, pos: int, major: int) -> tuple[int, int]:
    """Shortest-form head of ``major`` at ``pos``: (argument, next position)."""
    if pos >= len(data):
        raise _NotCanonical
    b = data[pos]
    if b >> 5 != major:
        raise _NotCanonical
    info = b & 0x1F
    if info < 24:
        return info, pos + 1
    if info > 27:
        raise _NotCanonical
    width = 1 << (info - 24)
    end = pos + 1 + width
    if end > len(data):
        raise _NotCanonical
    v = int.from_bytes(data[pos + 1 : end], "big")
    if v < (24 if width == 1 else 1 << (4 * width)):
        raise _NotCanonical
    return v, end


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


def zip_write(path: str | os.PathLike[str], entries: Iterable[tuple[str, Any]]) -> int:
    """Writes a deterministic STORED ZIP of ``entries`` (name, bytes) in the given order; returns its size."""
    items = [(n, memoryview(d).cast("B") if not isinstance(d, bytes) else d) for n, d in entries]
    seen: set[str] = set()
    central: list[bytes] = []
    offset = 0
    if len(items) >= 0xFFFF:
        raise InvalidArgumentError("more than 65,534 zip entries (ZIP64 is not supported)")
    with open(path, "wb") as fh:
        for name, data in items:
            if not isinstance(name, str):
                raise TypeError("entry names must be str")
            raw = name.encode("utf-8")
            if not raw or len(raw) > 0xFFFF:
                raise InvalidArgumentError(f"zip entry name length {len(raw)} out of range")
            if name in seen:
                raise DuplicateEntryError(f"duplicate zip entry {name!r}")
            seen.add(name)
            size = len(data)
            end = offset + 30 + len(raw) + size
            if size >= 0xFFFFFFFF or end >= 0xFFFFFFFF:
                raise InvalidArgumentError("package larger than 4 GiB (ZIP64 is not supported)")
            crc = zlib.crc32(data) & 0xFFFFFFFF
            flags = 0 if name.isascii() else _UTF8
            fh.write(struct.pack("<IHHHHHIIIHH", _LOCAL, _NEEDED, flags, 0, _DOS_TIME, _DOS_DATE, crc, size, size,
                                 len(raw), 0) + raw)
            fh.write(data)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", _CENTRAL, _MADE_BY, _NEEDED, flags, 0, _DOS_TIME,
                                       _DOS_DATE, crc, size, size, len(raw), 0, 0, 0, 0, _EXT_ATTR, offset) + raw)
            offset = end
        cd = b"".join(central)
        if offset + len(cd) + 22 >= 0xFFFFFFFF:
            raise InvalidArgumentError("package larger than 4 GiB (ZIP64 is not supported)")
        fh.write(cd)
        fh.write(struct.pack("<IHHHHIIH", _EOCD, 0, 0, len(items), len(items), len(cd), offset, 0))
    return offset + len(cd) + 22


def _read(fh: Any, file_len: int, n: int, offset: int, what: str) -> bytes:
    if offset + n > file_len:
        raise ZipFormatError(f"truncated archive: {what} ends at byte {offset + n}, file has {file_len}")
    fh.seek(offset)
    data = fh.read(n)
    if len(data) != n:
        raise ZipFormatError(f"truncated archive: cannot read {what} at byte {offset}")
    return data


def zip_entries(path: str | os.PathLike[str], max_entries: int = 65535) -> list[tuple[str, int, int, int]]:
    """Strictly parses a ZIP's structure: ``[(name, data_offset, size, crc32)]`` in central-directory order."""
    with open(path, "rb") as fh:
        file_len = os.fstat(fh.fileno()).st_size
        if file_len < 22:
            raise ZipFormatError(f"truncated archive: {file_len} bytes, no end-of-central-directory record")
        eocd_at = file_len - 22
        sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, clen = struct.unpack(
            "<IHHHHIIH", _read(fh, file_len, 22, eocd_at, "end-of-central-directory record"))
        if sig != _EOCD:
            raise ZipFormatError("no end-of-central-directory record in the last 22 bytes (truncated, trailing data "
                                 "or archive comment)")
        if clen:
            raise ZipFormatError("archive comment is not allowed")
        if disk or cd_disk or n_disk != n_total:
            raise ZipFormatError("multi-disk archives are not supported")
        if n_total == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:
            raise ZipFormatError("ZIP64 archives are not supported")
        if n_total > max_entries:
            raise ZipFormatError(f"{n_total} entries, more than the limit of {max_entries}")
        if cd_offset + cd_size != eocd_at:
            raise ZipFormatError(f"central directory ({cd_size} bytes at {cd_offset}) does not end at the "
                                 f"end-of-central-directory record (byte {eocd_at}): prepended, appended or hidden "
                                 "data")
        if cd_size < 46 * n_total:
            raise ZipFormatError(f"central directory of {cd_size} bytes cannot hold {n_total} entries")
        cd = _read(fh, file_len, cd_size, cd_offset, "central directory")
        entries: list[tuple[int, tuple[str, int, int, int]]] = []
        names: set[bytes] = set()
        pos = 0
        for i in range(n_total):
            if pos + 46 > len(cd) or struct.unpack_from("<I", cd, pos)[0] != _CENTRAL:
                raise ZipFormatError(f"central directory entry {i} is malformed (bad signature or truncated)")
            (_, _, needed, flags, method, _, _, crc, csize, usize, nlen, elen, clen2, disk_start, _, _,
             header_offset) = struct.unpack_from("<IHHHHHHIIIHHHHHII", cd, pos)
            name_end = pos + 46 + nlen
            if name_end + elen + clen2 > len(cd):
                raise ZipFormatError(f"central directory entry {i} is truncated")
            raw_name = cd[pos + 46 : name_end]
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                raise UnsafePathError(f"entry {i}: name is not UTF-8") from None
            if method != 0:
                raise ZipFormatError(f"entry {name!r}: compression method {method} (only STORED is allowed)")
            if flags & ~_UTF8:
                raise ZipFormatError(f"entry {name!r}: general-purpose flags {flags:#06x} (encryption and data "
                                     "descriptors are not allowed)")
            if needed > 20:
                raise ZipFormatError(f"entry {name!r}: needs ZIP version {needed}")
            if csize != usize:
                raise ZipFormatError(f"entry {name!r}: STORED entry with different compressed and uncompressed sizes")
            if disk_start:
                raise ZipFormatError(f"entry {name!r}: multi-disk entry")
            if raw_name in names:
                raise DuplicateEntryError(f"duplicate zip entry {name!r}")
            names.add(raw_name)
            local = _read(fh, file_len, 30, header_offset, f"local header of {name!r}")
            lsig, _, lflags, lmethod, _, _, lcrc, lcsize, lusize, lnlen, lelen = struct.unpack("<IHHHHHIIIHH", local)
            if lsig != _LOCAL:
                raise ZipFormatError(f"entry {name!r}: no local header at byte {header_offset}")
            if (lflags, lmethod, lcrc, lcsize, lusize, lnlen) != (flags, method, crc, csize, usize, nlen):
                raise ZipFormatError(f"entry {name!r}: local header disagrees with the central directory")
            if _read(fh, file_len, nlen, header_offset + 30, f"local name of {name!r}") != raw_name:
                raise ZipFormatError(f"entry {name!r}: local header names a different file")
            data_offset = header_offset + 30 + nlen + lelen
            if data_offset + csize > cd_offset:
                raise ZipFormatError(f"entry {name!r}: data runs into the central directory (truncated or overlapping)")
            entries.append((header_offset, (name, data_offset, csize, crc)))
            pos = name_end + elen + clen2
        if pos != len(cd):
            raise ZipFormatError("central directory has trailing bytes")
        expect = 0
        for start, (name, data_offset, csize, _) in sorted(entries, key=lambda e: e[0]):
            if start != expect:
                if start < expect:
                    raise ZipFormatError(f"entry {name!r} overlaps the previous entry (possible zip bomb)")
                raise ZipFormatError(f"{start - expect} unaccounted bytes before entry {name!r}")
            expect = data_offset + csize
        if expect != cd_offset:
            raise ZipFormatError(f"{cd_offset - expect} unaccounted bytes before the central directory")
        return [e for _, e in entries]


# -- blob verification -------------------------------------------------------------------------------------------

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
    return _unhex(hash_hex), int(offset), int(csize), int(crc), int(size)


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


# -- delta sets ----------------------------------------------------------------------------------------------------

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
