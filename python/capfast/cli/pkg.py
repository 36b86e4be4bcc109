"""CAP 1.0 package commands: ``cap build|verify|inspect|extract|diff``, ``cap trust pin|list|unpin|rotate`` and
``cap caps check``. (Publisher keys are made and attested with ``cap keys generate|attest``: see
:mod:`capfast.cli.keys`.)

Exit codes: 0 success; 1 verification failed (bad signature, untrusted key, tampered or hostile package, a
capability denied by ``caps check``); 2 bad input (malformed Cap.toml, key file or options); 3 I/O error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capfast import strict_json
from capfast.cli._command import Command, Commands
from capfast.cli._output import EXIT_USAGE, EXIT_VERIFY_FAILED, CliError, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add the package, trust and capability commands."""
    p = cli.command("build", run_build, help="build a signed .cap from Cap.toml",
                    description="Build a reproducible, signed .cap package from a Cap.toml app folder.")
    p.argument("manifest", nargs="?", type=Path, default=None, help="Cap.toml (or use --manifest)")
    p.argument("--manifest", dest="manifest_opt", type=Path, default=None, help=argparse.SUPPRESS)
    p.secret_key("publisher.ed25519.sk.json")
    p.output("output .cap", required=True)
    p.argument("--level", type=int, default=10, help="zstd level 1-19 (10, as the reference)")

    p = cli.command(
        "verify", run_verify, help="verify a .cap with a given or pinned key (exit 1 if it fails)",
        description="Check the root and the Ed25519 signature with --pubkey or the key pinned for the app id "
        "(the embedded key is never enough). --full also decompresses every blob and checks size and SHA-256.")
    p.argument("cap", type=Path)
    _key_options(p)
    p.argument("--full", action="store_true", help="also check every blob")

    p = cli.command("inspect", run_inspect, help="show a .cap's manifest, capabilities, files and trust status")
    p.argument("cap", type=Path)
    _key_options(p)

    p = cli.command(
        "extract", run_extract, help="verify fully, then extract the app files into a new directory",
        description="Verify (signature + every blob) first; then write the virtual files into -o/--output, which "
        "must not exist or be empty. Written in a staging directory and renamed into place: nothing outside it. "
        "Refused before anything is written when the files to write (every path counts, also paths sharing one "
        "blob) exceed --max-bytes or --max-files, or would not fit on the target's file system.")
    p.argument("cap", type=Path)
    p.output("target directory", required=True, metavar="DIR")
    p.argument("--max-bytes", type=_byte_size, default=None, metavar="SIZE",
               help="most bytes to write in total, e.g. 512M or 8G (default 4G)")
    p.argument("--max-files", type=int, default=None, metavar="N", help="most files to write (default 100000)")
    _key_options(p)

    p = cli.command("diff", run_diff, help="paths added/removed/changed between two .cap and the download size")
    p.argument("old", type=Path)
    p.argument("new", type=Path)

    trust = cli.group("trust", help="pinned CAP publisher keys per app id (keys you trust)")
    p = trust.command("pin", run_trust_pin, help="pin a publisher key for an app id")
    p.argument("app_id")
    p.pubkey("publisher.ed25519.pk.json", required=True)
    p.argument("--replace", action="store_true", help="replace a different pinned key (no attestation)")
    _store_option(p)
    p = trust.command("list", run_trust_list, help="list pinned keys")
    _store_option(p)
    p = trust.command("unpin", run_trust_unpin, help="remove a pin")
    p.argument("app_id")
    _store_option(p)
    p = trust.command("rotate", run_trust_rotate,
                      help="replace the pinned key, if the pinned key attested the new one ('cap keys attest')")
    p.argument("app_id")
    p.pubkey("new publisher.ed25519.pk.json", required=True)
    p.argument("--attestation", required=True, type=Path, help="file written by 'cap keys attest APP ...'")
    _store_option(p)

    caps = cli.group("caps", help="capability inspection and policy checks")
    p = caps.command(
        "check", run_caps_check,
        help="requested capabilities vs an enterprise overlay (exit 1 if anything is denied)",
        description="Print the package's requested capabilities and the effective set under --overlay (JSON or "
        "TOML; it can only restrict). --allow KIND[=TARGET] asks whether one operation is allowed. Exit 1 if the "
        "overlay removes a requested capability or an --allow query is denied.")
    p.argument("cap", type=Path, help=".cap package or Cap.toml")
    p.argument("--overlay", type=Path, default=None, help="policy overlay (.json or .toml)")
    p.argument("--allow", action="append", default=[], metavar="KIND[=TARGET]",
               help="e.g. network=https://api.example.org/x, filesystem=documents://app/a.txt, kv_store")


def _key_options(p: Command) -> None:
    p.pubkey("publisher.ed25519.pk.json to verify with")
    _store_option(p)


def _store_option(p: Command) -> None:
    p.argument("--store", type=Path, default=None,
               help="trust store (default $CAPFAST_TRUST_STORE or ~/.config/capfast/known_publishers.json)")


