"""Backend ``merkle-disclosure-v1``: every claim is checked by the verifier against the commitments alone.

See :mod:`capfast.lksg.proof` and ``docs/lksg-proofs.md`` for what the proof discloses and how lists prove
non-membership (:mod:`capfast.lksg.proof.lists`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from capfast import merkle
from capfast.commit import RowProof, iter_rows, row_salt
from capfast.errors import ComplianceProofError
from capfast.lksg import company_commitment_root
from capfast.lksg.manifest import manifest_hash
from capfast.lksg.policies import policy_from_document
from capfast.lksg.proof.lists import (
    LIST_COLUMNS,
    LIST_HASH,
    MAX_ROWS,
    ListCommitment,
    commit_list,
    hex_root,
    non_membership_evidence,
    normalize_key,
    unhex_root,
    verify_non_membership,
)
from capfast.lksg.proof.rules import TABLE_VARS, ProofResult, disclosed_tables, evaluate_simple, rhs_list

__all__ = ["DISCLOSURE_VERSION", "build_disclosure_proof", "verify_disclosure_proof"]

DISCLOSURE_VERSION = "proof.merkle-disclosure.v1"


def _policy_doc(policy: Any) -> dict[str, Any]:
    return policy.canonical()


def _leaf(row: Mapping[str, str], salt: bytes | None, hash_name: str) -> bytes:
    return RowProof(0, 1, dict(row), salt, [], hash_name).leaf_hash()


def _root_of_leaves(leaves: Sequence[bytes], hash_name: str) -> bytes:
    tb = merkle.TreeBuilder(hash=hash_name)
    for leaf in leaves:
        tb.append_leaf_hash(leaf)
    return tb.root()


def _read_table(path: str | os.PathLike[str], salt_key: bytes | None, hash_name: str) -> tuple[list, list, list]:
    rows, salts, leaves = [], [], []
    for i, row in enumerate(iter_rows(path)):
        if i >= MAX_ROWS:
            raise ComplianceProofError(f"{path} has more than {MAX_ROWS} rows")
        salt = row_salt(salt_key, i) if salt_key is not None else None
        rows.append(row)
        salts.append(salt)
        leaves.append(_leaf(row, salt, hash_name))
    return rows, salts, leaves


def build_disclosure_proof(
    manifest: Mapping[str, Any],
    policy: Any,
    commitments: Mapping[str, Any],
    *,
    suppliers: str | os.PathLike[str] | None,
    ubos: str | os.PathLike[str] | None,
    lists: Mapping[str, str | os.PathLike[str]] | None,
    salt_key: bytes | None,
) -> dict[str, Any]:
    """The ``merkle-disclosure-v1`` proof (the caller checked the backend name and the policy hash)."""
    if commitments.get("scheme", "merkle-v1") != "merkle-v1":
        raise ComplianceProofError("merkle-disclosure-v1 needs merkle-v1 commitments (cap prepare without "
                                   "--scheme cap-agent-v1)")
    hash_name = commitments.get("hash", "blake3")
    if commitments.get("salted") and salt_key is None:
        raise ComplianceProofError("the commitments are salted: pass the salt key used by cap prepare")
    if not commitments.get("salted"):
        salt_key = None
    if suppliers is None or ubos is None:
        raise ComplianceProofError("merkle-disclosure-v1 needs the supplier and UBO CSV files")
    checks = policy.checks()
    disclosed = disclosed_tables(checks)
    tables: dict[str, Any] = {}
    data: dict[str, list[dict[str, str]]] = {}
    counts: dict[str, int] = {}
    for name, path, root_key in (("suppliers", suppliers, "supplier_root"), ("ubos", ubos, "ubo_root")):
        rows, salts, leaves = _read_table(path, salt_key, hash_name)
        root = hex_root(_root_of_leaves(leaves, hash_name))
        if root != manifest[root_key]:
            raise ComplianceProofError(
                f"{path} does not match the manifest's {root_key} (the data changed since it was committed, or "
                "the wrong file or salt key was given)"
            )
        counts[name] = len(rows)
        data[name] = rows
        entry: dict[str, Any] = {"root": root, "count": len(rows)}
        if name in disclosed:
            entry["disclosure"] = "rows"
            entry["rows"] = [{"row": r, "salt": None if s is None else hex_root(s)} for r, s in zip(rows, salts)]
        else:
            entry["disclosure"] = "leaves"
            entry["leaves"] = [hex_root(x) for x in leaves]
        tables[name] = entry
    list_objs: dict[str, ListCommitment] = {}
    out_checks = []
    for c in checks:
        if c.op != "non_membership":
            ok, value = evaluate_simple(c, counts, manifest)
            out_checks.append({**c.to_dict(), "ok": ok, "value": value})
            continue
        list_name = rhs_list(c)
        if list_name not in list_objs:
            list_path = (lists or {}).get(list_name)
            if list_path is None:
                raise ComplianceProofError(f"rule {c.id} needs the list file for {list_name}")
            lst = commit_list(list_path, LIST_COLUMNS[list_name])
            if manifest.get(list_name) != lst.root_hex:
                raise ComplianceProofError(
                    f"list {list_path} has root {lst.root_hex}, the manifest's {list_name} is {manifest.get(list_name)}"
                )
            list_objs[list_name] = lst
        lst = list_objs[list_name]
        table, column = TABLE_VARS[str(c.lhs)]
        items = sorted({normalize_key(r.get(column, "")) for r in data[table]} - {""})
        evidence = [non_membership_evidence(lst, x) for x in items]
        ok = all("member" not in e for e in evidence)
        out_checks.append({**c.to_dict(), "ok": ok, "column": column, "evidence": evidence})
    lists_out = {
        name: {"root": lst.root_hex, "count": lst.count, "hash": LIST_HASH, "key_column": LIST_COLUMNS[name],
               "normalization": "NFKC+casefold+collapse-whitespace"}
        for name, lst in list_objs.items()
    }
    return {
        "version": DISCLOSURE_VERSION,
        "type": "merkle-disclosure-v1",
        "statement": f"policy:{policy.version}",
        "manifest_hash": manifest_hash(dict(manifest)),
        "policy_hash": policy.hash,
        "policy": _policy_doc(policy),
        "commitment": {"scheme": "merkle-v1", "hash": hash_name, "salted": salt_key is not None},
        "tables": tables,
        "lists": lists_out,
        "checks": out_checks,
        "status": "ok" if all(c["ok"] for c in out_checks) else "failed",
    }


def verify_disclosure_proof(
    proof: Mapping[str, Any], manifest: Mapping[str, Any], pinned_lists: Mapping[str, str]
) -> ProofResult:
    res = ProofResult("ok", "merkle-disclosure-v1")
    mh = manifest_hash(dict(manifest))
    if proof.get("manifest_hash") != mh:
        raise ComplianceProofError("proof.manifest_hash does not match the manifest (manifest or proof was changed)")
    policy = policy_from_document(proof.get("policy"))
    if policy.hash != manifest["policy"]["hash"] or proof.get("policy_hash") != policy.hash:
        raise ComplianceProofError("the proof's embedded policy does not hash to manifest.policy.hash / policy_hash")
    if manifest["policy"]["name"] != policy.name or manifest["policy"]["version"] != policy.version:
        raise ComplianceProofError("manifest.policy name/version differ from the embedded policy")
    commitment = proof.get("commitment")
    if not isinstance(commitment, dict) or commitment.get("scheme") != "merkle-v1":
        raise ComplianceProofError("proof.commitment must name scheme merkle-v1")
    hash_name = commitment.get("hash")
    if hash_name not in merkle.HASHES:
        raise ComplianceProofError(f"unknown commitment hash {hash_name!r}")
    tables = proof.get("tables")
    if not isinstance(tables, dict):
        raise ComplianceProofError("proof.tables is malformed")
    checks = policy.checks()
    disclosed = disclosed_tables(checks)
    counts: dict[str, int] = {}
    data: dict[str, list[dict[str, str]]] = {}
    roots: dict[str, bytes] = {}
    for name, root_key in (("suppliers", "supplier_root"), ("ubos", "ubo_root")):
        t = tables.get(name)
        if not isinstance(t, dict):
            raise ComplianceProofError(f"proof.tables.{name} is missing")
        if name in disclosed:
            rows = t.get("rows")
            if t.get("disclosure") != "rows" or not isinstance(rows, list) or len(rows) > MAX_ROWS:
                raise ComplianceProofError(
                    f"proof.tables.{name} must disclose its rows (a non_membership rule reads it)"
                )
            leaves, plain_rows = [], []
            for i, r in enumerate(rows):
                row = r.get("row") if isinstance(r, dict) else None
                if not isinstance(row, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in row.items()
                ):
                    raise ComplianceProofError(f"proof.tables.{name}.rows[{i}] is malformed")
                salt = None if r.get("salt") is None else unhex_root(r["salt"], f"{name}.rows[{i}].salt")
                leaves.append(_leaf(row, salt, hash_name))
                plain_rows.append(row)
            data[name] = plain_rows
            res.disclosed[name] = f"{len(rows)} full rows (columns: {', '.join(plain_rows[0]) if plain_rows else '-'})"
        else:
            raw = t.get("leaves")
            if t.get("disclosure") != "leaves" or not isinstance(raw, list) or len(raw) > MAX_ROWS:
                raise ComplianceProofError(f"proof.tables.{name} must list its leaf hashes")
            leaves = [unhex_root(x, f"{name}.leaves[]") for x in raw]
            res.disclosed[name] = f"{len(leaves)} leaf hashes (no row content)"
        root = _root_of_leaves(leaves, hash_name)
        if hex_root(root) != manifest[root_key]:
            raise ComplianceProofError(
                f"the disclosed {name} do not rebuild the manifest's {root_key} (a row, salt or leaf was changed, "
                "added or removed)"
            )
        if t.get("count") != len(leaves):
            raise ComplianceProofError(f"proof.tables.{name}.count differs from the number of leaves")
        counts[name] = len(leaves)
        roots[name] = root
    if hex_root(company_commitment_root(roots["suppliers"], roots["ubos"], hash=hash_name)) != manifest[
        "company_commitment_root"
    ]:
        raise ComplianceProofError("manifest.company_commitment_root is not H(0x01 ‖ supplier_root ‖ ubo_root)")
    claimed = proof.get("checks")
    if not isinstance(claimed, list) or len(claimed) != len(checks):
        raise ComplianceProofError(f"the proof must carry exactly the policy's {len(checks)} checks")
    lists: dict[str, Any] = proof["lists"] if isinstance(proof.get("lists"), dict) else {}
    for c, got in zip(checks, claimed):
        if not isinstance(got, dict) or got.get("id") != c.id or got.get("op") != c.op:
            raise ComplianceProofError(f"check {c.id!r} is missing or out of order in the proof")
        if c.op != "non_membership":
            ok, value = evaluate_simple(c, counts, manifest)
            detail: dict[str, Any] = {"id": c.id, "op": c.op, "ok": ok, "value": value, "verified": True}
        else:
            list_name = rhs_list(c)
            info = lists.get(list_name)
            if not isinstance(info, dict):
                raise ComplianceProofError(f"proof.lists.{list_name} is missing")
            list_root = unhex_root(info.get("root"), f"lists.{list_name}.root")
            if manifest.get(list_name) != info.get("root"):
                raise ComplianceProofError(f"proof.lists.{list_name}.root is not the manifest's {list_name}")
            pinned = pinned_lists.get(list_name)
            if pinned is not None and pinned != info.get("root"):
                raise ComplianceProofError(
                    f"the manifest's {list_name} {info.get('root')} is not the trusted list root {pinned}"
                )
            if pinned is None:
                res.warnings.append(f"{list_name} taken from the signed manifest (not pinned by the verifier)")
            size = info.get("count")
            if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_ROWS:
                raise ComplianceProofError(f"proof.lists.{list_name}.count is malformed")
            if size == 0 and list_root != merkle.root([], hash=LIST_HASH):
                raise ComplianceProofError(f"proof.lists.{list_name}: an empty list has a different root")
            table, column = TABLE_VARS[str(c.lhs)]
            items = sorted({normalize_key(r.get(column, "")) for r in data[table]} - {""})
            evidence = got.get("evidence")
            if not isinstance(evidence, list) or len(evidence) != len(items):
                raise ComplianceProofError(f"check {c.id}: evidence must cover each of the {len(items)} distinct items")
            members = []
            for item, ev in zip(items, evidence):
                if not verify_non_membership(ev, item, list_root, size, f"check {c.id}"):
                    members.append(item)
            ok = not members
            detail = {"id": c.id, "op": c.op, "ok": ok, "items": len(items), "verified": True}
            if members:
                detail["members"] = members
        if got.get("ok") is not ok:
            raise ComplianceProofError(f"check {c.id}: the proof claims ok={got.get('ok')!r}, the data gives {ok}")
        res.checks.append(detail)
    status = "ok" if all(d["ok"] for d in res.checks) else "failed"
    if proof.get("status") != status:
        raise ComplianceProofError(f"proof.status {proof.get('status')!r} differs from the verified outcome {status!r}")
    failed = [d["id"] for d in res.checks if not d["ok"]]
    if failed:
        res.errors.append(f"policy not satisfied: {', '.join(failed)}")
        res.status = "fail"
    return res
