"""The ASGI application factory behind ``cap serve`` (Starlette; run by uvicorn). It only assembles:

* middleware (:mod:`capfast.server.middleware`), outermost first: request log + metrics → rate limiter;
* routes (:mod:`capfast.server.routes`: verifier, policy, store, tokens; each protected route authenticates with
  :mod:`capfast.server.auth` before doing any work, through :func:`capfast.server.api.require`);
* exception handlers (:mod:`capfast.server.api`): every error is a JSON body ``{"error": <code>, "message": <text>[,
  "details": {...}]}`` (the 429 body is the seed's ``{"error": "Too many requests. Please retry after N seconds.",
  "code": "RATE_LIMIT_EXCEEDED"}``); an unexpected exception becomes 500 ``internal_error`` and is logged with its
  traceback, never sent to the client.

Request body size limits are enforced by the body readers in :mod:`capfast.server.api`.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from capfast.server.api import EXCEPTION_HANDLERS, AppState
from capfast.server.auth import Authenticator
from capfast.server.config import ServerConfig, load_config
from capfast.server.metrics import Metrics
from capfast.server.middleware import ObservabilityMiddleware, RateLimitMiddleware
from capfast.server.openapi import openapi_route
from capfast.server.ratelimit import MemoryLimiter, RedisLimiter
from capfast.server.routes import policy, store, tokens, verifier
from capfast.server.storage import Storage, open_storage

__all__ = ["create_app"]


def create_app(config: ServerConfig | None = None, *, storage: Storage | None = None) -> Starlette:
    """Build the app: opens (and migrates) the database, loads auth keys, picks the rate limiter."""
    config = config or load_config()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    blob_dir = config.state_dir / "blobs"
    upload_dir = config.state_dir / "uploads"
    blob_dir.mkdir(exist_ok=True)
    upload_dir.mkdir(exist_ok=True)
    limiter: Any = RedisLimiter(config.redis_url) if config.redis_url else MemoryLimiter()
    state = AppState(config=config, storage=storage or open_storage(config.db_url), auth=Authenticator(config),
                     metrics=Metrics(), limiter=limiter, blob_dir=blob_dir, upload_dir=upload_dir)
    routes: list[Route] = [*verifier.ROUTES, *policy.ROUTES, *store.ROUTES, *tokens.ROUTES, openapi_route()]
    app = Starlette(routes=routes, exception_handlers=dict(EXCEPTION_HANDLERS))
    app.state.cap = state
    app.add_middleware(RateLimitMiddleware, state=state)
    app.add_middleware(ObservabilityMiddleware, metrics=state.metrics, routes=routes)
    return app