def _store(args: argparse.Namespace) -> Any:
    from capfast.cap.trust import TrustStore

    return TrustStore(args.store)


def _pubkey(args: argparse.Namespace) -> bytes | None:
    from capfast.cap.keys import load_public_key

    return None if args.pubkey is None else load_public_key(args.pubkey)


def run_build(args: argparse.Namespace) -> int:
    from capfast.cap.keys import load_secret_key
    from capfast.cap.package import build

    manifest = args.manifest or args.manifest_opt
    if manifest is None:
        raise CliError("no Cap.toml given", EXIT_USAGE, "cap build path/to/Cap.toml --key SK --out OUT.cap")
    result = build(manifest, load_secret_key(args.key), args.output, level=args.level)
    emit(args, {"ok": True, "path": str(result.path), "root": result.root.hex(), "size": result.size,
                "files": len(result.index), "app_id": result.manifest.app_id},
         f"Built: {result.path} ({result.size} bytes, {len(result.index)} files, root {result.root.hex()})")
    return 0


def _failed(args: argparse.Namespace, exc: Exception, what: str) -> int:
    kind = type(exc).__name__
    emit(args, {"ok": False, "error": str(exc), "error_type": kind}, f"FAILED ({kind}): {exc}")
    return EXIT_VERIFY_FAILED


def run_verify(args: argparse.Namespace) -> int:
    from capfast.cap.package import Package
    from capfast.errors import PackageError

    key = _pubkey(args)
    try:
        pkg = Package.open(args.cap)
        res = pkg.verify(key, trust_store=_store(args), full=args.full)
    except PackageError as exc:
        return _failed(args, exc, "verify")
    mode = "full (signature + all blob hashes)" if args.full else "signature only"
    emit(args, {**res.to_dict(), "app_id": pkg.app_id},
         f"OK: {args.cap} [{mode}] [{res.key_source} key {res.public_key.hex()}]"
         + "".join(f"\nwarning: {w}" for w in res.warnings))
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from capfast.cap.capabilities import parse_capabilities
    from capfast.cap.package import UNSIGNED_INDEX_FIELDS_NOTE, Package
    from capfast.errors import PackageError

    try:
        pkg = Package.open(args.cap)
    except PackageError as exc:  # the same hostile package is exit 1 here as in verify/extract
        return _failed(args, exc, "inspect")
    try:
        res = pkg.verify(_pubkey(args), trust_store=_store(args))
        status = f"OK ({res.key_source} key)"
    except PackageError as exc:
        status = f"NOT VERIFIED: {exc}"
    caps = parse_capabilities(pkg.manifest.capabilities, strict=False)
    files: list[dict[str, Any]] = [
        {"path": p, "hash": e.hash, "size": e.size, "compressed_size": e.compressed_size, "mime": e.mime}
        for p, e in pkg.index.files.items()
    ]
    data = {"ok": True, "status": status, "root": pkg.root.hex(), "signature": pkg.signature.hex(),
            "embedded_key": pkg.embedded_key.hex() if pkg.embedded_key else None,
            "embedded_key_note": "convenience only; never sufficient to trust the package",
            "manifest": pkg.manifest.data, "capabilities": caps.report(), "files": files,
            "unsigned_index_fields": ["size", "compressed_size", "compression", "mime"],
            "unsigned_index_fields_note": UNSIGNED_INDEX_FIELDS_NOTE}

    def human() -> str:
        app = pkg.manifest.data["app"]
        lines = [f"Status:    {status}", f"Root:      {pkg.root.hex()}",
                 f"Signature: {pkg.signature[:8].hex()}...",
                 f"Embedded key: {data['embedded_key'] or '(none)'} (convenience only, not trusted)",
                 f"App:       {app['id']} {app['version']} \"{app['name']}\" by {app['publisher']}",
                 f"UI:        {pkg.manifest.ui}"
                 + (f"  core: {pkg.manifest.core_wasm}" if pkg.manifest.core_wasm else ""),
                 "Capabilities:", caps.render(), f"Files ({len(files)}; {UNSIGNED_INDEX_FIELDS_NOTE}):"]
        for f in files:
            ratio = f["compressed_size"] / f["size"] if f["size"] else 0
            lines.append(f"  {f['path']}  {f['size']} -> {f['compressed_size']} ({ratio:.0%})")
        return "\n".join(lines)

    emit(args, data, human)
    return 0


