"""``manifest.v1.0`` (reference notes §3.1): build, read, write, and THE manifest hash.

Fields, in struct order: ``version`` (``"manifest.v1.0"``), ``created_at``, ``supplier_root``, ``ubo_root``,
``company_commitment_root`` (from ``commitments.json``), ``policy`` ``{name, version, hash}``, ``audit``
``{tail_digest, events_count}`` (the audit log's tip and entry count when the manifest is built — an anchor that
makes later truncation of the log detectable), ``proof`` ``{type, status}`` (``{"none", "none"}``: the proof is a
separate file bound to this manifest), ``signatures`` (``[]``; signatures are detached ``signature.json`` files),
``time_anchor?`` ``{kind, reference, audit_tip_hex, created_at}``, then capfast's statement roots
``sanctions_root?``/``jurisdiction_root?`` (Merkle roots of the committed lists, see ``docs/lksg-proofs.md``).

**The manifest hash** (one definition, used by proofs, bundles' proof units, the registry, reports and the audit
trail): ``"0x" + hex(SHA3-256(M))`` where ``M`` = :func:`capfast.lksg.signing.manifest_message` — the compact
struct-order JSON above, unknown keys dropped, i.e. exactly the bytes an Ed25519 manifest signature covers. For a
cap-agent manifest this is cap-agent's proof.v0 binding hash (§3.3 #1); cap-agent's "verifier-core" sorted-keys hash
and raw file hashes are *not* manifest hashes here (a bundle's ``_meta.json`` lists SHA3 file hashes, which are
file integrity checks).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from capfast import strict_json
from capfast._io import read_bounded
from capfast._time import rfc3339_now
from capfast.errors import ComplianceManifestError, KeyFileError
from capfast.lksg.serial import pretty, sha3_hex

__all__ = [
    "MANIFEST_VERSION",
    "MAX_MANIFEST_BYTES",
    "build_manifest",
    "load_commitments",
    "manifest_hash",
    "parse_manifest",
    "write_json_atomic",
]

MANIFEST_VERSION = "manifest.v1.0"
MAX_MANIFEST_BYTES = 16 << 20
MAX_COMMITMENTS_BYTES = 1 << 20
_ROOT = re.compile(r"0x[0-9a-f]{64}")


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, newline: bool = False) -> bytes:
    """Write ``obj`` as pretty JSON atomically (creating the parent directory); returns the bytes written."""
    from capfast._io import atomic_write

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = (pretty(obj) + ("\n" if newline else "")).encode("utf-8")
    atomic_write(p, data)
    return data


def parse_manifest(data: bytes | Any, what: str = "manifest") -> dict[str, Any]:
    """Parse (strict JSON) and check a manifest; returns the parsed object with its canonical fields checked."""
    from capfast.lksg.signing import canonical_manifest

    doc = strict_json.loads(data, what=what, error=ComplianceManifestError) if isinstance(data, (bytes, str)) else data
    if not isinstance(doc, dict):
        raise ComplianceManifestError(f"{what} must be a JSON object")
    try:
        canonical_manifest(doc)
    except KeyFileError as exc:
        raise ComplianceManifestError(f"{what}: {exc}") from None
    if doc.get("version") != MANIFEST_VERSION:
        raise ComplianceManifestError(f"{what}: version must be {MANIFEST_VERSION!r}, got {doc.get('version')!r}")
    return doc


def manifest_hash(manifest: dict[str, Any]) -> str:
    """THE manifest hash (see module doc): ``"0x"`` + SHA3-256 of the signed struct-order bytes."""
    from capfast.lksg.signing import manifest_message

    try:
        return sha3_hex(manifest_message(manifest))
    except KeyFileError as exc:
        raise ComplianceManifestError(f"manifest: {exc}") from None


def load_commitments(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``commitments.json`` (``cap prepare``) and check its roots, counts and company-root rule."""
    data = read_bounded(path, MAX_COMMITMENTS_BYTES, "commitments file", ComplianceManifestError)
    doc = strict_json.loads(data, what=f"commitments file {path}", error=ComplianceManifestError)
    if not isinstance(doc, dict):
        raise ComplianceManifestError(f"commitments file {path} must be a JSON object")
    for key in ("supplier_root", "ubo_root", "company_commitment_root"):
        if not isinstance(doc.get(key), str) or not _ROOT.fullmatch(doc[key]):
            raise ComplianceManifestError(f"commitments file {path}: {key} must be 0x + 64 lowercase hex digits")
    for key in ("supplier_count", "ubo_count"):
        if key in doc and (isinstance(doc[key], bool) or not isinstance(doc[key], int) or doc[key] < 0):
            raise ComplianceManifestError(f"commitments file {path}: {key} must be a non-negative integer")
    if doc.get("scheme", "merkle-v1") == "merkle-v1" and "hash" in doc:
        from capfast.lksg import company_commitment_root

        expect = "0x" + company_commitment_root(
            bytes.fromhex(doc["supplier_root"][2:]), bytes.fromhex(doc["ubo_root"][2:]), hash=doc["hash"]
        ).hex()
        if expect != doc["company_commitment_root"]:
            raise ComplianceManifestError(
                f"commitments file {path}: company_commitment_root is not H(0x01 ‖ supplier_root ‖ ubo_root)"
            )
    return doc


def policy_block(policy: Any) -> dict[str, str]:
    """``{name, version, hash}`` of an lksg.v1 :class:`~capfast.lksg.policy.Policy` or a PolicyV2."""
    return {"name": policy.name, "version": policy.version, "hash": policy.hash}


def build_manifest(
    commitments: dict[str, Any],
    policy: Any,
    *,
    audit_tip: str,
    audit_count: int,
    sanctions_root: str | None = None,
    jurisdiction_root: str | None = None,
    time_anchor: str | None = None,
    time_anchor_kind: str = "file",
    created_at: str | None = None,
) -> dict[str, Any]:
    """A new manifest dict (struct order). ``time_anchor`` is a reference string (e.g. a TSA receipt id or a
    ticket number); the anchor records the audit tip it vouches for."""
    created = created_at or rfc3339_now()
    m: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "created_at": created,
        "supplier_root": commitments["supplier_root"],
        "ubo_root": commitments["ubo_root"],
        "company_commitment_root": commitments["company_commitment_root"],
        "policy": policy_block(policy),
        "audit": {"tail_digest": audit_tip, "events_count": audit_count},
        "proof": {"type": "none", "status": "none"},
        "signatures": [],
    }
    if time_anchor is not None:
        if not time_anchor.strip():
            raise ComplianceManifestError("--time-anchor must not be empty")
        m["time_anchor"] = {
            "kind": time_anchor_kind,
            "reference": time_anchor,
            "audit_tip_hex": audit_tip,
            "created_at": created,
        }
    if sanctions_root is not None:
        m["sanctions_root"] = sanctions_root
    if jurisdiction_root is not None:
        m["jurisdiction_root"] = jurisdiction_root
    return m
