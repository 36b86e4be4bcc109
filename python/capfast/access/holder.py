"""Holder binding: proof that whoever presents a token holds its wallet's key (``docs/captoken.md`` §7).

The verifier issues a fresh :class:`Challenge` (random nonce, its audience, a short window); the holder signs
:meth:`Challenge.message` for the token with EIP-191 ``personal_sign``; the verifier recovers the signer and
compares it with the token's ``wallet``. The nonce is single-use (a :class:`~capfast.access.replay.RedemptionStore`
remembers it), so a captured proof cannot be replayed, and a stolen token without the key is useless.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from capfast import wallet
from capfast.access.claims import unix_time
from capfast.captoken import lower_hex, valid_audience
from capfast.errors import HolderProofError

__all__ = ["CHALLENGE_TTL", "Challenge", "HolderProof", "prove"]

CHALLENGE_TTL = 120
CONTEXT = "capfast-holder-proof-v1"


@dataclass(frozen=True)
class Challenge:
    """What the verifier asks the holder to sign."""

    audience: str
    nonce: str
    issued_at: int
    expires_at: int

    @classmethod
    def new(cls, audience: str, *, ttl: int = CHALLENGE_TTL, now: int | None = None) -> Challenge:
        if not valid_audience(audience):
            raise HolderProofError(f"audience {audience!r} is not a lowercase DNS name")
        if not 0 < ttl <= 600:
            raise HolderProofError("a challenge lives between 1 and 600 seconds")
        t = unix_time(now)
        return cls(audience, os.urandom(16).hex(), t, t + ttl)

    def message(self, token_id: str) -> bytes:
        """The text the wallet signs: context, audience, token id, nonce and window, one per line."""
        return (
            f"{CONTEXT}\naudience:{self.audience}\ntoken:{token_id}\nnonce:{self.nonce}\n"
            f"issued_at:{self.issued_at}\nexpires_at:{self.expires_at}"
        ).encode("ascii")

    def to_json(self) -> dict[str, object]:
        return {"audience": self.audience, "nonce": self.nonce, "issued_at": self.issued_at,
                "expires_at": self.expires_at}

    @classmethod
    def from_json(cls, doc: object) -> Challenge:
        if not isinstance(doc, dict) or set(doc) != {"audience", "nonce", "issued_at", "expires_at"}:
            raise HolderProofError("a challenge has exactly audience, nonce, issued_at and expires_at")
        aud, nonce, ia, ea = doc["audience"], doc["nonce"], doc["issued_at"], doc["expires_at"]
        if not isinstance(aud, str) or not valid_audience(aud) or not isinstance(nonce, str) \
                or not lower_hex(nonce, 32):
            raise HolderProofError("challenge audience or nonce is malformed")
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (ia, ea)) or ea <= ia:
            raise HolderProofError("challenge times are malformed")
        return cls(aud, nonce, ia, ea)


@dataclass(frozen=True)
class HolderProof:
    """A challenge and the holder's 65-byte EIP-191 signature over it for one token."""

    challenge: Challenge
    signature: bytes

    def to_json(self) -> dict[str, object]:
        return {"challenge": self.challenge.to_json(), "signature": "0x" + self.signature.hex()}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    @classmethod
    def from_json(cls, doc: object) -> HolderProof:
        if not isinstance(doc, dict) or set(doc) != {"challenge", "signature"}:
            raise HolderProofError("a holder proof has exactly challenge and signature")
        sig = doc["signature"]
        if not isinstance(sig, str) or not sig.startswith("0x") or not lower_hex(sig[2:], 130):
            raise HolderProofError("holder proof signature must be 0x and 130 lowercase hex digits")
        return cls(Challenge.from_json(doc["challenge"]), bytes.fromhex(sig[2:]))


def prove(challenge: Challenge, token_id: str, secret: bytes) -> HolderProof:
    """The holder's answer: ``personal_sign`` of the challenge for ``token_id`` with the wallet key."""
    return HolderProof(challenge, wallet.sign_message(secret, challenge.message(token_id)))
