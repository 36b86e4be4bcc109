"""``cap audit verify|tip``: check a v1.0 hash-chained audit log (cap-agent.md §6.1) and pinpoint tampering."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from capfast.cli._output import EXIT_USAGE, EXIT_VERIFY_FAILED, CapArgumentParser, CliError, add_common_options, emit

__all__ = ["register"]

_DIGEST = re.compile(r"0x[0-9a-f]{64}")


def register(subparsers: Any) -> None:
    """Add ``cap audit verify|tip``."""
    group = subparsers.add_parser(
        "audit", help="audit trail commands", description="Audit trail commands."
    )
    sub = group.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", parser_class=CapArgumentParser)
    sub.required = True
    p = sub.add_parser(
        "verify",
        help="verify a hash-chained audit log (exit 1 if tampered)",
        description="Verify every entry of an agent.audit.jsonl (cap-agent v1.0 format): digests, links and "
        "contiguous seq. Exit 0 if intact, 1 at the first modified, reordered, deleted or malformed entry. "
        "Entries removed from the end are only caught with --expect-tip/--expect-count (e.g. from a manifest).",
    )
    p.add_argument("--file", type=Path, default=Path("build/agent.audit.jsonl"), help="(build/agent.audit.jsonl)")
    p.add_argument("--expect-tip", default=None, metavar="0x...", help="the anchored last digest")
    p.add_argument("--expect-count", type=int, default=None, metavar="N", help="the anchored number of entries")
    add_common_options(p)
    p.set_defaults(func=run_verify)

    p = sub.add_parser(
        "tip",
        help="print (and optionally write) the verified tip of an audit log",
        description="Verify the log, then print its last digest and entry count; --out writes the digest without "
        "0x (cap-agent's build/audit.head format). Anchor this value (manifest audit.tail_digest, time anchor) so "
        "later truncation is detectable with 'cap audit verify --expect-tip'.",
    )
    p.add_argument("--file", type=Path, default=Path("build/agent.audit.jsonl"), help="(build/agent.audit.jsonl)")
    p.add_argument("--out", type=Path, default=None, help="write the tip (64 hex, no 0x) to this file")
    add_common_options(p)
    p.set_defaults(func=run_tip)


def run_tip(args: argparse.Namespace) -> int:
    """Handler of ``cap audit tip``."""
    from capfast._io import atomic_write
    from capfast.lksg.audit import verify_audit_log

    report = verify_audit_log(args.file)
    if not report.ok:
        emit(args, report.to_dict(), f"FAILED ({report.problem}): {report.message}")
        return EXIT_VERIFY_FAILED
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, report.tip[2:])
    emit(args, {"ok": True, "tip": report.tip, "count": report.count, "out": str(args.out) if args.out else None},
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
