"""``cap registry add|find|list|verify`` (SQLite by default, JSON for .json files; signed entries)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capfast.cli._command import Command, Commands
from capfast.cli._output import EXIT_VERIFY_FAILED, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap registry ...``."""
    sub = cli.group("registry", help="register and look up proofs")

    def common(p: Command) -> None:
        p.argument("--registry", type=Path, default=Path("build/registry.sqlite"),
                   help="registry file (.json = JSON, else SQLite; default build/registry.sqlite)")
        p.argument("--backend", choices=("json", "sqlite"), default=None, help="override the file-name rule")

    p = sub.command("add", run_add, help="add a (signed) entry for a manifest and proof")
    p.argument("--manifest", type=Path, required=True)
    p.argument("--proof", type=Path, required=True)
    p.secret_key("sign the entry with this key: raw .ed25519 seed or cap-key.v1 .json", required=False,
                 hidden=("--signing-key",))
    p.argument("--timestamp", default=None, help="timestamp file name to record")
    common(p)

    p = sub.command("find", run_find, help="find entries by manifest hash (and proof hash)")
    p.argument("--manifest-hash", required=True)
    p.argument("--proof-hash", default=None)
    common(p)

    p = sub.command("list", run_list, help="list entries")
    common(p)

    p = sub.command("verify", run_verify,
                    help="check that a manifest+proof is registered with a valid signature (exit 1 if not)")
    p.argument("--manifest", type=Path, required=True)
    p.argument("--proof", type=Path, required=True)
    p.pubkey("trusted signer key", multiple=True)
    common(p)


def _hashes(args: argparse.Namespace) -> tuple[str, str]:
    from capfast._io import read_bounded
    from capfast.errors import ComplianceManifestError, ComplianceProofError
    from capfast.lksg.manifest import MAX_MANIFEST_BYTES, manifest_hash, parse_manifest
    from capfast.lksg.serial import sha3_hex

    m = parse_manifest(read_bounded(args.manifest, MAX_MANIFEST_BYTES, "manifest", ComplianceManifestError))
    return manifest_hash(m), sha3_hex(read_bounded(args.proof, 64 << 20, "proof", ComplianceProofError))


def run_add(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import load_signing_key
    from capfast.lksg.registry import Registry

    mh, ph = _hashes(args)
    key = load_signing_key(args.key) if args.key else None
    entry = Registry(args.registry, args.backend).add(mh, ph, secret_key=key, timestamp_file=args.timestamp)
    emit(args, {"ok": True, "entry": entry}, f"added {entry['id']} to {args.registry}"
         + (f" (signed, kid {entry['kid']})" if "kid" in entry else " (unsigned)"))
    return 0


def run_find(args: argparse.Namespace) -> int:
    from capfast.lksg.registry import Registry

    found = Registry(args.registry, args.backend).find(args.manifest_hash, args.proof_hash)
    emit(args, {"ok": bool(found), "entries": found},
         "\n".join(f"{e['id']} {e['manifest_hash']} {e['proof_hash']} {e['registered_at']}" for e in found)
         or "not found")
    return 0 if found else EXIT_VERIFY_FAILED


def run_list(args: argparse.Namespace) -> int:
    from capfast.lksg.registry import Registry

    entries = Registry(args.registry, args.backend).entries()
    emit(args, {"ok": True, "entries": entries},
         "\n".join(f"{e['id']} {e['manifest_hash'][:14]}… {e['proof_hash'][:14]}… {e['registered_at']}"
                   f"{' signed' if 'signature' in e else ''}" for e in entries) or "(empty)")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import load_public_key
    from capfast.lksg.registry import Registry, verify_entry

    mh, ph = _hashes(args)
    found = Registry(args.registry, args.backend).find(mh, ph)
    if not found:
        emit(args, {"ok": False, "error": "not registered"}, "FAILED: manifest and proof are not registered")
        return EXIT_VERIFY_FAILED
    trusted = [load_public_key(k) for k in args.pubkey]
    results = [(e["id"], *verify_entry(e, trusted)) for e in found]
    ok = all(v is not False for _, v, _ in results)
    emit(args, {"ok": ok, "entries": [{"id": i, "valid": v, "message": m} for i, v, m in results]},
         "\n".join(f"{i}: {'ok' if v else ('unsigned' if v is None else 'FAILED')} ({m})" for i, v, m in results))
    return 0 if ok else EXIT_VERIFY_FAILED
