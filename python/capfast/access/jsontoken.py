"""The seed's JSON token: issue (sign) and read.

A token is the seed's object — ``wallet``, ``role``, ``scope``, ``cap_level``, ``valid_until``, ``signature`` —
with capfast's further claims between ``valid_until`` and ``signature`` (``docs/captoken.md``)::

    {
      "wallet": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
      "role": "infra.user",
      "scope": ["app:/vpn", "app:/audit"],
      "cap_level": 71,
      "valid_until": 1715000000,
      "issuer": "5c0d…(KID or issuer wallet)", "issued_at": …, "not_before": …, "token_id": "…",
      "audience": "example.org", "revocation_id": "…",
      "signature": "0x…"
    }

The issuer signs ``"capfast-captoken-v1\\n" ‖ JCS(token without signature)`` — Ed25519 for a cap-key.v1 token key,
EIP-191 ``personal_sign`` for an issuer wallet. The signed bytes are built by the one wire reader
(:mod:`capfast.captoken`), so issuing and verifying can never disagree about them.
"""

from __future__ import annotations

import json
from typing import Any

from capfast import captoken
from capfast.access.claims import Claims
from capfast.access.keys import IssuerKey, Signer
from capfast.errors import TokenFormatError

__all__ = ["encode", "issue", "read"]


def encode(claims: Claims, signature: bytes, *, pretty: bool = False) -> str:
    """The token text for ``claims`` and a signature (claims in the seed's order, ``signature`` last)."""
    doc: dict[str, Any] = claims.to_dict()
    doc["signature"] = "0x" + signature.hex()
    if pretty:
        return json.dumps(doc, indent=2)
    return json.dumps(doc, separators=(",", ":"))


def issue(claims: Claims, signer: Signer, *, pretty: bool = False) -> str:
    """Sign ``claims`` as ``signer`` and return the token text. ``claims.issuer`` must name the signer."""
    if claims.issuer != signer.issuer:
        raise TokenFormatError(f"claims name issuer {claims.issuer}, but the signing key is {signer.issuer}")
    placeholder = bytes(64 if isinstance(signer, IssuerKey) else 65)
    parsed = captoken.parse(encode(claims, placeholder))
    text = encode(claims, signer.sign(parsed.signed), pretty=pretty)
    captoken.parse(text)  # the issued text must read back (it always does; cheap insurance against drift)
    return text


def read(token: bytes | str) -> tuple[Claims, captoken.Parsed]:
    """The claims of a token checked for form only (no signature check: use the verifier for that)."""
    parsed = captoken.parse(token)
    return Claims.from_wire(parsed.claims), parsed
