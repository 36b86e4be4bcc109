"""``cap verifier run --package DIR|ZIP``: offline bundle verification (exit 1 on any failure)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capfast.cli._output import EXIT_VERIFY_FAILED, CapArgumentParser, add_common_options, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``cap verifier run``."""
    group = subparsers.add_parser("verifier", help="verify bundles offline")
    sub = group.add_subparsers(dest="verifier_command", metavar="SUBCOMMAND", parser_class=CapArgumentParser)
    sub.required = True
    p = sub.add_parser("run", help="verify a cap-bundle.v1 (or legacy) bundle; exit 1 on any failure",
                       description="Hash-check every listed file, report unlisted ones, refuse unsafe names, "
                       "detect dependency cycles, verify each proof unit and its signatures, and write "
                       "verification.report.json. Status OK, WARN (verified with caveats) or FAIL (exit 1).")
    p.add_argument("--package", type=Path, required=True, help="bundle directory or ZIP")
    p.add_argument("--pub-key", action="append", type=Path, default=[],
                   help="trusted signer key (.pub raw 32 bytes or cap-key.v1 .json); repeatable")
    p.add_argument("--require-signature", action="store_true", help="fail if the manifest is not signed")
    p.add_argument("--sanctions", type=Path, default=None, help="public sanctions list to pin sanctions_root")
    p.add_argument("--jurisdictions", type=Path, default=None, help="public jurisdiction list to pin its root")
    p.add_argument("--sanctions-root", default=None, help="trusted sanctions list root")
    p.add_argument("--out", type=Path, default=Path("build/verification.report.json"),
                   help="report file (build/verification.report.json)")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from capfast.cli.proof import pinned_lists
    from capfast.lksg.keys import load_public_key
    from capfast.lksg.manifest import write_json_atomic
    from capfast.lksg.verifier import verify_package

    report = verify_package(args.package, trusted_keys=[load_public_key(k) for k in args.pub_key],
                            pinned_lists=pinned_lists(args), require_signature=args.require_signature)
    write_json_atomic(args.out, report, newline=True)

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
        lines.append(f"report: {args.out}")
        return "\n".join(lines)

    emit(args, report, human)
    return EXIT_VERIFY_FAILED if report["status"] == "fail" else 0
