"""Twin of ``rust/src/cap/zip.rs``: the deterministic STORED ZIP writer and the strict structural reader."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from typing import Any

from capfast.errors import DuplicateEntryError, InvalidArgumentError, UnsafePathError, ZipFormatError

__all__ = ["zip_entries", "zip_write"]

_LOCAL, _CENTRAL, _EOCD = 0x04034B50, 0x02014B50, 0x06054B50
_DOS_DATE, _DOS_TIME, _MADE_BY, _NEEDED, _EXT_ATTR, _UTF8 = 0x0021, 0, 0x032D, 10, 0o100644 << 16, 1 << 11


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
