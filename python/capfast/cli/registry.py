"""``cap registry add|find|list|verify`` (SQLite by default, JSON for .json files; signed entries).

``verify`` also finds entries cap-agent wrote (keyed by the raw manifest file's SHA3-256 instead of the manifest
hash; v1.0 and v1.1 JSON and SQLite registries): see :mod:`capfast.lksg.registry`."""

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
                    help="check that a manifest+proof is registered with a valid signature (exit 1 if not)",
                    description="Look the manifest and proof up (by the manifest hash, or by the manifest file's "
                    "SHA3-256 as cap-agent records it) and check each matching entry's signature; with --pubkey "
                    "the signer must be one of the given keys. Exit 1 if nothing matches or a signature fails.")
    p.argument("--manifest", type=Path, required=True)
    p.argument("--proof", type=Path, required=True)
    p.pubkey("trusted signer key", multiple=True)
    common(p)


def _hashes(args: argparse.Namespace) -> tuple[str, str, str]:
    """(manifest hash, SHA3-256 of the manifest file as cap-agent keys it, proof hash)."""
    from capfast._io import read_bounded
    from capfast.errors import ComplianceManifestError, ComplianceProofError
    from capfast.lksg.manifest import MAX_MANIFEST_BYTES, manifest_hash, parse_manifest
    from capfast.lksg.serial import sha3_hex

    raw = read_bounded(args.manifest, MAX_MANIFEST_BYTES, "manifest", ComplianceManifestError)
    m = parse_manifest(raw)
    return manifest_hash(m), sha3_hex(raw), sha3_hex(read_bounded(args.proof, 64 << 20, "proof", ComplianceProofError))


def run_add(args: argparse.Namespace) -> int:
    from capfast.lksg.keys import load_signing_key
    from capfast.lksg.registry import Registry

    mh, _, ph = _hashes(args)
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

    mh, file_hash, ph = _hashes(args)
    found = Registry(args.registry, args.backend).lookup(mh, file_hash, ph)
    if not found:
        emit(args, {"ok": False, "error": "not registered", "manifest_hash": mh, "manifest_file_hash": file_hash,
                    "proof_hash": ph},
             f"FAILED: manifest and proof are not registered in {args.registry} (looked for manifest hash {mh} and "
             f"manifest file hash {file_hash}, proof hash {ph})")
        return EXIT_VERIFY_FAILED
    trusted = [load_public_key(k) for k in args.pubkey]
    results = [(e["id"], how, *verify_entry(e, trusted)) for e, how in found]
    ok = all(v is not False for _, _, v, _ in results)
    emit(args, {"ok": ok, "entries": [{"id": i, "matched_by": how, "valid": v, "message": m}
                                      for i, how, v, m in results]},
         "\n".join(f"{i}: {'ok' if v else ('unsigned' if v is None else 'FAILED')} ({m}; matched by {how})"
                   for i, how, v, m in results))
    return 0 if ok else EXIT_VERIFY_FAILED
