"""Key lifecycle for the LkSG tools: ``cap-key.v1`` metadata, keygen, rotation, the key store (attestations and
chain verification are :mod:`capfast.lksg.attestation`).

Formats follow cap-agent (reference notes §8) with its bugs fixed:

* **One KID formula**, everywhere: ``kid = hex(BLAKE3(base64(pk))[:16])`` — the first 16 bytes of the BLAKE3 hash
  of the ASCII standard-base64 text of the raw 32-byte public key, as 32 lowercase hex digits. It is cap-agent's
  key-store formula (also used in its registry entries), so existing ``cap-key.v1`` files and registry KIDs keep
  their values; its three other formulas (provider, migration backfill, desktop) are not used. Reading a file
  whose ``kid`` differs from this formula is an error.
* **Fingerprint** ``"sha256:" + hex(SHA-256(pk))[:32]`` — really SHA-256 (cap-agent labelled a SHA3-256 value
  ``sha256:``; such legacy fingerprints are accepted when reading, any other value is an error).

Files: ``keygen`` writes ``X.json`` (metadata), ``X.ed25519`` (raw 32-byte seed, mode 0600) and ``X.pub`` (raw
32-byte public key), each atomically. A key store is a directory with an ``archive/`` subdirectory for retired keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import blake3

from capfast import ed25519, strict_json
from capfast._io import atomic_write, fsync_dir
from capfast._time import utc_now
from capfast.errors import KeyFileError, KeyStatusError

__all__ = [
    "KEY_SCHEMA",
    "KeyMetadata",
    "derive_kid",
    "fingerprint",
    "find_key",
    "keygen",
    "key_paths",
    "load_public_key",
    "load_secret_key",
    "load_signing_key",
    "read_key",
    "rotate",
]

KEY_SCHEMA = "cap-key.v1"
STATUSES = ("active", "retired", "revoked")
DEFAULT_USAGE = ("signing", "registry")
MAX_FILE_BYTES = 1024 * 1024


def derive_kid(public_key: bytes) -> str:
    """capfast's one KID: first 16 bytes of BLAKE3(base64(public key) as ASCII), lowercase hex (32 digits)."""
    if len(public_key) != ed25519.PUBLIC_KEY_LEN:
        raise KeyFileError(f"public key must be 32 bytes, got {len(public_key)}")
    return blake3.blake3(base64.b64encode(public_key)).digest()[:16].hex()


def fingerprint(public_key: bytes) -> str:
    """``"sha256:"`` + first 16 bytes of SHA-256(public key), lowercase hex."""
    return "sha256:" + hashlib.sha256(public_key).hexdigest()[:32]


def _legacy_fingerprint(public_key: bytes) -> str:
    return "sha256:" + hashlib.sha3_256(public_key).hexdigest()[:32]


