"""Merkle benchmarks: root, inclusion proof, consistency proof and batch inclusion verification.

Subject: the native core (``capfast._native``). Baselines, run in the same process on the same leaves: the
pure-Python twin (``capfast._py``) and a naive pure-Python list-of-levels RFC 6962 tree (every level kept as a Python
list, hashes from blake3-py / hashlib). Leaves are the rows of the generated supplier CSV (~120 bytes each, as in
../shared/reference/perf-baselines.md): 1,000,000 of them, or 100,000 with ``CAPFAST_BENCH_QUICK=1``.
Every benchmark checks its result against the native one, so a fast wrong answer fails the run (and the gate).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from _data import supplier_csv
from _naive import HASHERS
from conftest import QUICK, tag

_native: Any = pytest.importorskip("capfast._native", reason="the native core is not built")
from capfast import _py


def _require(*names: str) -> None:
    missing = [n for n in names if not hasattr(_native, n) or not hasattr(_py, n)]
    if missing:
        pytest.skip(f"not available on both cores yet: {missing}")

N = 100_000 if QUICK else 1_000_000
NL = "100k" if QUICK else "1M"
VERIFY_COUNT = 1_000

NAIVE_LABEL = {"blake3": "naive list-of-levels tree (blake3-py)", "sha3-256": "naive list-of-levels tree (hashlib)"}


# --- the naive baseline: a pure-Python RFC 6962 tree kept as a list of levels --------------------------------------


def naive_levels(leaves: list[bytes], H: Callable[[bytes], Any]) -> list[list[bytes]]:
    """Level 0 = leaf hashes; each next level pairs neighbours and carries an odd last node up unchanged."""
    level = [H(b"\x00" + d).digest() for d in leaves]
    levels = [level]
    while len(level) > 1:
        nxt = [H(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        levels.append(nxt)
        level = nxt
    return levels


def naive_root(leaves: list[bytes], H: Callable[[bytes], Any]) -> bytes:
    return naive_levels(leaves, H)[-1][0] if leaves else H(b"").digest()


def naive_path(levels: list[list[bytes]], index: int) -> list[bytes]:
    """RFC 6962 audit path, bottom-up: the sibling at each level where one exists."""
    path = []
    for level in levels[:-1]:
        sib = index ^ 1
        if sib < len(level):
            path.append(level[sib])
        index >>= 1
    return path


def naive_consistency(levels: list[list[bytes]], m: int) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(m, D[n]); every subtree the recursion needs is one node of the level lists."""
    n = len(levels[0])

    def mth(start: int, end: int) -> bytes:
        lvl = (end - start - 1).bit_length()
        return levels[lvl][start >> lvl]

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        size = end - start
        if m == size:
            return [] if whole else [mth(start, end)]
        k = 1 << ((size - 1).bit_length() - 1)
        if m <= k:
            return subproof(m, start, start + k, whole) + [mth(start + k, end)]
        return subproof(m - k, start + k, end, False) + [mth(start, start + k)]

    return subproof(m, 0, n, True)


