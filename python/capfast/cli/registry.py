"""``cap registry add|find|list|verify`` (SQLite by default, JSON for .json files; signed entries)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capfast.cli._output import EXIT_VERIFY_FAILED, CapArgumentParser, add_common_options, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``cap registry ...``."""
    group = subparsers.add_parser("registry", help="register and look up proofs")
    sub = group.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", parser_class=CapArgumentParser)
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--registry", type=Path, default=Path("build/registry.sqlite"),
                       help="registry file (.json = JSON, else SQLite; default build/registry.sqlite)")
        p.add_argument("--backend", choices=("json", "sqlite"), default=None, help="override the file-name rule")
        add_common_options(p)

    p = sub.add_parser("add", help="add a (signed) entry for a manifest and proof")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--proof", type=Path, required=True)
    p.add_argument("--signing-key", type=Path, default=None, help="raw .ed25519 seed or cap-key.v1 .json")
    p.add_argument("--timestamp", default=None, help="timestamp file name to record")
    common(p)
    p.set_defaults(func=run_add)

    p = sub.add_parser("find", help="find entries by manifest hash (and proof hash)")
    p.add_argument("--manifest-hash", required=True)
    p.add_argument("--proof-hash", default=None)
    common(p)
    p.set_defaults(func=run_find)

    p = sub.add_parser("list", help="list entries")
    common(p)
    p.set_defaults(func=run_list)

    p = sub.add_parser("verify",
                       help="check that a manifest+proof is registered with a valid signature (exit 1 if not)")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--proof", type=Path, required=True)
    p.add_argument("--pub-key", action="append", type=Path, default=[], help="trusted signer key(s)")
    common(p)
    p.set_defaults(func=run_verify)


def _hashes(args: argparse.Namespace) -> tuple[str, str]:
    from capfast.errors import ComplianceManifestError, ComplianceProofError
    from capfast.lksg._json import sha3_hex
    from capfast.lksg.manifest import MAX_MANIFEST_BYTES, manifest_hash, parse_manifest, read_bounded

    m = parse_manifest(read_bounded(args.manifest, MAX_MANIFEST_BYTES, "manifest", ComplianceManifestError))
    return manifest_hash(m), sha3_hex(read_bounded(args.proof, 64 << 20, "proof", ComplianceProofError))


def run_add(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import load_signing_key
    from capfast.lksg.registry import Registry

    mh, ph = _hashes(args)
    key = load_signing_key(args.signing_key) if args.signing_key else None
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
    trusted = [load_public_key(k) for k in args.pub_key]
    results = [(e["id"], *verify_entry(e, trusted)) for e in found]
    ok = all(v is not False for _, v, _ in results)
    emit(args, {"ok": ok, "entries": [{"id": i, "valid": v, "message": m} for i, v, m in results]},
         "\n".join(f"{i}: {'ok' if v else ('unsigned' if v is None else 'FAILED')} ({m})" for i, v, m in results))
    return 0 if ok else EXIT_VERIFY_FAILED
