"""Token issuer keys and the verifier's pinned issuers.

**Key purposes.** A token issuer key is a ``cap-key.v1`` Ed25519 key whose ``usage`` lists ``captoken``
(:data:`TOKEN_KEY_USAGE`); ``cap token keygen`` writes such keys. A key made for packages or manifests
(``usage: ["signing", "registry"]``) is refused as a token key both when signing and when pinning
(:class:`~capfast.errors.KeyPurposeError`), and every token signature starts with the context string
``capfast-captoken-v1`` that no package or manifest signature starts with, so a signature made for one purpose never
verifies for the other.

**Pinning.** A verifier trusts exactly the issuers in its :class:`TrustedIssuers` (a ``captoken-issuers.v1`` file):
Ed25519 keys by KID (with their validity window and status) and issuer wallets by address. A token only *names* its
issuer; the key is always the pinned one.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capfast import ed25519, strict_json, wallet
from capfast._io import atomic_write
from capfast.errors import KeyFileError, KeyPurposeError, UntrustedIssuerError, WalletError
from capfast.lksg.keys import KeyMetadata, derive_kid, keygen, load_secret_key, read_key

__all__ = [
    "ISSUERS_SCHEMA",
    "TOKEN_KEY_USAGE",
    "IssuerKey",
    "IssuerWallet",
    "PinnedKey",
    "Signer",
    "TrustedIssuers",
    "keygen_token_key",
    "load_issuer",
]

TOKEN_KEY_USAGE = "captoken"
ISSUERS_SCHEMA = "captoken-issuers.v1"
MAX_ISSUERS_FILE = 4 << 20


@dataclass(frozen=True)
class IssuerKey:
    """An Ed25519 token issuer: its 32-byte seed, public key and KID (the token's ``issuer``)."""

    secret: bytes = field(repr=False)
    public: bytes
    kid: str

    @property
    def issuer(self) -> str:
        return self.kid

    def sign(self, message: bytes) -> bytes:
        return ed25519.sign(self.secret, message)


@dataclass(frozen=True)
class IssuerWallet:
    """A wallet token issuer (EIP-191 ``personal_sign``); the token's ``issuer`` is its address."""

    secret: bytes = field(repr=False)
    address: str

    @classmethod
    def from_secret(cls, secret: bytes) -> IssuerWallet:
        return cls(secret, wallet.address_of(secret))

    @property
    def issuer(self) -> str:
        return self.address

    def sign(self, message: bytes) -> bytes:
        return wallet.sign_message(self.secret, message)


Signer = IssuerKey | IssuerWallet


def _require_purpose(meta: KeyMetadata, where: str) -> None:
    if TOKEN_KEY_USAGE not in meta.usage:
        raise KeyPurposeError(
            f"{where}: key {meta.kid} is for {', '.join(meta.usage) or 'nothing'}, not for tokens "
            f"(its usage must include {TOKEN_KEY_USAGE!r}; create one with 'cap token keygen')"
        )


def keygen_token_key(
    output: str | os.PathLike[str],
    owner: str,
    *,
    valid_days: int = 365,
    force: bool = False,
    now: datetime | None = None,
) -> tuple[KeyMetadata, Path]:
    """A new cap-key.v1 token issuer key (``usage: ["captoken"]``): ``X.json``, ``X.ed25519`` (0600), ``X.pub``."""
    return keygen(output, owner, valid_days=valid_days, usage=(TOKEN_KEY_USAGE,), force=force, now=now)


def load_issuer(path: str | os.PathLike[str]) -> Signer:
    """The signer in ``path``: a cap-key.v1 token key (``.json`` beside its ``.ed25519``) or a wallet key file
    (64 hex digits of a secp256k1 secret, optionally ``0x``-prefixed). A key without the ``captoken`` purpose, or a
    revoked one, is refused."""
    p = Path(path)
    if p.suffix == ".json":
        meta = read_key(p)
        _require_purpose(meta, str(p))
        if meta.status == "revoked":
            raise KeyFileError(f"{p}: key {meta.kid} is revoked")
        secret = load_secret_key(p, meta)
        return IssuerKey(secret, meta.public_key, meta.kid)
    raw = p.read_bytes()[:200].strip()
    text = raw.decode("ascii", "replace")
    text = text[2:] if text.startswith("0x") else text
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise KeyFileError(f"{p}: expected a cap-key.v1 .json token key or a wallet key (64 hex digits)")
    secret = bytes.fromhex(text)
    try:
        return IssuerWallet.from_secret(secret)
    except Exception as exc:  # InvalidArgumentError for a zero/overflowing scalar
        raise KeyFileError(f"{p}: not a valid secp256k1 secret key: {exc}") from None


@dataclass(frozen=True)
class PinnedKey:
    """A pinned Ed25519 issuer key."""

    kid: str
    public_key: bytes
    owner: str
    valid_from: int
    valid_to: int
    status: str = "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "owner": self.owner,
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "status": self.status,
        }


def _iso_to_unix(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp())


