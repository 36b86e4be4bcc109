"""Manifest signing compatible with cap-agent's ``sign manifest`` / ``sign verify-manifest``.

The signed message is the compact JSON of the ``manifest.v1.0`` object in *struct order* (the field order of
cap-agent's ``Manifest`` type, unknown keys dropped except capfast's statement roots ``sanctions_root`` and
``jurisdiction_root``, appended in that order when present), ``signatures`` kept as given, ``time_anchor`` only
when present)
— the bytes cap-agent signs. The output ("signed manifest") is pretty JSON
``{"manifest": {...}, "signature": {"alg": "Ed25519", "signer": NAME, "pubkey_hex": "0x…", "sig_hex": "0x…"}}``.
Verification recomputes the message from the ``manifest`` object and verifies under capfast's Ed25519 rule
(docs/ed25519-validity.md), which accepts every signature cap-agent's signer produces.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capfast import ed25519, strict_json
from capfast._io import atomic_write
from capfast.errors import CapfastError, KeyFileError
from capfast.lksg.keys import derive_kid

__all__ = [
    "SignedManifest",
    "manifest_message",
    "read_signed_manifest",
    "sign_manifest",
    "verify_embedded_signatures",
    "verify_signature_doc",
    "verify_signed_manifest",
    "write_signed_manifest",
]

MAX_MANIFEST_BYTES = 16 * 1024 * 1024

_ROOT_FIELDS = ("version", "created_at", "supplier_root", "ubo_root", "company_commitment_root")
_SIG_FIELDS = ("alg", "signer", "pubkey_hex", "sig_hex")
_HEX64 = re.compile(r"(0x)?[0-9a-f]{128}")


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise KeyFileError(f"{where} must be a JSON object")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise KeyFileError(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise KeyFileError(f"{where}.{key} must be a string")
    return value


def _struct(obj: Mapping[str, Any], fields: tuple[str, ...], where: str) -> dict[str, Any]:
    return {k: _str(obj, k, where) for k in fields}


def _u64(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise KeyFileError(f"{where}.{key} must be an unsigned 64-bit integer")
    return value


def _time_anchor(value: Any) -> dict[str, Any]:
    ta = _obj(value, "manifest.time_anchor")
    out: dict[str, Any] = _struct(ta, ("kind", "reference", "audit_tip_hex", "created_at"), "manifest.time_anchor")
    if ta.get("private") is not None:
        out["private"] = _struct(
            _obj(ta["private"], "time_anchor.private"), ("audit_tip_hex", "created_at"), "time_anchor.private"
        )
    if ta.get("public") is not None:
        out["public"] = _struct(
            _obj(ta["public"], "time_anchor.public"), ("chain", "txid", "digest", "created_at"), "time_anchor.public"
        )
    return out


def canonical_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest as cap-agent parses it: known fields only, in struct order (raises on a missing field)."""
    m = _obj(manifest, "manifest")
    out: dict[str, Any] = _struct(m, _ROOT_FIELDS, "manifest")
    out["policy"] = _struct(_obj(m.get("policy"), "manifest.policy"), ("name", "version", "hash"), "manifest.policy")
    audit = _obj(m.get("audit"), "manifest.audit")
    out["audit"] = {
        "tail_digest": _str(audit, "tail_digest", "manifest.audit"),
        "events_count": _u64(audit, "events_count", "manifest.audit"),
    }
    out["proof"] = _struct(_obj(m.get("proof"), "manifest.proof"), ("type", "status"), "manifest.proof")
    sigs = m.get("signatures")
    if not isinstance(sigs, list):
        raise KeyFileError("manifest.signatures must be a list")
    out["signatures"] = [_struct(_obj(s, "manifest.signatures[]"), _SIG_FIELDS, "manifest.signatures[]") for s in sigs]
    if m.get("time_anchor") is not None:
        out["time_anchor"] = _time_anchor(m["time_anchor"])
    # capfast extension (issue 5): the statement roots that cap-agent's verifier reads from the top level are
    # covered by the signature (and the manifest hash) when present. cap-agent drops them, which left them
    # unsigned; its CLI never writes them, so its manifests still give its exact bytes.
    for key in ("sanctions_root", "jurisdiction_root"):
        if m.get(key) is not None:
            out[key] = _str(m, key, "manifest")
    return out


def manifest_message(manifest: Mapping[str, Any]) -> bytes:
    """The exact bytes cap-agent signs: compact struct-order JSON of the parsed manifest, UTF-8."""
    return json.dumps(canonical_manifest(manifest), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class SignedManifest:
    """A manifest with its detached signature block, as in cap-agent's ``signature.json``."""

    manifest: dict[str, Any]
    signer: str
    public_key: bytes
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "signature": {
                "alg": "Ed25519",
                "signer": self.signer,
                "pubkey_hex": "0x" + self.public_key.hex(),
                "sig_hex": "0x" + self.signature.hex(),
            },
        }


