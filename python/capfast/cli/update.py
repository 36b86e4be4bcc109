"""``cap update``, ``cap rollback``, ``cap publish``: the CAP store client (see :mod:`capfast.cap.update`).

Exit codes: 0 updated or up to date; 1 the update was refused (untrusted, rollback, freeze, mix-and-match,
equivocation, bad blob, deadline); 2 bad options; 3 I/O error.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_VERIFY_FAILED, CliError, emit

__all__ = ["register"]

_DEFAULT_ROOT = Path("cap-apps")


def register(cli: Commands) -> None:
    """Add ``cap update``, ``cap rollback`` and ``cap publish``."""
    p = cli.command(
        "update", run_update, help="install or update an app from a CAP store",
        description="Fetch the latest signed release of APP on CHANNEL, verify it with the pinned publisher key "
        "(--pubkey or 'cap trust pin'), refuse rollback, freeze and mismatched metadata, download only missing "
        "blobs (each checked against its signed hash and size) under a total deadline, and swap atomically.")
    p.argument("app", help="app id")
    p.argument("--server", required=True, help="store base URL, e.g. http://127.0.0.1:8080")
    p.argument("--channel", default="stable", help="release channel (default stable)")
    p.argument("--root", type=Path, default=_DEFAULT_ROOT, help="install directory (default ./cap-apps)")
    p.pubkey("publisher.ed25519.pk.json (else the pinned key)")
    p.argument("--store", type=Path, default=None, help="trust store of pinned keys")
    p.argument("--deadline", type=float, default=300.0, help="total time limit in seconds (default 300)")

    p = cli.command("rollback", run_rollback, help="switch an app back to its previous installed version")
    p.argument("app", help="app id")
    p.argument("--root", type=Path, default=_DEFAULT_ROOT, help="install directory (default ./cap-apps)")

    p = cli.command(
        "publish", run_publish, help="publish a signed .cap to a CAP store",
        description="Sign a release statement (app id, channel, sequence, root, expiry) and upload the package. "
        "Needs a bearer token with scope store:publish in $CAP_TOKEN (or --token-file).")
    p.argument("package", type=Path, help=".cap file")
    p.argument("--server", required=True)
    p.argument("--channel", default="stable")
    p.argument("--seq", type=int, required=True, help="release sequence number (must increase)")
    p.secret_key("publisher.ed25519.sk.json")
    p.argument("--expires-in", type=int, default=7 * 86400, help="statement lifetime in seconds (7 days)")
    p.argument("--token-file", type=Path, default=None, help="file holding the bearer token")


def run_update(args: argparse.Namespace) -> int:
    from capfast.cap.keys import load_public_key
    from capfast.cap.trust import TrustStore
    from capfast.cap.update import UpdateError, update

    pk = load_public_key(args.pubkey) if args.pubkey else None
    store = None if pk is not None else TrustStore(args.store)
    try:
        res = update(args.app, args.server, args.channel, args.root, public_key=pk, trust_store=store,
                     deadline=args.deadline)
    except UpdateError as exc:
        raise CliError(f"update refused: {type(exc).__name__}: {exc}", EXIT_VERIFY_FAILED) from None
    emit(args, {"ok": True, **res.to_dict()},
         f"{res.app_id} {res.status}: seq {res.seq} version {res.version} root {res.root[:16]}… "
         f"({res.downloaded_blobs} blobs / {res.downloaded_bytes} bytes downloaded, {res.reused_blobs} reused)")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    from capfast.cap.update import UpdateError, rollback

    try:
        state = rollback(args.app, args.root)
    except UpdateError as exc:
        raise CliError(str(exc), EXIT_VERIFY_FAILED) from None
    cur = state["current"]
    emit(args, {"ok": True, "current": cur, "previous": state["previous"]},
         f"{args.app}: rolled back to seq {cur['seq']} version {cur['version']}")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    import base64
    import os

    import httpx

    from capfast import ed25519
    from capfast.cap.keys import load_secret_key
    from capfast.cap.package import Package
    from capfast.cap.update import make_release_statement
    from capfast.errors import PackageError

    sk = load_secret_key(args.key)
    pkg = Package.open(args.package)
    try:
        pkg.verify(ed25519.public_key(sk))  # the statement's key must be the one that signed the package
    except PackageError:
        raise CliError(f"{args.key} is not the key that signed {args.package}", hint="pass the publisher's secret "
                       "key (publisher.ed25519.sk.json) the package was built with") from None
    token = args.token_file.read_text().strip() if args.token_file else os.environ.get("CAP_TOKEN", "")
    stmt, sig = make_release_statement(sk, app_id=pkg.app_id, channel=args.channel, seq=args.seq, root=pkg.root,
                                       version=str(pkg.manifest.data["app"].get("version", "")),
                                       expires=int(time.time()) + args.expires_in)
    with open(args.package, "rb") as fh:
        resp = httpx.post(f"{args.server.rstrip('/')}/store/{pkg.app_id}/{args.channel}/publish", content=fh,
                          headers={"Authorization": f"Bearer {token}", "X-Cap-Statement": base64.b64encode(stmt)
                                   .decode(), "X-Cap-Statement-Signature": sig.hex(),
                                   "Content-Type": "application/octet-stream"}, timeout=120)
    if resp.status_code != 201:
        raise CliError(f"publish failed: HTTP {resp.status_code}: {resp.text[:500]}", EXIT_VERIFY_FAILED)
    emit(args, {"ok": True, **resp.json()}, f"published {pkg.app_id} seq {args.seq} on {args.channel}")
    return 0
