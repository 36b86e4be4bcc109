"""CAP publisher key files, compatible with the reference (cap-format.md §3.4).

``publisher.ed25519.sk.json`` / ``publisher.ed25519.pk.json``: pretty JSON (2-space indent, no trailing newline) with
``kind = "ed25519"``, ``encoding = "base64"`` and ``key`` = padded standard base64 of the 32-byte seed (sk) or the
32-byte public key (pk). Secret keys are written 0600, atomically.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from capfast import ed25519, strict_json
from capfast._io import atomic_write
from capfast.errors import SignatureError

__all__ = ["SK_FILE", "PK_FILE", "generate_keys", "load_secret_key", "load_public_key", "key_json"]

SK_FILE = "publisher.ed25519.sk.json"
PK_FILE = "publisher.ed25519.pk.json"
_MAX_KEY_FILE = 64 * 1024


def key_json(key: bytes) -> str:
    """The reference's key-file text for a 32-byte key."""
    return json.dumps({"kind": "ed25519", "encoding": "base64", "key": base64.b64encode(key).decode()}, indent=2)


def generate_keys(out_dir: str | os.PathLike[str], *, force: bool = False) -> tuple[Path, Path]:
    """Create a key pair in ``out_dir`` (sk 0600); refuses to overwrite unless ``force``. Returns (sk, pk) paths."""
    out = Path(out_dir)
    sk_path, pk_path = out / SK_FILE, out / PK_FILE
    if not force and (sk_path.exists() or pk_path.exists()):
        raise FileExistsError(f"keys already exist in {out} (use --force to overwrite)")
    out.mkdir(parents=True, exist_ok=True)
    pair = ed25519.generate()
    atomic_write(sk_path, key_json(pair.secret), mode=0o600)
    atomic_write(pk_path, key_json(pair.public))
    return sk_path, pk_path


def _load(path: str | os.PathLike[str], what: str) -> bytes:
    p = Path(path)
    with open(p, "rb") as fh:
        raw = fh.read(_MAX_KEY_FILE + 1)
    if len(raw) > _MAX_KEY_FILE:
        raise SignatureError(f"{p}: not a key file (too large)")
    text = raw.decode("utf-8", "replace").strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    try:
        doc = strict_json.loads(text, what=str(p), error=ValueError, max_bytes=_MAX_KEY_FILE)
    except ValueError:
        raise SignatureError(f"{p}: not a {what} key file (expected the JSON key format or 64 hex digits)") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ed25519" or doc.get("encoding") != "base64":
        raise SignatureError(f"{p}: expected kind 'ed25519' and encoding 'base64'")
    value = doc.get("key")
    try:
        key = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raise SignatureError(f"{p}: key is not valid base64") from None
    if len(key) != 32 or base64.b64encode(key).decode() != value:
        raise SignatureError(f"{p}: key must be canonical base64 of exactly 32 bytes")
    return key


_PUBLIC_NAMES = (".pk.json", ".pk", ".pub", ".pub.json")


def load_secret_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte seed from a secret key file.

    Public and secret key files share one JSON format, so a public key given by mistake would silently sign with
    a different key. Refused: a file named like a public key (``*.pk.json``, ``*.pub``), and an ``X.sk.json``
    whose ``X.pk.json`` beside it holds the same bytes or a public key this seed does not derive."""
    p = Path(path)
    if p.name.lower().endswith(_PUBLIC_NAMES):
        raise SignatureError(f"{p} is a public key file; a secret key is needed to sign (e.g. {SK_FILE})")
    seed = _load(p, "secret")
    if p.name.endswith(".sk.json"):
        sibling = p.with_name(p.name[: -len(".sk.json")] + ".pk.json")
        if sibling.is_file():
            try:
                pk = _load(sibling, "public")
            except SignatureError:
                pk = None
            if pk == seed:
                raise SignatureError(f"{p} holds the public key of {sibling}, not a secret key")
            if pk is not None and ed25519.public_key(seed) != pk:
                raise SignatureError(f"{p} does not belong to the public key {sibling} beside it")
    return seed


def load_public_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte public key from a ``.pk.json`` file (or a file of 64 hex digits)."""
    return _load(path, "public")
