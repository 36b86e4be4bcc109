"""Connection limits for ``cap serve``: slow and idle clients cannot take the server down (slowloris).

uvicorn alone gives a connection that never finishes its headers all the time it wants, and its
``limit_concurrency`` answers *every* request with 503 once that many connections are open, ``/healthz`` included:
1,000 half-sent requests from one address were enough. This module is the HTTP protocol uvicorn runs instead (its
h11 protocol, subclassed), with one :class:`ConnectionGuard` shared by every connection of the server:

* **Per client**: at most ``max_per_client`` open connections per client address (IPv6 per /64; the same key as
  the rate limiter). A further connection is closed (reset) as soon as it is accepted, before anything is read, so
  one address cannot crowd out other clients. Addresses in ``CAP_TRUSTED_PROXIES`` are exempt (a proxy carries
  many clients); behind one, bound clients at the proxy.
* **In all**: at most ``max_connections`` open connections; further ones are reset the same way.
* **Header deadline**: the request line and headers must be complete within ``header_timeout`` seconds of the
  connection opening (or of the previous response on a kept-alive connection), however slowly they trickle in;
  otherwise the connection gets ``408`` and is closed.
* **Body idle timeout**: while a request body is being received, a pause longer than ``body_idle_timeout`` seconds
  closes the connection (the route sees a client disconnect). Time while the server itself has paused reading
  (flow control, e.g. an upload waiting for a slot) does not count.

A half-open connection therefore costs a slot for at most ``header_timeout`` seconds and a client can hold at most
``max_per_client`` of them, while health and readiness probes from other addresses are served throughout. Requests
are no longer refused by a concurrency limit: each connection carries at most one request at a time, so the
connection caps bound them.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from capfast.server.ratelimit import client_key

__all__ = ["ConnectionGuard", "ConnectionLimits", "guarded_protocol"]

_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class ConnectionLimits:
    """The limits of :mod:`capfast.server.guard` (``ServerConfig`` fields of the same meaning)."""

    header_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    max_per_client: int = 32
    max_connections: int = 1000


class ConnectionGuard:
    """Open connections per client key and in all; shared by every connection of one server (one event loop)."""

    def __init__(self, limits: ConnectionLimits, trusted: list[Any] | None = None) -> None:
        self.limits = limits
        self.trusted = list(trusted or [])
        self.per_client: dict[str, int] = {}
        self.total = 0
        self.refused = 0
        self.timed_out = 0

    def key(self, peer: str | None) -> str | None:
        """The client key of ``peer``, or None when the per-client cap does not apply (a trusted proxy)."""
        if peer and self.trusted:
            try:
                addr = ipaddress.ip_address(peer)
            except ValueError:
                addr = None
            if addr is not None and any(addr.version == n.version and addr in n for n in self.trusted):
                return None
        return client_key(peer, None, [])

    def admit(self, key: str | None) -> bool:
        if self.total >= self.limits.max_connections:
            self.refused += 1
            return False
        if key is not None:
            n = self.per_client.get(key, 0)
            if n >= self.limits.max_per_client:
                self.refused += 1
                return False
            self.per_client[key] = n + 1
        self.total += 1
        return True

    def release(self, key: str | None) -> None:
        self.total -= 1
        if key is not None:
            n = self.per_client.get(key, 1) - 1
            if n > 0:
                self.per_client[key] = n
            else:
                self.per_client.pop(key, None)


def guarded_protocol(guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with ``guard``'s limits (pass as ``uvicorn.run(..., http=...)``)."""
    limits = guard.limits

    class GuardedH11Protocol(H11Protocol):
        _admitted = False
        _guard_key: str | None = None
        _timer: asyncio.TimerHandle | None = None
        _phase_start = 0.0
        _last_data = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            key = guard.key(self.client[0] if self.client else None)
            if not guard.admit(key):
                transport.abort()  # reset at once: nothing read, nothing held
                return
            self._admitted, self._guard_key = True, key
            self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            if self._admitted:
                self._admitted = False
                guard.release(self._guard_key)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._last_data = self.loop.time()
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_headers()  # the next request on this kept-alive connection

        # -- deadlines -------------------------------------------------------------------------------------
        def _cancel(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _schedule(self, delay: float) -> None:
            self._cancel()
            self._timer = self.loop.call_later(max(delay, 0.05), self._check)

        def _await_headers(self) -> None:
            self._phase_start = self._last_data = self.loop.time()
            self._schedule(limits.header_timeout)

        def _check(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            now = self.loop.time()
            theirs = self.conn.their_state
            if theirs is h11.IDLE:  # request line and headers not complete yet (or not started)
                left = self._phase_start + limits.header_timeout - now
                if left > 0:
                    self._schedule(left)
                    return
                guard.timed_out += 1
                if self.conn.our_state is h11.IDLE:
                    self.transport.write(_TIMEOUT_408)
                self.transport.close()
            elif theirs is h11.SEND_BODY:
                if self.flow.read_paused:  # we stopped reading, not the client
                    self._last_data = now
                left = self._last_data + limits.body_idle_timeout - now
                if left > 0:
                    self._schedule(left)
                    return
                guard.timed_out += 1
                self.transport.close()
            # otherwise the request is complete and the application has it: on_response_complete re-arms

        def handle_events(self) -> None:
            super().handle_events()
            if self._admitted and self.conn.their_state is h11.SEND_BODY and self._timer is None \
                    and not self.transport.is_closing():
                self._schedule(limits.body_idle_timeout)

    return GuardedH11Protocol
