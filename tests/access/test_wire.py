"""The CapToken JSON wire format (capfast.captoken): the written signed bytes, hostile inputs (each a named error),
and native ≡ twin on generated and mutated tokens (same verdict, same message, same signed bytes)."""

from __future__ import annotations

import json

import pytest
from accesshelpers import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from capfast import captoken
from capfast.access import jsontoken
from capfast.errors import TokenFormatError, TokenSignatureError, TokenTooLargeError, UntrustedIssuerError


def _token(env, **kw) -> str:
    return jsontoken.issue(env.claims(**kw), env.key)


def test_signed_bytes_are_context_and_sorted_compact_json(env):
    text = _token(env)
    doc = json.loads(text)
    parsed = captoken.parse(text)
    body = {k: v for k, v in doc.items() if k != "signature"}
    assert parsed.signed == b"capfast-captoken-v1\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    # the seed's fields come first, in the seed's order
    assert list(doc)[:5] == ["wallet", "role", "scope", "cap_level", "valid_until"] and list(doc)[-1] == "signature"
    # layout does not matter: the pretty and the compact text sign the same bytes
    assert captoken.parse(json.dumps(doc, indent=4)).signed == parsed.signed


HOSTILE = [
    ("empty", lambda t: "", TokenFormatError, "empty input"),
    ("truncated", lambda t: t[: len(t) // 2], TokenFormatError, "truncated"),
    ("trailing data", lambda t: t + "x", TokenFormatError, "trailing data"),
    ("duplicate key", lambda t: t.replace('"role":', '"role":"x","role":', 1), TokenFormatError, "duplicate field"),
    ("unknown field", lambda t: t.replace('{', '{"admin":"yes",', 1), TokenFormatError, "unknown field"),
    ("escape", lambda t: t.replace("app:/vpn", "app:\\/vpn", 1), TokenFormatError, "escape sequence"),
    ("unicode escape", lambda t: t.replace("infra.user", "infra\\u002euser", 1), TokenFormatError, "escape sequence"),
    ("float level", lambda t: t.replace('"cap_level":71', '"cap_level":71.0'), TokenFormatError, "fraction"),
    ("exponent level", lambda t: t.replace('"cap_level":71', '"cap_level":7.1e1'), TokenFormatError, "fraction"),
    ("negative zero", lambda t: t.replace('"cap_level":71', '"cap_level":-0'), TokenFormatError, "negative"),
    ("leading zero", lambda t: t.replace('"cap_level":71', '"cap_level":071'), TokenFormatError, "leading zero"),
    ("bool level", lambda t: t.replace('"cap_level":71', '"cap_level":true'), TokenFormatError, "unsupported value"),
    ("level too high", lambda t: t.replace('"cap_level":71', '"cap_level":101'), TokenFormatError, "at most 100"),
    ("huge number", lambda t: t.replace('"cap_level":71', '"cap_level":99999999999999999999'), TokenFormatError, "larger than"),
    ("nested object", lambda t: t.replace('"cap_level":71', '"cap_level":{"a":1}'), TokenFormatError, "unsupported value"),
    ("nested array", lambda t: t.replace('"scope":[', '"scope":[[],', 1), TokenFormatError, "not a string"),
    ("bom", lambda t: "\ufeff" + t, TokenFormatError, "expected"),
    ("non-ascii", lambda t: t.replace("infra.user", "infra.üser"), TokenFormatError, ""),
    ("scope prefix trick", lambda t: t.replace("app:/vpn", "app:/vpn/../audit"), TokenFormatError, "scope"),
    ("scope glob", lambda t: t.replace("app:/vpn", "app:/vpn*"), TokenFormatError, "scope"),
    ("missing signature", lambda t: t[: t.index(',"signature"')] + "}", TokenFormatError, "missing field \"signature\""),
    ("bad checksum wallet", lambda t: _flip_case(t), TokenFormatError, "EIP-55"),
    ("short signature", lambda t: t[: t.rindex('"')-2] + '"}', TokenFormatError, "signature"),
    ("oversized", lambda t: t[:-1] + " " * 9000 + "}", TokenTooLargeError, "over the 8192-byte limit"),
]


def _flip_case(t: str) -> str:
    doc = json.loads(t)
    w = doc["wallet"]
    i = next(i for i, c in enumerate(w) if i > 1 and c.isalpha())
    flipped = w[:i] + (w[i].lower() if w[i].isupper() else w[i].upper()) + w[i + 1 :]
    return t.replace(w, flipped)


@pytest.mark.parametrize(("name", "mutate", "error", "text"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_inputs_are_named_errors(env, native_core, py_core, name, mutate, error, text):
    bad = mutate(_token(env))
    with pytest.raises(error, match=text.replace("(", r"\(") if text else None):
        captoken.parse(bad)
    raw = bad.encode("utf-8")
    outcomes = []
    for core in (native_core, py_core):
        try:
            core.captoken_parse(raw)
            outcomes.append(("ok", ""))
        except TokenFormatError as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]


def test_batch_verdicts_and_errors(env):
    good = _token(env)
    wallet_token = jsontoken.issue(env.claims(issuer=env.wallet_issuer.address), env.wallet_issuer)
    tampered = good.replace('"cap_level":71', '"cap_level":99')
    from capfast import ed25519
    from capfast.access import IssuerKey
    from capfast.lksg.keys import derive_kid

    other = ed25519.generate()
    foreign_key = IssuerKey(other.secret, other.public, derive_kid(other.public))
    foreign = jsontoken.issue(env.claims(issuer=foreign_key.kid), foreign_key)
    keys, wallets = env.trusted.pinned_for_batch()
    got = captoken.verify_batch([good, wallet_token, tampered, foreign, "{"], keys, wallets)
    assert isinstance(got[0], dict) and isinstance(got[1], dict)
    assert isinstance(got[2], TokenSignatureError)
    assert isinstance(got[3], UntrustedIssuerError)
    assert isinstance(got[4], TokenFormatError)


def _mutations(text: str):
    b = text.encode()
    return st.one_of(
        st.integers(0, len(b) - 1).map(lambda i: b[:i]),
        st.tuples(st.integers(0, len(b) - 1), st.integers(0, 255)).map(lambda p: b[: p[0]] + bytes([p[1]]) + b[p[0] + 1 :]),
        st.tuples(st.integers(0, len(b)), st.sampled_from([b" ", b",", b'"', b"\\", b"-", b"0", b"1.5", b"{}", b"[", b"]", b"null", b'"a":1,'])).map(
            lambda p: b[: p[0]] + p[1] + b[p[0] :]
        ),
        st.tuples(st.integers(0, len(b) - 1), st.integers(1, 20)).map(lambda p: b[: p[0]] + b[p[0] + p[1] :]),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_native_and_twin_agree_on_mutated_tokens(env, native_core, py_core, data):
    text = jsontoken.issue(env.claims(now=NOW), env.key) if data.draw(st.booleans()) else jsontoken.issue(
        env.claims(issuer=env.wallet_issuer.address, device="board-7", binding="ab" * 32), env.wallet_issuer
    )
    raw = data.draw(_mutations(text))
    outcomes = []
    for core in (native_core, py_core):
        try:
            claims, signed, sig = core.captoken_parse(raw)
            outcomes.append(("ok", claims, signed, sig))
        except TokenFormatError as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]
    keys, wallets = env.trusted.pinned_for_batch()
    kids, pks = [k for k, _ in keys], [p for _, p in keys]
    assert native_core.captoken_verify_batch([raw], kids, pks, wallets) == py_core.captoken_verify_batch(
        [raw], kids, pks, wallets
    )
