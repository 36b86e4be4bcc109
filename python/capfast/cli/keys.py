"""``cap keys``: the keys you hold -- generate, attest, rotate, verify-chain. (Keys you *trust* from others are
``cap trust``: pin, list, unpin, rotate.)

Two key formats, one set of commands; the format follows from the options given:

* **cap-key** (cap-key.v1): a signing key with owner and validity metadata (``X.json``, ``X.ed25519`` 0600,
  ``X.pub``) for LkSG manifests, registry entries and attestation chains -- ``cap keys generate --owner NAME -o X``;
  ``cap keys attest --signer X.json --subject Y.json -o att.json`` (cap-attestation.v1); ``cap keys rotate``
  retires a key into ``archive/``; ``cap keys verify-chain`` checks attestations.
* **publisher**: a CAP publisher key pair (``publisher.ed25519.sk.json`` 0600 / ``.pk.json``) for ``cap build``
  and ``cap verify`` -- ``cap keys generate -o DIR`` (no ``--owner``); ``cap keys attest APP --key OLD.sk.json
  --pubkey NEW.pk.json -o att.hex`` signs the hand-over of APP to a new key, which holders of the old pin accept
  with ``cap trust rotate``.

``--format`` states the format explicitly. Old names stay as hidden aliases: ``cap keys keygen`` (= ``generate
--format cap-key``) and ``cap trust attest`` (= ``keys attest`` for publisher keys, with ``--new-pubkey`` for
``--pubkey`` and ``--out`` for ``-o``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_USAGE, EXIT_VERIFY_FAILED, CliError, emit

__all__ = ["register"]

FORMATS = ("cap-key", "publisher")


def register(cli: Commands) -> None:
    """Add ``cap keys generate|attest|rotate|verify-chain`` (and the hidden old names)."""
    sub = cli.group(
        "keys",
        help="keys you hold: generate, attest, rotate, verify chains",
        description="Ed25519 keys you hold, in two formats: cap-key (cap-key.v1 metadata; KID = first 16 bytes of "
        "BLAKE3(base64(public key)), hex) for LkSG signing, and publisher (publisher.ed25519.*.json) for CAP "
        "packages. Keys you trust from others: 'cap trust'.",
    )

    p = sub.command(
        "generate", run_generate,
        help="generate a key pair (cap-key with --owner, else a CAP publisher key pair)",
        description="cap-key (--owner given, or --format cap-key): write OUTPUT.json (cap-key.v1 metadata), "
        "OUTPUT.ed25519 (32-byte private seed, mode 0600) and OUTPUT.pub (32-byte public key). publisher: write "
        "publisher.ed25519.sk.json (0600) and publisher.ed25519.pk.json into the directory OUTPUT (default ./keys), "
        "in the reference CAP tool's format. Existing files are never overwritten without --force.",
        aliases=("keygen",), alias_defaults={"format": "cap-key"},
    )
    p.argument("--format", choices=FORMATS, default=None,
               help="key format (default: cap-key when --owner is given, else publisher)")
    p.argument("--owner", default=None, help="key owner name (cap-key; required there)")
    p.output("cap-key: path without extension (or X.json); publisher: directory (./keys)")
    p.argument("--valid-days", type=int, default=365, help="validity period in days (cap-key; 365)")
    p.argument("--usage", default="signing,registry", help="comma-separated key usages (cap-key; signing,registry)")
    p.argument("--comment", default=None, help="free-text comment stored in the metadata (cap-key)")
    p.argument("--force", action="store_true", help="overwrite existing key files")

    p = sub.command(
        "attest", run_attest,
        help="sign an attestation: SIGNER vouches for SUBJECT (cap-key), or OLD hands APP over to NEW (publisher)",
        description="cap-key: the signer's private key (SIGNER with .ed25519 beside it) signs the compact JSON of a "
        "cap-attestation.v1 in its declared field order; 'cap keys verify-chain' checks those same bytes. "
        "publisher: the old publisher secret key (--key) signs the rotation of APP to the new public key "
        "(--pubkey); the hex attestation is what 'cap trust rotate' accepts.",
    )
    p.argument("app_id", nargs="?", default=None, metavar="APP", help="app id (publisher keys only)")
    p.argument("--signer", type=Path, default=None, help="signer key metadata X.json (cap-key)")
    p.argument("--subject", type=Path, default=None, help="subject key metadata Y.json (cap-key)")
    p.secret_key("old publisher.ed25519.sk.json (publisher)", required=False)
    p.pubkey("new publisher.ed25519.pk.json (publisher)", hidden=("--new-pubkey", "--pub-key"))
    p.output("attestation file to write", required=True)
    cli.group("trust", help="pinned CAP publisher keys per app id (keys you trust)").alias("attest", p)

    p = sub.command(
        "rotate", run_rotate,
        help="retire your current cap-key (moved to archive/) and activate the new one",
        description="Mark CURRENT retired and move its files into archive/ beside it; mark NEW active. "
        "Attest NEW with CURRENT first (cap keys attest) so verifiers can follow the rotation. (To accept a "
        "publisher's new key for an app you trust, use 'cap trust rotate'.)",
    )
    p.argument("--current", required=True, type=Path, help="metadata of the key being retired")
    p.argument("--new", required=True, type=Path, help="metadata of the replacement key")

    p = sub.command(
        "verify-chain", run_verify_chain,
        help="verify a chain of attestations (exit 1 if broken)",
        description="Verify attestations in order: each signature, each KID, and that every signer is the previous "
        "subject. With --dir, every signer must be a non-revoked key of that store (or its archive/), valid at "
        "the attestation time.",
    )
    p.argument(
        "--attestations", required=True, nargs="+", help="attestation files in chain order (space or comma separated)"
    )
    p.argument("--dir", type=Path, default=None, help="key store directory to check signers against")


def _format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    return "cap-key" if args.owner is not None else "publisher"


def run_generate(args: argparse.Namespace) -> int:
    """Handler of ``cap keys generate`` (and its old names ``keygen`` / publisher ``generate``)."""
    if _format(args) == "publisher":
        if args.owner is not None:
            raise CliError("--owner applies to cap-key keys only", EXIT_USAGE, "drop --owner or use --format cap-key")
        return _generate_publisher(args)
    if args.owner is None:
        raise CliError("a cap-key key needs --owner", EXIT_USAGE, "cap keys generate --owner NAME -o keys/NAME")
    if args.output is None:
        raise CliError("a cap-key key needs -o/--output (the path without extension)", EXIT_USAGE,
                       "cap keys generate --owner NAME -o keys/NAME")
    return run_keygen(args)


def _generate_publisher(args: argparse.Namespace) -> int:
    from capfast.cap.keys import generate_keys

    out = args.output if args.output is not None else Path("keys")
    try:
        sk, pk = generate_keys(out, force=args.force)
    except FileExistsError as exc:
        raise CliError(str(exc), EXIT_USAGE, "pass --force to overwrite") from None
    emit(args, {"ok": True, "secret_key": str(sk), "public_key": str(pk)}, f"Wrote:\n  {sk}\n  {pk}")
    return 0


def run_attest(args: argparse.Namespace) -> int:
    """Handler of ``cap keys attest`` (and ``cap trust attest``): the format follows from the options."""
    cap_key = args.signer is not None or args.subject is not None
    publisher = args.app_id is not None or args.key is not None or args.pubkey is not None
    if cap_key and publisher:
        raise CliError("--signer/--subject (cap-key) and APP/--key/--pubkey (publisher) exclude each other",
                       EXIT_USAGE, "see 'cap keys attest --help'")
    if cap_key:
        if args.signer is None or args.subject is None:
            raise CliError("a cap-key attestation needs --signer and --subject", EXIT_USAGE)
        return _attest_cap_key(args)
    if args.app_id is None or args.key is None or args.pubkey is None:
        raise CliError("a publisher attestation needs APP, --key (old secret key) and --pubkey (new public key)",
                       EXIT_USAGE, "or attest cap-key keys with --signer X.json --subject Y.json")
    from capfast._io import atomic_write
    from capfast.cap.keys import load_public_key, load_secret_key
    from capfast.cap.trust import attest_rotation

    sig = attest_rotation(load_secret_key(args.key), args.app_id, load_public_key(args.pubkey))
    atomic_write(args.output, sig.hex() + "\n")
    emit(args, {"ok": True, "attestation": sig.hex(), "out": str(args.output)}, f"Wrote attestation {args.output}")
    return 0


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


def _attest_cap_key(args: argparse.Namespace) -> int:
    from capfast.lksg.attestation import attest, write_attestation

    att = attest(args.signer, args.subject)
    write_attestation(args.output, att)
    doc = {"ok": True, "signer_kid": att.signer_kid, "subject_kid": att.subject_kid, "output": str(args.output)}
    emit(args, doc, f"{att.signer_kid} attests {att.subject_kid} -> {args.output}")
    return 0


def run_verify_chain(args: argparse.Namespace) -> int:
    from capfast.errors import KeyFileError
    from capfast.lksg.attestation import verify_chain

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
