"""Request helpers for the route modules: :class:`ApiError` (the one JSON error answer), the app state, scope checks
(:func:`require`), bounded body readers (:func:`read_body_limited`, :func:`json_body`) and the exception handlers
that turn errors into JSON bodies ``{"error": <code>, "message": <text>[, "details": {...}]}``.

Route modules import from here, never from :mod:`capfast.server.app` (which assembles the routes).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from capfast import strict_json
from capfast.server.auth import Authenticator, AuthError, Principal
from capfast.server.config import ServerConfig
from capfast.server.metrics import Metrics
from capfast.server.storage import Storage

__all__ = [
    "ApiError",
    "AppState",
    "EXCEPTION_HANDLERS",
    "json_body",
    "read_body_limited",
    "require",
    "state_of",
]

log = logging.getLogger("capfast.server")


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
    tokens: Any = None  # capfast.server.routes.tokens.TokenService, created on first use


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


async def json_body(request: Request) -> dict[str, Any]:
    """A JSON object body (bounded; parsed by :mod:`capfast.strict_json`: no NaN, no duplicate keys, bounded
    nesting), or 400/413/415."""
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype.split(";")[0].lower():
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    limit = state_of(request).config.max_json_bytes
    raw = await read_body_limited(request, limit)
    try:
        doc = strict_json.loads(raw, what="request body", error=ValueError, max_bytes=limit)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    if not isinstance(doc, dict):
        raise ApiError(400, "invalid_request", "Request body must be a JSON object")
    return doc


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


async def _client_disconnected(request: Request, exc: Exception) -> JSONResponse:
    """The client went away before sending the whole body: nothing failed on our side, so no 500 and no traceback.
    The answer (400, never delivered) is what the access log and the metrics record."""
    log.info("client disconnected during %s %s before the request body was complete", request.method,
             request.url.path)
    return JSONResponse({"error": "client_disconnected", "message": "the client closed the connection before the "
                         "request body was complete"}, status_code=400)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal_error", "message": "Internal server error"}, status_code=500)


#: Starlette ``exception_handlers`` for every app: ApiError → its JSON body, HTTP errors → JSON, a client gone
#: mid-body → a logged 400 (no traceback), anything else → 500.
EXCEPTION_HANDLERS = {ApiError: _api_error, HTTPException: _http_error, ClientDisconnect: _client_disconnected,
                      Exception: _internal_error}
