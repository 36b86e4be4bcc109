"""Twin of ``rust/src/cap/root.rs``: the CAPROOT root (spec §7.2)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from capfast._py.cap import digest_arg, unhex
from capfast.errors import DuplicateEntryError, InvalidArgumentError

__all__ = ["cap_root"]


def cap_root(manifest_hash: Any, paths: Iterable[str], hashes: Iterable[str]) -> bytes:
    """CAPROOT root (spec §7.2) of ``(paths[i], hashes[i])``; hashes are 64 lowercase hex characters."""
    mh = digest_arg(manifest_hash, "manifest_hash")
    paths = list(paths)
    hashes = list(hashes)
    if len(paths) != len(hashes):
        raise InvalidArgumentError("paths and hashes must have the same length")
    for p in paths:
        if not isinstance(p, str):
            raise TypeError(f"paths must be str, got {type(p).__name__}")
    raw = [unhex(h) for h in hashes]
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
