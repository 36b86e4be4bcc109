"""The ASGI application factory behind ``cap serve`` (Starlette; run by uvicorn).

Layers, outermost first: request log + metrics → body-size guard → rate limiter → routes (each protected route
authenticates with :mod:`capfast.server.auth` before doing any work). Every error is a JSON body
``{"error": <code>, "message": <text>[, "details": {...}]}`` (the 429 body is the seed's
``{"error": "Too many requests. Please retry after N seconds.", "code": "RATE_LIMIT_EXCEEDED"}``); an unexpected
exception becomes 500 ``internal_error`` and is logged with its traceback, never sent to the client.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from capfast.server.auth import Authenticator, AuthError, Principal
from capfast.server.config import RateSpec, ServerConfig, load_config
from capfast.server.metrics import Metrics
from capfast.server.ratelimit import LimiterUnavailable, MemoryLimiter, RedisLimiter, client_key
from capfast.server.storage import Storage, open_storage

__all__ = ["ApiError", "AppState", "create_app", "json_body", "require", "state_of"]

log = logging.getLogger("capfast.server")
access_log = logging.getLogger("capfast.server.access")

#: Paths never rate limited or authenticated (probes and scrapers).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


class ApiError(Exception):
    """An error answer: HTTP ``status`` with body ``{"error", "message"[, "details"]}``."""

    def __init__(self, status: int, error: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.details, self.headers = status, error, message, details, headers

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class AppState:
    config: ServerConfig
    storage: Storage
    auth: Authenticator
    metrics: Metrics
    limiter: Any
    blob_dir: Path
    upload_dir: Path
    verify_cache: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    cache_hits: int = 0
    cache_misses: int = 0


def state_of(request: Request) -> AppState:
    return request.app.state.cap


async def require(request: Request, scope: str) -> Principal:
    """Authenticate the request for ``scope`` or raise the seed's 401/403 :class:`ApiError`."""
    st = state_of(request)
    try:
        header = request.headers.get("authorization")
        if st.auth.jwks is not None:
            return await anyio.to_thread.run_sync(st.auth.authenticate, header, scope)
        return st.auth.authenticate(header, scope)
    except AuthError as exc:
        st.metrics.auth_failures.inc()
        if exc.status == 403:
            raise ApiError(403, "forbidden", "Insufficient scopes") from None
        raise ApiError(401, "unauthorized", str(exc), headers={"WWW-Authenticate": 'Bearer realm="cap-verifier"'}) \
            from None


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it exceeds ``limit`` bytes (never buffered beyond the limit)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"request body exceeds the limit of {limit} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "payload_too_large", f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_dup_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


async def json_body(request: Request) -> dict[str, Any]:
    """A JSON object body (bounded, strict: no NaN, no duplicate keys), or 400/413/415."""
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype.split(";")[0].lower():
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    raw = await read_body_limited(request, state_of(request).config.max_json_bytes)
    try:
        doc = json.loads(raw, object_pairs_hook=_no_dup_pairs, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "invalid_request", "Invalid JSON body: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_request", f"Invalid JSON body: {exc}") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "invalid_request", "Request body must be a JSON object")
    return doc


# -- middleware ------------------------------------------------------------------------------------------------------