def _byte_size(text: str) -> int:
    """``123``, ``64K``, ``512M``, ``4G``, ``1T`` (binary units, optional trailing ``B``/``iB``) → bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    number = t[:-1] if scale > 1 else t
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 512M or 8G")
    return int(number) * scale


def run_extract(args: argparse.Namespace) -> int:
    from capfast.cap.package import Limits, Package
    from capfast.errors import PackageError

    key = _pubkey(args)
    limits = Limits()
    if args.max_bytes is not None:
        limits = limits._replace(max_extract_bytes=args.max_bytes)
    if args.max_files is not None:
        limits = limits._replace(max_extract_files=args.max_files)
    try:
        pkg = Package.open(args.cap, limits)
        res = pkg.extract(args.output, key, trust_store=_store(args))
    except PackageError as exc:
        return _failed(args, exc, "extract")
    except FileExistsError as exc:
        raise CliError(str(exc), EXIT_USAGE, "choose a new or empty --out directory") from None
    emit(args, {**res.to_dict(), "out": str(args.output)},
         f"Extracted {res.files} files to {args.output} (verified with the {res.key_source} key)")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    from capfast.cap.delta import diff
    from capfast.cap.package import Package

    d = diff(Package.open(args.old), Package.open(args.new))

    def human() -> str:
        lines = [f"{k}: {a!r} -> {b!r}" for k, (a, b) in d["manifest"].items()]
        lines += [f"+ {f['path']} ({f['size']} bytes)" for f in d["added"]]
        lines += [f"- {f['path']} ({f['size']} bytes)" for f in d["removed"]]
        lines += [f"~ {f['path']} ({f['old_size']} -> {f['new_size']} bytes)" for f in d["changed"]]
        lines.append(f"Summary: {len(d['added'])} added, {len(d['removed'])} removed, {len(d['changed'])} modified, "
                     f"{d['unchanged']} unchanged; download {d['download_blobs']} blobs, {d['download_bytes']} bytes")
        return "\n".join(lines)

    emit(args, {"ok": True, **d}, human)
    return 0


def run_trust_pin(args: argparse.Namespace) -> int:
    from capfast.cap.keys import load_public_key

    key = load_public_key(args.pubkey)
    _store(args).pin(args.app_id, key, replace=args.replace)
    emit(args, {"ok": True, "app_id": args.app_id, "public_key": key.hex()}, f"Pinned {args.app_id} -> {key.hex()}")
    return 0


def run_trust_list(args: argparse.Namespace) -> int:
    items = _store(args).items()
    emit(args, {"ok": True, "pins": dict(items)},
         "\n".join(f"{a} -> {p['pubkey_hex']} (first: {p.get('first_seen')}, last: {p.get('last_seen')})"
                   for a, p in items) or "No pinned publisher keys.")
    return 0


def run_trust_unpin(args: argparse.Namespace) -> int:
    existed = _store(args).unpin(args.app_id)
    emit(args, {"ok": True, "app_id": args.app_id, "removed": existed},
         f"Unpinned {args.app_id}" if existed else f"{args.app_id} was not pinned")
    return 0


def run_trust_rotate(args: argparse.Namespace) -> int:
    from capfast.cap.keys import load_public_key
    from capfast.errors import TrustError

    key = load_public_key(args.pubkey)
    try:
        att = bytes.fromhex(args.attestation.read_text().strip())
    except ValueError:
        raise CliError(f"{args.attestation}: not a hex attestation", EXIT_USAGE) from None
    try:
        _store(args).rotate(args.app_id, key, att)
    except TrustError as exc:
        return _failed(args, exc, "rotate")
    emit(args, {"ok": True, "app_id": args.app_id, "public_key": key.hex()}, f"Rotated {args.app_id} -> {key.hex()}")
    return 0


def _load_overlay(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        if path.suffix == ".toml":
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            doc = strict_json.load_file(path, what=f"{path}: overlay", error=ValueError, max_bytes=1 << 20)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot parse overlay: {exc}", EXIT_USAGE) from None
    except ValueError as exc:
        raise CliError(f"cannot parse overlay: {exc}", EXIT_USAGE) from None
    if not isinstance(doc, dict):
        raise CliError(f"{path}: overlay must be an object/table", EXIT_USAGE)
    return doc


def run_caps_check(args: argparse.Namespace) -> int:
    from capfast.cap.capabilities import parse_capabilities
    from capfast.cap.manifest import Manifest
    from capfast.cap.package import Package

    from_toml = args.cap.suffix == ".toml"
    manifest = Manifest.from_toml(args.cap) if from_toml else Package.open(args.cap).manifest
    requested = parse_capabilities(manifest.capabilities, strict=from_toml)
    effective = requested.apply_overlay(_load_overlay(args.overlay)) if args.overlay else requested
    req, eff = requested.report(), effective.report()
    restricted = [k for k in req if k != "warnings" and req[k] != eff[k]]
    queries = []
    for q in args.allow:
        kind, _, target = q.partition("=")
        queries.append({"query": q, "allowed": effective.allows(kind, target or None)})
    denied = bool(restricted) or any(not q["allowed"] for q in queries)
    data = {"ok": not denied, "app_id": manifest.app_id, "requested": req, "effective": eff,
            "restricted": restricted, "queries": queries}

    def human() -> str:
        lines = [f"{manifest.app_id}: requested capabilities", requested.render()]
        if args.overlay:
            lines += [f"effective under {args.overlay}:", effective.render()]
            lines.append("restricted by policy: " + (", ".join(restricted) if restricted else "nothing"))
        lines += [f"{'ALLOWED' if q['allowed'] else 'DENIED'}: {q['query']}" for q in queries]
        return "\n".join(lines)

    emit(args, data, human)
    return EXIT_VERIFY_FAILED if denied else 0
