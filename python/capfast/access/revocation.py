"""Signed revocation lists (``captoken-revocations.v1``) and the verifier's view of them.

A list is issued by one token issuer and names revocation ids: a JSON token's ``revocation_id``, a Biscuit token's
block revocation ids (128 hex digits) or its authority ``revocation_id``. It is signed like a token, by the same
pinned issuer key or wallet, over::

    "capfast-captoken-revocations-v1\\n" ‖ JCS({schema, issuer, sequence, issued_at, revoked})

``sequence`` grows with every new list of an issuer; a :class:`RevocationSet` keeps the newest verified list per
issuer and refuses an older one (a rollback that would un-revoke tokens). The type is small and plain
(:meth:`RevocationList.to_json`), so the transparency ledger can log each list as one entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capfast import ed25519, strict_json, wallet
from capfast._io import atomic_write, read_limited
from capfast.access.claims import unix_time
from capfast.access.keys import Signer, TrustedIssuers
from capfast.captoken import lower_hex
from capfast.errors import RevocationListError, TokenError, TokenRevokedError

__all__ = ["REVOCATIONS_SCHEMA", "RevocationList", "RevocationSet"]

REVOCATIONS_SCHEMA = "captoken-revocations.v1"
CONTEXT = b"capfast-captoken-revocations-v1\n"
MAX_LIST_BYTES = 16 << 20
MAX_ENTRIES = 100_000


def _valid_id(rid: Any) -> bool:
    return isinstance(rid, str) and (lower_hex(rid, 32) or lower_hex(rid, 128))


@dataclass(frozen=True)
class RevocationList:
    """One issuer's signed list of revoked ids."""

    issuer: str
    sequence: int
    issued_at: int
    revoked: tuple[str, ...]
    signature: bytes = field(default=b"", repr=False)

    def body(self) -> dict[str, Any]:
        return {
            "issued_at": self.issued_at,
            "issuer": self.issuer,
            "revoked": list(self.revoked),
            "schema": REVOCATIONS_SCHEMA,
            "sequence": self.sequence,
        }

    def signed_bytes(self) -> bytes:
        """The bytes the issuer signs (sorted keys, no whitespace; every value is plain ASCII)."""
        return CONTEXT + json.dumps(self.body(), separators=(",", ":"), sort_keys=True).encode("ascii")

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "signature": "0x" + self.signature.hex()}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        atomic_write(path, self.dumps())

    @classmethod
    def issue(
        cls, signer: Signer, revoked: Iterable[str], *, sequence: int, now: int | None = None
    ) -> RevocationList:
        """A new list signed by ``signer``."""
        ids = tuple(sorted(set(revoked)))
        for rid in ids:
            if not _valid_id(rid):
                raise RevocationListError(f"not a revocation id (32 or 128 lowercase hex digits): {rid[:140]!r}")
        if len(ids) > MAX_ENTRIES:
            raise RevocationListError(f"more than {MAX_ENTRIES} revoked ids in one list")
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
            raise RevocationListError("sequence must be a positive integer")
        unsigned = cls(signer.issuer, sequence, unix_time(now), ids)
        return cls(unsigned.issuer, sequence, unsigned.issued_at, ids, signer.sign(unsigned.signed_bytes()))

    def extended(self, signer: Signer, more: Iterable[str], *, now: int | None = None) -> RevocationList:
        """The next list of the same issuer: this one's ids plus ``more``, ``sequence + 1``."""
        if signer.issuer != self.issuer:
            raise RevocationListError(f"list belongs to {self.issuer}, not to {signer.issuer}")
        return RevocationList.issue(signer, (*self.revoked, *more), sequence=self.sequence + 1, now=now)

    @classmethod
    def from_json(cls, data: bytes | str, where: str = "revocation list") -> RevocationList:
        doc = strict_json.loads(data, what=where, error=RevocationListError, max_bytes=MAX_LIST_BYTES)
        expected = {"schema", "issuer", "sequence", "issued_at", "revoked", "signature"}
        if not isinstance(doc, dict) or set(doc) != expected:
            raise RevocationListError(f"{where}: expected exactly the members {', '.join(sorted(expected))}")
        if doc["schema"] != REVOCATIONS_SCHEMA:
            raise RevocationListError(f"{where}: schema must be {REVOCATIONS_SCHEMA!r}")
        for name in ("sequence", "issued_at"):
            if isinstance(doc[name], bool) or not isinstance(doc[name], int) or doc[name] < 0:
                raise RevocationListError(f"{where}: {name} must be a non-negative integer")
        revoked = doc["revoked"]
        if not isinstance(revoked, list) or len(revoked) > MAX_ENTRIES or not all(_valid_id(r) for r in revoked):
            raise RevocationListError(f"{where}: revoked must list revocation ids (32 or 128 lowercase hex digits)")
        if revoked != sorted(set(revoked)):
            raise RevocationListError(f"{where}: revoked ids must be sorted and unique")
        sig = doc["signature"]
        if not isinstance(sig, str) or not sig.startswith("0x") or not lower_hex(sig[2:], len(sig) - 2):
            raise RevocationListError(f"{where}: signature must be 0x and lowercase hex")
        if not isinstance(doc["issuer"], str):
            raise RevocationListError(f"{where}: issuer must be a string")
        return cls(doc["issuer"], doc["sequence"], doc["issued_at"], tuple(revoked), bytes.fromhex(sig[2:]))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RevocationList:
        p = Path(path)
        return cls.from_json(read_limited(p, MAX_LIST_BYTES, "revocation list", RevocationListError), str(p))

    def verify(self, trusted: TrustedIssuers) -> None:
        """Check the signature under the pinned issuer; raises :class:`RevocationListError`."""
        message = self.signed_bytes()
        if self.issuer.startswith("0x"):
            if not trusted.has_wallet(self.issuer):
                raise RevocationListError(f"revocation list issuer {self.issuer} is not a pinned issuer")
            ok = len(self.signature) == 65 and wallet.verify_message(self.issuer, message, self.signature)
        else:
            key = trusted.keys.get(self.issuer)
            if key is None:
                raise RevocationListError(f"revocation list issuer {self.issuer} is not a pinned issuer")
            ok = len(self.signature) == 64 and ed25519.verify(key.public_key, message, self.signature)
        if not ok:
            raise RevocationListError(f"revocation list of {self.issuer} (sequence {self.sequence}): bad signature")


