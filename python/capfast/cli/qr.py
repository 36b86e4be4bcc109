"""``cap qr``: request, answer, redeem (CapQR one-time device onboarding, see docs/capqr.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_USAGE, EXIT_VERIFY_FAILED, CliError, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap qr request|answer|redeem``."""
    group = cli.group(
        "qr",
        help="CapQR: onboard a device with a one-time token",
        description="Device onboarding (seed 000): the device shows a QR code (request), an app with a valid "
        "CapToken approves it (answer) and the device redeems the one-time token it receives (redeem).",
    )

    cmd = group.command("request", run_request, help="device: make a request and show its QR code",
                        description="Make an ephemeral X25519 key and a secret verifier, write them to the STATE "
                        "file (0600) and show the QR code on the terminal (and as PNG/SVG files with --png/--svg).")
    cmd.argument("--device-id", required=True, help="this device's id")
    cmd.argument("--domain", required=True, help="the domain to join, e.g. example.org")
    cmd.argument("--role", required=True, help="the role asked for")
    cmd.argument("--scope", required=True, action="append", help="a scope asked for (repeat)")
    cmd.argument("--ttl", type=int, default=300, help="seconds the request stays valid (300; 30-600)")
    cmd.argument("--state", required=True, type=Path, help="state file to write (keeps the device's secrets)")
    cmd.argument("--png", type=Path, default=None, help="also write the QR code as PNG")
    cmd.argument("--svg", type=Path, default=None, help="also write the QR code as SVG")
    cmd.argument("--no-terminal", action="store_true", help="do not draw the QR code on the terminal")

    cmd = group.command("answer", run_answer, help="app: approve a device's request and deliver a one-time token",
                        description="Read the device's QR code, show who asks for what, check that your own token "
                        "covers it, and issue a one-time token (at most 5 minutes, no wallet, bound to the device) "
                        "sealed to the device key; deliver it as a QR code or over HTTPS on the LAN.")
    cmd.one_of((("--image",), dict(type=Path, help="image of the device's QR code (PNG, JPEG...)")),
               (("--payload",), dict(help="the scanned QR text (CQR1:...)")), required=True)
    cmd.argument("--token", required=True, help="your own CapToken (file)")
    cmd.secret_key("the app's token issuer key (X.json)")
    cmd.argument("--issuers", required=True, type=Path, help="captoken-issuers.v1 file to check your token with")
    cmd.argument("--audit", required=True, type=Path, help="the app's hash-chained audit log (appended)")
    cmd.argument("--lifetime", type=int, default=300, help="one-time token lifetime in seconds (300 max)")
    cmd.argument("--yes", action="store_true", help="approve without asking (required when stdin is no terminal)")
    cmd.argument("--png", type=Path, default=None, help="write the answer QR code as PNG")
    cmd.argument("--svg", type=Path, default=None, help="write the answer QR code as SVG")
    cmd.argument("--deliver", default=None, metavar="HOST:PORT", help="deliver over HTTPS to the device's receiver")
    cmd.argument("--pin", default=None, help="SHA-256 of the device's TLS certificate (with --deliver)")
    cmd.argument("--no-terminal", action="store_true", help="do not draw the answer QR code on the terminal")

    cmd = group.command("redeem", run_redeem, help="device: redeem the one-time token it received",
                        description="Open the answer (QR image, QR text, or an HTTPS delivery received with "
                        "--listen), verify the token for this device and redeem it atomically (once). Refusals are "
                        "written to the audit log as misuse.")
    cmd.one_of((("--image",), dict(type=Path, help="image of the app's answer QR code")),
               (("--payload",), dict(help="the answer QR text (CQR1:...)")),
               (("--listen",), dict(default=None, metavar="HOST:PORT",
                                    help="receive the answer over HTTPS on this address")), required=True)
    cmd.argument("--state", required=True, type=Path, help="the state file written by 'cap qr request'")
    cmd.argument("--issuers", required=True, type=Path, help="captoken-issuers.v1 file (pinned issuers)")
    cmd.argument("--store", required=True, help="redemption store: SQLite file or redis:// URL")
    cmd.argument("--audit", required=True, type=Path, help="the device's hash-chained audit log (appended)")
    cmd.argument("--timeout", type=float, default=300.0, help="seconds to wait with --listen (300)")


def _text_or_image(args: argparse.Namespace) -> str:
    from capfast.access import qr

    if args.payload is not None:
        return str(args.payload)
    return qr.decode_image(args.image)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"expected HOST:PORT, got {text!r}", EXIT_USAGE)
    return host.strip("[]"), int(port)


