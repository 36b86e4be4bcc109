"""``cap-attestation.v1``: one key vouches for another, and chains of such attestations (key rotation history).

* **Attestations are signed and verified over the same bytes**: the compact JSON of the attestation object in its
  declared field order (``schema, signer_kid, signer_owner, subject_kid, subject_owner, subject_public_key,
  attested_at``). cap-agent's CLI signed the sorted-keys JSON instead; :func:`verify_attestation` accepts that legacy
  form too (same fields, so it binds the same statement) and reports it.
* :func:`verify_chain` checks attestations in order: each on its own, each signer the previous subject, and with a
  key store every signer a non-revoked store key valid at the attestation time.

Keys, KIDs and the key store are :mod:`capfast.lksg.keys`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from capfast import ed25519
from capfast._io import atomic_write
from capfast._time import utc_now
from capfast.errors import KeyFileError
from capfast.lksg.keys import (
    b64_exact,
    b64_key,
    derive_kid,
    find_key,
    load_secret_key,
    parse_time,
    pretty_json,
    read_json,
    read_key,
)

__all__ = [
    "ATTESTATION_SCHEMA",
    "Attestation",
    "ChainLink",
    "attest",
    "read_attestation",
    "verify_attestation",
    "verify_chain",
    "write_attestation",
]

ATTESTATION_SCHEMA = "cap-attestation.v1"


@dataclass(frozen=True)
class Attestation:
    """``cap-attestation.v1``: the signer key vouches for the subject key."""

    signer_kid: str
    signer_owner: str
    subject_kid: str
    subject_owner: str
    subject_public_key: bytes
    attested_at: str
    signature: bytes
    signer_public_key: bytes

    def body(self) -> dict[str, Any]:
        """The attestation object in its declared field order."""
        return {
            "schema": ATTESTATION_SCHEMA,
            "signer_kid": self.signer_kid,
            "signer_owner": self.signer_owner,
            "subject_kid": self.subject_kid,
            "subject_owner": self.subject_owner,
            "subject_public_key": base64.b64encode(self.subject_public_key).decode("ascii"),
            "attested_at": self.attested_at,
        }

    def signed_bytes(self) -> bytes:
        """The one message attestations are signed *and* verified over: compact JSON in declared field order."""
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def legacy_signed_bytes(self) -> bytes:
        """What cap-agent's ``keys attest`` signed: the same object with sorted keys."""
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {
            "attestation": self.body(),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "signer_public_key": base64.b64encode(self.signer_public_key).decode("ascii"),
        }

    @classmethod
    def from_json(cls, doc: Any, where: str = "attestation") -> Attestation:
        if not isinstance(doc, dict) or not isinstance(doc.get("attestation"), dict):
            raise KeyFileError(f"{where}: expected an object with an 'attestation' object")
        body = doc["attestation"]
        if body.get("schema") != ATTESTATION_SCHEMA:
            raise KeyFileError(f"{where}: schema must be {ATTESTATION_SCHEMA!r}, got {body.get('schema')!r}")
        for key in ("signer_kid", "signer_owner", "subject_kid", "subject_owner", "attested_at"):
            if not isinstance(body.get(key), str):
                raise KeyFileError(f"{where}: field {key!r} must be a string")
        sig = b64_exact(doc.get("signature"), f"{where}: signature", ed25519.SIGNATURE_LEN)
        return cls(
            signer_kid=body["signer_kid"],
            signer_owner=body["signer_owner"],
            subject_kid=body["subject_kid"],
            subject_owner=body["subject_owner"],
            subject_public_key=b64_key(body.get("subject_public_key"), f"{where}: subject_public_key"),
            attested_at=body["attested_at"],
            signature=sig,
            signer_public_key=b64_key(doc.get("signer_public_key"), f"{where}: signer_public_key"),
        )