def naive_verify_inclusion(
    root: bytes, size: int, index: int, leaf_hash: bytes, proof: list[bytes], H: Callable[[bytes], Any]
) -> bool:
    """RFC 9162 §2.1.3.2, line by line."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = H(b"\x01" + p + r).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = H(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- fixtures and helpers -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leaves() -> list[bytes]:
    lines = supplier_csv(N).read_bytes().split(b"\n")
    rows = [ln for ln in lines[1:] if ln]
    assert len(rows) == N
    return rows


def _bench(benchmark: Any, case: str, role: str, label: str, fn: Callable[[], Any]) -> Any:
    tag(benchmark, case, role, label)
    return benchmark(fn)


IMPLS = [
    pytest.param("native", "subject", "capfast native", id="native"),
    pytest.param("twin", "baseline", "capfast Python twin", id="twin"),
    pytest.param("naive", "baseline", None, id="naive"),
]


# --- benchmarks ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hash", ["blake3", "sha3-256"])
@pytest.mark.parametrize(("impl", "role", "label"), IMPLS)
def test_merkle_root(benchmark: Any, leaves: list[bytes], hash: str, impl: str, role: str, label: str | None) -> None:
    _require("merkle_root")
    H = HASHERS[hash]
    fn = {
        "native": lambda: _native.merkle_root(leaves, hash=hash),
        "twin": lambda: _py.merkle_root(leaves, hash=hash),
        "naive": lambda: naive_root(leaves, H),
    }[impl]
    out = _bench(benchmark, f"merkle root {NL} leaves {hash}", role, label or NAIVE_LABEL[hash], fn)
    assert out == _native.merkle_root(leaves, hash=hash)


@pytest.mark.parametrize(("impl", "role", "label"), IMPLS)
def test_merkle_inclusion_proof(benchmark: Any, leaves: list[bytes], impl: str, role: str, label: str | None) -> None:
    _require("merkle_inclusion_proof")
    index = N * 2 // 3 + 1
    H = HASHERS["blake3"]
    fn = {
        "native": lambda: _native.merkle_inclusion_proof(leaves, index, hash="blake3"),
        "twin": lambda: _py.merkle_inclusion_proof(leaves, index, hash="blake3"),
        "naive": lambda: naive_path(naive_levels(leaves, H), index),
    }[impl]
    out = _bench(benchmark, f"merkle inclusion proof, {NL} leaves blake3", role, label or NAIVE_LABEL["blake3"], fn)
    assert list(out) == list(_native.merkle_inclusion_proof(leaves, index, hash="blake3"))


@pytest.mark.parametrize(("impl", "role", "label"), IMPLS)
def test_merkle_consistency_proof(benchmark: Any, leaves: list[bytes], impl: str, role: str, label: str | None) -> None:
    _require("merkle_consistency_proof")
    old = N // 2 + 12_345  # an interior size that is not a power of two
    H = HASHERS["blake3"]
    fn = {
        "native": lambda: _native.merkle_consistency_proof(leaves, old, hash="blake3"),
        "twin": lambda: _py.merkle_consistency_proof(leaves, old, hash="blake3"),
        "naive": lambda: naive_consistency(naive_levels(leaves, H), old),
    }[impl]
    out = _bench(benchmark, f"merkle consistency proof, {NL} leaves blake3", role, label or NAIVE_LABEL["blake3"], fn)
    assert list(out) == list(_native.merkle_consistency_proof(leaves, old, hash="blake3"))


@pytest.fixture(scope="module")
def proofs(leaves: list[bytes]) -> tuple[bytes, list[tuple[int, bytes, list[bytes]]]]:
    """VERIFY_COUNT (index, leaf hash, audit path) triples taken from one naive tree, and its root."""
    levels = naive_levels(leaves, HASHERS["blake3"])
    root = levels[-1][0]
    assert root == _native.merkle_root(leaves, hash="blake3")
    idx = random.Random(7).sample(range(N), VERIFY_COUNT)
    return root, [(i, levels[0][i], naive_path(levels, i)) for i in idx]


@pytest.mark.parametrize(("impl", "role", "label"), IMPLS)
def test_merkle_verify_inclusion(
    benchmark: Any,
    proofs: tuple[bytes, list[tuple[int, bytes, list[bytes]]]],
    impl: str,
    role: str,
    label: str | None,
) -> None:
    _require("merkle_verify_inclusion")
    root, triples = proofs
    H = HASHERS["blake3"]
    native_verify, twin_verify = _native.merkle_verify_inclusion, _py.merkle_verify_inclusion

    def native() -> int:
        return sum(bool(native_verify(root, N, i, lh, p, hash="blake3")) for i, lh, p in triples)

    def twin() -> int:
        return sum(bool(twin_verify(root, N, i, lh, p, hash="blake3")) for i, lh, p in triples)

    def naive() -> int:
        return sum(naive_verify_inclusion(root, N, i, lh, p, H) for i, lh, p in triples)

    fn = {"native": native, "twin": twin, "naive": naive}[impl]
    case = f"merkle verify {VERIFY_COUNT} inclusion proofs, {NL} leaves"
    out = _bench(benchmark, case, role, label or "naive RFC 9162 verifier (blake3-py)", fn)
    assert out == VERIFY_COUNT
