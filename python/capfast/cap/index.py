"""The CAP 1.0 index: virtual path → blob reference, with the reference CBOR encoding (cap-format.md §2.3)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from capfast import cbor
from capfast._backend import core
from capfast.cap.paths import check_collisions, check_vpath, vpaths_look_safe
from capfast.cbor import head as cbor_head
from capfast.errors import BlobMismatchError, CborError, DuplicateEntryError, InvalidHashError, ManifestError

__all__ = ["FileEntry", "Index", "guess_mime", "check_hash", "MAX_INDEX_BYTES", "MAX_INDEX_ENTRIES"]

MAX_INDEX_BYTES = 256 << 20
MAX_INDEX_ENTRIES = 2_000_000
_HEX64 = re.compile(r"[0-9a-f]{64}")

def guess_mime(vpath: str) -> str | None:
    """The ``mime`` the reference builder records for ``vpath``, or None (then the field is omitted).

    Rust's ``Path::extension`` of the last component (no extension when the name has no ``.`` or only a leading one,
    as in ``.htaccess``; ``a.`` has the empty extension), looked up case-insensitively in mime_guess 2.0.5's table
    (:data:`capfast.cap.mime_table.MIME_TYPES`, documented in ``docs/cap-mime-types.md``)."""
    name = vpath[vpath.rfind("/") + 1 :]
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return None
    from capfast.cap.mime_table import MIME_TYPES

    ext = name[dot + 1 :]
    return MIME_TYPES.get(ext) or MIME_TYPES.get(ext.casefold())


def check_hash(value: Any, where: str = "hash") -> str:
    """Return ``value`` if it is 64 lowercase hex characters, else raise :class:`InvalidHashError`."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise InvalidHashError(f"{where}: {str(value)[:80]!r} is not 64 lowercase hex characters")
    return value


class FileEntry(NamedTuple):
    """One index entry. ``hash`` is the lowercase hex SHA-256 of the raw bytes. (A NamedTuple: cheap to build for
    every entry of a large index, and no ``dataclasses``/``inspect`` import on the ``cap verify`` path.)"""

    hash: str
    size: int
    compressed_size: int
    compression: str = "zstd"
    mime: str | None = None

    def to_map(self) -> dict[str, Any]:
        m: dict[str, Any] = {
            "hash": self.hash,
            "size": self.size,
            "compressed_size": self.compressed_size,
            "compression": self.compression,
        }
        if self.mime is not None:
            m["mime"] = self.mime
        return m


_ENTRY_KEYS = ("hash", "size", "compressed_size", "compression", "mime")
_HEX64_LINES = re.compile(r"(?:[0-9a-f]{64}\n)*[0-9a-f]{64}")


def _entries_look_valid(files: dict[str, FileEntry]) -> bool:
    """Cheap screen: True only if the per-entry loop of :func:`_validate` would pass (it is skipped then)."""
    if not files:
        return True
    vals = list(files.values())
    return _columns_look_valid(list(files), [e.hash for e in vals], [e.size for e in vals],
                               [e.compressed_size for e in vals], [e.compression for e in vals])


def _columns_look_valid(paths: list[str], hashes: list[Any], sizes: list[Any], csizes: list[Any],
                        comps: list[Any]) -> bool:
    """The screen of :func:`_entries_look_valid` over columns, in C-level passes (no per-entry Python loop)."""
    if comps.count("zstd") != len(comps) or not set(map(type, sizes)).union(map(type, csizes)) <= {int}:
        return False
    if min(sizes) < 0 or min(csizes) < 0 or max(sizes) >= 1 << 63 or max(csizes) >= 1 << 63:
        return False
    try:
        if not _HEX64_LINES.fullmatch("\n".join(hashes)):
            return False
    except TypeError:
        return False
    if len(set(zip(hashes, sizes, csizes))) != len(set(hashes)):
        return False  # one blob listed with different sizes
    return vpaths_look_safe(paths)


