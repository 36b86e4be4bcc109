"""Compliance proofs over committed data: backends ``mock`` (cap-agent proof.v0) and ``merkle-disclosure-v1``.

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

import base64
import binascii
import bisect
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import blake3

from capfast import merkle
from capfast.commit import RowProof, commit, iter_rows, verify_row
from capfast.errors import ComplianceProofError, CsvFormatError, PolicyError
from capfast.lksg._json import compact, pretty, sha3_hex, strict_loads
from capfast.lksg.manifest import manifest_hash
from capfast.lksg.policy import Check, Policy, load_policy_document, parse_policy

__all__ = [
    "BACKENDS",
    "LIST_COLUMNS",
    "ListCommitment",
    "ProofResult",
    "build_proof",
    "commit_list",
    "decode_proof",
    "encode_proof",
    "load_any_policy",
    "normalize_key",
    "parse_capz",
    "policy_from_document",
    "verify_proof",
]

BACKENDS = ("mock", "merkle-disclosure-v1")
DISCLOSURE_VERSION = "proof.merkle-disclosure.v1"
#: Column of each list file that holds the key compared with the suppliers/UBOs.
LIST_COLUMNS = {"sanctions_root": "name", "jurisdiction_root": "iso_code"}
LIST_HASH = "blake3"
MAX_ROWS = 10_000_000
MAX_PATH = 64
_SALT_CONTEXT = b"capfast.commit.salt.v1"
_ROOT = re.compile(r"0x[0-9a-f]{64}")

#: variable → (table, column compared by non_membership; None = the default ``name``)
TABLE_VARS: dict[str, tuple[str, str]] = {
    "suppliers": ("suppliers", "name"),
    "supplier_hashes": ("suppliers", "name"),
    "supplier_names": ("suppliers", "name"),
    "supplier_jurisdictions": ("suppliers", "jurisdiction"),
    "ubos": ("ubos", "name"),
    "ubo_hashes": ("ubos", "name"),
    "ubo_names": ("ubos", "name"),
    "ubo_citizenships": ("ubos", "citizenship"),
}
COUNT_VARS = {"supplier_count": "suppliers", "ubo_count": "ubos"}
ROOT_VARS = ("supplier_root", "ubo_root", "company_commitment_root")
TABLES = ("suppliers", "ubos")


def normalize_key(text: str) -> str:
    """The comparison key of a name: Unicode NFKC, case-folded, whitespace runs collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _unhex(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not _ROOT.fullmatch(value):
        raise ComplianceProofError(f"{what} must be 0x + 64 lowercase hex digits")
    return bytes.fromhex(value[2:])


# ---------------------------------------------------------------------------------------------------- policies


def policy_from_document(doc: Any) -> Any:
    """An lksg.v1 :class:`Policy` or a :class:`~capfast.lksg.policy_v2.PolicyV2`, by the document's shape."""
    from capfast.lksg.policy_v2 import is_policy_v2, parse_policy_v2

    if is_policy_v2(doc):
        p2 = parse_policy_v2(doc)
        from capfast.lksg.lint import lint_policy

        errors = [d for d in lint_policy(doc, strict=False) if d.level == "error"]
        if errors:
            raise PolicyError("policy has lint errors: " + "; ".join(f"{d.code} {d.message}" for d in errors))
        return p2
    return parse_policy(doc)


def load_any_policy(path: str | os.PathLike[str]) -> Any:
    """Read a policy file of either kind (see :func:`policy_from_document`)."""
    return policy_from_document(load_policy_document(path))


def _policy_doc(policy: Any) -> dict[str, Any]:
    return policy.canonical()


# ---------------------------------------------------------------------------------------------------- lists


@dataclass
class ListCommitment:
    """A sorted, de-duplicated key list committed as ``merkle-v1`` rows ``{"key": k}`` (BLAKE3, unsalted)."""

    keys: list[str]
    root: bytes
    _commitment: Any = field(repr=False, default=None)

    @property
    def root_hex(self) -> str:
        return _hex(self.root)

    @property
    def count(self) -> int:
        return len(self.keys)

    def prove(self, index: int) -> dict[str, Any]:
        rp = self._commitment.prove(index, row={"key": self.keys[index]})
        return {"index": index, "key": self.keys[index], "path": [_hex(p) for p in rp.path]}


def commit_keys(keys: Iterable[str]) -> ListCommitment:
    """Commit a set of already-normalised keys (sorted bytewise, duplicates removed)."""
    ordered = sorted(set(keys), key=lambda k: k.encode("utf-8"))
    c = commit(({"key": k} for k in ordered), hash=LIST_HASH, columns=["key"]) if ordered else None
    root = c.root if c is not None else merkle.root([], hash=LIST_HASH)
    return ListCommitment(ordered, root, c)


def commit_list(path: str | os.PathLike[str], column: str) -> ListCommitment:
    """Commit a public list file (CSV with a ``column`` header, e.g. ``name`` for sanctions)."""
    keys = []
    try:
        for i, row in enumerate(iter_rows(path, columns=[column])):
            if i >= MAX_ROWS:
                raise ComplianceProofError(f"list {path} has more than {MAX_ROWS} rows")
            key = normalize_key(row[column])
            if key:
                keys.append(key)
    except CsvFormatError:
        raise
    return commit_keys(keys)


def _non_membership_evidence(lst: ListCommitment, item: str) -> dict[str, Any]:
    enc = [k.encode("utf-8") for k in lst.keys]
    x = item.encode("utf-8")
    pos = bisect.bisect_left(enc, x)
    if pos < len(enc) and enc[pos] == x:
        return {"item": item, "member": lst.prove(pos)}
    return {
        "item": item,
        "lower": lst.prove(pos - 1) if pos > 0 else None,
        "upper": lst.prove(pos) if pos < len(enc) else None,
    }


# ---------------------------------------------------------------------------------------------------- tables


def _salt(key: bytes, index: int) -> bytes:
    return blake3.blake3(_SALT_CONTEXT + index.to_bytes(8, "big"), key=key).digest()


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
        salt = _salt(salt_key, i) if salt_key is not None else None
        rows.append(row)
        salts.append(salt)
        leaves.append(_leaf(row, salt, hash_name))
    return rows, salts, leaves


# ---------------------------------------------------------------------------------------------------- evaluation


def _table_of(var: Any) -> tuple[str, str] | None:
    return TABLE_VARS.get(var) if isinstance(var, str) else None


def _value(var: Any, counts: Mapping[str, int], manifest: Mapping[str, Any]) -> Any:
    """The value of an operand: a count, a table length, a manifest root, or a literal."""
    if isinstance(var, dict) and set(var) == {"var"}:
        var = var["var"]
    if isinstance(var, str):
        if var in COUNT_VARS:
            return counts[COUNT_VARS[var]]
        if var in TABLE_VARS:
            return counts[TABLE_VARS[var][0]]
        if var in ROOT_VARS or var in LIST_COLUMNS:
            return manifest.get(var)
        known = ", ".join([*COUNT_VARS, *TABLE_VARS, *ROOT_VARS, *LIST_COLUMNS])
        raise ComplianceProofError(f"unknown variable {var!r} (known: {known})")
    return var


def _rhs_list(check: Check) -> str:
    rhs = check.rhs["var"] if isinstance(check.rhs, dict) and "var" in check.rhs else check.rhs
    if rhs not in LIST_COLUMNS:
        raise ComplianceProofError(
            f"rule {check.id}: non_membership needs a list on the right ({', '.join(LIST_COLUMNS)}), got {rhs!r}"
        )
    return str(rhs)


def _number(value: Any, check: Check) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ComplianceProofError(f"rule {check.id}: {check.op} needs numbers, got {value!r}")
    return int(value)


def _evaluate_simple(check: Check, counts: Mapping[str, int], manifest: Mapping[str, Any]) -> tuple[bool, Any]:
    lhs = _value(check.lhs, counts, manifest)
    rhs = _value(check.rhs, counts, manifest)
    if check.op == "range_min":
        return _number(lhs, check) >= _number(rhs, check), lhs
    if check.op == "range_max":
        return _number(lhs, check) <= _number(rhs, check), lhs
    if check.op == "eq":
        return lhs == rhs, lhs
    raise ComplianceProofError(f"rule {check.id}: unsupported op {check.op!r}")


def _disclosed_tables(checks: Sequence[Check]) -> set[str]:
    out = set()
    for c in checks:
        if c.op == "non_membership":
            t = _table_of(c.lhs)
            if t is None:
                raise ComplianceProofError(
                    f"rule {c.id}: non_membership needs a table variable on the left "
                    f"({', '.join(TABLE_VARS)}), got {c.lhs!r}"
                )
            out.add(t[0])
    return out


# ---------------------------------------------------------------------------------------------------- building


def _mock_proof(manifest: Mapping[str, Any], policy: Any, commitments: Mapping[str, Any]) -> dict[str, Any]:
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
        return _mock_proof(manifest, policy, commitments)
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
    disclosed = _disclosed_tables(checks)
    tables: dict[str, Any] = {}
    data: dict[str, list[dict[str, str]]] = {}
    counts: dict[str, int] = {}
    for name, path, root_key in (("suppliers", suppliers, "supplier_root"), ("ubos", ubos, "ubo_root")):
        rows, salts, leaves = _read_table(path, salt_key, hash_name)
        root = _hex(_root_of_leaves(leaves, hash_name))
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
            entry["rows"] = [{"row": r, "salt": None if s is None else _hex(s)} for r, s in zip(rows, salts)]
        else:
            entry["disclosure"] = "leaves"
            entry["leaves"] = [_hex(x) for x in leaves]
        tables[name] = entry
    list_objs: dict[str, ListCommitment] = {}
    out_checks = []
    for c in checks:
        if c.op != "non_membership":
            ok, value = _evaluate_simple(c, counts, manifest)
            out_checks.append({**c.to_dict(), "ok": ok, "value": value})
            continue
        list_name = _rhs_list(c)
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
        evidence = [_non_membership_evidence(lst, x) for x in items]
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


def encode_proof(proof: Mapping[str, Any]) -> bytes:
    """File bytes: cap-agent's ``proof.dat`` (base64 of compact JSON) for proof.v0, compact JSON otherwise."""
    text = compact(proof)
    if proof.get("version") == "proof.v0":
        return base64.b64encode(text.encode("utf-8"))
    return text.encode("utf-8")


def parse_capz(data: bytes) -> tuple[int, bytes, bytes, bytes]:
    """A CAPZ v2 container (§4.3): ``(backend, vk_hash, params_hash, payload)``; malformed → error."""
    if len(data) < 78 or data[:4] != b"CAPZ":
        raise ComplianceProofError("not a CAPZ container (too short or bad magic)")
    version = int.from_bytes(data[4:6], "little")
    if version != 2:
        raise ComplianceProofError(f"CAPZ version {version} is not supported (expected 2)")
    backend, reserved = data[6], data[7]
    if backend not in (0, 1, 2) or reserved != 0:
        raise ComplianceProofError(f"CAPZ backend byte {backend} / reserved byte {reserved} is invalid")
    length = int.from_bytes(data[72:76], "little")
    if length > 100_000_000 or 78 + length > len(data):
        raise ComplianceProofError("CAPZ payload length exceeds the container")
    return backend, data[8:40], data[40:72], data[78 : 78 + length]


def decode_proof(data: bytes) -> dict[str, Any]:
    """Parse a proof file: CAPZ (backend 0 = mock payload), JSON, or base64 of JSON (cap-agent ``proof.dat``)."""
    if data[:4] == b"CAPZ":
        backend, _, _, payload = parse_capz(data)
        if backend != 0:
            raise ComplianceProofError(f"CAPZ backend {backend} (zkvm/halo2) is not supported by this verifier")
        data = payload
    stripped = data.strip()
    if not stripped.startswith(b"{"):
        try:
            stripped = base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            raise ComplianceProofError("proof is neither JSON nor base64-encoded JSON") from None
    doc = strict_loads(stripped, "proof", ComplianceProofError)
    if not isinstance(doc, dict):
        raise ComplianceProofError("proof must be a JSON object")
    return doc


# ---------------------------------------------------------------------------------------------------- verifying


@dataclass
class ProofResult:
    """Outcome of :func:`verify_proof`: ``status`` ``"ok"`` | ``"warn"`` (mock: bindings only) | ``"fail"``."""

    status: str
    backend: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    disclosed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "backend": self.backend,
            "errors": self.errors,
            "warnings": self.warnings,
            "checks": self.checks,
            "disclosed": self.disclosed,
        }


