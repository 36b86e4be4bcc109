"""``cap manifest build`` (manifest.v1.0; see capfast.lksg.manifest for the one manifest hash)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import CliError, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap manifest build``."""
    sub = cli.group("manifest", help="build compliance manifests", description="manifest.v1.0")
    p = sub.command("build", run_build, help="build a manifest from commitments, a policy and the audit tip",
                    description="Validate the policy, verify the audit log, and write a manifest.v1.0 anchoring "
                    "the roots, the policy hash and the audit tip; with --sanctions, the sorted sanctions list is "
                    "committed and its root recorded (sanctions_root).")
    p.argument("--commitments", type=Path, default=Path("build/commitments.json"), help="(build/commitments.json)")
    p.argument("--policy", type=Path, required=True, help="policy file (lksg.v1 or PolicyV2)")
    p.output("(build/manifest.json)", default=Path("build/manifest.json"))
    p.argument("--audit", type=Path, default=None, help="audit log (default: agent.audit.jsonl beside commitments)")
    p.argument("--sanctions", type=Path, default=None, help="sanctions list CSV (column 'name')")
    p.argument("--jurisdictions", type=Path, default=None,
               help="high-risk jurisdiction list CSV (column 'iso_code')")
    p.argument("--time-anchor", default=None, metavar="REF", help="time anchor reference (TSA receipt, ticket...)")
    p.argument("--time-anchor-kind", default="file", help="kind of the time anchor (file, tsa, blockchain)")


def run_build(args: argparse.Namespace) -> int:
    from capfast.lksg.audit import AuditLog, verify_audit_log
    from capfast.lksg.manifest import build_manifest, load_commitments, manifest_hash, write_json_atomic
    from capfast.lksg.policies import load_any_policy
    from capfast.lksg.proof import LIST_COLUMNS, commit_list

    commitments = load_commitments(args.commitments)
    policy = load_any_policy(args.policy)
    audit = args.audit or args.commitments.parent / "agent.audit.jsonl"
    rep = verify_audit_log(audit)
    if not rep.ok:
        raise CliError(f"audit log {audit} does not verify ({rep.problem}): {rep.message}", hint="cap audit verify")
    roots = {}
    for name, path in (("sanctions_root", args.sanctions), ("jurisdiction_root", args.jurisdictions)):
        if path is not None:
            roots[name] = commit_list(path, LIST_COLUMNS[name]).root_hex
    needed = {c.rhs for c in policy.checks() if c.op == "non_membership" and isinstance(c.rhs, str)}
    needed |= {c.rhs["var"] for c in policy.checks() if c.op == "non_membership" and isinstance(c.rhs, dict)}
    missing = sorted(n for n in needed if n not in roots)
    if missing:
        flag = {"sanctions_root": "--sanctions", "jurisdiction_root": "--jurisdictions"}
        raise CliError(f"the policy needs {', '.join(missing)}",
                       hint="pass " + " ".join(flag.get(m, m) + " FILE" for m in missing))
    m = build_manifest(commitments, policy, audit_tip=rep.tip, audit_count=rep.count,
                       sanctions_root=roots.get("sanctions_root"), jurisdiction_root=roots.get("jurisdiction_root"),
                       time_anchor=args.time_anchor, time_anchor_kind=args.time_anchor_kind)
    write_json_atomic(args.output, m)
    mh = manifest_hash(m)
    AuditLog(audit).append("manifest_built", {"output": str(args.output), "policy": policy.name, "manifest_hash": mh})
    emit(args, {"ok": True, "output": str(args.output), "manifest_hash": mh, "manifest": m},
         f"wrote {args.output}\nmanifest hash {mh}\npolicy {policy.name} ({policy.hash})\n"
         f"audit tip {rep.tip} ({rep.count} events)")
    return 0
