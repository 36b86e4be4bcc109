"""Pinned publisher keys per app id, with key rotation only when the old key attests the new one.

The store is the reference's JSON format (``{app_id: {"pubkey_hex", "first_seen", "last_seen"}}``, cap-format.md
§3.5) plus an optional ``"rotations"`` list per app recording accepted attestations. Unlike the reference there is
no trust on first use: a key is pinned only by an explicit :meth:`TrustStore.pin`, and a pinned key is replaced only
by :meth:`TrustStore.rotate` with a signature by the pinned key over :func:`rotation_message`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from capfast import ed25519, strict_json
from capfast._io import atomic_write
from capfast._time import unix_z_now
from capfast.cap.manifest import validate_app_id
from capfast.errors import TrustError

__all__ = ["TrustStore", "default_store_path", "rotation_message", "attest_rotation"]

_MAX_STORE = 16 << 20


def default_store_path() -> Path:
    """``$CAPFAST_TRUST_STORE``, else ``$XDG_CONFIG_HOME/capfast/known_publishers.json`` (``~/.config`` default)."""
    env = os.environ.get("CAPFAST_TRUST_STORE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "capfast" / "known_publishers.json"


def rotation_message(app_id: str, old_pk: bytes, new_pk: bytes) -> bytes:
    """The bytes the old key signs to hand ``app_id`` over to ``new_pk`` (domain-separated, unambiguous)."""
    return b"CAPFAST-CAP-KEY-ROTATION-V1\0" + app_id.encode() + b"\0" + bytes(old_pk) + bytes(new_pk)


def attest_rotation(old_sk: bytes, app_id: str, new_pk: bytes) -> bytes:
    """The old key's attestation (64-byte signature) that ``new_pk`` succeeds it for ``app_id``."""
    return ed25519.sign(old_sk, rotation_message(app_id, ed25519.public_key(old_sk), new_pk))


class TrustStore:
    """A JSON file of pinned keys. Changes are saved atomically by :meth:`save` (called by the mutators)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.pins: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            doc = strict_json.load_file(
                self.path, what=f"{self.path}: trust store", error=TrustError, max_bytes=_MAX_STORE
            )
            if not isinstance(doc, dict):
                raise TrustError(f"{self.path}: expected a JSON object of app id → pin")
            for app_id, pin in doc.items():
                if not isinstance(pin, dict) or not isinstance(pin.get("pubkey_hex"), str):
                    raise TrustError(f"{self.path}: malformed pin for {app_id!r}")
                try:
                    if len(bytes.fromhex(pin["pubkey_hex"])) != 32:
                        raise ValueError
                except ValueError:
                    raise TrustError(f"{self.path}: pin for {app_id!r} is not a 32-byte hex key") from None
            self.pins = doc

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(self.pins, indent=2, sort_keys=True) + "\n")

    def get(self, app_id: str) -> bytes | None:
        """The pinned key for ``app_id``, or None."""
        pin = self.pins.get(app_id)
        return None if pin is None else bytes.fromhex(pin["pubkey_hex"])

    def pin(self, app_id: str, public_key: bytes, *, replace: bool = False) -> None:
        """Pin ``public_key`` for ``app_id``. A different existing pin is an error unless ``replace``."""
        validate_app_id(app_id)
        if len(public_key) != 32:
            raise TrustError("a publisher key is 32 bytes")
        current = self.get(app_id)
        if current is not None and current != bytes(public_key) and not replace:
            raise TrustError(f"{app_id} is pinned to another key ({current.hex()}); rotate with an attestation "
                             "signed by that key, or unpin it first")
        now = unix_z_now()
        entry = self.pins.get(app_id, {"first_seen": now})
        entry.update({"pubkey_hex": bytes(public_key).hex(), "last_seen": now})
        entry.setdefault("first_seen", now)
        self.pins[app_id] = entry
        self.save()

    def unpin(self, app_id: str) -> bool:
        """Remove the pin; returns whether there was one."""
        existed = self.pins.pop(app_id, None) is not None
        if existed:
            self.save()
        return existed

    def rotate(self, app_id: str, new_public_key: bytes, attestation: bytes) -> None:
        """Replace the pinned key by ``new_public_key`` if ``attestation`` is the pinned key's signature over
        :func:`rotation_message`; otherwise raise :class:`TrustError` and change nothing."""
        old = self.get(app_id)
        if old is None:
            raise TrustError(f"{app_id} has no pinned key to rotate from")
        if len(new_public_key) != 32 or len(attestation) != 64:
            raise TrustError("rotation needs a 32-byte new key and a 64-byte attestation")
        if not ed25519.verify(old, rotation_message(app_id, old, new_public_key), attestation):
            raise TrustError(f"rotation for {app_id} is not attested by the pinned key {old.hex()}")
        entry = self.pins[app_id]
        entry.setdefault("rotations", []).append(
            {"from": old.hex(), "to": bytes(new_public_key).hex(), "attestation": bytes(attestation).hex(),
             "at": unix_z_now()}
        )
        entry["pubkey_hex"] = bytes(new_public_key).hex()
        entry["last_seen"] = unix_z_now()
        self.save()

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return sorted(self.pins.items())
