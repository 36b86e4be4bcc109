"""``cap token``: keygen, pin, issue, attenuate, verify, inspect, revoke (CapTokens, see docs/captoken.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_USAGE, EXIT_VERIFY_FAILED, CliError, emit

__all__ = ["register", "read_token"]

MAX_TOKEN_FILE = 64 * 1024


def read_token(path: str) -> str:
    """Token text from a file (or ``-`` for stdin), size-capped before reading it all."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_TOKEN_FILE + 1)
    else:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TOKEN_FILE + 1)
    if len(data) > MAX_TOKEN_FILE:
        raise CliError(f"{path}: larger than {MAX_TOKEN_FILE} bytes: not a token", EXIT_USAGE)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text: not a token", EXIT_USAGE) from None


def _write(args: argparse.Namespace, text: str) -> None:
    from capfast._io import atomic_write

    if args.output is None or str(args.output) == "-":
        return
    atomic_write(args.output, text + "\n")


def register(cli: Commands) -> None:
    """Add ``cap token keygen|pin|issue|attenuate|verify|inspect|revoke``."""
    token = cli.group(
        "token",
        help="CapTokens: issue, attenuate, verify, inspect, revoke",
        description="Capability tokens (seed 000): the seed's JSON token signed by an Ed25519 token key or an "
        "issuer wallet, and an attenuable Biscuit form. Verification needs the pinned issuers (cap token pin).",
    )

    cmd = token.command("keygen", run_keygen, help="generate a token issuer key (cap-key.v1, usage captoken)",
                        description="Write OUTPUT.json, OUTPUT.ed25519 (0600) and OUTPUT.pub: an Ed25519 key whose "
                        "cap-key.v1 usage is 'captoken' (package-signing keys are refused as token keys).")
    cmd.argument("--owner", required=True, help="key owner (the issuing organisation)")
    cmd.output("output path without extension (or X.json)", required=True)
    cmd.argument("--valid-days", type=int, default=365, help="validity period in days (365)")
    cmd.argument("--force", action="store_true", help="overwrite existing key files")

    cmd = token.command("pin", run_pin, help="pin an issuer key or wallet in an issuers file",
                        description="Add a token issuer to a captoken-issuers.v1 file (created if missing): a "
                        "cap-key.v1 token key (--pubkey X.json) or an issuer wallet (--wallet 0x...).")
    cmd.argument("--issuers", required=True, type=Path, help="captoken-issuers.v1 file to update")
    cmd.pubkey("cap-key.v1 metadata of a token key (X.json)")
    cmd.argument("--wallet", default=None, help="issuer wallet address (EIP-55 or lowercase)")

    cmd = token.command("issue", run_issue, help="issue a token (JSON or Biscuit)",
                        description="Sign a token for a holder wallet with a token key (X.json) or an issuer wallet "
                        "key file (64 hex digits). Prints the token, or writes it with -o.")
    cmd.secret_key("issuer key: cap-key.v1 X.json (token key) or a wallet key file")
    cmd.argument("--wallet", required=True, help="the holder's wallet address")
    cmd.argument("--role", required=True, help="role, e.g. infra.user")
    cmd.argument("--scope", required=True, action="append", help="a scope (repeat), e.g. app:/vpn or net:/vpn/*")
    cmd.argument("--cap-level", required=True, type=int, help="capability level 0-100")
    cmd.argument("--audience", required=True, help="the domain the token is for, e.g. example.org")
    cmd.argument("--lifetime", type=int, default=3600, help="seconds until it expires (3600)")
    cmd.argument("--device", default=None, help="bind the token to one device id")
    cmd.argument("--format", choices=("json", "biscuit"), default="json", help="token encoding (json)")
    cmd.output("write the token here (atomic)")

    cmd = token.command("attenuate", run_attenuate, help="narrow a Biscuit token offline (never widens)",
                        description="Append a block that narrows the token: fewer scopes, a lower level, an earlier "
                        "expiry, a device or request binding. Needs only the issuer's public key (from --issuers).")
    cmd.argument("token", help="token file (or - for stdin)")
    cmd.argument("--issuers", required=True, type=Path, help="captoken-issuers.v1 file with the issuer's key")
    cmd.argument("--scope", action="append", default=None, help="keep only these scopes (repeat)")
    cmd.argument("--max-cap-level", type=int, default=None, help="lower the capability level to at most this")
    cmd.argument("--lifetime", type=int, default=None, help="expire this many seconds from now (if earlier)")
    cmd.argument("--device", default=None, help="bind to this device id")
    cmd.argument("--request-id", default=None, help="bind to this request id")
    cmd.output("write the narrowed token here")

    cmd = token.command("verify", run_verify, help="verify a token for a request (exit 1 if refused)",
                        description="The one verifier: pinned issuer, signature, revocation, time (leeway), "
                        "audience, role, scope (segment matching, explicit /*), minimum level, device, Biscuit "
                        "attenuations.")
    cmd.argument("token", help="token file (or - for stdin)")
    cmd.argument("--issuers", required=True, type=Path, help="captoken-issuers.v1 file (pinned issuers)")
    cmd.argument("--audience", required=True, help="the domain this verifier serves")
    cmd.argument("--scope", default=None, help="required scope, e.g. app:/vpn")
    cmd.argument("--min-cap-level", type=int, default=0, help="required minimum capability level (0)")
    cmd.argument("--role", default=None, help="required role")
    cmd.argument("--device", default=None, help="the presenting device id (for device-bound tokens)")
    cmd.argument("--revocations", type=Path, action="append", default=[], help="signed revocation list (repeat)")
    cmd.argument("--leeway", type=int, default=30, help="clock-skew leeway in seconds, at most 60 (30)")
    cmd.argument("--now", type=int, default=None, help="verify as of this Unix time (default: now)")

    cmd = token.command("inspect", run_inspect, help="show a token's claims in the seed's JSON shape (not verified)",
                        description="Decode a token and print its claims, the seed's fields first. Nothing is "
                        "verified: use 'cap token verify' for that.")
    cmd.argument("token", help="token file (or - for stdin)")

    cmd = token.command("revoke", run_revoke, help="add revocation ids to the issuer's signed revocation list",
                        description="Create or extend a captoken-revocations.v1 list (sequence + 1), signed by the "
                        "issuer key; verifiers take it with 'cap token verify --revocations'.")
    cmd.secret_key("the issuer key (X.json or wallet key)")
    cmd.argument("--id", dest="ids", action="append", default=[], help="revocation id to add (repeat)")
    cmd.argument("--token", dest="tokens", action="append", default=[],
                 help="revoke this token's revocation id (file; repeat)")
    cmd.argument("--list", dest="list_path", required=True, type=Path, help="revocation list file (updated)")


