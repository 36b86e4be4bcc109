"""CapToken endpoints (issue 11, docs/captoken.md, docs/capqr.md).

* ``POST /tokens/verify`` (bearer scope ``tokens:verify``) — the one verifier over HTTP: ``{"token", "required_scope",
  "min_cap_level", "role", "device"}`` → ``{"valid": true, "claims": …}`` or ``{"valid": false, "error": <code>,
  "message"}``. The audience is the server's (``CAP_TOKEN_AUDIENCE``); issuers come from ``CAP_TOKEN_ISSUERS``.
* An RFC 8628-style device flow for CapQR onboarding (no bearer token: devices have none yet; the approving app
  authenticates with its own CapToken):

  - ``POST /onboard/device`` ``{"qr": "CQR1:…"}`` (the device's request) → ``device_code`` (secret), ``interval``,
    ``expires_in``;
  - ``POST /onboard/approve`` / ``/onboard/deny`` ``{"qr", "token"}`` — the app approves (the server checks the
    app's token covers the requested role and scopes, issues the one-time token with ``CAP_ONBOARDING_KEY`` and seals
    it to the device key) or denies;
  - ``POST /onboard/token`` ``{"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code"}`` — the
    device polls: 400 ``authorization_pending``, ``slow_down`` (polled faster than ``interval``; the interval grows
    by 5 s), ``expired_token``, ``access_denied``, or 200 with the sealed answer (once);
  - ``POST /onboard/redeem`` ``{"token", "verifier", "device"}`` — the gate: one atomic redemption (SQLite in the
    state directory, Redis when ``CAP_REDIS_URL`` is set); 409 ``token_replayed``; every refusal is audited.

Pending requests live in this process's memory (bounded); run one worker for onboarding, or put it behind a sticky
router. Issuance, redemption and misuse go to ``<state>/tokens.audit.jsonl``.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from capfast.server.api import ApiError, json_body, require, state_of
from capfast.server.auth import SCOPES

__all__ = ["ROUTES", "TokenService"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
POLL_INTERVAL = 5
MAX_PENDING = 10_000


@dataclass
class Pending:
    request: Any  # QrRequest
    device_code: str
    interval: int = POLL_INTERVAL
    last_poll: float = 0.0
    status: str = "pending"  # pending | approved | denied | delivered
    answer: str | None = None


@dataclass
class TokenService:
    verifier: Any
    signer: Any
    audit: Any
    store: Any
    pending: dict[str, Pending] = field(default_factory=dict)  # device_code -> Pending
    by_request: dict[str, str] = field(default_factory=dict)  # request_id -> device_code
    lock: threading.Lock = field(default_factory=threading.Lock)

    def purge(self, now: float) -> None:
        for code, p in list(self.pending.items()):
            if p.request.expires_at + 60 < now:
                del self.pending[code]
                self.by_request.pop(p.request.request_id, None)


def _service(request: Request) -> TokenService:
    st = state_of(request)
    if st.tokens is not None:
        return st.tokens
    from capfast.access import RevocationList, RevocationSet, TrustedIssuers, Verifier, load_issuer
    from capfast.access.replay import RedisRedemptionStore, SqliteRedemptionStore
    from capfast.lksg.audit import AuditLog

    c = st.config
    if not c.token_issuers or not c.token_audience:
        raise ApiError(503, "not_configured", "CapTokens are not configured on this server: set CAP_TOKEN_ISSUERS "
                       "(a captoken-issuers.v1 file) and CAP_TOKEN_AUDIENCE (this server's domain)")
    trusted = TrustedIssuers.load(c.token_issuers)
    revs = RevocationSet(trusted)
    if c.token_revocations:
        revs.add(RevocationList.load(c.token_revocations))
    signer = load_issuer(c.onboarding_key) if c.onboarding_key else None
    store = RedisRedemptionStore.from_url(c.redis_url) if c.redis_url else \
        SqliteRedemptionStore(c.state_dir / "redemptions.sqlite")
    st.tokens = TokenService(Verifier(trusted, revocations=revs, audience=c.token_audience), signer,
                             AuditLog(c.state_dir / "tokens.audit.jsonl"), store)
    return st.tokens


def _str(doc: dict[str, Any], name: str, *, required: bool = True, limit: int = 16384) -> str | None:
    v = doc.get(name)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v or len(v) > limit:
        raise ApiError(400, "invalid_request", f"{name} must be a non-empty string of at most {limit} characters")
    return v


def _only(doc: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(doc) - allowed)
    if extra:
        raise ApiError(400, "invalid_request", f"unknown field(s): {', '.join(extra)}")


async def verify_token(request: Request) -> Response:
    from capfast.errors import InvalidArgumentError, TokenError

    await require(request, SCOPES["tokens_verify"])
    doc = await json_body(request)
    _only(doc, {"token", "required_scope", "min_cap_level", "role", "device"})
    token = _str(doc, "token")
    level = doc.get("min_cap_level", 0)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
        raise ApiError(400, "invalid_request", "min_cap_level must be an integer 0-100")
    kw = {k: _str(doc, k, required=False, limit=256) for k in ("required_scope", "role", "device")}
    svc = _service(request)
    try:
        v = await anyio.to_thread.run_sync(lambda: svc.verifier.verify(token, min_cap_level=level, **kw))
    except TokenError as exc:
        return JSONResponse({"valid": False, "error": exc.code, "message": str(exc)})
    except InvalidArgumentError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    return JSONResponse(v.to_json())


def _qr_request(doc: dict[str, Any]) -> Any:
    from capfast.access import qr
    from capfast.access.qr import QrRequest
    from capfast.errors import QrPayloadError

    try:
        req = qr.decode(_str(doc, "qr", limit=qr.MAX_QR_TEXT) or "")
    except QrPayloadError as exc:
        raise ApiError(400, "invalid_request", f"qr: {exc}") from None
    if not isinstance(req, QrRequest):
        raise ApiError(400, "invalid_request", "qr must be a device request")
    return req


async def device_authorization(request: Request) -> Response:
    from capfast.errors import QrPayloadError

    doc = await json_body(request)
    _only(doc, {"qr"})
    req = _qr_request(doc)
    svc = _service(request)
    now = time.time()
    if req.domain != state_of(request).config.token_audience:
        raise ApiError(400, "invalid_request", f"this server onboards devices for {svc.verifier.audience!r}")
    try:
        req.check_fresh(int(now))
    except QrPayloadError as exc:
        raise ApiError(400, "expired_token", str(exc)) from None
    with svc.lock:
        svc.purge(now)
        if req.request_id in svc.by_request:
            raise ApiError(409, "conflict", "this request is already registered")
        if len(svc.pending) >= MAX_PENDING:
            raise ApiError(503, "service_unavailable", "too many pending device requests; retry later")
        code = os.urandom(32).hex()
        svc.pending[code] = Pending(req, code, last_poll=0.0)
        svc.by_request[req.request_id] = code
    return JSONResponse({"device_code": code, "request_id": req.request_id,
                         "expires_in": max(0, req.expires_at - int(now)), "interval": POLL_INTERVAL})


async def _decide(request: Request, approve: bool) -> Response:
    from capfast.access.onboarding import answer
    from capfast.errors import OnboardingError, QrPayloadError, TokenError

    doc = await json_body(request)
    _only(doc, {"qr", "token"})
    req = _qr_request(doc)
    app_token = _str(doc, "token") or ""
    svc = _service(request)
    with svc.lock:
        code = svc.by_request.get(req.request_id)
        pending = svc.pending.get(code) if code else None
    if pending is None or pending.request != req:
        raise ApiError(404, "not_found", "no pending device request with this id (register it with /onboard/device)")
    if pending.status != "pending":
        raise ApiError(409, "conflict", f"request already {pending.status}")
    now = int(time.time())
    try:
        own = await anyio.to_thread.run_sync(lambda: svc.verifier.verify(app_token, audience=req.domain,
                                                                         role=req.role, now=now))
        if not approve:
            pending.status = "denied"
            svc.audit.append("captoken.onetime.denied", {"request_id": req.request_id, "device_id": req.device_id,
                                                          "wallet": own.claims.wallet})
            return JSONResponse({"status": "denied"})
        if svc.signer is None:
            raise ApiError(503, "not_configured", "set CAP_ONBOARDING_KEY (a token key) to approve devices")
        grant = await anyio.to_thread.run_sync(lambda: answer(req, app_token=app_token, verifier=svc.verifier,
                                                              signer=svc.signer, audit=svc.audit, now=now))
    except TokenError as exc:
        raise ApiError(403, exc.code, str(exc)) from None
    except (QrPayloadError, OnboardingError) as exc:
        raise ApiError(400, "expired_token" if "expired" in str(exc) else "invalid_request", str(exc)) from None
    with svc.lock:
        pending.status, pending.answer = "approved", grant.response().to_text()
    return JSONResponse({"status": "approved", "token_id": grant.claims.token_id, "effect": grant.effect,
                         "valid_until": grant.claims.valid_until})


async def approve(request: Request) -> Response:
    return await _decide(request, True)


async def deny(request: Request) -> Response:
    return await _decide(request, False)


async def device_token(request: Request) -> Response:
    doc = await json_body(request)
    _only(doc, {"grant_type", "device_code"})
    if doc.get("grant_type") != GRANT_TYPE:
        raise ApiError(400, "unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
    code = _str(doc, "device_code", limit=64) or ""
    svc = _service(request)
    now = time.time()
    with svc.lock:
        found = next((p for c, p in svc.pending.items() if hmac.compare_digest(c, code)), None)
        if found is None:
            raise ApiError(400, "expired_token", "unknown or expired device_code; start a new request")
        if found.request.expires_at < now and found.status != "approved":
            raise ApiError(400, "expired_token", "the device request expired; start a new request")
        if found.last_poll and now - found.last_poll < found.interval:
            found.interval += 5
            found.last_poll = now
            raise ApiError(400, "slow_down", f"polling too fast: wait {found.interval} seconds between polls",
                           {"interval": found.interval})
        found.last_poll = now
        if found.status == "pending":
            raise ApiError(400, "authorization_pending", "the request has not been approved yet",
                           {"interval": found.interval})
        if found.status == "denied":
            raise ApiError(400, "access_denied", "the request was denied")
        if found.status == "delivered":
            raise ApiError(400, "expired_token", "the answer was already collected")
        found.status = "delivered"
        answer_text = found.answer
    return JSONResponse({"answer": answer_text, "token_type": "captoken-onetime",
                         "request_id": found.request.request_id})


async def redeem(request: Request) -> Response:
    from capfast.access.onboarding import redeem_token
    from capfast.captoken import lower_hex
    from capfast.errors import TokenError, TokenReplayError

    doc = await json_body(request)
    _only(doc, {"token", "verifier", "device"})
    token, device = _str(doc, "token", limit=8192), _str(doc, "device", limit=128)
    verifier_hex = _str(doc, "verifier", limit=64) or ""
    if not lower_hex(verifier_hex, 64):
        raise ApiError(400, "invalid_request", "verifier must be 64 lowercase hex digits")
    svc = _service(request)
    try:
        v = await anyio.to_thread.run_sync(lambda: redeem_token(
            token or "", verifier=svc.verifier, store=svc.store, audit=svc.audit, device=device or "",
            verifier_secret=bytes.fromhex(verifier_hex)))
    except TokenReplayError as exc:
        raise ApiError(409, exc.code, str(exc)) from None
    except TokenError as exc:
        raise ApiError(403, exc.code, str(exc)) from None
    return JSONResponse({"redeemed": True, **v.to_json()})


ROUTES = [
    Route("/tokens/verify", verify_token, methods=["POST"]),
    Route("/onboard/device", device_authorization, methods=["POST"]),
    Route("/onboard/approve", approve, methods=["POST"]),
    Route("/onboard/deny", deny, methods=["POST"]),
    Route("/onboard/token", device_token, methods=["POST"]),
    Route("/onboard/redeem", redeem, methods=["POST"]),
]
