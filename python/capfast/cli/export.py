"""``cap export``: write a cap-bundle.v1 directory or ZIP (see capfast.lksg.bundle)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap export``."""
    p = cli.command("export", run, help="export a cap-bundle.v1 (directory, or ZIP if OUT ends in .zip)",
                    description="Check that the proof verifies against the manifest (and the signature "
                    "signs it), then write _meta.json with the SHA3-256 of every file. Nothing is written "
                    "if a check fails.")
    p.argument("--manifest", type=Path, required=True)
    p.argument("--proof", type=Path, required=True)
    p.output("bundle directory or .zip", required=True)
    p.argument("--signature", type=Path, default=None, help="signed manifest from 'cap sign manifest'")
    p.argument("--timestamp", type=Path, default=None)
    p.argument("--registry", type=Path, default=None)
    p.argument("--force", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    from capfast.lksg.audit import AuditLog
    from capfast.lksg.export import export_bundle

    meta = export_bundle(args.output, args.manifest, args.proof, signature=args.signature,
                         timestamp=args.timestamp, registry=args.registry, force=args.force)
    log = args.manifest.parent / "agent.audit.jsonl"
    if log.exists():
        AuditLog(log).append("bundle_exported", {"output": str(args.output), "schema": meta["schema"],
                                                 "bundle_id": meta["bundle_id"],
                                                 "has_signature": args.signature is not None})
    emit(args, {"ok": True, "output": str(args.output), **meta},
         f"exported {args.output} ({meta['bundle_id']}, {len(meta['files'])} files)")
    return 0