class ObservabilityMiddleware:
    """One structured JSON log line and the latency/request metrics per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[Route]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    def _route(self, scope: Scope) -> str:
        for r in self.routes:
            if r.matches(scope)[0] != Match.NONE:
                return r.path
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = self._route(scope)
            self.metrics.duration.observe(elapsed)
            self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("", 0)
                access_log.info(json.dumps({
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": scope["method"],
                    "path": scope["path"], "route": route, "status": status[0],
                    "duration_ms": round(elapsed * 1000, 3), "client": client[0],
                }, separators=(",", ":")))


class RateLimitMiddleware:
    """GCRA per client key and bucket; adds ``X-RateLimit-*`` headers; 429 with the seed's body."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app, self.state = app, state
        self.trusted = state.config.proxy_networks()

    def _bucket(self, method: str, path: str) -> tuple[str, RateSpec]:
        c = self.state.config
        if method == "POST" and path == "/verify":
            return "verify", c.rate_verify
        if method == "POST" and path == "/policy/v2/compile":
            return "policy_v2", c.rate_policy_v2
        if method in ("GET", "HEAD") and path.startswith("/store/"):
            return "store", c.rate_store
        return "global", c.rate_global

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or not self.state.config.rate_limit_enabled:
            await self.app(scope, receive, send)
            return
        peer = (scope.get("client") or (None, 0))[0]
        xff = None
        for k, v in scope.get("headers", []):
            if k == b"x-forwarded-for":
                xff = v.decode("latin-1")
        bucket, spec = self._bucket(scope["method"], scope["path"])
        key = f"{bucket}:{client_key(peer, xff, self.trusted)}"
        try:
            if isinstance(self.state.limiter, RedisLimiter):
                decision = await anyio.to_thread.run_sync(self.state.limiter.hit, key, spec)
            else:
                decision = self.state.limiter.hit(key, spec)
        except LimiterUnavailable as exc:
            self.state.metrics.limiter_errors.inc()
            log.warning("rate limiter backend unavailable: %s", exc)
            if self.state.config.rate_limit_fail_open:
                await self.app(scope, receive, send)
                return
            await ApiError(503, "service_unavailable", "rate limiter backend unavailable")\
                .response()(scope, receive, send)
            return
        headers = {"X-RateLimit-Limit": str(decision.limit), "X-RateLimit-Remaining": str(decision.remaining)}
        if not decision.allowed:
            self.state.metrics.rate_limited.labels(bucket).inc()
            headers["Retry-After"] = str(decision.retry_after)
            body = {"error": f"Too many requests. Please retry after {decision.retry_after} seconds.",
                    "code": "RATE_LIMIT_EXCEEDED"}
            await JSONResponse(body, status_code=429, headers=headers)(scope, receive, send)
            return
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + raw_headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


# -- error handlers ----------------------------------------------------------------------------------------------------

async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


_HTTP_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    msg = "Resource not found" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse({"error": code, "message": msg}, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal_error", "message": "Internal server error"}, status_code=500)


# -- factory -----------------------------------------------------------------------------------------------------------

def create_app(config: ServerConfig | None = None, *, storage: Storage | None = None) -> Starlette:
    """Build the app: opens (and migrates) the database, loads auth keys, picks the rate limiter."""
    from capfast.server.openapi import openapi_route
    from capfast.server.routes import policy, store, verifier

    config = config or load_config()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    blob_dir = config.state_dir / "blobs"
    upload_dir = config.state_dir / "uploads"
    blob_dir.mkdir(exist_ok=True)
    upload_dir.mkdir(exist_ok=True)
    limiter: Any = RedisLimiter(config.redis_url) if config.redis_url else MemoryLimiter()
    state = AppState(config=config, storage=storage or open_storage(config.db_url), auth=Authenticator(config),
                     metrics=Metrics(), limiter=limiter, blob_dir=blob_dir, upload_dir=upload_dir)
    routes: list[Route] = [*verifier.ROUTES, *policy.ROUTES, *store.ROUTES, openapi_route()]
    app = Starlette(routes=routes, exception_handlers={ApiError: _api_error, HTTPException: _http_error,
                                                        Exception: _internal_error})
    app.state.cap = state
    app.add_middleware(RateLimitMiddleware, state=state)
    app.add_middleware(ObservabilityMiddleware, metrics=state.metrics, routes=routes)
    return app


class _JsonFormatter(logging.Formatter):
    """One JSON object per log record (timestamp, level, logger, message, traceback if any)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, separators=(",", ":"))


def configure_logging(level: int = logging.INFO) -> None:
    """JSON-per-line access logs on stderr (used by ``cap serve``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("capfast.server.access",):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(_JsonFormatter())
    lg = logging.getLogger("capfast.server")
    if not lg.handlers:
        lg.addHandler(plain)
    lg.setLevel(level)
