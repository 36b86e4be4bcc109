"""The middleware stack of ``cap serve``, outermost first: request log + metrics (:class:`ObservabilityMiddleware`),
then the rate limiter (:class:`RateLimitMiddleware`, GCRA per client and bucket, the seed's 429 body)."""

from __future__ import annotations

import json
import logging
import time

import anyio
from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from capfast.server.api import ApiError, AppState
from capfast.server.config import RateSpec
from capfast.server.metrics import Metrics
from capfast.server.ratelimit import LimiterUnavailable, RedisLimiter, client_key

__all__ = ["PUBLIC_PATHS", "ObservabilityMiddleware", "RateLimitMiddleware"]

log = logging.getLogger("capfast.server")
access_log = logging.getLogger("capfast.server.access")

#: Paths never rate limited or authenticated (probes and scrapers).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


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
        if method == "POST" and path == "/tokens/verify":
            return "verify", c.rate_verify
        if method == "POST" and path.startswith("/onboard/"):
            return "onboard", c.rate_onboard
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
