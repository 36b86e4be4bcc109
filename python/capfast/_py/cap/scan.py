"""Twin of ``rust/src/cap/scan.rs``: every key-independent check of a clean package in one pass, or ``None`` when
anything needs the general path (which names the problem). See the Rust module for the contract: same accept set
as the general path, never more."""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Iterable
from typing import Any

from capfast._py.cap.index import cap_index_rows
from capfast._py.cap.root import cap_root
from capfast._py.cap.zip import zip_entries

__all__ = ["cap_scan"]

_HEX64 = re.compile(r"[0-9a-f]{64}")

_META = ("_cap/manifest.cbor", "_cap/index.cbor", "_cap/root.sha256", "_cap/signature.ed25519",
         "_cap/publisher.ed25519.pk")
_PLAIN = re.compile(r"[\x20-\x39\x3b-\x5b\x5d-\x7e]+")
_DEVICE = re.compile(r"(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\..*)?", re.I | re.S)
_ROOT_TEXT = re.compile(rb"[0-9a-f]{64}\n")


def _plain_safe(path: str) -> bool:
    if not path or len(path) > 1024 or not _PLAIN.fullmatch(path):
        return False
    return all(c and len(c) <= 255 and c[-1] not in ". " and not _DEVICE.fullmatch(c) for c in path.split("/"))


def _dirs(paths: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for p in paths:
        i = p.rfind("/")
        while i >= 0 and p[:i] not in dirs:
            dirs.add(p[:i])
            i = p.rfind("/", 0, i)
    return dirs


def cap_scan(path: str | os.PathLike[str], max_entries: int, max_manifest: int, max_index: int) -> Any:
    """The key-independent parts of a clean package, or None (see ``rust/src/cap/scan.rs``)."""
    entries = zip_entries(path, max_entries)
    meta = [e for e in entries if e[0] in _META]
    blobs: dict[str, int] = {}
    for name, _offset, size, _crc in entries:
        if name in _META:
            continue
        if len(name) == 74 and name.startswith("blobs/") and name.endswith(".zst") and _HEX64.fullmatch(name[6:70]):
            blobs[name[6:70]] = size
        else:
            return None
    by_name = {e[0]: e for e in meta}

    def read(name: str, cap: int) -> bytes | None:
        e = by_name.get(name)
        if e is None or e[2] > cap:
            return None
        with open(path, "rb") as fh:
            fh.seek(e[1])
            data = fh.read(e[2])
        return data if len(data) == e[2] and zlib.crc32(data) & 0xFFFFFFFF == e[3] else None

    manifest, index = read(_META[0], max_manifest), read(_META[1], max_index)
    root_text, signature = read(_META[2], 65), read(_META[3], 64)
    if manifest is None or index is None or root_text is None or signature is None:
        return None
    public_key = None
    if _META[4] in by_name:
        public_key = read(_META[4], 32)
        if public_key is None or len(public_key) != 32:
            return None
    if not _ROOT_TEXT.fullmatch(root_text) or len(signature) != 64:
        return None
    rows = cap_index_rows(index)
    if rows is None:
        return None
    sizes: dict[str, tuple[int, int]] = {}
    for p, h, size, csize, comp, _mime in rows:
        if comp != "zstd" or size >= 1 << 63 or csize >= 1 << 63 or not _plain_safe(p):
            return None
        if sizes.setdefault(h, (size, csize)) != (size, csize):
            return None
    paths = [r[0] for r in rows]
    folded = {p.lower() for p in paths}
    dirs = _dirs(paths)
    folded_dirs = {d.lower() for d in dirs}
    if len(folded) != len(paths) or len(folded_dirs) != len(dirs) or folded & folded_dirs:
        return None
    if len(blobs) != len(sizes) or any(blobs.get(h) != cs for h, (_s, cs) in sizes.items()):
        return None
    root = cap_root(hashlib.sha256(manifest).digest(), paths, [r[1] for r in rows])
    if root.hex().encode() + b"\n" != root_text:
        return None
    return (meta, manifest, index, root_text, signature, public_key, root, paths, len(sizes))
