"""``cap proof build|verify`` (backends merkle-disclosure-v1 and mock; see docs/lksg-proofs.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capfast.cli._command import Command, Commands
from capfast.cli._output import EXIT_VERIFY_FAILED, CliError, emit

__all__ = ["register", "pinned_lists"]


def _list_options(p: Command) -> None:
    p.argument("--sanctions", type=Path, default=None, help="sanctions list CSV (column 'name')")
    p.argument("--jurisdictions", type=Path, default=None, help="jurisdiction list CSV (column 'iso_code')")


def register(cli: Commands) -> None:
    """Add ``cap proof build|verify``."""
    sub = cli.group("proof", help="build and verify compliance proofs")
    p = sub.command("build", run_build, help="evaluate the policy over the committed data and write a proof",
                    description="merkle-disclosure-v1 (default): every claim checkable against the manifest's "
                    "roots; mock: cap-agent proof.v0 (self-declared checks).")
    p.argument("--manifest", type=Path, required=True)
    p.argument("--policy", type=Path, required=True)
    p.argument("--backend", default="merkle-disclosure-v1", choices=("merkle-disclosure-v1", "mock"))
    p.output("(build/proof.dat)", default=Path("build/proof.dat"))
    p.argument("--commitments", type=Path, default=None, help="(commitments.json beside the manifest)")
    p.argument("--suppliers", type=Path, default=None, help="(the file recorded by cap prepare)")
    p.argument("--ubos", type=Path, default=None, help="(the file recorded by cap prepare)")
    p.argument("--salt-key-file", type=Path, default=None, help="salt key used by cap prepare, if any")
    _list_options(p)

    p = sub.command("verify", run_verify, help="verify a proof against a manifest (exit 1 if it does not verify)")
    p.argument("--proof", type=Path, required=True)
    p.argument("--manifest", type=Path, required=True)
    p.argument("--sanctions-root", default=None, help="trusted sanctions list root to pin")
    _list_options(p)


def pinned_lists(args: argparse.Namespace) -> dict[str, str]:
    """List roots the verifier trusts: recomputed from --sanctions/--jurisdictions files or --sanctions-root."""
    from capfast.lksg.proof import LIST_COLUMNS, commit_list

    out: dict[str, str] = {}
    if getattr(args, "sanctions_root", None):
        out["sanctions_root"] = args.sanctions_root
    for name, path in (("sanctions_root", args.sanctions), ("jurisdiction_root", args.jurisdictions)):
        if path is not None:
            root = commit_list(path, LIST_COLUMNS[name]).root_hex
            if name in out and out[name] != root:
                raise CliError(f"--sanctions-root differs from the root of {path}")
            out[name] = root
    return out


def _audit(path: Path, event: str, details: dict[str, Any]) -> None:
    from capfast.lksg.audit import AuditLog

    if path.exists():
        AuditLog(path).append(event, details)


def run_build(args: argparse.Namespace) -> int:
    from capfast._io import atomic_write, read_bounded
    from capfast.cli._common import read_salt_key
    from capfast.errors import ComplianceManifestError
    from capfast.lksg.manifest import MAX_MANIFEST_BYTES, load_commitments, parse_manifest
    from capfast.lksg.policies import load_any_policy
    from capfast.lksg.proof import build_proof, encode_proof, proof_hash

    manifest = parse_manifest(read_bounded(args.manifest, MAX_MANIFEST_BYTES, "manifest", ComplianceManifestError),
                              str(args.manifest))
    policy = load_any_policy(args.policy)
    cpath = args.commitments or args.manifest.parent / "commitments.json"
    commitments = load_commitments(cpath)
    inputs = commitments.get("inputs") or {}
    suppliers = args.suppliers or (Path(inputs["suppliers"]["file"]) if "suppliers" in inputs else None)
    ubos = args.ubos or (Path(inputs["ubos"]["file"]) if "ubos" in inputs else None)
    lists = {}
    if args.sanctions is not None:
        lists["sanctions_root"] = args.sanctions
    if args.jurisdictions is not None:
        lists["jurisdiction_root"] = args.jurisdictions
    salt = read_salt_key(args.salt_key_file) if args.salt_key_file else None
    proof = build_proof(manifest, policy, commitments, backend=args.backend, suppliers=suppliers, ubos=ubos,
                        lists=lists, salt_key=salt)
    data = encode_proof(proof)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output, data)
    ph = proof_hash(data)
    _audit(args.manifest.parent / "agent.audit.jsonl", "proof_built",
           {"output": str(args.output), "proof_hash": ph, "backend": args.backend, "status": proof["status"]})
    failed = [c.get("id", c.get("name")) for c in proof.get("checks", proof.get("proof_data", {}).get(
        "checked_constraints", [])) if not c["ok"]]
    emit(args, {"ok": True, "output": str(args.output), "proof_hash": ph, "backend": args.backend,
                "status": proof["status"], "failed_checks": failed},
         f"wrote {args.output} (backend {args.backend}, status {proof['status']})\nproof hash {ph}"
         + (f"\npolicy NOT satisfied: {', '.join(map(str, failed))}" if failed else ""))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from capfast._io import read_bounded
    from capfast.errors import ComplianceManifestError, ComplianceProofError
    from capfast.lksg.manifest import MAX_MANIFEST_BYTES, manifest_hash, parse_manifest
    from capfast.lksg.proof import proof_hash, verify_proof

    manifest = parse_manifest(read_bounded(args.manifest, MAX_MANIFEST_BYTES, "manifest", ComplianceManifestError),
                              str(args.manifest))
    data = read_bounded(args.proof, 64 << 20, "proof", ComplianceProofError)
    res = verify_proof(data, manifest, pinned_lists=pinned_lists(args))
    doc = {"ok": res.ok, "manifest_hash": manifest_hash(manifest), "proof_hash": proof_hash(data), **res.to_dict()}
    _audit(args.manifest.parent / "agent.audit.jsonl", "proof_verified", {"proof": str(args.proof),
                                                                         "status": res.status})
    lines = [f"Verification: {res.status.upper()}", f"Manifest hash: {doc['manifest_hash']}",
             f"Proof hash: {doc['proof_hash']}"]
    lines += [f"  {'ok  ' if c.get('ok') else 'FAIL'} {c.get('id')}" for c in res.checks]
    lines += [f"error: {e}" for e in res.errors] + [f"warning: {w}" for w in res.warnings]
    emit(args, doc, "\n".join(lines))
    return 0 if res.ok else EXIT_VERIFY_FAILED
