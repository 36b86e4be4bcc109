"""The named baselines the commit benchmarks are measured against, written the straightforward way.

``naive_commit`` is perf-baselines.md's "naive commit" pipeline: ``csv.reader`` + one hash call per row over the
row's fields joined by 0x1F + a level-by-level pure-Python RFC 6962 tree. It does *less* work than capfast (no CBOR,
no record validation), so ratios against it understate capfast's advantage.
"""

from __future__ import annotations

import csv
import hashlib

import blake3

HASHERS = {"blake3": blake3.blake3, "sha3-256": hashlib.sha3_256, "sha256": hashlib.sha256}


def merkle_from_leaves(level: list[bytes], H) -> bytes:
    if not level:
        return H(b"").digest()
    while len(level) > 1:
        nxt = [H(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def naive_commit(path, hash: str = "blake3") -> bytes:
    H = HASHERS[hash]
    leaves = []
    ap = leaves.append
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            ap(H(b"\x00" + "\x1f".join(row).encode("utf-8")).digest())
    return merkle_from_leaves(leaves, H)


def raw_blake3_one_thread(path) -> bytes:
    """The physical reference: blake3-py over the file's raw bytes on one thread (no rows, no tree, no proofs)."""
    with open(path, "rb") as f:
        data = f.read()
    return blake3.blake3(data).digest()
