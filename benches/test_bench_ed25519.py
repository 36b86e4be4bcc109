"""Ed25519 verification benchmarks: 10,000 (or 100,000) signatures by 16 signers.

Subject: native batch (``capfast._native.ed25519_verify_batch`` on numpy arrays). Baselines in the same process on
the same signatures: native single verification in a Python loop, a PyNaCl (libsodium) ``VerifyKey.verify`` loop,
and a ``cryptography`` (OpenSSL) ``Ed25519PublicKey.verify`` loop. Target (issue 4): native batch ≥ 5× the PyNaCl
loop on 2 cores. Every case checks that all signatures verified, so a fast wrong answer fails the run.
``CAPFAST_BENCH_QUICK=1`` uses 10,000 signatures, otherwise 100,000.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest

from conftest import QUICK, tag

_native: Any = pytest.importorskip("capfast._native", reason="the native core is not built")
nacl_signing = pytest.importorskip("nacl.signing")
crypto_ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")

N = 10_000 if QUICK else 100_000
CASE = f"ed25519 verify {N // 1000}k"
KEYS = 16


@pytest.fixture(scope="module")
def corpus():
    seeds = [hashlib.sha256(b"bench %d" % i).digest() for i in range(KEYS)]
    pubs = [_native.ed25519_public_key(s) for s in seeds]
    msgs = [b"capfast benchmark message %d" % i for i in range(N)]
    pks = np.empty((N, 32), dtype=np.uint8)
    sigs = np.empty((N, 64), dtype=np.uint8)
    for i, m in enumerate(msgs):
        pks[i] = np.frombuffer(pubs[i % KEYS], dtype=np.uint8)
        sigs[i] = np.frombuffer(_native.ed25519_sign(seeds[i % KEYS], m), dtype=np.uint8)
    return pks, msgs, sigs, [bytes(r) for r in pks], [bytes(r) for r in sigs]


def test_native_batch(benchmark, corpus):
    tag(benchmark, CASE, "subject", "capfast native batch (numpy, GIL released)")
    pks, msgs, sigs, _, _ = corpus
    assert all(benchmark(_native.ed25519_verify_batch, pks, msgs, sigs))


def test_native_batch_all(benchmark, corpus):
    tag(benchmark, CASE, "subject", "capfast native all-valid check")
    pks, msgs, sigs, _, _ = corpus
    assert benchmark(_native.ed25519_verify_batch_all, pks, msgs, sigs) is True


def test_native_single_loop(benchmark, corpus):
    tag(benchmark, CASE, "baseline", "capfast native single verify, Python loop")
    _, msgs, _, pkl, sgl = corpus
    verify = _native.ed25519_verify
    assert benchmark(lambda: all(verify(p, m, s) for p, m, s in zip(pkl, msgs, sgl, strict=True)))


def test_pynacl_loop(benchmark, corpus):
    tag(benchmark, CASE, "baseline", "PyNaCl VerifyKey.verify loop (libsodium)")
    _, msgs, _, pkl, sgl = corpus
    keys = {p: nacl_signing.VerifyKey(p) for p in set(pkl)}

    def run() -> int:
        for p, m, s in zip(pkl, msgs, sgl, strict=True):
            keys[p].verify(m, s)  # raises on failure
        return len(pkl)

    assert benchmark(run) == N


def test_cryptography_loop(benchmark, corpus):
    tag(benchmark, CASE, "baseline", "cryptography Ed25519PublicKey.verify loop (OpenSSL)")
    _, msgs, _, pkl, sgl = corpus
    keys = {p: crypto_ed.Ed25519PublicKey.from_public_bytes(p) for p in set(pkl)}

    def run() -> int:
        for p, m, s in zip(pkl, msgs, sgl, strict=True):
            keys[p].verify(s, m)  # raises on failure
        return len(pkl)

    assert benchmark(run) == N