class TrustedIssuers:
    """The issuers a verifier accepts: pinned Ed25519 keys (by KID) and pinned wallet addresses."""

    def __init__(self, keys: Iterable[PinnedKey] = (), wallets: Iterable[str] = ()) -> None:
        self.keys: dict[str, PinnedKey] = {k.kid: k for k in keys}
        self.wallets: dict[str, str] = {}
        for w in wallets:
            self.pin_wallet(w)

    # -- pinning ---------------------------------------------------------------------------------------------------
    def pin_key(self, meta: KeyMetadata | str | os.PathLike[str]) -> PinnedKey:
        """Pin a cap-key.v1 key (metadata or its ``.json`` path). Keys without the ``captoken`` purpose and revoked
        keys are refused."""
        where = "key"
        if not isinstance(meta, KeyMetadata):
            where = str(meta)
            meta = read_key(meta)
        _require_purpose(meta, where)
        if meta.status == "revoked":
            raise KeyFileError(f"{where}: key {meta.kid} is revoked and cannot be pinned")
        pinned = PinnedKey(
            kid=meta.kid,
            public_key=meta.public_key,
            owner=meta.owner,
            valid_from=_iso_to_unix(meta.valid_from),
            valid_to=_iso_to_unix(meta.valid_to),
            status=meta.status,
        )
        self.keys[pinned.kid] = pinned
        return pinned

    def pin_wallet(self, address: str) -> str:
        """Pin an issuer wallet; returns its EIP-55 spelling (a wrong checksum is refused)."""
        try:
            text = wallet.checksum_address(address)
        except WalletError as exc:
            raise UntrustedIssuerError(f"cannot pin issuer wallet: {exc}") from None
        self.wallets[text.lower()] = text
        return text

    # -- lookup ----------------------------------------------------------------------------------------------------
    def key_for(self, issuer: str, at: int) -> PinnedKey:
        """The pinned key named ``issuer``, usable at time ``at``; else :class:`UntrustedIssuerError`."""
        key = self.keys.get(issuer)
        if key is None:
            raise UntrustedIssuerError(f"issuer {issuer} is not a pinned token issuer")
        if key.status == "revoked":
            raise UntrustedIssuerError(f"issuer key {issuer} is revoked")
        if not key.valid_from <= at <= key.valid_to:
            raise UntrustedIssuerError(
                f"issuer key {issuer} is not valid at {at} (valid {key.valid_from}..{key.valid_to})"
            )
        return key

    def has_wallet(self, address: str) -> bool:
        return address.lower() in self.wallets

    def pinned_for_batch(self) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """``(keys, wallets)`` in the form :func:`capfast.captoken.verify_batch` takes."""
        keys = [(bytes.fromhex(k.kid), k.public_key) for k in self.keys.values() if k.status != "revoked"]
        wallets = [wallet.parse_address(w) for w in self.wallets.values()]
        return keys, wallets

    def __contains__(self, issuer: str) -> bool:
        return issuer in self.keys or issuer.lower() in self.wallets

    # -- files -----------------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "schema": ISSUERS_SCHEMA,
            "keys": [self.keys[k].to_json() for k in sorted(self.keys)],
            "wallets": sorted(self.wallets.values(), key=str.lower),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        atomic_write(path, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustedIssuers:
        """Read a ``captoken-issuers.v1`` file (strict JSON; every KID must match its key)."""
        p = Path(path)
        doc = strict_json.load_file(p, what=f"issuers file {p}", error=UntrustedIssuerError,
                                    max_bytes=MAX_ISSUERS_FILE)
        if not isinstance(doc, dict) or doc.get("schema") != ISSUERS_SCHEMA:
            raise UntrustedIssuerError(f"{p}: not a {ISSUERS_SCHEMA} file")
        if set(doc) - {"schema", "keys", "wallets"}:
            raise UntrustedIssuerError(f"{p}: unknown member(s) {sorted(set(doc) - {'schema', 'keys', 'wallets'})}")
        out = cls()
        for i, k in enumerate(doc.get("keys", [])):
            where = f"{p}: keys[{i}]"
            if not isinstance(k, dict) or set(k) != {"kid", "owner", "public_key", "valid_from", "valid_to", "status"}:
                raise UntrustedIssuerError(f"{where}: expected kid, owner, public_key, valid_from, valid_to, status")
            try:
                pk = base64.b64decode(str(k["public_key"]).encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise UntrustedIssuerError(f"{where}: public_key is not base64") from None
            if len(pk) != 32 or derive_kid(pk) != k["kid"]:
                raise UntrustedIssuerError(f"{where}: kid does not match the public key")
            for t in ("valid_from", "valid_to"):
                if isinstance(k[t], bool) or not isinstance(k[t], int):
                    raise UntrustedIssuerError(f"{where}: {t} must be Unix seconds")
            if k["status"] not in ("active", "retired", "revoked") or not isinstance(k["owner"], str):
                raise UntrustedIssuerError(f"{where}: bad status or owner")
            out.keys[k["kid"]] = PinnedKey(k["kid"], pk, k["owner"], k["valid_from"], k["valid_to"], k["status"])
        wallets = doc.get("wallets", [])
        if not isinstance(wallets, list) or not all(isinstance(w, str) for w in wallets):
            raise UntrustedIssuerError(f"{p}: wallets must be a list of addresses")
        for w in wallets:
            out.pin_wallet(w)
        return out
