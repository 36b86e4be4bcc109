"""``cap keys``: keygen, rotate, attest, verify-chain (cap-key.v1 / cap-attestation.v1, see capfast.lksg.keys)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capfast.cli._output import EXIT_USAGE, EXIT_VERIFY_FAILED, CapArgumentParser, CliError, add_common_options, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``cap keys keygen|rotate|attest|verify-chain``."""
    group = subparsers.add_parser(
        "keys",
        help="signing keys: generate, rotate, attest, verify chains",
        description="Ed25519 signing keys with cap-key.v1 metadata. KID = first 16 bytes of "
        "BLAKE3(base64(public key)), hex.",
    )
    sub = group.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", parser_class=CapArgumentParser)
    sub.required = True

    p = sub.add_parser(
        "keygen",
        help="generate a key pair with cap-key.v1 metadata",
        description="Write OUTPUT.json (cap-key.v1 metadata), OUTPUT.ed25519 (32-byte private seed, mode 0600) "
        "and OUTPUT.pub (32-byte public key). Existing files are never overwritten without --force.",
    )
    p.add_argument("--owner", required=True, help="key owner name")
    p.add_argument("--output", "--out", required=True, type=Path, help="output path without extension (or X.json)")
    p.add_argument("--valid-days", type=int, default=365, help="validity period in days (365)")
    p.add_argument("--usage", default="signing,registry", help="comma-separated key usages (signing,registry)")
    p.add_argument("--comment", default=None, help="free-text comment stored in the metadata")
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    add_common_options(p)
    p.set_defaults(func=run_keygen)

    p = sub.add_parser(
        "rotate",
        help="retire the current key (moved to archive/) and activate the new one",
        description="Mark CURRENT retired and move its files into archive/ beside it; mark NEW active. "
        "Attest NEW with CURRENT first (cap keys attest) so verifiers can follow the rotation.",
    )
    p.add_argument("--current", required=True, type=Path, help="metadata of the key being retired")
    p.add_argument("--new", required=True, type=Path, help="metadata of the replacement key")
    add_common_options(p)
    p.set_defaults(func=run_rotate)

    p = sub.add_parser(
        "attest",
        help="sign a cap-attestation.v1 by SIGNER vouching for SUBJECT",
        description="The signer's private key (SIGNER with .ed25519 beside it) signs the compact JSON of the "
        "attestation in its declared field order; verify-chain checks those same bytes.",
    )
    p.add_argument("--signer", required=True, type=Path, help="signer key metadata (X.json)")
    p.add_argument("--subject", required=True, type=Path, help="subject key metadata (Y.json)")
    p.add_argument("--output", "--out", required=True, type=Path, help="attestation file to write")
    add_common_options(p)
    p.set_defaults(func=run_attest)

    p = sub.add_parser(
        "verify-chain",
        help="verify a chain of attestations (exit 1 if broken)",
        description="Verify attestations in order: each signature, each KID, and that every signer is the previous "
        "subject. With --dir, every signer must be a non-revoked key of that store (or its archive/), valid at "
        "the attestation time.",
    )
    p.add_argument(
        "--attestations", required=True, nargs="+", help="attestation files in chain order (space or comma separated)"
    )
    p.add_argument("--dir", type=Path, default=None, help="key store directory to check signers against")
    add_common_options(p)
    p.set_defaults(func=run_verify_chain)


def run_keygen(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import keygen

    meta, path = keygen(
        args.output,
        args.owner,
        valid_days=args.valid_days,
        usage=[u for u in args.usage.split(",")],
        comment=args.comment,
        force=args.force,
    )
    from capfast.lksg.keys import key_paths

    meta_path, secret_path, pub_path = key_paths(path)
    doc = {
        "ok": True,
        "kid": meta.kid,
        "owner": meta.owner,
        "valid_to": meta.valid_to,
        "metadata": str(meta_path),
        "private_key": str(secret_path),
        "public_key": str(pub_path),
    }
    text = (
        f"kid {meta.kid} ({meta.owner}), valid to {meta.valid_to}"
        f"\n  {meta_path}\n  {secret_path} (0600)\n  {pub_path}"
    )
    emit(args, doc, text)
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import rotate

    retired, active, archived = rotate(args.current, args.new)
    doc = {"ok": True, "retired_kid": retired.kid, "active_kid": active.kid, "archived": str(archived)}
    emit(args, doc, f"retired {retired.kid} -> {archived}\nactive  {active.kid}")
    return 0


def run_attest(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import attest, write_attestation

    att = attest(args.signer, args.subject)
    write_attestation(args.output, att)
    doc = {"ok": True, "signer_kid": att.signer_kid, "subject_kid": att.subject_kid, "output": str(args.output)}
    emit(args, doc, f"{att.signer_kid} attests {att.subject_kid} -> {args.output}")
    return 0


def run_verify_chain(args: argparse.Namespace) -> int:
    from capfast.errors import KeyFileError
    from capfast.lksg.keys import verify_chain

    paths = [p for item in args.attestations for p in item.split(",") if p]
    if not paths:
        raise CliError("no attestation files given", EXIT_USAGE)
    if args.dir is not None and not args.dir.is_dir():
        raise CliError(f"{args.dir}: key store directory not found", EXIT_USAGE)
    try:
        links = verify_chain(paths, args.dir)
    except KeyFileError as exc:
        emit(args, {"ok": False, "error": str(exc)}, f"FAILED: {exc}")
        return EXIT_VERIFY_FAILED
    doc = {
        "ok": True,
        "links": [
            {"file": link.path, "signer_kid": link.signer_kid, "subject_kid": link.subject_kid,
             "attested_at": link.attested_at, "legacy_sorted_keys": link.legacy_encoding}
            for link in links
        ],
    }
    lines = [f"ok: chain of {len(links)} attestation(s)"] + [
        f"  {link.signer_kid} -> {link.subject_kid}"
        + ("  (cap-agent sorted-keys encoding)" if link.legacy_encoding else "")
        for link in links
    ]
    emit(args, doc, "\n".join(lines))
    return 0
