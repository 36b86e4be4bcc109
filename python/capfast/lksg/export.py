"""``cap export``: assemble a cap-bundle.v1 from a manifest and a proof, after checking that they verify together.

The container format itself (file roles, ``_meta.json``, safe reading and atomic writing) is
:mod:`capfast.lksg.bundle`; the offline check of a finished bundle is :mod:`capfast.lksg.verifier`.
"""

from __future__ import annotations

import os
from typing import Any

from capfast import strict_json
from capfast._io import read_bounded
from capfast._time import rfc3339_now
from capfast.errors import BundleError
from capfast.lksg.bundle import META_FILE, Limits, make_meta, write_bundle
from capfast.lksg.manifest import MAX_MANIFEST_BYTES, manifest_hash, parse_manifest
from capfast.lksg.proof import verify_proof
from capfast.lksg.serial import pretty, sha3_hex
from capfast.lksg.signing import verify_signature_doc

__all__ = ["export_bundle", "readme_text"]


def readme_text(manifest_hash: str, proof_hash: str, backend: str) -> str:
    """The bundle's README (deterministic: no timestamp, so re-exports are reproducible)."""
    return (
        "CAP Bundle Package (cap-bundle.v1)\n"
        "==================================\n\n"
        "manifest.json             compliance manifest (manifest.v1.0): roots, policy, audit tip\n"
        "proof.dat                 proof bound to the manifest (backend: " + backend + ")\n"
        "signature.json            detached Ed25519 signature over the manifest (if present)\n"
        "verification.report.json  the exporter's own check of manifest and proof\n"
        "_meta.json                SHA3-256 and size of every other file, roles, proof units\n\n"
        "Verify offline:  cap verifier run --package <this bundle> --pubkey <signer.pub>\n\n"
        f"Manifest hash: {manifest_hash}\nProof file SHA3-256: {proof_hash}\nPackage schema: cap-bundle.v1\n"
    )


def pretty_bytes(obj: Any) -> bytes:
    return pretty(obj).encode("utf-8")


def export_bundle(
    out: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    proof: str | os.PathLike[str],
    *,
    signature: str | os.PathLike[str] | None = None,
    timestamp: str | os.PathLike[str] | None = None,
    registry: str | os.PathLike[str] | None = None,
    force: bool = False,
    created_at: str | None = None,
) -> dict[str, Any]:
    """``cap export``: check manifest, proof (and signature) together, then write the bundle; returns ``_meta``.

    The proof must verify against the manifest (status ``ok`` or ``warn``) and a signature must sign this very
    manifest, so a bundle that would fail verification is never written. ``verification.report.json`` holds
    that check.
    """
    limit = Limits().max_file_bytes
    files: dict[str, bytes] = {}
    files["manifest.json"] = read_bounded(manifest, MAX_MANIFEST_BYTES, "manifest", BundleError)
    files["proof.dat"] = read_bounded(proof, limit, "proof", BundleError)
    m = parse_manifest(files["manifest.json"], str(manifest))
    result = verify_proof(files["proof.dat"], m)
    if result.status == "fail":
        raise BundleError("the proof does not verify against the manifest: " + "; ".join(result.errors))
    sig_report = None
    if signature is not None:
        files["signature.json"] = read_bounded(signature, MAX_MANIFEST_BYTES, "signature", BundleError)
        sig_doc = strict_json.loads(files["signature.json"], what="signature", error=BundleError)
        sig_report = verify_signature_doc(sig_doc, m, [])
        if not sig_report["valid"]:
            raise BundleError(f"signature {signature}: {sig_report.get('error')}")
    if timestamp is not None:
        files["timestamp.tsr"] = read_bounded(timestamp, limit, "timestamp", BundleError)
    if registry is not None:
        files["registry.json"] = read_bounded(registry, limit, "registry", BundleError)
    mh = manifest_hash(m)
    ph = sha3_hex(files["proof.dat"])
    report = {
        "schema": "capfast.export-check.v1",
        "status": result.status,
        "manifest_hash": mh,
        "proof_hash": ph,
        "backend": result.backend,
        "checks": result.checks,
        "warnings": result.warnings,
        "signature": sig_report,
    }
    files["verification.report.json"] = pretty_bytes(report)
    files["README.txt"] = readme_text(mh, ph, result.backend).encode("utf-8")
    unit = {
        "id": "main",
        "manifest_file": "manifest.json",
        "proof_file": "proof.dat",
        "policy_id": m["policy"]["name"],
        "policy_hash": m["policy"]["hash"],
        "backend": result.backend,
        "depends_on": [],
    }
    meta = make_meta(files, [unit], bundle_id="bundle-" + sha3_hex(mh + ph)[2:18],
                     created_at=created_at or rfc3339_now())
    files[META_FILE] = pretty_bytes(meta)
    write_bundle(out, files, force=force)
    return meta