def sign_manifest(manifest: Mapping[str, Any], secret_key: bytes, signer: str = "Company") -> SignedManifest:
    """Sign ``manifest`` with the 32-byte seed ``secret_key``; the public key is derived from it."""
    canonical = canonical_manifest(manifest)
    message = manifest_message(canonical)
    return SignedManifest(canonical, signer, ed25519.public_key(secret_key), ed25519.sign(secret_key, message))


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    return strict_json.load_file(path, what=f"{Path(path)}: {what}", error=KeyFileError, max_bytes=MAX_MANIFEST_BYTES)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A manifest file, parsed and checked for the fields the signature covers."""
    return canonical_manifest(_read_json(path, "manifest"))


def write_signed_manifest(path: str | os.PathLike[str], signed: SignedManifest) -> None:
    """Pretty JSON (2-space indent, like cap-agent), written atomically."""
    atomic_write(path, json.dumps(signed.to_json(), indent=2, ensure_ascii=False))


def read_signed_manifest(path: str | os.PathLike[str]) -> SignedManifest:
    """Parse a signed-manifest file (cap-agent's or ours). Malformed fields raise :class:`KeyFileError`."""
    doc = _obj(_read_json(path, "signed manifest"), "signed manifest")
    manifest = canonical_manifest(_obj(doc.get("manifest"), "signed manifest .manifest"))
    sig = _obj(doc.get("signature"), "signed manifest .signature")
    block = _struct(sig, _SIG_FIELDS, "signature")
    if block["alg"] != "Ed25519":
        raise KeyFileError(f"signature.alg must be 'Ed25519', got {block['alg']!r}")
    pk_hex = block["pubkey_hex"]
    if not re.fullmatch(r"0x[0-9a-f]{64}", pk_hex):
        raise KeyFileError("signature.pubkey_hex must be '0x' followed by 64 lowercase hex digits")
    sig_hex = block["sig_hex"]
    if not _HEX64.fullmatch(sig_hex):
        raise KeyFileError("signature.sig_hex must be 128 lowercase hex digits (optionally prefixed with '0x')")
    sig_bytes = bytes.fromhex(sig_hex[2:] if sig_hex.startswith("0x") else sig_hex)
    return SignedManifest(manifest, block["signer"], bytes.fromhex(pk_hex[2:]), sig_bytes)


def verify_signed_manifest(signed: SignedManifest, public_key: bytes | None = None) -> bool:
    """Whether the signature verifies over the manifest's message.

    With ``public_key`` (the trusted key, as cap-agent's ``--pub-key``) the embedded key must equal it; without,
    the embedded key is used, which proves integrity but not who signed.
    """
    if public_key is not None and bytes(public_key) != signed.public_key:
        return False
    return ed25519.verify(signed.public_key, manifest_message(signed.manifest), signed.signature)


def _kid(pk: bytes) -> str:
    return derive_kid(pk)


def verify_signature_doc(
    sig_doc: Any, manifest: Mapping[str, Any], trusted: Sequence[bytes]
) -> dict[str, Any]:
    """Check a detached signed manifest (``signature.json``) against ``manifest`` and the trusted keys."""
    out: dict[str, Any] = {"file": "signature.json", "valid": False, "trusted": False}
    try:
        if not isinstance(sig_doc, dict) or not isinstance(sig_doc.get("signature"), dict):
            raise KeyFileError("signature file must be {\"manifest\": ..., \"signature\": {...}}")
        block = sig_doc["signature"]
        if block.get("alg") != "Ed25519":
            raise KeyFileError(f"signature.alg must be 'Ed25519', got {block.get('alg')!r}")
        pk_hex, sig_hex = block.get("pubkey_hex"), block.get("sig_hex")
        if not isinstance(pk_hex, str) or not re.fullmatch(r"0x[0-9a-f]{64}", pk_hex):
            raise KeyFileError("signature.pubkey_hex must be 0x + 64 lowercase hex digits")
        if not isinstance(sig_hex, str) or not re.fullmatch(r"(0x)?[0-9a-f]{128}", sig_hex):
            raise KeyFileError("signature.sig_hex must be 128 lowercase hex digits")
        pk = bytes.fromhex(pk_hex[2:])
        sig = bytes.fromhex(sig_hex.removeprefix("0x"))
        out["signer"] = block.get("signer")
        out["kid"] = _kid(pk)
        if manifest_message(canonical_manifest(sig_doc.get("manifest") or {})) != manifest_message(manifest):
            out["error"] = "signature.json signs a different manifest than manifest.json"
            return out
        if not ed25519.verify(pk, manifest_message(manifest), sig):
            out["error"] = "Ed25519 signature does not verify over the manifest"
            return out
        out["valid"] = True
        out["trusted"] = pk in trusted
        if trusted and not out["trusted"]:
            out["error"] = f"signed by key {out['kid']}, which is not a trusted key"
    except (KeyFileError, CapfastError, ValueError) as exc:
        out["error"] = str(exc)
    return out


def verify_embedded_signatures(manifest: Mapping[str, Any], trusted: Sequence[bytes]) -> list[dict[str, Any]]:
    """One result per entry of ``manifest.signatures`` (Ed25519 over the manifest with ``signatures`` cleared):
    ``valid``, ``trusted`` (the key is one of ``trusted``), ``kid`` and ``error`` when it fails."""
    out: list[dict[str, Any]] = []
    sigs = manifest.get("signatures") or []
    if not sigs:
        return out
    cleared = dict(manifest)
    cleared["signatures"] = []
    msg = manifest_message(cleared)
    for i, s in enumerate(sigs):
        r: dict[str, Any] = {"file": f"manifest.signatures[{i}]", "valid": False, "trusted": False}
        try:
            pk = bytes.fromhex(str(s["pubkey_hex"]).removeprefix("0x"))
            sig = bytes.fromhex(str(s["sig_hex"]).removeprefix("0x"))
            r["kid"] = _kid(pk)
            r["valid"] = s.get("alg") == "Ed25519" and ed25519.verify(pk, msg, sig)
            r["trusted"] = pk in trusted
            if not r["valid"]:
                r["error"] = "embedded signature does not verify over the manifest"
            elif trusted and not r["trusted"]:
                r["error"] = f"signed by key {r['kid']}, which is not a trusted key"
        except (KeyError, ValueError, CapfastError) as exc:
            r["error"] = f"malformed embedded signature: {exc}"
        out.append(r)
    return out
