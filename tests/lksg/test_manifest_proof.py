"""Manifest hash and mock proof vectors (cap-agent.md §3.3, §4.1), the disclosure backend, bundles."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

import pytest

from capfast.lksg.manifest import manifest_hash
from capfast.lksg.policy import load_policy
from capfast.lksg.proof import build_proof, commit_keys, encode_proof, verify_proof
from capfast.lksg.proof.lists import non_membership_evidence, verify_non_membership

VEC = Path(__file__).resolve().parent.parent / "vectors" / "cap-agent"
MANIFEST = {
    "version": "manifest.v1.0", "created_at": "2025-10-25T10:00:02+00:00",
    "supplier_root": "0xdde3f2c96c5ffc46eef6af7fe449ba6c575b71eff26d0829ce6d48872b2f1610",
    "ubo_root": "0xf89ea642046c73faa32494ed30672c7a7a7f764e399d1fb6d1c342ff3e7bf846",
    "company_commitment_root": "0x83a8779d0d7e3a7590133318265569f2651a4f8090afcae880741efcfc898ae5",
    "policy": {"name": "LkSG Demo Policy", "version": "lksg.v1",
               "hash": "0xd490be94f6f182bd6a00930c65f6f1f5fab70ddb29116235ae344f064f9b52b3"},
    "audit": {"tail_digest": "0x88b1009e4c61f255c09d65974a59d7e6fd8d9e2181b71b12aaf65e90b18b710f", "events_count": 2},
    "proof": {"type": "none", "status": "none"}, "signatures": [],
}


def test_manifest_hash_vector():
    # cap-agent.md §3.3 #1 (◇): the proof.v0 binding hash = our one manifest hash
    assert manifest_hash(MANIFEST) == "0x41bcda11379ff63000b1c433537c780da4c00fa70a8962e4e152575a3254e041"


def test_mock_proof_vector():
    # cap-agent.md §4.1 (◇): proof.dat SHA3 for the §3.2 manifest, 5 suppliers and 2 UBOs
    policy = load_policy(VEC / "policy.lksg.v1.yml")
    proof = build_proof(MANIFEST, policy, {"supplier_count": 5, "ubo_count": 2}, backend="mock")
    data = encode_proof(proof)
    assert "0x" + hashlib.sha3_256(data).hexdigest() == (
        "0x15fa5eb6c44a0ae92c5dbe782270fdc5d437d71d3942ee6cbb256b2687a96554")
    res = verify_proof(data, MANIFEST)
    assert res.status == "warn" and not res.errors  # bindings verified, checks self-declared
    other = copy.deepcopy(MANIFEST)
    other["audit"]["events_count"] = 3
    assert verify_proof(data, other).status == "fail"
    bad = json.loads(base64.b64decode(data))
    bad["status"] = "failed"
    assert verify_proof(bad, MANIFEST).status == "fail"


@pytest.mark.parametrize("keys,item,member", [
    (["b", "d", "f"], "a", False), (["b", "d", "f"], "c", False), (["b", "d", "f"], "g", False),
    (["b", "d", "f"], "d", True), ([], "x", False), (["b", "d", "f", "h", "j"], "i", False),
])
def test_non_membership_evidence(keys, item, member):
    lst = commit_keys(keys)
    ev = non_membership_evidence(lst, item)
    assert verify_non_membership(ev, item, lst.root, lst.count, "t") is (not member)


def test_non_membership_rejects_non_adjacent_or_wrong_side():
    from capfast.errors import ComplianceProofError

    lst = commit_keys(["b", "d", "f", "h"])
    good = non_membership_evidence(lst, "e")
    forged = {"item": "e", "lower": lst.prove(0), "upper": lst.prove(2)}  # b .. f skips d: not adjacent
    with pytest.raises(ComplianceProofError, match="adjacent"):
        verify_non_membership(forged, "e", lst.root, lst.count, "t")
    hide = {"item": "d", "lower": lst.prove(0), "upper": None}  # claims d is above the list
    with pytest.raises(ComplianceProofError, match="last leaf"):
        verify_non_membership(hide, "d", lst.root, lst.count, "t")
    wrong_root = commit_keys(["a"]).root
    with pytest.raises(ComplianceProofError, match="does not verify"):
        verify_non_membership(good, "e", wrong_root, lst.count, "t")
