"""Delta sets: which blobs a client is missing, and what changed between two packages."""

from __future__ import annotations

from typing import Any

from capfast._backend import core
from capfast.cap.package import Package

__all__ = ["missing_blobs", "diff"]


def missing_blobs(index_hashes: Any, have: Any) -> list[bytes]:
    """The 32-byte hashes of ``index_hashes`` absent from ``have``, in index order, each once.

    Both arguments are an iterable of 32-byte bytes-like hashes or a packed buffer of n×32 bytes (e.g. a numpy
    ``(n, 32)`` uint8 array, read in place by the native core)."""
    return core.missing_blobs(index_hashes, have)


def diff(old: Package, new: Package) -> dict[str, Any]:
    """Paths added, removed and changed (by content hash) from ``old`` to ``new``, manifest changes, and the bytes a
    client holding ``old`` must download (compressed sizes of blobs ``new`` needs that ``old`` lacks)."""
    of, nf = old.index.files, new.index.files
    added = sorted(p for p in nf if p not in of)
    removed = sorted(p for p in of if p not in nf)
    changed = sorted(p for p in nf if p in of and nf[p].hash != of[p].hash)
    unchanged = len(nf) - len(added) - len(changed)
    new_blobs = new.index.unique_blobs()
    missing = missing_blobs([bytes.fromhex(h) for h in new_blobs], [bytes.fromhex(h) for h in old.index.unique_blobs()])
    download = sum(new_blobs[h.hex()].compressed_size for h in missing)
    manifest_changes = {}
    for key in ("id", "name", "version", "publisher"):
        a, b = old.manifest.data["app"].get(key), new.manifest.data["app"].get(key)
        if a != b:
            manifest_changes[f"app.{key}"] = [a, b]
    if old.manifest.capabilities != new.manifest.capabilities:
        manifest_changes["capabilities"] = [old.manifest.capabilities, new.manifest.capabilities]
    return {
        "old_root": old.root.hex(), "new_root": new.root.hex(),
        "added": [{"path": p, "size": nf[p].size} for p in added],
        "removed": [{"path": p, "size": of[p].size} for p in removed],
        "changed": [{"path": p, "old_size": of[p].size, "new_size": nf[p].size} for p in changed],
        "unchanged": unchanged, "manifest": manifest_changes,
        "download_blobs": len(missing), "download_bytes": download,
    }
