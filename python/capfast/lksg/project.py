"""The project workflow (the seed's desktop commands) as a Python API; ``cap project ...`` wraps it.

A project is a directory ``<workspace>/<name>/`` with ``input/`` (imported CSVs, ``policy.yml``, optional
``sanctions.csv``), ``build/`` (``commitments.json``, ``manifest.json``, ``proof.dat``, ``agent.audit.jsonl``)
and ``export/`` (``cap-bundle-<timestamp>.zip`` copies), plus ``project.json``. Every step appends the seed's
audit event to ``build/agent.audit.jsonl``: ``project_created {project_name}``, ``csv_imported {file_type,
row_count, file_hash}``, ``commitments_created {supplier_root, ubo_root}``, ``policy_loaded {policy_name,
policy_hash}``, ``manifest_built {manifest_hash}``, ``proof_built {proof_hash, backend}``, ``bundle_exported
{output_path, hash, size}``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
from pathlib import Path
from typing import Any

import blake3

from capfast import strict_json
from capfast._io import atomic_write
from capfast._time import rfc3339_now
from capfast.errors import ComplianceError
from capfast.lksg.audit import AuditLog, verify_audit_log
from capfast.lksg.serial import pretty

__all__ = [
    "build_commitments",
    "build_manifest",
    "build_proof",
    "create_project",
    "export_bundle",
    "get_project_status",
    "import_csv",
    "load_policy",
    "read_audit_log",
    "verify_bundle",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
_KINDS = {"suppliers": "suppliers.csv", "ubos": "ubos.csv", "sanctions": "sanctions.csv"}


def _log(project: Path) -> AuditLog:
    return AuditLog(Path(project) / "build" / "agent.audit.jsonl")


def create_project(workspace: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """Create ``workspace/name/{input,build,export}``; ``{path, name, createdAt}``. An existing project is an error."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ComplianceError(f"project name {name!r} must be 1-64 letters, digits, space, '_', '.', '-'")
    path = Path(workspace) / name
    if path.exists():
        raise ComplianceError(f"project {path} already exists")
    for sub in ("input", "build", "export"):
        (path / sub).mkdir(parents=True)
    created = rfc3339_now()
    atomic_write(path / "project.json", pretty({"schema": "capfast.project.v1", "name": name, "createdAt": created}))
    _log(path).append("project_created", {"project_name": name})
    return {"path": str(path), "name": name, "createdAt": created}


def import_csv(project: str | os.PathLike[str], path: str | os.PathLike[str], csv_type: str) -> dict[str, Any]:
    """Copy a CSV into ``input/`` after checking it parses; ``{rowCount, validRows, hash, fileType}``."""
    from capfast.commit import iter_rows

    if csv_type not in _KINDS:
        raise ComplianceError(f"csv type {csv_type!r} must be one of {', '.join(_KINDS)}")
    data = Path(path).read_bytes()
    rows = list(iter_rows(data))
    required = {"suppliers": ("name", "jurisdiction", "tier"), "ubos": ("name", "birthdate", "citizenship"),
                "sanctions": ("name",)}[csv_type]
    if rows and any(c not in rows[0] for c in required):
        raise ComplianceError(f"{path}: a {csv_type} CSV needs the columns {', '.join(required)}")
    if not rows and csv_type != "sanctions":
        raise ComplianceError(f"{path} has no data rows")
    valid = sum(1 for r in rows if all(r.get(c, "").strip() for c in required))
    digest = "0x" + blake3.blake3(data).hexdigest()
    atomic_write(Path(project) / "input" / _KINDS[csv_type], data)
    _log(Path(project)).append("csv_imported", {"file_type": csv_type, "row_count": len(rows), "file_hash": digest})
    return {"rowCount": len(rows), "validRows": valid, "hash": digest, "fileType": csv_type}


