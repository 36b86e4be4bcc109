"""GCRA rate limiting per client address, in-process or shared through Redis.

GCRA (security.md §7): per key store only the theoretical arrival time ``TAT``. With emission interval
``T = 60 s / rate`` and tolerance ``tau = T * (burst - 1)``, a request at ``now`` is allowed iff
``now >= TAT - tau``; then ``TAT = max(TAT, now) + T``. Denied requests get ``Retry-After = ceil(TAT - tau - now)``.
``burst`` requests pass at once from an idle key; afterwards exactly ``rate`` per minute.

The Redis backend runs the same rule in one Lua ``EVAL`` (atomic; ``now`` from Redis ``TIME`` so application
hosts with skewed clocks agree) and gives every key a TTL. If Redis is unreachable the limiter **fails open** by
default (requests pass, the error is logged and counted) -- set ``CAP_RATE_LIMIT_FAIL_OPEN=0`` to answer 503
instead.

Client address: the TCP peer, unless the peer is a configured trusted proxy; then ``X-Forwarded-For`` is walked
from the right, skipping trusted proxies, and the first untrusted address is the client (the leftmost entries are
whatever the client typed). IPv6 clients are aggregated per /64.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from capfast.server.config import RateSpec

__all__ = ["Decision", "MemoryLimiter", "RedisLimiter", "client_key", "LimiterUnavailable"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class LimiterUnavailable(Exception):
    """The shared limiter backend (Redis) could not be reached."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


def _decide(tat: float, now: float, spec: RateSpec) -> tuple[Decision, float | None]:
    """Pure GCRA step: the decision and the new TAT (``None`` when denied)."""
    t = 60.0 / spec.per_minute
    tau = t * (spec.burst - 1)
    tat = max(tat, now)
    if now < tat - tau:
        retry = max(1, math.ceil(tat - tau - now))
        return Decision(False, spec.per_minute, 0, retry), None
    new_tat = tat + t
    remaining = max(0, int((tau - (new_tat - now - t)) / t + 1e-9))
    return Decision(True, spec.per_minute, remaining, 0), new_tat


class MemoryLimiter:
    """In-process GCRA; at most ``max_keys`` keys (least recently used evicted, idle keys dropped)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, spec: RateSpec) -> Decision:
        with self._lock:
            now = self.clock()
            decision, new_tat = _decide(self._tat.get(key, now), now, spec)
            if new_tat is not None:
                self._tat[key] = new_tat
                self._tat.move_to_end(key)
                while len(self._tat) > self.max_keys:
                    self._tat.popitem(last=False)
            return decision

    def __len__(self) -> int:
        return len(self._tat)


_LUA = """
local key = KEYS[1]
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local tm = redis.call('TIME')
local now = tonumber(tm[1]) + tonumber(tm[2]) / 1000000
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
if now < tat - tau then
  return {0, 0, tostring(math.ceil(tat - tau - now))}
end
local new_tat = tat + t
local ttl = math.ceil((new_tat - now) * 1000) + 1000
redis.call('SET', key, tostring(new_tat), 'PX', ttl)
local remaining = math.floor((tau - (new_tat - now - t)) / t + 1e-9)
if remaining < 0 then remaining = 0 end
return {1, remaining, '0'}
"""


class RedisLimiter:
    """GCRA in Redis via one atomic Lua script (shared by every worker and instance using the same Redis)."""

    def __init__(self, url: str, prefix: str = "capfast:rl:") -> None:
        import redis

        if url.startswith("unix://"):
            self.client = redis.Redis(unix_socket_path=url[len("unix://"):], socket_timeout=1.0,
                                      socket_connect_timeout=1.0)
        else:
            self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix
        self._script = self.client.register_script(_LUA)

    def hit(self, key: str, spec: RateSpec) -> Decision:
        import redis

        t = 60.0 / spec.per_minute
        try:
            allowed, remaining, retry = self._script(keys=[self.prefix + key],
                                                     args=[repr(t), repr(t * (spec.burst - 1)), spec.per_minute])
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from None
        retry_s = int(retry.decode() if isinstance(retry, bytes) else retry)
        return Decision(bool(allowed), spec.per_minute, int(remaining), max(1, retry_s) if not allowed else 0)

    def ping(self) -> None:
        import redis

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from None


def client_key(peer: str | None, forwarded_for: str | None, trusted: Sequence[_Network]) -> str:
    """The rate-limit key of a request (see the module docstring)."""
    addr = _parse(peer)
    if addr is not None and forwarded_for and _in(addr, trusted):
        for item in reversed([p.strip() for p in forwarded_for.split(",")]):
            hop = _parse(item)
            if hop is None:
                break
            addr = hop
            if not _in(hop, trusted):
                break
    if addr is None:
        return f"peer:{peer or 'unknown'}"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


def _parse(text: str | None) -> Any:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _in(addr: Any, nets: Sequence[_Network]) -> bool:
    return any(addr in n for n in nets if n.version == addr.version)
