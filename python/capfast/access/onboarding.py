"""CapQR device onboarding (seed 000, "CapQR-Modul"; ``docs/capqr.md``).

1. **Device** — :func:`start_request` makes an ephemeral X25519 key pair and a secret ``verifier``, and shows
   ``QR = {device_id, domain, request_id, role, scope, device_key, expires_at, verifier_hash}``; the secrets stay in a
   0600 state file (:meth:`DeviceRequest.save`).
2. **App** — scans the code (:func:`capfast.access.qr.decode` / ``decode_image``), shows the requester context
   (device, domain, role, scopes) for approval, then :func:`answer` checks with the one verifier that *its own*
   token covers the requested role and scopes in that domain, and derives a **one-time token**: ≤ 5 minutes,
   ``token_id = request_id``, bound to ``device_id`` and to ``verifier_hash``, carrying **no wallet** but an opaque
   ``effect`` reference. Only the app's hash-chained audit log links the effect to the wallet
   (``captoken.onetime.issued``).
3. **Delivery** — the token is sealed to the device key (libsodium sealed box) and handed over by a
   :mod:`~capfast.access.delivery` transport: a direct QR response, or HTTPS on the LAN; BLE is an interface slot.
4. **Redemption** — :func:`redeem` (device or gate) opens the box, verifies the token for this device, checks the
   verifier and redeems the token id with one atomic insert-if-absent. A replayed, expired, foreign or otherwise bad
   token is refused and written to the audit log as ``captoken.misuse``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from capfast import strict_json
from capfast._io import atomic_write
from capfast.access import jsontoken
from capfast.access.claims import Claims, new_id, unix_time
from capfast.access.keys import Signer
from capfast.access.qr import QrRequest, QrResponse, decode
from capfast.access.replay import RedemptionStore
from capfast.access.scopes import covers_any
from capfast.access.verifier import ONE_TIME_MAX_LIFETIME, Verified, Verifier
from capfast.captoken import lower_hex
from capfast.errors import OnboardingError, QrPayloadError, ScopeNotGrantedError, TokenError
from capfast.lksg.audit import AuditLog

__all__ = [
    "DEFAULT_REQUEST_TTL",
    "DeviceRequest",
    "OneTimeGrant",
    "answer",
    "open_sealed",
    "redeem",
    "redeem_token",
    "start_request",
]

DEFAULT_REQUEST_TTL = 300
STATE_SCHEMA = "capqr-device-request.v1"


@dataclass(frozen=True)
class DeviceRequest:
    """The device's side of one onboarding: the QR payload and the secrets behind it."""

    payload: QrRequest
    device_secret: bytes
    verifier: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": STATE_SCHEMA,
            "qr": self.payload.to_text(),
            "device_secret": self.device_secret.hex(),
            "verifier": self.verifier.hex(),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state file (0600: it holds the device's private key and verifier)."""
        atomic_write(path, json.dumps(self.to_json(), indent=2) + "\n", mode=0o600)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DeviceRequest:
        p = Path(path)
        doc = strict_json.load_file(p, what=f"device request state {p}", error=OnboardingError, max_bytes=64 * 1024)
        if not isinstance(doc, dict) or doc.get("schema") != STATE_SCHEMA or set(doc) != {
            "schema", "qr", "device_secret", "verifier"
        }:
            raise OnboardingError(f"{p}: not a {STATE_SCHEMA} file")
        payload = decode(doc["qr"])
        if not isinstance(payload, QrRequest):
            raise OnboardingError(f"{p}: the stored QR is not a device request")
        for name in ("device_secret", "verifier"):
            if not isinstance(doc[name], str) or not lower_hex(doc[name], 64):
                raise OnboardingError(f"{p}: {name} must be 64 lowercase hex digits")
        secret = bytes.fromhex(doc["device_secret"])
        if bytes(PrivateKey(secret).public_key) != payload.device_key:
            raise OnboardingError(f"{p}: the device secret does not match the key in the QR")
        verifier = bytes.fromhex(doc["verifier"])
        if hashlib.sha256(verifier).digest() != payload.verifier_hash:
            raise OnboardingError(f"{p}: the verifier does not match the QR's verifier_hash")
        return cls(payload, secret, verifier)


def start_request(
    device_id: str,
    domain: str,
    role: str,
    scope: Sequence[str],
    *,
    ttl: int = DEFAULT_REQUEST_TTL,
    now: int | None = None,
) -> DeviceRequest:
    """A fresh request: random request id, ephemeral X25519 key, random verifier; expires after ``ttl`` seconds."""
    if not 30 <= ttl <= 600:
        raise OnboardingError("a request lives between 30 and 600 seconds")
    sk = PrivateKey.generate()
    verifier = os.urandom(32)
    payload = QrRequest(
        device_id=device_id,
        domain=domain,
        request_id=new_id(),
        role=role,
        scope=tuple(scope),
        device_key=bytes(sk.public_key),
        expires_at=unix_time(now) + ttl,
        verifier_hash=hashlib.sha256(verifier).digest(),
    )
    return DeviceRequest(payload, bytes(sk), verifier)


@dataclass(frozen=True)
class OneTimeGrant:
    """What the app produced: the one-time token (for its own records), the effect reference and the sealed box."""

    token: str
    claims: Claims
    effect: str
    sealed: bytes
    request_id: str

    def response(self) -> QrResponse:
        return QrResponse(self.request_id, self.sealed)


def answer(
    request: QrRequest,
    *,
    app_token: str,
    verifier: Verifier,
    signer: Signer,
    audit: AuditLog,
    lifetime: int = ONE_TIME_MAX_LIFETIME,
    now: int | None = None,
) -> OneTimeGrant:
    """The app's approval: check its own token, derive the one-time token, log the effect, seal it to the device.

    The app's token must verify for the request's domain, cover the requested role and every requested scope;
    the one-time token gets the requested role and scopes, the app token's cap_level, and expires after
    ``lifetime`` (≤ 300 s) or with the app token, whichever is first."""
    t = unix_time(now)
    request.check_fresh(t)
    if not 1 <= lifetime <= ONE_TIME_MAX_LIFETIME:
        raise OnboardingError(f"a one-time token lives 1..{ONE_TIME_MAX_LIFETIME} seconds")
    own = verifier.verify(app_token, audience=request.domain, role=request.role, now=t)
    for s in request.scope:
        if not covers_any(own.claims.scope, s):
            raise ScopeNotGrantedError(f"the app's token does not cover the requested scope {s!r}")
    effect = new_id()
    claims = Claims(
        role=request.role,
        scope=request.scope,
        cap_level=own.claims.cap_level,
        valid_until=min(t + lifetime, own.claims.valid_until),
        issuer=signer.issuer,
        issued_at=t,
        not_before=t,
        token_id=request.request_id,
        audience=request.domain,
        revocation_id=new_id(),
        effect=effect,
        device=request.device_id,
        binding=request.verifier_hash.hex(),
    )
    token = jsontoken.issue(claims, signer)
    audit.append(
        "captoken.onetime.issued",
        {
            "effect": effect,
            "wallet": own.claims.wallet,
            "app_token_id": own.claims.token_id,
            "token_id": claims.token_id,
            "device_id": request.device_id,
            "domain": request.domain,
            "role": request.role,
            "scope": list(request.scope),
            "valid_until": claims.valid_until,
        },
    )
    sealed = SealedBox(PublicKey(request.device_key)).encrypt(token.encode("ascii"))
    return OneTimeGrant(token, claims, effect, bytes(sealed), request.request_id)


def open_sealed(request: DeviceRequest, sealed: bytes) -> str:
    """The token inside a sealed box addressed to this device."""
    try:
        return SealedBox(PrivateKey(request.device_secret)).decrypt(bytes(sealed)).decode("ascii")
    except (CryptoError, UnicodeDecodeError):
        raise QrPayloadError("the sealed token was not made for this device (or was altered)") from None


def _misuse(audit: AuditLog, exc: Exception, device: str, token: bytes | str) -> None:
    raw = token.encode("utf-8", "replace") if isinstance(token, str) else bytes(token)
    audit.append(
        "captoken.misuse",
        {
            "reason": getattr(exc, "code", type(exc).__name__),
            "error": type(exc).__name__,
            "detail": str(exc)[:300],
            "device_id": device,
            "token_sha256": hashlib.sha256(raw).hexdigest(),
        },
    )


def redeem_token(
    token: bytes | str,
    *,
    verifier: Verifier,
    store: RedemptionStore,
    audit: AuditLog,
    device: str,
    verifier_secret: bytes | None,
    audience: str | None = None,
    now: int | None = None,
) -> Verified:
    """Gate-side redemption of a one-time token (atomic; see :meth:`Verifier.redeem`). Every refusal is logged as
    ``captoken.misuse`` before the named error is raised; a success as ``captoken.redeemed``."""
    try:
        v = verifier.redeem(token, store, device=device, verifier_secret=verifier_secret, audience=audience, now=now)
    except TokenError as exc:
        _misuse(audit, exc, device, token)
        raise
    audit.append(
        "captoken.redeemed",
        {"token_id": v.claims.token_id, "effect": v.claims.effect, "device_id": device, "role": v.claims.role,
         "scope": list(v.claims.scope)},
    )
    return v


def redeem(
    request: DeviceRequest,
    response: QrResponse | bytes,
    *,
    verifier: Verifier,
    store: RedemptionStore,
    audit: AuditLog,
    now: int | None = None,
) -> Verified:
    """Device-side: open the answer to this request and redeem the token inside (misuse is logged)."""
    p = request.payload
    sealed = response.sealed if isinstance(response, QrResponse) else bytes(response)
    if isinstance(response, QrResponse) and response.request_id != p.request_id:
        exc = QrPayloadError("the answer is for another request")
        _misuse(audit, exc, p.device_id, sealed)
        raise exc
    try:
        token = open_sealed(request, sealed)
        claims, _ = jsontoken.read(token)
        if claims.token_id != p.request_id:
            raise QrPayloadError("the token answers another request")
    except (QrPayloadError, TokenError) as exc:
        _misuse(audit, exc, p.device_id, sealed)
        raise
    return redeem_token(token, verifier=verifier, store=store, audit=audit, device=p.device_id,
                        verifier_secret=request.verifier, audience=p.domain, now=now)
