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
        "Entries removed from the end, and a log rewritten as a whole, are only caught against an anchor taken "
        "earlier: --expect-tip/--expect-count (the log must end there; with --allow-growth it may continue after "
        "it), or --manifest (the audit tip a compliance manifest recorded; the log may have grown since).",
    )
    p.argument("--file", type=Path, default=Path("build/agent.audit.jsonl"), help="(build/agent.audit.jsonl)")
    p.argument("--expect-tip", default=None, metavar="0x...", help="the anchored digest")
    p.argument("--expect-count", type=int, default=None, metavar="N", help="the anchored number of entries")
    p.argument("--allow-growth", action="store_true",
               help="the anchor may be followed by later entries: entry N must have the anchored digest")
    p.argument("--manifest", type=Path, default=None, metavar="MANIFEST",
               help="take the anchor (audit.tail_digest, audit.events_count) from a compliance manifest; "
               "implies --allow-growth")

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

    expect_tip, expect_count, growth = args.expect_tip, args.expect_count, args.allow_growth
    if args.manifest is not None:
        if expect_tip is not None or expect_count is not None:
            raise CliError("--manifest and --expect-tip/--expect-count are exclusive", EXIT_USAGE)
        expect_tip, expect_count, growth = *_manifest_anchor(args.manifest), True
    if expect_tip is not None and not _DIGEST.fullmatch(expect_tip):
        raise CliError(f"--expect-tip {expect_tip!r} is not 0x + 64 lowercase hex digits", EXIT_USAGE)
    if expect_count is not None and expect_count < 0:
        raise CliError("--expect-count must not be negative", EXIT_USAGE)
    report = verify_audit_log(args.file, expected_tip=expect_tip, expected_count=expect_count, allow_growth=growth)
    if report.ok:
        if report.anchored:
            where = f"entry {expect_count}" if growth and expect_count is not None else "the end"
            extra = f"anchor matches at {where}" if expect_tip is not None else "entry count matches the anchor"
        else:
            extra = report.to_dict()["note"]
        emit(
            args,
            report.to_dict(),
            f"ok: {report.count} entries, seq 1…{report.last_seq}, tip {report.tip}\n{extra}",
        )
        return 0
    emit(args, report.to_dict(), f"FAILED ({report.problem}): {report.message}")
    return EXIT_VERIFY_FAILED


def _manifest_anchor(path: Path) -> tuple[str, int]:
    """``(tail_digest, events_count)`` of a compliance manifest's ``audit`` block."""
    from capfast._io import read_bounded
    from capfast.errors import ComplianceManifestError
    from capfast.lksg.manifest import MAX_MANIFEST_BYTES, parse_manifest

    m = parse_manifest(read_bounded(path, MAX_MANIFEST_BYTES, "manifest", ComplianceManifestError), str(path))
    audit = m.get("audit")
    if not isinstance(audit, dict) or not isinstance(audit.get("tail_digest"), str) or \
            not isinstance(audit.get("events_count"), int):
        raise CliError(f"{path}: no audit anchor (audit.tail_digest, audit.events_count)", EXIT_USAGE)
    return audit["tail_digest"], audit["events_count"]
