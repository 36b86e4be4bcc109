"""``cap audit verify|tip``: check a v1.0 hash-chained audit log (cap-agent.md §6.1) and pinpoint tampering."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_USAGE, EXIT_VERIFY_FAILED, CliError, emit

__all__ = ["register"]

_DIGEST = re.compile(r"0x[0-9a-f]{64}")


def register(cli: Commands) -> None:
    """Add ``cap audit verify|tip``."""
    sub = cli.group("audit", help="audit trail commands", description="Audit trail commands.")
    p = sub.command(
        "verify", run_verify,
        help="verify a hash-chained audit log (exit 1 if tampered)",
        description="Verify every entry of an agent.audit.jsonl (cap-agent v1.0 format): digests, links and "
        "contiguous seq. Exit 0 if intact, 1 at the first modified, reordered, deleted or malformed entry. "
        "Entries removed from the end are only caught with --expect-tip/--expect-count (e.g. from a manifest).",
    )
    p.argument("--file", type=Path, default=Path("build/agent.audit.jsonl"), help="(build/agent.audit.jsonl)")
    p.argument("--expect-tip", default=None, metavar="0x...", help="the anchored last digest")
    p.argument("--expect-count", type=int, default=None, metavar="N", help="the anchored number of entries")

    p = sub.command(
        "tip", run_tip,
        help="print (and optionally write) the verified tip of an audit log",
        description="Verify the log, then print its last digest and entry count; -o/--output writes the digest "
        "without 0x (cap-agent's build/audit.head format). Anchor this value (manifest audit.tail_digest, time "
        "anchor) so later truncation is detectable with 'cap audit verify --expect-tip'.",
    )
    p.argument("--file", type=Path, default=Path("build/agent.audit.jsonl"), help="(build/agent.audit.jsonl)")
    p.output("write the tip (64 hex, no 0x) to this file")


def run_tip(args: argparse.Namespace) -> int:
    """Handler of ``cap audit tip``."""
    from capfast._io import atomic_write
    from capfast.lksg.audit import verify_audit_log

    report = verify_audit_log(args.file)
    if not report.ok:
        emit(args, report.to_dict(), f"FAILED ({report.problem}): {report.message}")
        return EXIT_VERIFY_FAILED
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.output, report.tip[2:])
    emit(args, {"ok": True, "tip": report.tip, "count": report.count, "out": str(args.output) if args.output else None},
         f"{report.tip} ({report.count} entries)")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Handler of ``cap audit verify``."""
    from capfast.lksg.audit import verify_audit_log

    if args.expect_tip is not None and not _DIGEST.fullmatch(args.expect_tip):
        raise CliError(f"--expect-tip {args.expect_tip!r} is not 0x + 64 lowercase hex digits", EXIT_USAGE)
    report = verify_audit_log(args.file, expected_tip=args.expect_tip, expected_count=args.expect_count)
    if report.ok:
        emit(
            args,
            report.to_dict(),
            f"ok: {report.count} entries, seq 1…{report.last_seq}, tip {report.tip}",
        )
        return 0
    emit(args, report.to_dict(), f"FAILED ({report.problem}): {report.message}")
    return EXIT_VERIFY_FAILED