def run_keygen(args: argparse.Namespace) -> int:
    from capfast.access.keys import keygen_token_key

    meta, path = keygen_token_key(args.output, args.owner, valid_days=args.valid_days, force=args.force)
    doc = {"ok": True, "kid": meta.kid, "owner": meta.owner, "usage": list(meta.usage), "metadata": str(path)}
    emit(args, doc, f"token key {meta.kid} ({meta.owner}) -> {path}\n  pin it: cap token pin --issuers "
                    f"issuers.json --pubkey {path}")
    return 0


def run_pin(args: argparse.Namespace) -> int:
    from capfast.access.keys import TrustedIssuers

    if (args.pubkey is None) == (args.wallet is None):
        raise CliError("give exactly one of --pubkey or --wallet", EXIT_USAGE)
    trusted = TrustedIssuers.load(args.issuers) if args.issuers.exists() else TrustedIssuers()
    if args.pubkey is not None:
        pinned = trusted.pin_key(args.pubkey).kid
    else:
        pinned = trusted.pin_wallet(args.wallet)
    trusted.save(args.issuers)
    emit(args, {"ok": True, "pinned": pinned, "issuers": str(args.issuers)}, f"pinned {pinned} in {args.issuers}")
    return 0


def run_issue(args: argparse.Namespace) -> int:
    from capfast.access import Claims, biscuit, jsontoken, load_issuer
    from capfast.access.keys import IssuerKey

    signer = load_issuer(args.key)
    claims = Claims.new(role=args.role, scope=args.scope, cap_level=args.cap_level, audience=args.audience,
                        issuer=signer.issuer, wallet=args.wallet, device=args.device, lifetime=args.lifetime)
    if args.format == "biscuit":
        if not isinstance(signer, IssuerKey):
            raise CliError("Biscuit tokens need an Ed25519 token key (cap token keygen), not a wallet", EXIT_USAGE)
        token = biscuit.issue(claims, signer)
    else:
        token = jsontoken.issue(claims, signer, pretty=True)
    _write(args, token)
    doc = {"ok": True, "format": args.format, "token": token, "claims": claims.to_dict(),
           "output": str(args.output) if args.output else None}
    emit(args, doc, (f"token {claims.token_id} -> {args.output}" if args.output else token))
    return 0


