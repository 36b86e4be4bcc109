"""Persistent state of the server: policy store (v1 and v2) and the CAP store's release registry.

Two backends with one interface and one set of migrations: SQLite (default, stdlib ``sqlite3``, WAL,
``synchronous=FULL``) and PostgreSQL (``psycopg`` 3) when ``database_url`` starts with ``postgresql://``. Schema
versions are recorded in ``schema_migrations``; :meth:`Storage.migrate` applies the missing ones in order, in a
transaction each. Blob bytes live on disk (content-addressed, see :mod:`capfast.server.routes.store`); the database
holds metadata only. All methods are blocking; the ASGI routes call them in a worker thread.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from capfast._time import rfc3339_z_now
from capfast.errors import CapfastError

__all__ = ["MIGRATIONS", "Storage", "StorageError", "open_storage"]


class StorageError(CapfastError):
    """The database could not be opened or a statement failed."""


#: (version, statements) -- append only; never edit an applied migration.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE policies (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, description TEXT,
            policy_json TEXT NOT NULL)""",
        "CREATE INDEX idx_policies_created_at ON policies (created_at)",
        """CREATE TABLE policies_v2 (
            policy_id TEXT PRIMARY KEY, policy_hash TEXT NOT NULL, ir_json TEXT NOT NULL, ir_hash TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
    ]),
    (2, [
        """CREATE TABLE releases (
            app_id TEXT NOT NULL, channel TEXT NOT NULL, seq BIGINT NOT NULL, version TEXT NOT NULL,
            root TEXT NOT NULL, statement TEXT NOT NULL, statement_sig TEXT NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (app_id, channel, seq))""",
        "CREATE INDEX idx_releases_root ON releases (root)",
        """CREATE TABLE release_meta (
            root TEXT PRIMARY KEY, manifest BYTEA NOT NULL, idx BYTEA NOT NULL, signature BYTEA NOT NULL)""",
    ]),
]


class Storage:
    """The common logic over a DB-API connection (``?`` placeholders; translated for PostgreSQL)."""

    kind = "abstract"
    _conn: Any  # the DB-API connection, set by the backend's constructor

    def __init__(self) -> None:
        self._lock = threading.Lock()

    # -- backend hooks --------------------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql

    def _ddl(self, sql: str) -> str:
        return sql

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                yield cur
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
            finally:
                cur.close()

    def _q(self, cur: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
        cur.execute(self._sql(sql), params)
        return cur

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def migrate(self) -> int:
        """Apply missing migrations; returns the schema version."""
        with self._tx() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT "
                        "NOT NULL)")
        with self._tx() as cur:
            done = {r[0] for r in self._q(cur, "SELECT version FROM schema_migrations").fetchall()}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            with self._tx() as cur:
                for s in statements:
                    cur.execute(self._ddl(s))
                self._q(cur, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        (version, rfc3339_z_now()))
        return self.schema_version()

    def schema_version(self) -> int:
        with self._tx() as cur:
            row = self._q(cur, "SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def ping(self) -> None:
        """Raise :class:`StorageError` unless the database answers a query."""
        try:
            with self._tx() as cur:
                self._q(cur, "SELECT 1").fetchone()
        except Exception as exc:  # noqa: BLE001 - any driver error means "not ready"
            raise StorageError(f"database not reachable: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- policies v1 --------------------------------------------------------------------------------------------------
    _COLS = "id, name, version, hash, status, created_at, updated_at, description, policy_json"

    @staticmethod
    def _meta(row: Any) -> dict[str, Any]:
        return {"id": row[0], "name": row[1], "version": row[2], "hash": row[3], "status": row[4],
                "created_at": row[5], "updated_at": row[6], "description": row[7]}

    def put_policy(self, name: str, version: str, hash_: str, policy_json: str,
                   description: str | None) -> dict[str, Any]:
        """Store a policy, or touch ``updated_at`` of the one with the same hash (content dedup); its metadata."""
        now = rfc3339_z_now()
        with self._tx() as cur:
            row = self._q(cur, f"SELECT {self._COLS} FROM policies WHERE hash = ?", (hash_,)).fetchone()
            if row is not None:
                self._q(cur, "UPDATE policies SET updated_at = ? WHERE id = ?", (now, row[0]))
                meta = self._meta(row)
                meta["updated_at"] = now
                return meta
            pid = str(uuid.uuid4())
            self._q(cur, f"INSERT INTO policies ({self._COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (pid, name, version, hash_, "active", now, now, description, policy_json))
        return {"id": pid, "name": name, "version": version, "hash": hash_, "status": "active", "created_at": now,
                "updated_at": now, "description": description}

    def get_policy(self, key: str) -> tuple[dict[str, Any], str] | None:
        """``(metadata, policy_json)`` by UUID or ``0x`` hash, or ``None``."""
        col = "hash" if key.startswith("0x") else "id"
        with self._tx() as cur:
            row = self._q(cur, f"SELECT {self._COLS} FROM policies WHERE {col} = ?", (key,)).fetchone()
        return None if row is None else (self._meta(row), row[8])

    def count_policies(self) -> int:
        with self._tx() as cur:
            return int(self._q(cur, "SELECT COUNT(*) FROM policies").fetchone()[0])

    # -- policies v2 ------------------------------------------------------------------------------------------------
    def put_policy_v2(self, policy_id: str, policy_hash: str, ir_json: str, ir_hash: str) -> bool:
        """Persist an IR; ``False`` if ``policy_id`` is already stored with a different hash (conflict)."""
        with self._tx() as cur:
            row = self._q(cur, "SELECT policy_hash FROM policies_v2 WHERE policy_id = ?", (policy_id,)).fetchone()
            if row is not None:
                return bool(row[0] == policy_hash)
            self._q(cur, "INSERT INTO policies_v2 (policy_id, policy_hash, ir_json, ir_hash, created_at) "
                    "VALUES (?, ?, ?, ?, ?)", (policy_id, policy_hash, ir_json, ir_hash, rfc3339_z_now()))
        return True

    def get_policy_v2(self, policy_id: str) -> dict[str, Any] | None:
        with self._tx() as cur:
            row = self._q(cur, "SELECT policy_id, policy_hash, ir_json, ir_hash FROM policies_v2 WHERE policy_id = ?",
                          (policy_id,)).fetchone()
        return None if row is None else {"policy_id": row[0], "policy_hash": row[1], "ir_json": row[2],
                                         "ir_hash": row[3]}

    # -- CAP store --------------------------------------------------------------------------------------------------
    def add_release(self, app_id: str, channel: str, seq: int, version: str, root: str, statement: str,
                    statement_sig: str, manifest: bytes, index: bytes, signature: bytes) -> None:
        """Record a release; :class:`StorageError` if ``seq`` does not exceed the channel's latest."""
        with self._tx() as cur:
            row = self._q(cur, "SELECT MAX(seq) FROM releases WHERE app_id = ? AND channel = ?",
                          (app_id, channel)).fetchone()
            if row[0] is not None and seq <= int(row[0]):
                raise StorageError(f"release sequence {seq} is not above the channel's latest {row[0]}")
            if self._q(cur, "SELECT root FROM release_meta WHERE root = ?", (root,)).fetchone() is None:
                self._q(cur, "INSERT INTO release_meta (root, manifest, idx, signature) VALUES (?, ?, ?, ?)",
                        (root, manifest, index, signature))
            self._q(cur, "INSERT INTO releases (app_id, channel, seq, version, root, statement, statement_sig, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (app_id, channel, seq, version, root, statement, statement_sig, rfc3339_z_now()))

    def latest_release(self, app_id: str, channel: str) -> dict[str, Any] | None:
        with self._tx() as cur:
            row = self._q(cur, "SELECT seq, version, root, statement, statement_sig FROM releases WHERE app_id = ? "
                          "AND channel = ? ORDER BY seq DESC LIMIT 1", (app_id, channel)).fetchone()
        return None if row is None else {"seq": int(row[0]), "version": row[1], "root": row[2],
                                         "statement": row[3], "signature": row[4]}

    def release_meta(self, root: str) -> dict[str, bytes] | None:
        with self._tx() as cur:
            row = self._q(cur, "SELECT manifest, idx, signature FROM release_meta WHERE root = ?", (root,)).fetchone()
        return None if row is None else {"manifest": bytes(row[0]), "index": bytes(row[1]),
                                         "signature": bytes(row[2])}


class SqliteStorage(Storage):
    kind = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {path}: {exc}") from None

    def _ddl(self, sql: str) -> str:
        return sql.replace("BYTEA", "BLOB")


class PostgresStorage(Storage):
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise StorageError("PostgreSQL configured but psycopg is not installed: pip install 'psycopg[binary]'") \
                from None
        try:
            self._conn = psycopg.connect(url, connect_timeout=10)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")


def open_storage(url: str) -> Storage:
    """Open (and migrate) the database named by ``url``: ``sqlite:///path`` or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        st: Storage = SqliteStorage(url[len("sqlite:///"):])
    elif url.startswith(("postgresql://", "postgres://")):
        st = PostgresStorage(url)
    else:
        raise StorageError(f"unsupported database URL {url!r} (sqlite:///PATH or postgresql://...)")
    st.migrate()
    return st