def run_request(args: argparse.Namespace) -> int:
    from capfast.access import qr
    from capfast.access.onboarding import start_request

    req = start_request(args.device_id, args.domain, args.role, args.scope, ttl=args.ttl)
    req.save(args.state)
    text = req.payload.to_text()
    for path in (args.png, args.svg):
        if path is not None:
            qr.render(text, path)
    p = req.payload
    doc = {"ok": True, "qr": text, "request_id": p.request_id, "device_id": p.device_id, "domain": p.domain,
           "role": p.role, "scope": list(p.scope), "expires_at": p.expires_at, "state": str(args.state),
           "png": str(args.png) if args.png else None, "svg": str(args.svg) if args.svg else None}
    human = ("" if args.no_terminal else qr.terminal(text)) + (
        f"request {p.request_id}: {p.device_id} asks for {p.role} ({', '.join(p.scope)}) in {p.domain}, "
        f"valid until {p.expires_at}\n{text}")
    emit(args, doc, human)
    return 0


def run_answer(args: argparse.Namespace) -> int:
    import time

    from capfast.access import TrustedIssuers, Verifier, load_issuer, qr
    from capfast.access.delivery import DirectQrTransport, LanHttpsTransport
    from capfast.access.onboarding import answer
    from capfast.access.qr import QrRequest
    from capfast.cli.token import read_token
    from capfast.errors import TokenError
    from capfast.lksg.audit import AuditLog

    req = qr.decode(_text_or_image(args))
    if not isinstance(req, QrRequest):
        raise CliError("that QR code is not a device request", EXIT_USAGE)
    context = (f"{req.device_id} asks for role {req.role} with {', '.join(req.scope)} in {req.domain} "
               f"(request {req.request_id}, expires {req.expires_at})")
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("approval needed: " + context, EXIT_USAGE, "check the request and pass --yes")
        sys.stderr.write(context + "\napprove? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CliError("not approved", EXIT_VERIFY_FAILED)
    verifier = Verifier(TrustedIssuers.load(args.issuers), audience=req.domain)
    try:
        grant = answer(req, app_token=read_token(args.token), verifier=verifier, signer=load_issuer(args.key),
                       audit=AuditLog(args.audit), lifetime=args.lifetime, now=int(time.time()))
    except TokenError as exc:
        raise CliError(f"cannot approve ({exc.code}): {exc}", EXIT_VERIFY_FAILED) from None
    response = grant.response()
    delivered = "qr"
    if args.deliver:
        host, port = _host_port(args.deliver)
        LanHttpsTransport(host, port, pin_sha256=args.pin).deliver(response)
        delivered = f"https://{host}:{port}"
    qr_transport = DirectQrTransport(args.png)
    qr_transport.deliver(response)
    if args.svg is not None:
        qr.render(response.to_text(), args.svg)
    doc = {"ok": True, "request_id": req.request_id, "effect": grant.effect, "token_id": grant.claims.token_id,
           "valid_until": grant.claims.valid_until, "answer": response.to_text(), "delivered": delivered}
    human = ("" if args.no_terminal or args.deliver else (qr_transport.terminal or "")) + (
        f"approved: one-time token {grant.claims.token_id} for {req.device_id}, effect {grant.effect}, "
        f"valid until {grant.claims.valid_until}, delivered via {delivered}\n{response.to_text()}")
    emit(args, doc, human)
    return 0


def run_redeem(args: argparse.Namespace) -> int:
    from capfast.access import TrustedIssuers, Verifier, qr
    from capfast.access.delivery import DeviceReceiver
    from capfast.access.onboarding import DeviceRequest, redeem
    from capfast.access.qr import QrResponse
    from capfast.access.replay import open_store
    from capfast.errors import OnboardingError, TokenError
    from capfast.lksg.audit import AuditLog

    state = DeviceRequest.load(args.state)
    if args.listen:
        host, port = _host_port(args.listen)
        with DeviceReceiver(state.payload.request_id, host=host, port=port) as rx:
            sys.stderr.write(f"listening on https://{rx.host}:{rx.port} (certificate sha256 {rx.fingerprint})\n")
            sys.stderr.flush()
            response: Any = rx.wait(args.timeout)
    else:
        response = qr.decode(_text_or_image(args))
    if not isinstance(response, QrResponse):
        raise CliError("that QR code is not an answer", EXIT_USAGE)
    store = open_store(args.store)
    try:
        v = redeem(state, response, verifier=Verifier(TrustedIssuers.load(args.issuers),
                                                      audience=state.payload.domain),
                   store=store, audit=AuditLog(args.audit))
    except (TokenError, OnboardingError) as exc:
        code = getattr(exc, "code", "refused")
        raise CliError(f"redemption refused ({code}): {exc}", EXIT_VERIFY_FAILED,
                       "the attempt was written to the audit log") from None
    finally:
        store.close()
    c = v.claims
    emit(args, {"ok": True, **v.to_json()},
         f"redeemed one-time token {c.token_id}: {c.role} ({', '.join(c.scope)}) in {c.audience} until "
         f"{c.valid_until}, effect {c.effect}")
    return 0