def parse_time(text: str, where: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KeyFileError(f"{where} is not an RFC 3339 timestamp: {text!r}") from None
    if t.tzinfo is None:
        raise KeyFileError(f"{where} has no time zone: {text!r}")
    return t


def b64_exact(text: Any, where: str, size: int) -> bytes:
    """The ``size`` bytes of canonical standard base64 ``text``, else :class:`KeyFileError` naming ``where``."""
    if not isinstance(text, str):
        raise KeyFileError(f"{where} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise KeyFileError(f"{where} is not valid base64") from None
    if len(raw) != size:
        raise KeyFileError(f"{where} must decode to {size} bytes, got {len(raw)}")
    if base64.b64encode(raw).decode("ascii") != text:
        raise KeyFileError(f"{where} is not canonical base64")  # one encoding per value: no silent variants
    return raw


def b64_key(text: Any, where: str) -> bytes:
    """A 32-byte Ed25519 public key in canonical base64."""
    return b64_exact(text, where, ed25519.PUBLIC_KEY_LEN)


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    return strict_json.load_file(path, what=f"{Path(path)}: {what}", error=KeyFileError, max_bytes=MAX_FILE_BYTES)


def pretty_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class KeyMetadata:
    """A ``cap-key.v1`` record. ``public_key`` is raw bytes; the file holds it as base64."""

    kid: str
    owner: str
    created_at: str
    valid_from: str
    valid_to: str
    public_key: bytes
    status: str = "active"
    usage: tuple[str, ...] = DEFAULT_USAGE
    algorithm: str = "ed25519"
    comment: str | None = None
    fingerprint: str = field(default="")

    def to_json(self) -> dict[str, Any]:
        """Struct order as cap-agent writes it; ``comment`` omitted when absent."""
        doc: dict[str, Any] = {
            "schema": KEY_SCHEMA,
            "kid": self.kid,
            "owner": self.owner,
            "created_at": self.created_at,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "algorithm": self.algorithm,
            "status": self.status,
            "usage": list(self.usage),
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "fingerprint": self.fingerprint or fingerprint(self.public_key),
        }
        if self.comment is not None:
            doc["comment"] = self.comment
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str = "key metadata") -> KeyMetadata:
        """Parse and check a record: schema, algorithm, status, KID and fingerprint must match the public key."""
        if not isinstance(doc, dict):
            raise KeyFileError(f"{where} must be a JSON object")
        if doc.get("schema") != KEY_SCHEMA:
            raise KeyFileError(f"{where}: schema must be {KEY_SCHEMA!r}, got {doc.get('schema')!r}")
        for key in ("kid", "owner", "created_at", "valid_from", "valid_to", "algorithm", "status"):
            if not isinstance(doc.get(key), str):
                raise KeyFileError(f"{where}: field {key!r} must be a string")
        if doc["algorithm"].lower() != "ed25519":
            raise KeyFileError(f"{where}: algorithm must be 'ed25519', got {doc['algorithm']!r}")
        status = doc["status"].lower()
        if status not in STATUSES:
            raise KeyFileError(f"{where}: status must be one of {', '.join(STATUSES)}, got {doc['status']!r}")
        usage = doc.get("usage", list(DEFAULT_USAGE))
        if not isinstance(usage, list) or not all(isinstance(u, str) for u in usage):
            raise KeyFileError(f"{where}: usage must be a list of strings")
        pk = b64_key(doc.get("public_key"), f"{where}: public_key")
        if doc["kid"] != derive_kid(pk):
            raise KeyFileError(f"{where}: kid {doc['kid']!r} does not match the public key (expected {derive_kid(pk)})")
        fp = doc.get("fingerprint")
        if fp is not None and fp not in (fingerprint(pk), _legacy_fingerprint(pk)):
            raise KeyFileError(f"{where}: fingerprint does not match the public key")
        for key in ("created_at", "valid_from", "valid_to"):
            parse_time(doc[key], f"{where}: {key}")
        comment = doc.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise KeyFileError(f"{where}: comment must be a string")
        return cls(
            kid=doc["kid"],
            owner=doc["owner"],
            created_at=doc["created_at"],
            valid_from=doc["valid_from"],
            valid_to=doc["valid_to"],
            public_key=pk,
            status=status,
            usage=tuple(usage),
            algorithm="ed25519",
            comment=comment,
            fingerprint=fp or fingerprint(pk),
        )

    def valid_at(self, t: datetime) -> bool:
        return parse_time(self.valid_from, "valid_from") <= t <= parse_time(self.valid_to, "valid_to")


def key_paths(output: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """(metadata ``X.json``, secret ``X.ed25519``, public ``X.pub``) for ``X`` or ``X.json``."""
    p = Path(output)
    base = p.with_suffix("") if p.suffix == ".json" else p
    meta, secret, public = (base.with_name(base.name + ext) for ext in (".json", ".ed25519", ".pub"))
    return meta, secret, public


def read_key(path: str | os.PathLike[str]) -> KeyMetadata:
    """Read a ``cap-key.v1`` file (capfast's or cap-agent's)."""
    return KeyMetadata.from_json(read_json(path, "key metadata"), str(path))


def _metadata_for(path: Path) -> tuple[Path, KeyMetadata] | None:
    """The cap-key.v1 metadata that governs ``path``: the file itself (``X.json``) or the ``X.json`` beside a raw
    ``X.ed25519``/``X.pub`` (keygen writes all three; rotation moves them to ``archive/`` together)."""
    if path.suffix == ".json":
        return path, read_key(path)
    meta_path = key_paths(path.with_suffix(""))[0] if path.suffix in (".ed25519", ".pub") else None
    if meta_path is not None and meta_path.exists():
        return meta_path, read_key(meta_path)
    return None


def load_public_key(path: str | os.PathLike[str], *, allow_retired: bool = False) -> bytes:
    """The Ed25519 public key in ``path``: cap-key.v1 metadata (``.json``) or cap-agent's raw 32-byte ``.pub``.

    A key whose metadata (the file itself, or ``X.json`` beside ``X.pub``) says ``revoked`` is refused; ``retired``
    (rotated out) too unless ``allow_retired``: a retired key no longer vouches for new signatures."""
    path = Path(path)
    found = _metadata_for(path)
    if found is not None:
        meta_path, meta = found
        if meta.status == "revoked" or (meta.status == "retired" and not allow_retired):
            raise KeyStatusError(f"{meta_path}: key {meta.kid} is {meta.status}; it no longer vouches for signatures"
                               + (" (to check a signature made before the rotation, pass --allow-retired)"
                                  if meta.status == "retired" else ""))
    if path.suffix == ".json":
        assert found is not None
        return found[1].public_key
    data = path.read_bytes()
    if len(data) != 32:
        raise KeyFileError(f"{path}: public key must be 32 raw bytes or cap-key.v1 JSON, got {len(data)} bytes")
    if found is not None and found[1].public_key != data:
        raise KeyFileError(f"{path}: public key differs from the one in its metadata {found[0]}")
    return data


def load_signing_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte Ed25519 seed for signing from ``path``: cap-key.v1 metadata (``.json``) or cap-agent's raw 32-byte
    private key file. The key must be ``active`` and inside its validity period, per its metadata (the file itself,
    or ``X.json`` beside ``X.ed25519``): a retired, revoked or expired key does not sign."""
    path = Path(path)
    found = _metadata_for(path)
    if found is not None:
        meta_path, meta = found
        if meta.status != "active":
            raise KeyStatusError(f"{meta_path}: key {meta.kid} is {meta.status}; sign with an active key")
        if not meta.valid_at(utc_now()):
            raise KeyStatusError(f"{meta_path}: key {meta.kid} is valid from {meta.valid_from} to {meta.valid_to}, "
                               "not now; sign with a key that is currently valid")
    if path.suffix == ".json":
        assert found is not None
        return load_secret_key(path, found[1])
    data = path.read_bytes()
    if len(data) != 32:
        raise KeyFileError(f"{path}: private key must be 32 raw bytes or cap-key.v1 JSON, got {len(data)} bytes")
    if found is not None and ed25519.public_key(data) != found[1].public_key:
        raise KeyFileError(f"{path}: private key does not match the public key in {found[0]}")
    return data


def _write_key(path: Path, meta: KeyMetadata) -> None:
    atomic_write(path, pretty_json(meta.to_json()))


def load_secret_key(meta_path: str | os.PathLike[str], meta: KeyMetadata | None = None) -> bytes:
    """The raw 32-byte seed beside ``meta_path`` (``X.ed25519``), checked against the metadata's public key."""
    meta = meta or read_key(meta_path)
    _, secret_path, _ = key_paths(meta_path)
    data = secret_path.read_bytes()
    if len(data) != ed25519.SECRET_KEY_LEN:
        raise KeyFileError(f"{secret_path}: private key must be 32 bytes, got {len(data)}")
    if ed25519.public_key(data) != meta.public_key:
        raise KeyFileError(f"{secret_path}: private key does not match the public key in {meta_path}")
    return data


def keygen(
    output: str | os.PathLike[str],
    owner: str,
    *,
    valid_days: int = 365,
    usage: Sequence[str] = DEFAULT_USAGE,
    comment: str | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> tuple[KeyMetadata, Path]:
    """Generate a key pair and write ``X.json``, ``X.ed25519`` (0600) and ``X.pub``. Returns (metadata, json path).

    Refuses to overwrite existing files unless ``force``.
    """
    if not owner or not owner.strip():
        raise KeyFileError("owner must not be empty")
    if not 1 <= valid_days <= 36500:
        raise KeyFileError(f"valid days must be between 1 and 36500, got {valid_days}")
    usage = tuple(u.strip() for u in usage if u.strip())
    if not usage:
        raise KeyFileError("usage must name at least one purpose")
    meta_path, secret_path, pub_path = key_paths(output)
    if not force:
        for p in (meta_path, secret_path, pub_path):
            if p.exists():
                raise FileExistsError(17, "refusing to overwrite an existing key file (use --force)", str(p))
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    kp = ed25519.generate()
    t = (now or utc_now()).astimezone(UTC)
    meta = KeyMetadata(
        kid=derive_kid(kp.public),
        owner=owner,
        created_at=t.isoformat(),
        valid_from=t.isoformat(),
        valid_to=(t + timedelta(days=valid_days)).isoformat(),
        public_key=kp.public,
        usage=usage,
        comment=comment,
        fingerprint=fingerprint(kp.public),
    )
    atomic_write(secret_path, kp.secret, mode=0o600)
    atomic_write(pub_path, kp.public)
    _write_key(meta_path, meta)
    return meta, meta_path


def rotate(current: str | os.PathLike[str], new: str | os.PathLike[str]) -> tuple[KeyMetadata, KeyMetadata, Path]:
    """Retire ``current`` and move its files into ``archive/`` beside it; mark ``new`` active.

    Returns (retired metadata, new metadata, archived metadata path). The new key's files stay where they are.
    """
    cur_path, new_path = Path(current), Path(new)
    cur, nxt = read_key(cur_path), read_key(new_path)
    if cur.kid == nxt.kid:
        raise KeyFileError("current and new key are the same key")
    if cur.status == "revoked":
        raise KeyFileError(f"{cur_path}: a revoked key cannot be rotated (it is already out of service)")
    if nxt.status == "revoked":
        raise KeyFileError(f"{new_path}: the new key is revoked")
    archive = cur_path.parent / "archive"
    archive.mkdir(exist_ok=True)
    sources = key_paths(cur_path)
    targets = tuple(archive / s.name for s in sources)
    for t in targets:
        if t.exists():
            raise FileExistsError(17, "archive already holds a key file of that name", str(t))
    retired = replace(cur, status="retired")
    _write_key(targets[0], retired)
    for src, dst in zip(sources[1:], targets[1:], strict=True):
        if src.exists():
            os.replace(src, dst)
    cur_path.unlink()
    fsync_dir(cur_path.parent)
    fsync_dir(archive)
    activated = replace(nxt, status="active")
    if activated != nxt:
        _write_key(new_path, activated)
    return retired, activated, targets[0]


def _store_keys(store: Path) -> Iterable[tuple[Path, KeyMetadata]]:
    for directory in (store, store / "archive"):
        if not directory.is_dir():
            continue
        for p in sorted(directory.glob("*.json")):
            try:
                yield p, read_key(p)
            except (KeyFileError, OSError, ValueError):
                continue  # not a key file (attestations and other JSON live in key dirs too)


def find_key(store: str | os.PathLike[str], kid: str) -> tuple[Path, KeyMetadata] | None:
    """The key with ``kid`` in the store directory or its ``archive/``."""
    for p, meta in _store_keys(Path(store)):
        if meta.kid == kid:
            return p, meta
    return None