def _validate(files: dict[str, FileEntry]) -> None:
    """Every check of an index: safe paths, valid hashes, zstd, sane sizes, one size per blob, no case collisions,
    no path that is both a file and a directory. Errors name the first offending entry in ``files`` order."""
    if not _entries_look_valid(files):
        sizes: dict[str, tuple[int, int]] = {}
        for path, e in files.items():
            check_vpath(path)
            check_hash(e.hash, f"index entry {path!r}")
            if e.compression != "zstd":
                raise ManifestError(f"index entry {path!r}: compression {e.compression!r}, only 'zstd' is supported")
            for name, v in (("size", e.size), ("compressed_size", e.compressed_size)):
                if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 1 << 63:
                    raise ManifestError(f"index entry {path!r}: {name} must be a non-negative integer")
            prev = sizes.setdefault(e.hash, (e.size, e.compressed_size))
            if prev != (e.size, e.compressed_size):
                raise BlobMismatchError(f"index entry {path!r}: blob {e.hash} listed with different sizes")
    _validate_tree(files)


def _validate_tree(files: dict[str, FileEntry]) -> None:
    """No two paths equal when case is ignored; no path that is both a file and a directory, also when case is
    ignored (``ui/x`` and ``ui/X/y`` cannot both exist on a case-insensitive file system); no two directories
    differing only in case (``ui/A/1``, ``ui/a/2`` would merge there)."""
    folded_files = {p.casefold(): p for p in files}
    if len(folded_files) != len(files):
        check_collisions(files)  # names the two colliding paths
    dirs: set[str] = set()
    for p in files:
        i = p.rfind("/")
        while i >= 0:
            d = p[:i]
            if d in dirs:
                break
            dirs.add(d)
            i = p.rfind("/", 0, i)
    both = dirs.intersection(files)
    if both:
        raise DuplicateEntryError(f"index path {sorted(both)[0]!r} is both a file and a directory")
    folded_dirs: dict[str, str] = {}
    for d in sorted(dirs):
        other = folded_dirs.setdefault(d.casefold(), d)
        if other != d:
            raise DuplicateEntryError(f"directories {other!r} and {d!r} collide (equal when case is ignored)")
    for fd, d in folded_dirs.items():
        f = folded_files.get(fd)
        if f is not None:
            raise DuplicateEntryError(f"file {f!r} and directory {d!r} collide (equal when case is ignored)")


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return cbor_head(3, len(raw)) + raw


def _encode_canonical(files: dict[str, FileEntry]) -> bytes | None:
    """What ``cbor.dumps`` gives for the index map, written directly (fixed field names and heads); None when an
    entry is not of the validated shape, so the caller takes the general encoder."""
    out = [b"\xa1\x65files", cbor_head(5, len(files))]
    add = out.extend
    for path, e in files.items():
        h, size, csize, mime = e.hash, e.size, e.compressed_size, e.mime
        if type(h) is not str or len(h) != 64 or not h.isascii() or type(size) is not int or \
                type(csize) is not int or not (0 <= size < 1 << 63 and 0 <= csize < 1 << 63) or \
                type(e.compression) is not str or not (mime is None or type(mime) is str):
            return None
        add((_text(path), b"\xa4" if mime is None else b"\xa5", b"\x64hash\x78\x40", h.encode("ascii"), b"\x64size",
             cbor_head(0, size), b"\x6fcompressed_size", cbor_head(0, csize), b"\x6bcompression", _text(e.compression)))
        if mime is not None:
            add((b"\x64mime", _text(mime)))
    return b"".join(out)


