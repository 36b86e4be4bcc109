"""The CapToken JSON wire format: read one token, verify many (native core with a pure-Python twin).

This is the thin public layer over ``core.captoken_parse`` / ``core.captoken_verify_batch`` (``rust/src/token/``,
twin ``capfast/_py/captoken.py``). The format — the seed's token object plus capfast's claims, the strict JSON
profile, the field grammar and the signed bytes ``"capfast-captoken-v1\\n" ‖ JCS(token without signature)`` — is
written down in ``docs/captoken.md``. Policy (time, scopes, levels, audiences, revocation, holder binding) lives in
:mod:`capfast.access.verifier`, which is what applications call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from capfast._backend import core
from capfast._token_grammar import (
    CONTEXT,
    FIELDS,
    MAX_CAP_LEVEL,
    MAX_TIME,
    MAX_TOKEN_BYTES,
    lower_hex,
    valid_audience,
    valid_device,
    valid_role,
    valid_scope,
)
from capfast.errors import (
    TokenError,
    TokenFormatError,
    TokenSignatureError,
    TokenTooLargeError,
    UntrustedIssuerError,
)

__all__ = [
    "CONTEXT",
    "FIELDS",
    "MAX_CAP_LEVEL",
    "MAX_TIME",
    "MAX_TOKEN_BYTES",
    "Parsed",
    "error_for",
    "lower_hex",
    "valid_audience",
    "valid_device",
    "valid_role",
    "valid_scope",
    "parse",
    "verify_batch",
]

_ERRORS: dict[str, type[TokenError]] = {
    "format": TokenFormatError,
    "too_large": TokenTooLargeError,
    "untrusted_issuer": UntrustedIssuerError,
    "signature": TokenSignatureError,
}


class Parsed(NamedTuple):
    """A token read for form: its claims (a dict of the members present, signature excluded), the exact bytes the
    issuer signed, and the raw signature (64 bytes Ed25519, 65 bytes EIP-191)."""

    claims: dict[str, Any]
    signed: bytes
    signature: bytes


def _raw(token: bytes | str) -> bytes:
    if isinstance(token, str):
        return token.encode("utf-8", "surrogatepass")
    return bytes(token)


def parse(token: bytes | str) -> Parsed:
    """Read one token (size cap first, then the wire profile and the field grammar). Raises
    :class:`~capfast.errors.TokenTooLargeError` or :class:`~capfast.errors.TokenFormatError`."""
    claims, signed, signature = core.captoken_parse(_raw(token))
    return Parsed(claims, signed, signature)


def error_for(kind: str, message: str) -> TokenError:
    """The named error of a batch verdict kind."""
    return _ERRORS.get(kind, TokenError)(message)


def verify_batch(
    tokens: Sequence[bytes | str],
    keys: Sequence[tuple[bytes, bytes]],
    wallets: Sequence[bytes],
) -> list[dict[str, Any] | TokenError]:
    """Signature verdicts for many tokens at once: each item is the token's claims, or the named error it would
    raise alone. ``keys`` pins Ed25519 issuers as ``(kid16, public_key32)`` pairs, ``wallets`` pins issuer
    addresses (20 bytes). Native: parsing in parallel, one batch Ed25519 call, parallel secp256k1 recovery, GIL
    released."""
    raws = [_raw(t) if isinstance(t, str) else t for t in tokens]
    kids = [k for k, _ in keys]
    pks = [p for _, p in keys]
    out: list[dict[str, Any] | TokenError] = []
    for kind, message, claims in core.captoken_verify_batch(raws, kids, pks, wallets):
        out.append(claims if kind is None else error_for(kind, message))
    return out
