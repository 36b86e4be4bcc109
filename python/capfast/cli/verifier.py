"""``cap verifier run --package DIR|ZIP``: offline bundle verification (exit 1 on any failure)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_VERIFY_FAILED, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap verifier run``."""
    sub = cli.group("verifier", help="verify bundles offline")
    p = sub.command("run", run, help="verify a cap-bundle.v1 (or legacy) bundle; exit 1 on any failure",
                    description="Hash-check every listed file, report unlisted ones, refuse unsafe names, "
                    "detect dependency cycles, verify each proof unit and its signatures, and write "
                    "verification.report.json. Status OK, WARN (verified with caveats) or FAIL (exit 1).")
    p.argument("--package", type=Path, required=True, help="bundle directory or ZIP")
    p.pubkey("trusted signer key (.pub raw 32 bytes or cap-key.v1 .json)", multiple=True)
    p.argument("--require-signature", action="store_true", help="fail if the manifest is not signed")
    p.argument("--sanctions", type=Path, default=None, help="public sanctions list to pin sanctions_root")
    p.argument("--jurisdictions", type=Path, default=None, help="public jurisdiction list to pin its root")
    p.argument("--sanctions-root", default=None, help="trusted sanctions list root")
    p.output("report file (build/verification.report.json)", default=Path("build/verification.report.json"))


def run(args: argparse.Namespace) -> int:
    from capfast.cli.proof import pinned_lists
    from capfast.lksg.keys import load_public_key
    from capfast.lksg.manifest import write_json_atomic
    from capfast.lksg.verifier import verify_package

    report = verify_package(args.package, trusted_keys=[load_public_key(k) for k in args.pubkey],
                            pinned_lists=pinned_lists(args), require_signature=args.require_signature)
    write_json_atomic(args.output, report, newline=True)

    def human() -> str:
        lines = ["Verification Report:", f"Status: {report['status'].upper()}", f"Format: {report['format']}"]
        if report.get("manifest_hash"):
            lines += [f"Manifest Hash: {report['manifest_hash']}", f"Proof Hash: {report.get('proof_hash')}"]
        for u in report["units"]:
            sig = "Valid" if u.get("signature_valid") else "none/invalid"
            lines.append(f"Unit {u['id']}: {u.get('status', 'fail').upper()} (backend {u.get('backend')}, "
                         f"signature: {sig})")
            for c in (u.get("proof") or {}).get("checks", []):
                lines.append(f"  {'ok  ' if c.get('ok') else 'FAIL'} {c.get('id')}")
        lines += [f"error: {e}" for e in report["errors"]] + [f"warning: {w}" for w in report["warnings"]]
        lines.append(f"report: {args.output}")
        return "\n".join(lines)

    emit(args, report, human)
    return EXIT_VERIFY_FAILED if report["status"] == "fail" else 0