def _verify_mock(proof: Mapping[str, Any], manifest: Mapping[str, Any]) -> ProofResult:
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


def _check_path(entry: Any, root: bytes, size: int, what: str) -> tuple[int, str]:
    if not isinstance(entry, dict):
        raise ComplianceProofError(f"{what} is malformed")
    index, key, path = entry.get("index"), entry.get("key"), entry.get("path")
    if (isinstance(index, bool) or not isinstance(index, int) or not isinstance(key, str)
            or not isinstance(path, list) or len(path) > MAX_PATH):
        raise ComplianceProofError(f"{what} is malformed")
    rp = RowProof(index, size, {"key": key}, None, [_unhex(p, f"{what}.path") for p in path], LIST_HASH)
    if not verify_row(root, rp):
        raise ComplianceProofError(f"{what}: inclusion proof of leaf {index} ({key!r}) does not verify against the "
                                   "list root")
    return index, key


def _verify_non_membership(ev: Any, item: str, root: bytes, size: int, where: str) -> bool:
    """True if ``ev`` proves ``item`` absent, False if it proves it present; raises if the evidence is bad."""
    if not isinstance(ev, dict) or ev.get("item") != item:
        raise ComplianceProofError(f"{where}: evidence for {item!r} is missing or out of order")
    x = item.encode("utf-8")
    if "member" in ev:
        _, key = _check_path(ev["member"], root, size, f"{where} member")
        if key != item:
            raise ComplianceProofError(f"{where}: member evidence names {key!r}, not {item!r}")
        return False
    lower, upper = ev.get("lower"), ev.get("upper")
    if size == 0:
        if lower is not None or upper is not None:
            raise ComplianceProofError(f"{where}: an empty list has no leaves")
        return True
    li = ui = None
    if lower is not None:
        li, lk = _check_path(lower, root, size, f"{where} lower")
        if not lk.encode("utf-8") < x:
            raise ComplianceProofError(f"{where}: lower neighbour {lk!r} is not below {item!r}")
    if upper is not None:
        ui, uk = _check_path(upper, root, size, f"{where} upper")
        if not x < uk.encode("utf-8"):
            raise ComplianceProofError(f"{where}: upper neighbour {uk!r} is not above {item!r}")
    if li is None and ui is None:
        raise ComplianceProofError(f"{where}: no neighbour given for {item!r}")
    if li is None and ui != 0:
        raise ComplianceProofError(f"{where}: {item!r} is below the list only if the upper neighbour is leaf 0")
    if ui is None and li != size - 1:
        raise ComplianceProofError(f"{where}: {item!r} is above the list only if the lower neighbour is the last leaf")
    if li is not None and ui is not None and ui != li + 1:
        raise ComplianceProofError(f"{where}: the neighbours of {item!r} are not adjacent leaves")
    return True


