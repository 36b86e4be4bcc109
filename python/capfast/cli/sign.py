"""``cap sign manifest`` / ``cap sign verify-manifest`` (cap-agent §3.2 compatible, see capfast.lksg.signing)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_VERIFY_FAILED, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap sign manifest|verify-manifest``."""
    sub = cli.group("sign", help="sign and verify manifests (Ed25519)",
                    description="Sign and verify manifest.v1.0 files.")
    p = sub.command(
        "manifest", run_sign,
        help="sign a manifest (writes a signed-manifest JSON)",
        description="Sign the compact struct-order JSON of the manifest (the bytes cap-agent signs) and write "
        '{"manifest": ..., "signature": {"alg","signer","pubkey_hex","sig_hex"}}.',
    )
    p.option("--manifest", hidden=("--manifest-in",), required=True, type=Path, help="manifest.json to sign")
    p.secret_key("private key: raw 32-byte .ed25519 file or cap-key.v1 .json")
    p.output("(build/signature.json)", default=Path("build/signature.json"))
    p.argument("--signer", default="Company", help="signer name recorded in the signature (Company)")

    p = sub.command(
        "verify-manifest", run_verify,
        help="verify a signed manifest against a trusted public key (exit 1 if invalid)",
        description="Require the embedded public key to equal --pubkey and the signature to verify over the "
        "manifest's compact struct-order JSON under capfast's Ed25519 validity rule.",
    )
    p.option("--signed", hidden=("--signed-in",), required=True, type=Path, help="signed manifest file")
    p.pubkey("trusted key: raw 32-byte .pub file or cap-key.v1 .json", required=True)
    p.argument("--allow-retired", action="store_true",
               help="accept a key whose metadata says retired (to check a signature made before the rotation)")


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
    from capfast.errors import KeyStatusError
    from capfast.lksg.keys import load_public_key
    from capfast.lksg.signing import read_signed_manifest, verify_signed_manifest

    try:
        trusted = load_public_key(args.pubkey, allow_retired=args.allow_retired)
    except KeyStatusError as exc:
        emit(args, {"ok": False, "error": str(exc)}, f"FAILED: {exc}")
        return EXIT_VERIFY_FAILED
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