def run_attenuate(args: argparse.Namespace) -> int:
    import time

    from capfast.access import TrustedIssuers, biscuit

    token = read_token(args.token)
    if not biscuit.looks_like_biscuit(token):
        raise CliError("only Biscuit tokens can be attenuated by a holder", EXIT_USAGE,
                       "issue one with 'cap token issue --format biscuit'")
    trusted = TrustedIssuers.load(args.issuers)
    kid = biscuit.read_unverified_issuer(token)
    key = trusted.key_for(kid, int(time.time()))
    until = None if args.lifetime is None else int(time.time()) + args.lifetime
    narrowed = biscuit.attenuate(token, key.public_key, scopes=args.scope, max_cap_level=args.max_cap_level,
                                 valid_until=until, device=args.device, request_id=args.request_id)
    _write(args, narrowed)
    eff = biscuit.load(narrowed, key.public_key).effective()
    emit(args, {"ok": True, "token": narrowed, "effective": eff.to_dict()},
         f"attenuated -> {args.output}" if args.output else narrowed)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from capfast.access import RevocationList, RevocationSet, TrustedIssuers, Verifier
    from capfast.errors import TokenError

    token = read_token(args.token)
    trusted = TrustedIssuers.load(args.issuers)
    revs = RevocationSet(trusted)
    for path in args.revocations:
        revs.add(RevocationList.load(path))
    verifier = Verifier(trusted, revocations=revs, audience=args.audience, leeway=args.leeway)
    try:
        v = verifier.verify(token, required_scope=args.scope, min_cap_level=args.min_cap_level, role=args.role,
                            device=args.device, now=args.now)
    except TokenError as exc:
        raise CliError(f"token refused ({exc.code}): {exc}", EXIT_VERIFY_FAILED) from None
    c = v.claims
    who = c.wallet or f"effect {c.effect}"
    emit(args, {"ok": True, **v.to_json()},
         f"OK {v.encoding} token {c.token_id}: {who} as {c.role}, level {c.cap_level}, "
         f"scopes {', '.join(c.scope)}, valid until {c.valid_until}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from capfast.access import biscuit, jsontoken

    token = read_token(args.token)
    if biscuit.looks_like_biscuit(token):
        claims, blocks = biscuit.inspect_unverified(token)
        doc = {**claims.seed_view(), **claims.to_dict()}
        out: dict[str, Any] = {"ok": True, "format": "biscuit", "verified": False, "token": doc, "attenuations": blocks}
    else:
        claims, parsed = jsontoken.read(token)
        doc = {**claims.seed_view(), **claims.to_dict(), "signature": "0x" + parsed.signature.hex()}
        out = {"ok": True, "format": "json", "verified": False, "token": doc}
    human = json.dumps(doc, indent=2) + "\n(not verified: use 'cap token verify')"
    if out.get("attenuations"):
        human += "\nattenuations:\n" + "\n".join("  " + b.replace("\n", "\n  ") for b in out["attenuations"])
    emit(args, out, human)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from capfast.access import RevocationList, jsontoken, load_issuer

    signer = load_issuer(args.key)
    ids = list(args.ids)
    for path in args.tokens:
        claims, _ = jsontoken.read(read_token(path))
        ids.append(claims.revocation_id)
    if not ids:
        raise CliError("nothing to revoke: give --id or --token", EXIT_USAGE)
    if args.list_path.exists():
        current = RevocationList.load(args.list_path)
        rl = current.extended(signer, ids)
    else:
        rl = RevocationList.issue(signer, ids, sequence=1)
    rl.save(args.list_path)
    emit(args, {"ok": True, **rl.to_json(), "path": str(args.list_path)},
         f"{args.list_path}: sequence {rl.sequence}, {len(rl.revoked)} revoked id(s)")
    return 0
