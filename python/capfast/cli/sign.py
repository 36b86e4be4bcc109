"""``cap sign manifest`` / ``cap sign verify-manifest`` (cap-agent §3.2 compatible, see capfast.lksg.signing)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capfast.cli._output import EXIT_VERIFY_FAILED, CapArgumentParser, add_common_options, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``cap sign manifest|verify-manifest``."""
    group = subparsers.add_parser(
        "sign", help="sign and verify manifests (Ed25519)", description="Sign and verify manifest.v1.0 files."
    )
    sub = group.add_subparsers(dest="sign_command", metavar="SUBCOMMAND", parser_class=CapArgumentParser)
    sub.required = True

    p = sub.add_parser(
        "manifest",
        help="sign a manifest (writes a signed-manifest JSON)",
        description="Sign the compact struct-order JSON of the manifest (the bytes cap-agent signs) and write "
        '{"manifest": ..., "signature": {"alg","signer","pubkey_hex","sig_hex"}}.',
    )
    p.add_argument("--manifest", "--manifest-in", required=True, type=Path, help="manifest.json to sign")
    p.add_argument("--key", required=True, type=Path, help="private key: raw 32-byte .ed25519 file or cap-key.v1 .json")
    p.add_argument("--output", "--out", type=Path, default=Path("build/signature.json"), help="(build/signature.json)")
    p.add_argument("--signer", default="Company", help="signer name recorded in the signature (Company)")
    add_common_options(p)
    p.set_defaults(func=run_sign)

    p = sub.add_parser(
        "verify-manifest",
        help="verify a signed manifest against a trusted public key (exit 1 if invalid)",
        description="Require the embedded public key to equal --pub-key and the signature to verify over the "
        "manifest's compact struct-order JSON under capfast's Ed25519 validity rule.",
    )
    p.add_argument("--signed", "--signed-in", required=True, type=Path, help="signed manifest file")
    p.add_argument("--pub-key", required=True, type=Path, help="trusted key: raw 32-byte .pub file or cap-key.v1 .json")
    add_common_options(p)
    p.set_defaults(func=run_verify)


def run_sign(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import load_signing_key
    from capfast.lksg.signing import read_manifest, sign_manifest, write_signed_manifest

    signed = sign_manifest(read_manifest(args.manifest), load_signing_key(args.key), args.signer)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_signed_manifest(args.output, signed)
    block = signed.to_json()["signature"]
    emit(args, {"ok": True, "output": str(args.output), **block}, f"signed by {signed.signer} -> {args.output}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import load_public_key
    from capfast.lksg.signing import read_signed_manifest, verify_signed_manifest

    trusted = load_public_key(args.pub_key)
    signed = read_signed_manifest(args.signed)
    if signed.public_key != trusted:
        emit(args, {"ok": False, "error": "public key mismatch"}, "FAILED: signed by a different key than --pub-key")
        return EXIT_VERIFY_FAILED
    if not verify_signed_manifest(signed, trusted):
        emit(args, {"ok": False, "error": "invalid signature"}, "FAILED: signature does not verify")
        return EXIT_VERIFY_FAILED
    doc = {"ok": True, "signer": signed.signer, "pubkey_hex": "0x" + trusted.hex()}
    emit(args, doc, f"ok: signed by {signed.signer}")
    return 0