def attest(
    signer: str | os.PathLike[str], subject: str | os.PathLike[str], *, now: datetime | None = None
) -> Attestation:
    """The signer key (metadata path; its ``.ed25519`` beside it) attests the subject key."""
    signer_meta, subject_meta = read_key(signer), read_key(subject)
    if signer_meta.status == "revoked":
        raise KeyFileError(f"{signer}: a revoked key cannot attest")
    secret = load_secret_key(signer, signer_meta)
    unsigned = Attestation(
        signer_kid=signer_meta.kid,
        signer_owner=signer_meta.owner,
        subject_kid=subject_meta.kid,
        subject_owner=subject_meta.owner,
        subject_public_key=subject_meta.public_key,
        attested_at=(now or utc_now()).astimezone(UTC).isoformat(),
        signature=b"\x00" * 64,
        signer_public_key=signer_meta.public_key,
    )
    return replace(unsigned, signature=ed25519.sign(secret, unsigned.signed_bytes()))


def write_attestation(path: str | os.PathLike[str], att: Attestation) -> None:
    atomic_write(path, pretty_json(att.to_json()))


def read_attestation(path: str | os.PathLike[str]) -> Attestation:
    return Attestation.from_json(read_json(path, "attestation"), str(path))


def verify_attestation(att: Attestation) -> str | None:
    """``None`` if the attestation is sound on its own, else the reason it is not.

    Checks the signature (over :meth:`Attestation.signed_bytes`, or cap-agent's sorted-keys legacy bytes) and that
    both KIDs derive from the public keys they name.
    """
    if derive_kid(att.signer_public_key) != att.signer_kid:
        return "signer_kid does not match signer_public_key"
    if derive_kid(att.subject_public_key) != att.subject_kid:
        return "subject_kid does not match subject_public_key"
    if not ed25519.verify(att.signer_public_key, att.signed_bytes(), att.signature) and not ed25519.verify(
        att.signer_public_key, att.legacy_signed_bytes(), att.signature
    ):
        return "signature does not verify"
    return None


@dataclass(frozen=True)
class ChainLink:
    """One verified step of a chain."""

    path: str
    signer_kid: str
    subject_kid: str
    attested_at: str
    legacy_encoding: bool


def verify_chain(
    attestations: Sequence[str | os.PathLike[str]], store: str | os.PathLike[str] | None = None
) -> list[ChainLink]:
    """Verify a chain of attestations in order; raises :class:`KeyFileError` naming the first broken link.

    Each attestation must verify on its own (:func:`verify_attestation`); from the second on, its signer must be
    the previous subject. With a key ``store`` every signer must be a key of the store (or its archive) with the same
    public key, not revoked, and valid at ``attested_at``.
    """
    if not attestations:
        raise KeyFileError("an attestation chain needs at least one attestation")
    links: list[ChainLink] = []
    previous: Attestation | None = None
    for path in attestations:
        att = read_attestation(path)
        problem = verify_attestation(att)
        if problem is not None:
            raise KeyFileError(f"{path}: {problem}")
        if previous is not None and att.signer_kid != previous.subject_kid:
            raise KeyFileError(
                f"{path}: chain broken: signed by {att.signer_kid}, but the previous attestation vouches for "
                f"{previous.subject_kid}"
            )
        attested_at = parse_time(att.attested_at, f"{path}: attested_at")
        if store is not None:
            found = find_key(store, att.signer_kid)
            if found is None:
                raise KeyFileError(f"{path}: signer {att.signer_kid} is not in the key store {store}")
            key_path, meta = found
            if meta.public_key != att.signer_public_key:
                raise KeyFileError(f"{path}: signer public key differs from {key_path}")
            if meta.status == "revoked":
                raise KeyFileError(f"{path}: signer {att.signer_kid} is revoked")
            if not meta.valid_at(attested_at):
                raise KeyFileError(f"{path}: attested at {att.attested_at}, outside the signer's validity period")
        legacy = not ed25519.verify(att.signer_public_key, att.signed_bytes(), att.signature)
        links.append(ChainLink(str(path), att.signer_kid, att.subject_kid, att.attested_at, legacy))
        previous = att
    return links