class RevocationSet:
    """The newest verified revocation list of each issuer, as a verifier holds them."""

    def __init__(self, trusted: TrustedIssuers) -> None:
        self.trusted = trusted
        self.lists: dict[str, RevocationList] = {}
        self._ids: dict[str, frozenset[str]] = {}

    def add(self, rl: RevocationList) -> None:
        """Verify and take ``rl``; an older sequence than the one held is refused (rollback)."""
        rl.verify(self.trusted)
        held = self.lists.get(rl.issuer.lower())
        if held is not None and rl.sequence < held.sequence:
            raise RevocationListError(
                f"revocation list of {rl.issuer} has sequence {rl.sequence}, older than the held {held.sequence}"
            )
        if held is not None and rl.sequence == held.sequence and rl.signed_bytes() != held.signed_bytes():
            raise RevocationListError(f"two different revocation lists of {rl.issuer} share sequence {rl.sequence}")
        self.lists[rl.issuer.lower()] = rl
        self._ids[rl.issuer.lower()] = frozenset(rl.revoked)

    def check(self, issuer: str, ids: Iterable[str]) -> None:
        """Raise :class:`TokenRevokedError` if any of ``ids`` is revoked by ``issuer``."""
        revoked = self._ids.get(issuer.lower())
        if not revoked:
            return
        for rid in ids:
            if rid in revoked:
                raise TokenRevokedError(f"token revoked by its issuer {issuer} (revocation id {rid[:32]}…)")

    def is_revoked(self, issuer: str, ids: Iterable[str]) -> bool:
        try:
            self.check(issuer, ids)
        except TokenError:
            return True
        return False

