"""Backend ``mock``: cap-agent's ``proof.v0`` (reference notes §4.1).

A check list computed by the prover from the counts in ``commitments.json``, bound to the manifest hash and the
policy hash. Nothing ties the counts to the roots, so a verifier can only check the bindings: kept to read and
produce cap-agent-compatible bundles, reported by the verifier as ``warn`` ("self-declared").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from capfast.errors import ComplianceProofError
from capfast.lksg.manifest import manifest_hash
from capfast.lksg.policy import Policy
from capfast.lksg.proof.rules import ProofResult

__all__ = ["build_mock_proof", "verify_mock_proof"]


def build_mock_proof(manifest: Mapping[str, Any], policy: Any, commitments: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(policy, Policy):
        raise ComplianceProofError("backend mock (proof.v0) supports lksg.v1 policies only; use merkle-disclosure-v1")
    sc = int(commitments.get("supplier_count", 0))
    uc = int(commitments.get("ubo_count", 0))
    checks = []
    if policy.require_at_least_one_ubo:
        checks.append({"name": "require_at_least_one_ubo", "ok": uc >= 1})
    checks.append({"name": f"supplier_count_max_{policy.supplier_count_max}", "ok": sc <= policy.supplier_count_max})
    return {
        "version": "proof.v0",
        "type": "mock",
        "statement": f"policy:{policy.version}",
        "manifest_hash": manifest_hash(dict(manifest)),
        "policy_hash": manifest["policy"]["hash"],
        "proof_data": {"checked_constraints": checks},
        "status": "ok" if all(c["ok"] for c in checks) else "failed",
    }


def verify_mock_proof(proof: Mapping[str, Any], manifest: Mapping[str, Any]) -> ProofResult:
    res = ProofResult("warn", "mock")
    if proof.get("type") != "mock":
        res.errors.append(f"proof.v0 type must be 'mock', got {proof.get('type')!r}")
    if proof.get("manifest_hash") != manifest_hash(dict(manifest)):
        res.errors.append("proof.manifest_hash does not match the manifest (manifest or proof was changed)")
    if proof.get("policy_hash") != manifest["policy"]["hash"]:
        res.errors.append("proof.policy_hash does not match manifest.policy.hash")
    pd = proof.get("proof_data")
    cc = pd.get("checked_constraints") if isinstance(pd, dict) else None
    if not isinstance(cc, list) or not all(isinstance(c, dict) and isinstance(c.get("ok"), bool) for c in cc):
        res.errors.append("proof_data.checked_constraints is malformed")
        cc = []
    failed = [str(c.get("name")) for c in cc if not c["ok"]]
    if failed:
        res.errors.append(f"policy not satisfied (self-declared): {', '.join(failed)}")
    if proof.get("status") != "ok":
        res.errors.append(f"proof status is {proof.get('status')!r}")
    res.checks = [{"id": c.get("name"), "ok": c.get("ok"), "verified": False} for c in cc]
    res.warnings.append("mock proof (proof.v0): the checks are self-declared by the prover; only the manifest and "
                        "policy bindings were verified")
    if res.errors:
        res.status = "fail"
    return res