def build_commitments(project: str | os.PathLike[str]) -> dict[str, Any]:
    """Commit ``input/suppliers.csv`` and ``input/ubos.csv`` (merkle-v1, BLAKE3) into ``build/commitments.json``."""
    from capfast.commit import commit
    from capfast.lksg import company_commitment_root

    p = Path(project)
    s = commit(p / "input" / "suppliers.csv")
    u = commit(p / "input" / "ubos.csv")
    doc = {
        "supplier_root": s.root_hex,
        "ubo_root": u.root_hex,
        "company_commitment_root": "0x" + company_commitment_root(s.root, u.root).hex(),
        "supplier_count": s.count,
        "ubo_count": u.count,
        "scheme": "merkle-v1",
        "hash": "blake3",
        "salted": False,
        "inputs": {"suppliers": {"file": str(p / "input" / "suppliers.csv")},
                   "ubos": {"file": str(p / "input" / "ubos.csv")}},
    }
    atomic_write(p / "build" / "commitments.json", pretty(doc) + "\n")
    _log(p).append("commitments_created", {"supplier_root": s.root_hex, "ubo_root": u.root_hex})
    return {"supplierRoot": s.root_hex, "uboRoot": u.root_hex, "supplierCount": s.count, "uboCount": u.count}


def load_policy(project: str | os.PathLike[str], policy_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Use ``policy_path`` (copied to ``input/policy.yml``) or the existing/default policy."""
    from capfast.lksg.policies import load_any_policy
    from capfast.lksg.policy import DEFAULT_POLICY_YAML

    p = Path(project)
    target = p / "input" / "policy.yml"
    if policy_path is not None:
        src = Path(policy_path)
        load_any_policy(src)  # validate before copying
        data = src.read_bytes()
        if src.suffix.lower() not in (".yml", ".yaml"):
            target = p / "input" / "policy.json"
        atomic_write(target, data)
    elif not target.exists() and not (p / "input" / "policy.json").exists():
        atomic_write(target, DEFAULT_POLICY_YAML)
    if not target.exists():
        target = p / "input" / "policy.json"
    policy = load_any_policy(target)
    _log(p).append("policy_loaded", {"policy_name": policy.name, "policy_hash": policy.hash})
    return {"name": policy.name, "version": policy.version, "hash": policy.hash,
            "constraints": [c.id for c in policy.checks()]}


def _policy_file(p: Path) -> Path:
    for name in ("policy.yml", "policy.json"):
        if (p / "input" / name).exists():
            return p / "input" / name
    raise ComplianceError("the project has no policy: run load_policy first")


def build_manifest(project: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``build/manifest.json`` (with ``sanctions_root`` when ``input/sanctions.csv`` exists)."""
    from capfast.lksg.manifest import build_manifest as _build
    from capfast.lksg.manifest import load_commitments, manifest_hash, write_json_atomic
    from capfast.lksg.policies import load_any_policy
    from capfast.lksg.proof import commit_list

    p = Path(project)
    commitments = load_commitments(p / "build" / "commitments.json")
    policy = load_any_policy(_policy_file(p))
    rep = verify_audit_log(p / "build" / "agent.audit.jsonl")
    if not rep.ok:
        raise ComplianceError(f"the project's audit log does not verify: {rep.message}")
    sanctions = p / "input" / "sanctions.csv"
    root = commit_list(sanctions, "name").root_hex if sanctions.exists() else None
    m = _build(commitments, policy, audit_tip=rep.tip, audit_count=rep.count, sanctions_root=root)
    write_json_atomic(p / "build" / "manifest.json", m)
    mh = manifest_hash(m)
    _log(p).append("manifest_built", {"manifest_hash": mh})
    return {"hash": mh, "version": m["version"], "createdAt": m["created_at"]}


def build_proof(project: str | os.PathLike[str], backend: str = "merkle-disclosure-v1") -> dict[str, Any]:
    """Write ``build/proof.dat``; ``{proofHash, backend, status}``."""
    from capfast.lksg.manifest import load_commitments, parse_manifest
    from capfast.lksg.policies import load_any_policy
    from capfast.lksg.proof import build_proof as _build
    from capfast.lksg.proof import encode_proof, proof_hash

    p = Path(project)
    m = parse_manifest((p / "build" / "manifest.json").read_bytes())
    lists = {"sanctions_root": p / "input" / "sanctions.csv"} if (p / "input" / "sanctions.csv").exists() else {}
    proof = _build(m, load_any_policy(_policy_file(p)), load_commitments(p / "build" / "commitments.json"),
                   backend=backend, suppliers=p / "input" / "suppliers.csv", ubos=p / "input" / "ubos.csv",
                   lists=lists)
    data = encode_proof(proof)
    atomic_write(p / "build" / "proof.dat", data)
    ph = proof_hash(data)
    _log(p).append("proof_built", {"proof_hash": ph, "backend": backend})
    return {"proofHash": ph, "backend": backend, "status": proof["status"]}


def export_bundle(project: str | os.PathLike[str], output: str | os.PathLike[str]) -> dict[str, Any]:
    """Export a ZIP bundle to ``output`` and copy it to ``export/cap-bundle-<timestamp>.zip``."""
    from capfast.lksg.export import export_bundle as _export

    p = Path(project)
    out = Path(output)
    if out.suffix.lower() != ".zip":
        raise ComplianceError("export_bundle writes a ZIP: the output must end in .zip")
    sig = p / "build" / "signature.json"
    meta = _export(out, p / "build" / "manifest.json", p / "build" / "proof.dat",
                   signature=sig if sig.exists() else None, force=True)
    data = out.read_bytes()
    digest = "0x" + blake3.blake3(data).hexdigest()
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    copy = p / "export" / f"cap-bundle-{stamp}.zip"
    shutil.copyfile(out, copy)
    _log(p).append("bundle_exported", {"output_path": str(out), "hash": digest, "size": len(data)})
    names = sorted([*meta["files"], "_meta.json"])
    return {"bundlePath": str(out), "sizeBytes": len(data), "hash": digest, "files": names,
            "copy": str(copy)}


def read_audit_log(project: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The project's audit entries (``seq, ts, event, details, prevDigest, digest``); verifies the chain first."""
    from capfast.lksg.audit import _parse_entry

    path = Path(project) / "build" / "agent.audit.jsonl"
    rep = verify_audit_log(path)
    if not rep.ok:
        raise ComplianceError(f"audit log does not verify ({rep.problem}): {rep.message}")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            e = _parse_entry(line)
            out.append({"seq": e.seq, "ts": e.ts, "event": e.event, "details": e.details,
                        "prevDigest": e.prev_digest, "digest": e.digest})
    return out


def verify_bundle(bundle_path: str | os.PathLike[str], trusted_keys: list[bytes] | None = None) -> dict[str, Any]:
    """Verify a bundle offline; ``{status, manifestHash, proofHash, details}``."""
    from capfast.lksg.verifier import verify_package

    rep = verify_package(bundle_path, trusted_keys=trusted_keys or [])
    return {"status": rep["status"], "manifestHash": rep.get("manifest_hash"), "proofHash": rep.get("proof_hash"),
            "details": rep["errors"] + rep["warnings"]}


def get_project_status(project: str | os.PathLike[str]) -> dict[str, Any]:
    """Which steps are done, and the next one."""
    p = Path(project)
    flags = {
        "hasSuppliersCsv": (p / "input" / "suppliers.csv").exists(),
        "hasUbosCsv": (p / "input" / "ubos.csv").exists(),
        "hasPolicy": (p / "input" / "policy.yml").exists() or (p / "input" / "policy.json").exists(),
        "hasCommitments": (p / "build" / "commitments.json").exists(),
        "hasManifest": (p / "build" / "manifest.json").exists(),
        "hasProof": (p / "build" / "proof.dat").exists(),
    }
    order = [("import", flags["hasSuppliersCsv"] and flags["hasUbosCsv"]), ("commitments", flags["hasCommitments"]),
             ("policy", flags["hasPolicy"]), ("manifest", flags["hasManifest"]), ("proof", flags["hasProof"])]
    step = next((name for name, done in order if not done), "export")
    info: dict[str, Any] = {}
    if (p / "project.json").exists():
        info = strict_json.load_file(p / "project.json", what="project.json", error=ComplianceError)
    return {**flags, "currentStep": step, "info": info}
