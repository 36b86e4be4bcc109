"""Pure-Python twin of the native Merkle functions (RFC 6962 §2.1)."""

from __future__ import annotations

from collections.abc import Iterable

from capfast._py.hashes import hasher_for, leaf, node

__all__ = ["merkle_leaf_hash", "merkle_root"]


def merkle_leaf_hash(data: bytes, hash: str = "blake3") -> bytes:
    return leaf(hasher_for(hash), data)


def merkle_root(leaves: Iterable[bytes], hash: str = "blake3") -> bytes:
    h = hasher_for(hash)
    stack: list[tuple[int, bytes]] = []  # (level, digest) of perfect subtrees, left to right
    for data in leaves:
        level, digest = 0, leaf(h, data)
        while stack and stack[-1][0] == level:
            digest = node(h, stack.pop()[1], digest)
            level += 1
        stack.append((level, digest))
    if not stack:
        return h(b"").digest()
    acc = stack[-1][1]
    for _, digest in reversed(stack[:-1]):
        acc = node(h, digest, acc)
    return acc
