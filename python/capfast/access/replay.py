"""One-time redemption: an atomic insert-if-absent per token id (security.md §8).

``redeem(key, expires_at)`` returns ``True`` exactly once per key, however many processes or threads race for it:

* :class:`SqliteRedemptionStore` (the default): ``INSERT … ON CONFLICT DO NOTHING`` into a table whose primary key
  is the token id, in WAL mode with ``synchronous=FULL`` (a redeemed id survives a crash or power loss, so a restart
  never makes a used token valid again);
* :class:`RedisRedemptionStore` (when configured): ``SET key 1 NX PXAT <expires_at + leeway>``.

Callers mark a token used *before* acting on it (at-most-once). Entries are kept until ``expires_at + leeway`` —
past that the verifier refuses the token as expired anyway — so the store stays bounded.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from capfast.errors import InvalidArgumentError

__all__ = ["RedemptionStore", "RedisRedemptionStore", "SqliteRedemptionStore", "open_store"]

#: Seconds an entry outlives its token's expiry (the verifier's largest leeway).
RETAIN_LEEWAY = 300
_PURGE_EVERY = 256


class RedemptionStore(Protocol):
    def redeem(self, key: str, expires_at: int, *, now: int | None = None) -> bool:
        """``True`` if ``key`` was not redeemed before (and is now), ``False`` for a replay."""
        ...

    def close(self) -> None: ...


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= 256 or any(not (" " < c <= "~") for c in key):
        raise InvalidArgumentError("redemption key must be 1-256 printable ASCII characters without spaces")
    return key


class SqliteRedemptionStore:
    """Redeemed ids in a SQLite file (one connection per thread; safe across processes)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._count = 0
        conn = self._conn()
        with conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS redemptions (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, "
                "redeemed_at INTEGER NOT NULL) WITHOUT ROWID"
            )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self._local.conn = conn
        return conn

    def redeem(self, key: str, expires_at: int, *, now: int | None = None) -> bool:
        t = int(time.time()) if now is None else int(now)
        conn = self._conn()
        cur = conn.execute(
            "INSERT INTO redemptions (key, expires_at, redeemed_at) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING",
            (_check_key(key), int(expires_at), t),
        )
        first = cur.rowcount == 1
        self._count += 1
        if self._count % _PURGE_EVERY == 0:
            conn.execute("DELETE FROM redemptions WHERE expires_at < ?", (t - RETAIN_LEEWAY,))
        return first

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class RedisRedemptionStore:
    """Redeemed ids in Redis (``SET NX PXAT``); ``client`` is a ``redis.Redis``."""

    def __init__(self, client: Any, *, prefix: str = "capfast:redeemed:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisRedemptionStore:
        import redis  # optional dependency: only when Redis is configured

        return cls(redis.Redis.from_url(url), **kwargs)

    def redeem(self, key: str, expires_at: int, *, now: int | None = None) -> bool:
        t = int(time.time()) if now is None else int(now)
        until_ms = max(int(expires_at) + RETAIN_LEEWAY, t + 1) * 1000
        return bool(self.client.set(self.prefix + _check_key(key), b"1", nx=True, pxat=until_ms))

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def open_store(spec: str | os.PathLike[str]) -> RedemptionStore:
    """A store from a spec: ``redis://…`` / ``rediss://…`` URLs open Redis, anything else is a SQLite path."""
    text = os.fspath(spec)
    if text.startswith(("redis://", "rediss://", "unix://")):
        return RedisRedemptionStore.from_url(text)
    return SqliteRedemptionStore(text)
