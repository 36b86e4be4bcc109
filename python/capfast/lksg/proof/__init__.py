"""Compliance proofs over committed data: backends ``mock`` (cap-agent proof.v0) and ``merkle-disclosure-v1``.

This package is the public entry point (:func:`build_proof`, :func:`verify_proof`, the file codec and the list
helpers). One module per concern: :mod:`~capfast.lksg.proof.lists` (sorted list commitments, non-membership),
:mod:`~capfast.lksg.proof.rules` (variables, evaluation, :class:`ProofResult`), :mod:`~capfast.lksg.proof.codec`
(proof files, CAPZ), one module per backend (:mod:`~capfast.lksg.proof.mock`,
:mod:`~capfast.lksg.proof.disclosure`). A new backend is a new module plus one branch in each of
:func:`build_proof` and :func:`verify_proof`. Policies of either kind are read by :mod:`capfast.lksg.policies`.

See ``docs/lksg-proofs.md`` for what a proof proves and discloses. In short:

* ``mock`` — cap-agent's ``proof.v0`` (reference notes §4.1): a check list computed by the prover from the counts
  in ``commitments.json``, bound to the manifest hash and the policy hash. Nothing ties the counts to the roots, so
  a verifier can only check the bindings: kept to read and produce cap-agent-compatible bundles, reported by the
  verifier as ``warn`` ("self-declared").
* ``merkle-disclosure-v1`` — every claim is checked by the verifier against the commitments alone:

  - the policy document is embedded; its hash must equal the manifest's ``policy.hash`` and the proof's
    ``policy_hash``; the verifier derives the rules from it (a prover cannot omit a failing rule);
  - the proof's ``manifest_hash`` must be THE manifest hash of the manifest it is checked with;
  - each table (``suppliers``, ``ubos``) is disclosed as full rows (with per-row salts when the commitment is
    salted) when a ``non_membership`` rule reads it, otherwise as its leaf hashes only; the verifier rebuilds the
    RFC 6962 tree and requires the manifest's root, so **counts are bound to the roots** (a root alone does not
    fix a tree's size; a complete leaf list does), and the company root must be ``H(0x01 ‖ s ‖ u)``;
  - a list (``sanctions_root``, ``jurisdiction_root``) is a ``merkle-v1`` BLAKE3 commitment to rows
    ``{"key": k}`` with ``k`` the normalised keys **sorted** bytewise and de-duplicated; the list root is in the
    (signed) manifest. Non-membership of ``x`` is two adjacent leaves ``k_j < x < k_{j+1}`` with inclusion proofs
    at indices ``j, j+1`` (or the first leaf alone when ``x < k_0``, the last alone when ``x > k_{n-1}``);
    membership (a failing check) is the leaf itself. The verifier can pin the list root or recompute it from the
    public list file.

Rules (``Check``): ``range_min``/``range_max`` over ``supplier_count``/``ubo_count`` (or a table variable, meaning
its length), ``eq`` between such values, roots and literals, ``non_membership`` of a table column in a list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from capfast.errors import ComplianceProofError, PolicyError
from capfast.lksg.proof.codec import decode_proof, encode_proof, parse_capz, proof_hash, proof_summary
from capfast.lksg.proof.disclosure import DISCLOSURE_VERSION, build_disclosure_proof, verify_disclosure_proof
from capfast.lksg.proof.lists import LIST_COLUMNS, ListCommitment, commit_keys, commit_list, normalize_key
from capfast.lksg.proof.mock import build_mock_proof, verify_mock_proof
from capfast.lksg.proof.rules import ProofResult

__all__ = [
    "BACKENDS",
    "DISCLOSURE_VERSION",
    "LIST_COLUMNS",
    "ListCommitment",
    "ProofResult",
    "build_proof",
    "commit_keys",
    "commit_list",
    "decode_proof",
    "encode_proof",
    "normalize_key",
    "parse_capz",
    "proof_hash",
    "proof_summary",
    "verify_proof",
]

BACKENDS = ("mock", "merkle-disclosure-v1")


def build_proof(
    manifest: Mapping[str, Any],
    policy: Any,
    commitments: Mapping[str, Any],
    *,
    backend: str = "merkle-disclosure-v1",
    suppliers: str | os.PathLike[str] | None = None,
    ubos: str | os.PathLike[str] | None = None,
    lists: Mapping[str, str | os.PathLike[str]] | None = None,
    salt_key: bytes | None = None,
) -> dict[str, Any]:
    """Build a proof object for ``manifest`` under ``policy``.

    ``merkle-disclosure-v1`` re-reads the CSVs (``suppliers``, ``ubos``) and the list files (``lists``: name →
    path, e.g. ``{"sanctions_root": "sanctions.csv"}``) and refuses data whose roots differ from the manifest.
    """
    if backend not in BACKENDS:
        raise ComplianceProofError(f"unknown backend {backend!r} (available: {', '.join(BACKENDS)}; zkvm and halo2 "
                                   "are not implemented)")
    if policy.hash != manifest["policy"]["hash"]:
        raise ComplianceProofError(
            f"the policy's hash {policy.hash} is not the manifest's policy.hash {manifest['policy']['hash']}"
        )
    if backend == "mock":
        return build_mock_proof(manifest, policy, commitments)
    return build_disclosure_proof(
        manifest, policy, commitments, suppliers=suppliers, ubos=ubos, lists=lists, salt_key=salt_key
    )


def verify_proof(
    proof: Mapping[str, Any] | bytes, manifest: Mapping[str, Any], *, pinned_lists: Mapping[str, str] | None = None
) -> ProofResult:
    """Verify a proof (object or file bytes) against a manifest; never raises for a bad proof (see ``errors``)."""
    backend = "unknown"
    try:
        doc = decode_proof(proof) if isinstance(proof, (bytes, bytearray)) else dict(proof)
        version = doc.get("version")
        if version == "proof.v0":
            return verify_mock_proof(doc, manifest)
        if version == DISCLOSURE_VERSION:
            backend = "merkle-disclosure-v1"
            return verify_disclosure_proof(doc, manifest, pinned_lists or {})
        raise ComplianceProofError(f"unknown proof version {version!r}")
    except (ComplianceProofError, PolicyError) as exc:
        return ProofResult("fail", backend, [str(exc)])
    except (KeyError, TypeError, AttributeError) as exc:
        return ProofResult("fail", backend, [f"proof is malformed ({type(exc).__name__}: {exc})"])
