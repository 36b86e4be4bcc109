"""CapToken benchmarks (issue 11): batch verification of JSON tokens, EIP-191 signer recovery, Biscuit
verify+authorize.

* ``captoken verify {N}k``: N JSON tokens from one pinned Ed25519 issuer. Subjects: the native batch
  (``captoken_verify_batch``: parse, canonical bytes, one batch Ed25519 call, GIL released) and the one verifier's
  ``verify_batch`` (the same plus every policy check in Python). Baseline: a Python loop that parses each token with
  ``json``, rebuilds the signed bytes and verifies with PyNaCl. Target: native batch ≥ 10× the PyNaCl loop.
* ``eip191 recover {N}k``: N ``personal_sign`` signatures by 16 wallets. Subject: ``wallet_recover_messages``
  (parallel, GIL released). Baseline: an eth-account ``Account.recover_message`` loop. Target ≥ 10×.
* ``biscuit verify+authorize``: one Biscuit token with one attenuation block, verified and authorized by the one
  verifier, per call (reported, not floored).

``CAPFAST_BENCH_QUICK=1`` uses 5,000 tokens and 2,000 signatures (CI time), otherwise 100,000 each. Every case
checks its answers.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest

from conftest import QUICK, tag

_native: Any = pytest.importorskip("capfast._native", reason="the native core is not built")
nacl_signing = pytest.importorskip("nacl.signing")

from capfast import wallet  # noqa: E402
from capfast.access import Claims, IssuerKey, TrustedIssuers, Verifier, biscuit, jsontoken  # noqa: E402
from capfast.access.keys import PinnedKey  # noqa: E402
from capfast.lksg.keys import derive_kid  # noqa: E402

N = 5_000 if QUICK else 100_000
N_RECOVER = 2_000 if QUICK else 100_000
NOW = 1_800_000_000
AUD = "example.org"


@pytest.fixture(scope="module")
def issuer():
    seed = hashlib.sha256(b"bench issuer").digest()
    pk = _native.ed25519_public_key(seed)
    key = IssuerKey(seed, pk, derive_kid(pk))
    trusted = TrustedIssuers([PinnedKey(key.kid, pk, "bench", 0, 2**40)])
    return key, trusted


@pytest.fixture(scope="module")
def tokens(issuer):
    key, _ = issuer
    holder = wallet.address_of(hashlib.sha256(b"holder").digest())
    base = Claims.new(role="infra.user", scope=["app:/vpn", "net:/vpn/*"], cap_level=71, audience=AUD,
                      issuer=key.kid, wallet=holder, now=NOW, lifetime=3600)
    out = []
    for i in range(N):
        c = base.replace(token_id=f"{i:032x}", revocation_id=hashlib.md5(b"%d" % i).hexdigest())
        out.append(jsontoken.issue(c, key).encode("ascii"))
    return out


def test_native_batch(benchmark, issuer, tokens):
    tag(benchmark, f"captoken verify {N // 1000}k", "subject", "capfast native batch (parse + batch Ed25519)")
    key, _ = issuer
    kids, pks = [bytes.fromhex(key.kid)], [key.public]
    result = benchmark.pedantic(_native.captoken_verify_batch, args=(tokens, kids, pks, []), rounds=5, iterations=1)
    assert all(kind is None for kind, _, _ in result)


def test_verifier_batch(benchmark, issuer, tokens):
    tag(benchmark, f"captoken verify {N // 1000}k", "subject", "capfast Verifier.verify_batch (policy included)")
    _, trusted = issuer
    v = Verifier(trusted, audience=AUD)
    result = benchmark.pedantic(v.verify_batch, args=(tokens,), kwargs=dict(required_scope="net:/vpn/core",
                                                                           min_cap_level=50, now=NOW),
                                rounds=3, iterations=1)
    assert all(r.claims.cap_level == 71 for r in result)  # type: ignore[union-attr]


def test_pynacl_loop(benchmark, issuer, tokens):
    tag(benchmark, f"captoken verify {N // 1000}k", "baseline", "json + canonical bytes + PyNaCl verify, Python loop")
    key, _ = issuer
    vk = nacl_signing.VerifyKey(key.public)

    def run() -> int:
        ok = 0
        for raw in tokens:
            doc = json.loads(raw)
            sig = bytes.fromhex(doc.pop("signature")[2:])
            signed = b"capfast-captoken-v1\n" + json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
            vk.verify(signed, sig)
            ok += 1
        return ok

    assert benchmark.pedantic(run, rounds=3, iterations=1) == N


@pytest.fixture(scope="module")
def signatures():
    secrets = [hashlib.sha256(b"wallet %d" % i).digest() for i in range(16)]
    msgs = [b"capfast holder challenge %d" % i for i in range(N_RECOVER)]
    sigs = [_native.wallet_sign_message(secrets[i % 16], m) for i, m in enumerate(msgs)]
    addrs = [wallet.address_of(secrets[i % 16]) for i in range(N_RECOVER)]
    return msgs, sigs, addrs


def test_native_recover(benchmark, signatures):
    tag(benchmark, f"eip191 recover {N_RECOVER // 1000}k", "subject", "capfast native recover (parallel, GIL released)")
    msgs, sigs, addrs = signatures
    got = benchmark.pedantic(_native.wallet_recover_messages, args=(msgs, sigs), rounds=3, iterations=1)
    assert [wallet.checksum_address(a) for a in got[:64]] == addrs[:64] and all(a is not None for a in got)


def test_eth_account_loop(benchmark, signatures):
    import sys

    limit = sys.getrecursionlimit()
    eth_account = pytest.importorskip("eth_account")  # raises the process-wide recursion limit: put it back
    sys.setrecursionlimit(limit)
    from eth_account.messages import encode_defunct

    tag(benchmark, f"eip191 recover {N_RECOVER // 1000}k", "baseline", "eth-account recover_message loop")
    msgs, sigs, addrs = signatures
    recover = eth_account.Account.recover_message

    def run() -> list[str]:
        return [recover(encode_defunct(primitive=m), signature=s) for m, s in zip(msgs, sigs)]

    assert benchmark.pedantic(run, rounds=1, iterations=1) == addrs


def test_biscuit_verify_authorize(benchmark, issuer):
    tag(benchmark, "biscuit verify+authorize (1 token)", "subject", "capfast Verifier.verify on a Biscuit")
    key, trusted = issuer
    c = Claims.new(role="infra.user", scope=["app:/vpn", "net:/vpn/*"], cap_level=71, audience=AUD,
                   issuer=key.kid, wallet=wallet.address_of(os.urandom(31) + b"\1"), now=NOW, lifetime=3600)
    tok = biscuit.attenuate(biscuit.issue(c, key), key.public, scopes=["net:/vpn/core"], max_cap_level=60)
    v = Verifier(trusted, audience=AUD)
    got = benchmark(v.verify, tok, required_scope="net:/vpn/core", min_cap_level=50, now=NOW)
    assert got.claims.cap_level == 60
