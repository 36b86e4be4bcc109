"""Unit tests for each part of capfast.lksg.proof: lists, rules, codec, the mock backend (the disclosure backend and
the dispatch are exercised end to end in test_manifest_proof.py and tests/e2e)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from capfast import merkle
from capfast.commit import commit
from capfast.errors import ComplianceProofError
from capfast.lksg.policy import Check, Policy
from capfast.lksg.proof import build_proof, verify_proof
from capfast.lksg.proof.codec import decode_proof, encode_proof, parse_capz, proof_hash
from capfast.lksg.proof.lists import (
    LIST_HASH,
    commit_keys,
    commit_list,
    non_membership_evidence,
    normalize_key,
    verify_non_membership,
)
from capfast.lksg.proof.mock import build_mock_proof, verify_mock_proof
from capfast.lksg.proof.rules import disclosed_tables, evaluate_simple, rhs_list

# ---------------------------------------------------------------------------------------------------------- lists


@pytest.mark.parametrize("text, key", [
    ("  ACME   Corp ", "acme corp"),
    ("Ｍüller\tGmbH", "müller gmbh"),  # NFKC folds the full-width M, casefold the case, whitespace runs collapse
    ("Straße", "strasse"),
    ("", ""),
])
def test_normalize_key(text: str, key: str) -> None:
    assert normalize_key(text) == key


def test_commit_keys_sorts_bytewise_and_dedupes() -> None:
    lst = commit_keys(["b", "a", "ä", "b", "Z"])
    assert lst.keys == ["Z", "a", "b", "ä"]  # bytewise UTF-8 order, not locale order
    want = commit([{"key": k} for k in lst.keys], hash=LIST_HASH, columns=["key"]).root
    assert lst.root == want and lst.count == 4 and lst.root_hex == "0x" + want.hex()
    assert commit_keys([]).root == merkle.root([], hash=LIST_HASH)


def test_commit_list_reads_the_key_column(tmp_path) -> None:
    p = tmp_path / "sanctions.csv"
    p.write_text("name,country\n ACME  Corp,DE\nacme corp,FR\n,XX\nBeta,US\n", encoding="utf-8")
    lst = commit_list(p, "name")
    assert lst.keys == ["acme corp", "beta"]  # normalised, de-duplicated, empty keys dropped


def test_non_membership_evidence_edges() -> None:
    lst = commit_keys(["b", "d"])
    below, above, between, member = (non_membership_evidence(lst, x) for x in ("a", "e", "c", "d"))
    assert below["lower"] is None and below["upper"]["index"] == 0
    assert above["upper"] is None and above["lower"]["index"] == 1
    assert (between["lower"]["index"], between["upper"]["index"]) == (0, 1)
    assert "member" in member
    for item, ev, absent in (("a", below, True), ("e", above, True), ("c", between, True), ("d", member, False)):
        assert verify_non_membership(ev, item, lst.root, lst.count, "t") is absent


def test_non_membership_rejects_non_adjacent_or_wrong_sides() -> None:
    lst = commit_keys(["b", "d", "f"])
    ev = {"item": "c", "lower": lst.prove(0), "upper": lst.prove(2)}  # b < c < f but not adjacent
    with pytest.raises(ComplianceProofError, match="not adjacent"):
        verify_non_membership(ev, "c", lst.root, lst.count, "t")
    ev = {"item": "e", "lower": lst.prove(2), "upper": None}  # f is not below e
    with pytest.raises(ComplianceProofError, match="not below"):
        verify_non_membership(ev, "e", lst.root, lst.count, "t")
    ev = {"item": "a", "lower": None, "upper": lst.prove(1)}  # only leaf 0 may be the upper bound of a low item
    with pytest.raises(ComplianceProofError, match="leaf 0"):
        verify_non_membership(ev, "a", lst.root, lst.count, "t")
    with pytest.raises(ComplianceProofError, match="missing or out of order"):
        verify_non_membership({"item": "x"}, "c", lst.root, lst.count, "t")


# ---------------------------------------------------------------------------------------------------------- rules


def test_evaluate_simple() -> None:
    counts = {"suppliers": 3, "ubos": 1}
    manifest = {"supplier_root": "0xaa", "sanctions_root": "0xbb"}
    assert evaluate_simple(Check("c1", "range_max", "supplier_count", 5), counts, manifest) == (True, 3)
    assert evaluate_simple(Check("c2", "range_min", "ubo_count", 2), counts, manifest) == (False, 1)
    assert evaluate_simple(Check("c3", "range_max", "suppliers", 2), counts, manifest) == (False, 3)
    assert evaluate_simple(Check("c4", "eq", "supplier_root", "sanctions_root"), counts, manifest) == (False, "0xaa")
    assert evaluate_simple(Check("c4b", "eq", "supplier_count", 3), counts, manifest) == (True, 3)
    with pytest.raises(ComplianceProofError, match="unknown variable"):
        evaluate_simple(Check("c5", "eq", "nonsense", 1), counts, manifest)
    with pytest.raises(ComplianceProofError, match="needs numbers"):
        evaluate_simple(Check("c6", "range_max", "supplier_count", True), counts, manifest)
    with pytest.raises(ComplianceProofError, match="unsupported op"):
        evaluate_simple(Check("c7", "gt", "supplier_count", 1), counts, manifest)


def test_disclosed_tables_and_list_operands() -> None:
    checks = [Check("a", "non_membership", "supplier_names", "sanctions_root"),
              Check("b", "range_max", "supplier_count", 10)]
    assert disclosed_tables(checks) == {"suppliers"}
    assert rhs_list(checks[0]) == "sanctions_root"
    with pytest.raises(ComplianceProofError, match="table variable"):
        disclosed_tables([Check("x", "non_membership", "supplier_count", "sanctions_root")])
    with pytest.raises(ComplianceProofError, match="needs a list"):
        rhs_list(Check("y", "non_membership", "suppliers", "supplier_root"))


# ---------------------------------------------------------------------------------------------------------- codec


def _capz(backend: int, payload: bytes, *, version: int = 2, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    return (b"CAPZ" + version.to_bytes(2, "little") + bytes([backend, 0]) + b"\x11" * 32 + b"\x22" * 32
            + n.to_bytes(4, "little") + b"\x00\x00" + payload)


def test_encode_decode_round_trip() -> None:
    v0 = {"version": "proof.v0", "type": "mock", "status": "ok"}
    data = encode_proof(v0)
    assert base64.b64decode(data) == b'{"version":"proof.v0","type":"mock","status":"ok"}'
    assert decode_proof(data) == v0
    other = {"version": "proof.merkle-disclosure.v1", "ü": [1, 2]}
    assert encode_proof(other) == '{"version":"proof.merkle-disclosure.v1","ü":[1,2]}'.encode()
    assert decode_proof(encode_proof(other)) == other
    assert proof_hash(b"x") == "0x" + hashlib.sha3_256(b"x").hexdigest()


def test_capz_container() -> None:
    payload = json.dumps({"version": "proof.v0"}).encode()
    backend, vk, params, body = parse_capz(_capz(0, payload))
    assert (backend, vk, params, body) == (0, b"\x11" * 32, b"\x22" * 32, payload)
    assert decode_proof(_capz(0, payload)) == {"version": "proof.v0"}
    with pytest.raises(ComplianceProofError, match="not supported by this verifier"):
        decode_proof(_capz(1, payload))
    for bad, needle in [(b"CAPZ", "too short"), (_capz(0, payload, version=3), "version 3"),
                        (_capz(7, payload), "backend byte"), (_capz(0, payload, length=10_000), "exceeds")]:
        with pytest.raises(ComplianceProofError, match=needle):
            parse_capz(bad)


@pytest.mark.parametrize("data", [b"not base64 !", b'{"a":1,"a":2}', b'{"a":NaN}', b"[1]"])
def test_decode_refuses_hostile_proofs(data: bytes) -> None:
    with pytest.raises(ComplianceProofError):
        decode_proof(data)


# ---------------------------------------------------------------------------------------------------------- mock


POLICY = Policy("lksg.v1", "P", "2025-01-01T00:00:00Z", True, 5)
MANIFEST = {
    "version": "manifest.v1.0", "created_at": "2025-10-25T10:00:02+00:00",
    "supplier_root": "0x" + "11" * 32, "ubo_root": "0x" + "22" * 32, "company_commitment_root": "0x" + "33" * 32,
    "policy": {"name": "P", "version": "lksg.v1", "hash": POLICY.hash},
    "audit": {"tail_digest": "0x" + "44" * 32, "events_count": 2},
    "proof": {"type": "none", "status": "none"}, "signatures": [],
}


def test_mock_backend_binds_manifest_and_policy_only() -> None:
    proof = build_mock_proof(MANIFEST, POLICY, {"supplier_count": 3, "ubo_count": 1})
    assert proof["status"] == "ok" and [c["name"] for c in proof["proof_data"]["checked_constraints"]] == [
        "require_at_least_one_ubo", "supplier_count_max_5"]
    res = verify_mock_proof(proof, MANIFEST)
    assert res.status == "warn" and not res.errors and res.checks[0]["verified"] is False
    failing = build_mock_proof(MANIFEST, POLICY, {"supplier_count": 9, "ubo_count": 0})
    assert failing["status"] == "failed"
    assert verify_mock_proof(failing, MANIFEST).status == "fail"
    tampered = {**proof, "policy_hash": "0x" + "00" * 32}
    assert verify_mock_proof(tampered, MANIFEST).status == "fail"
    assert build_proof(MANIFEST, POLICY, {"supplier_count": 3, "ubo_count": 1}, backend="mock") == proof
    assert verify_proof(encode_proof(proof), MANIFEST).status == "warn"


def test_unknown_backend_and_policy_mismatch() -> None:
    with pytest.raises(ComplianceProofError, match="unknown backend"):
        build_proof(MANIFEST, POLICY, {}, backend="zkvm")
    other = Policy("lksg.v1", "P", "2025-01-01T00:00:00Z", True, 6)
    with pytest.raises(ComplianceProofError, match="policy's hash"):
        build_proof(MANIFEST, other, {}, backend="mock")
    assert verify_proof({"version": "proof.v9"}, MANIFEST).status == "fail"