def _verify_disclosure(
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
    disclosed = _disclosed_tables(checks)
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
                salt = None if r.get("salt") is None else _unhex(r["salt"], f"{name}.rows[{i}].salt")
                leaves.append(_leaf(row, salt, hash_name))
                plain_rows.append(row)
            data[name] = plain_rows
            res.disclosed[name] = f"{len(rows)} full rows (columns: {', '.join(plain_rows[0]) if plain_rows else '-'})"
        else:
            raw = t.get("leaves")
            if t.get("disclosure") != "leaves" or not isinstance(raw, list) or len(raw) > MAX_ROWS:
                raise ComplianceProofError(f"proof.tables.{name} must list its leaf hashes")
            leaves = [_unhex(x, f"{name}.leaves[]") for x in raw]
            res.disclosed[name] = f"{len(leaves)} leaf hashes (no row content)"
        root = _root_of_leaves(leaves, hash_name)
        if _hex(root) != manifest[root_key]:
            raise ComplianceProofError(
                f"the disclosed {name} do not rebuild the manifest's {root_key} (a row, salt or leaf was changed, "
                "added or removed)"
            )
        if t.get("count") != len(leaves):
            raise ComplianceProofError(f"proof.tables.{name}.count differs from the number of leaves")
        counts[name] = len(leaves)
        roots[name] = root
    from capfast.lksg import company_commitment_root

    if _hex(company_commitment_root(roots["suppliers"], roots["ubos"], hash=hash_name)) != manifest[
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
            ok, value = _evaluate_simple(c, counts, manifest)
            detail: dict[str, Any] = {"id": c.id, "op": c.op, "ok": ok, "value": value, "verified": True}
        else:
            list_name = _rhs_list(c)
            info = lists.get(list_name)
            if not isinstance(info, dict):
                raise ComplianceProofError(f"proof.lists.{list_name} is missing")
            list_root = _unhex(info.get("root"), f"lists.{list_name}.root")
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
                if not _verify_non_membership(ev, item, list_root, size, f"check {c.id}"):
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


def verify_proof(
    proof: Mapping[str, Any] | bytes, manifest: Mapping[str, Any], *, pinned_lists: Mapping[str, str] | None = None
) -> ProofResult:
    """Verify a proof (object or file bytes) against a manifest; never raises for a bad proof (see ``errors``)."""
    backend = "unknown"
    try:
        doc = decode_proof(proof) if isinstance(proof, (bytes, bytearray)) else dict(proof)
        version = doc.get("version")
        if version == "proof.v0":
            return _verify_mock(doc, manifest)
        if version == DISCLOSURE_VERSION:
            backend = "merkle-disclosure-v1"
            return _verify_disclosure(doc, manifest, pinned_lists or {})
        raise ComplianceProofError(f"unknown proof version {version!r}")
    except (ComplianceProofError, PolicyError) as exc:
        return ProofResult("fail", backend, [str(exc)])
    except (KeyError, TypeError, AttributeError) as exc:
        return ProofResult("fail", backend, [f"proof is malformed ({type(exc).__name__}: {exc})"])


def proof_hash(data: bytes) -> str:
    """``"0x"`` + SHA3-256 of the proof file bytes."""
    return sha3_hex(data)


def proof_summary(proof: Mapping[str, Any]) -> str:
    return pretty({k: proof[k] for k in ("version", "type", "statement", "manifest_hash", "policy_hash", "status")
                   if k in proof})