class Index:
    """Sorted map of virtual path → :class:`FileEntry`, validated on construction."""

    __slots__ = ("files",)

    def __init__(self, files: dict[str, FileEntry]) -> None:
        if len(files) > MAX_INDEX_ENTRIES:
            raise ManifestError(f"index has {len(files)} entries, more than {MAX_INDEX_ENTRIES}")
        _validate(files)
        self.files = {p: files[p] for p in sorted(files, key=lambda s: s.encode("utf-8"))}

    @classmethod
    def _from_rows(cls, rows: list[tuple[str, str, int, int, str, str | None]]) -> Index:
        """An index from ``cap_index_rows`` output (canonical: paths strictly increasing bytewise)."""
        if len(rows) > MAX_INDEX_ENTRIES:
            raise ManifestError(f"index has {len(rows)} entries, more than {MAX_INDEX_ENTRIES}")
        make = FileEntry._make
        files = {row[0]: make(row[1:]) for row in rows}
        if rows:
            paths, hashes, sizes, csizes, comps, _ = map(list, zip(*rows))
            # cap_index_rows already guarantees 64-lowercase-hex hashes, unsigned integer sizes and strictly
            # increasing UTF-8 paths; what is left to screen (else the full per-entry check names the problem):
            if comps.count("zstd") == len(comps) and max(sizes) < 1 << 63 and max(csizes) < 1 << 63 and \
                    len(set(zip(hashes, sizes, csizes))) == len(set(hashes)) and vpaths_look_safe(paths):
                _validate_tree(files)
            else:
                _validate(files)
        index = cls.__new__(cls)
        index.files = files
        return index

    @classmethod
    def from_cbor(cls, data: bytes) -> Index:
        """Decode ``_cap/index.cbor`` strictly and require the canonical encoding byte for byte."""
        if len(data) > MAX_INDEX_BYTES:
            raise ManifestError(f"index.cbor: larger than {MAX_INDEX_BYTES} bytes")
        rows = core.cap_index_rows(data)
        if rows is not None:
            # Exactly the canonical encoding (so re-encoding gives ``data`` back): only the semantic checks remain.
            return cls._from_rows(rows)
        raw = cbor.loads(data)
        if not isinstance(raw, dict) or list(raw) != ["files"] or not isinstance(raw["files"], dict):
            raise ManifestError("index.cbor: expected exactly {'files': {path: entry}}")
        files: dict[str, FileEntry] = {}
        for path, m in raw["files"].items():
            if not isinstance(path, str):
                raise ManifestError("index.cbor: paths must be text")
            if not isinstance(m, dict) or [k for k in m if k not in _ENTRY_KEYS]:
                raise ManifestError(f"index entry {path!r}: unknown or malformed fields")
            for k in ("hash", "size", "compressed_size", "compression"):
                if k not in m:
                    raise ManifestError(f"index entry {path!r}: missing {k!r}")
            if "mime" in m and not isinstance(m["mime"], str):
                raise ManifestError(f"index entry {path!r}: mime must be text")
            if not isinstance(m["compression"], str):
                raise ManifestError(f"index entry {path!r}: compression must be text")
            check_hash(m["hash"], f"index entry {path!r}")
            files[path] = FileEntry(m["hash"], m["size"], m["compressed_size"], m["compression"], m.get("mime"))
        index = cls(files)
        if index.to_cbor() != bytes(data):
            raise CborError("index.cbor is not in the canonical CAP encoding (path order, field order or widths)")
        return index

    def to_cbor(self) -> bytes:
        """The reference encoding: ``{"files": {path: entry}}`` with paths sorted bytewise."""
        fast = _encode_canonical(self.files)
        if fast is not None:
            return fast
        return cbor.dumps({"files": {p: e.to_map() for p, e in self.files.items()}})

    @property
    def paths(self) -> list[str]:
        return list(self.files)

    @property
    def hashes(self) -> list[str]:
        return [e.hash for e in self.files.values()]

    def unique_blobs(self) -> dict[str, FileEntry]:
        """One entry per distinct hash, in path order of first use."""
        out: dict[str, FileEntry] = {}
        for e in self.files.values():
            out.setdefault(e.hash, e)
        return out

    def __len__(self) -> int:
        return len(self.files)
