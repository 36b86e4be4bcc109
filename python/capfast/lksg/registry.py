"""The proof registry (reference notes §7): SQLite (default, stdlib ``sqlite3``) or a JSON file, signed entries.

Entry (v1.0, struct order, absent options omitted): ``id``, ``manifest_hash``, ``proof_hash``, ``timestamp_file?``,
``registered_at``, ``signature?`` (base64), ``public_key?`` (base64), ``kid?``, ``signature_scheme?``
(``"ed25519"``). ``manifest_hash`` is THE manifest hash (:func:`capfast.lksg.manifest.manifest_hash`, not the file
hash cap-agent stored), ``proof_hash`` the SHA3-256 of the proof file bytes.

Entry signature (cap-agent §7.5 compatible): Ed25519 over the 32 raw bytes
``BLAKE3(compact JSON {"id","manifest_hash","proof_hash","timestamp_file","registered_at"})`` (``timestamp_file``
``null`` when absent). :func:`verify_entry` checks it, and with trusted keys also that the signer is one of them.
Backends: ``.json`` files are JSON (``{"registry_version": "1.0", "entries": [...]}``, rewritten atomically
under :func:`capfast._io.locked` on ``<file>.lock``); anything else is SQLite with cap-agent's schema (tables
``registry_meta``, ``registry_entries``; WAL, ``synchronous=FULL``), where the next id is chosen and inserted in one
``BEGIN IMMEDIATE`` transaction. Concurrent ``add`` calls therefore never lose an entry or collide on an id.

**cap-agent's registries** are read as they are: v1.0 JSON and SQLite have the same layout, and a v1.1 JSON
registry (``{"meta": {"schema_version": "1.1", ...}, "entries": [{"entry_id", "created_at", ...}]}``) is mapped
on reading (``entry_id`` → ``id``, ``created_at`` → ``registered_at``; capfast does not write v1.1). One
difference stays, by design: cap-agent keys an entry by the SHA3-256 of the *raw manifest file*, capfast by THE
manifest hash, which does not change when the same manifest is re-indented or re-serialised. So
:meth:`Registry.lookup` (``cap registry verify``) searches for both and says which one matched; cap-agent's own
``registry verify`` cannot find entries capfast wrote (it only knows the file hash).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import blake3

from capfast import ed25519, strict_json
from capfast.errors import RegistryError
from capfast.lksg.serial import compact, pretty

__all__ = ["Registry", "entry_message", "sign_entry", "verify_entry", "FILE_HASH", "MANIFEST_HASH"]

_FIELDS = ("id", "manifest_hash", "proof_hash", "timestamp_file", "registered_at", "signature", "public_key", "kid",
           "signature_scheme")
MAX_REGISTRY_BYTES = 64 << 20
_ID = re.compile(r"proof_([0-9]{1,18})")
#: How an entry's ``manifest_hash`` was matched by :meth:`Registry.lookup`.
MANIFEST_HASH, FILE_HASH = "manifest hash", "manifest file hash (cap-agent)"


def entry_message(entry: dict[str, Any]) -> bytes:
    """The 32 bytes an entry signature covers (cap-agent §7.5)."""
    core = {k: entry.get(k) for k in ("id", "manifest_hash", "proof_hash", "timestamp_file", "registered_at")}
    return blake3.blake3(compact(core).encode("utf-8")).digest()


def sign_entry(entry: dict[str, Any], secret_key: bytes) -> dict[str, Any]:
    """Add ``signature``, ``public_key``, ``kid``, ``signature_scheme`` to ``entry`` (returns a new dict)."""
    from capfast.lksg.keys import derive_kid

    pk = ed25519.public_key(secret_key)
    out = dict(entry)
    out["signature"] = base64.b64encode(ed25519.sign(secret_key, entry_message(entry))).decode()
    out["public_key"] = base64.b64encode(pk).decode()
    out["kid"] = derive_kid(pk)
    out["signature_scheme"] = "ed25519"
    return out


def verify_entry(entry: dict[str, Any], trusted: Sequence[bytes] = ()) -> tuple[bool | None, str]:
    """``(True, msg)`` valid, ``(False, msg)`` invalid/untrusted, ``(None, msg)`` unsigned."""
    if not entry.get("signature") or not entry.get("public_key"):
        return (False, "entry is not signed") if trusted else (None, "entry is not signed")
    try:
        pk = base64.b64decode(entry["public_key"], validate=True)
        sig = base64.b64decode(entry["signature"], validate=True)
    except (binascii.Error, ValueError):
        return False, "signature or public_key is not valid base64"
    if len(pk) != 32 or len(sig) != 64 or not ed25519.verify(pk, entry_message(entry), sig):
        return False, "entry signature does not verify"
    from capfast.lksg.keys import derive_kid

    if entry.get("kid") is not None and entry["kid"] != derive_kid(pk):
        return False, "entry kid does not match its public key"
    if trusted and pk not in trusted:
        return False, f"entry signed by untrusted key {derive_kid(pk)}"
    return True, f"signed by {derive_kid(pk)}"


def _clean(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in _FIELDS if entry.get(k) is not None}


def _next_id(ids: Sequence[str]) -> str:
    """``proof_NNN``: one above the highest ``proof_N`` id, and above the entry count (cap-agent's rule)."""
    top = max((int(m.group(1)) for m in map(_ID.fullmatch, ids) if m), default=0)
    return f"proof_{max(top, len(ids)) + 1:03d}"


def _from_v11(entry: Any) -> Any:
    """A cap-agent v1.1 entry in the v1.0 shape (the fields a v1.0 signature covers keep their values)."""
    if not isinstance(entry, dict):
        return entry
    out = {k: v for k, v in entry.items() if k in _FIELDS}
    out["id"], out["registered_at"] = entry.get("entry_id"), entry.get("created_at")
    return out


class Registry:
    """A registry file: JSON when the name ends in ``.json`` (or ``backend="json"``), else SQLite."""

    def __init__(self, path: str | os.PathLike[str], backend: str | None = None) -> None:
        self.path = Path(path)
        self.backend = backend or ("json" if self.path.suffix.lower() == ".json" else "sqlite")
        if self.backend not in ("json", "sqlite"):
            raise RegistryError(f"unknown registry backend {self.backend!r} (json or sqlite)")

    # -- JSON
    def _load_json(self, doc: Any = None) -> list[dict[str, Any]]:
        if doc is None:
            if not self.path.exists():
                return []
            doc = self._read_doc()
        if not isinstance(doc.get("entries"), list):
            raise RegistryError(f"registry {self.path} must be {{registry_version, entries: [...]}}")
        entries = doc["entries"]
        version = self._json_version(doc)
        if version == "1.1":
            entries = [_from_v11(e) for e in entries]
        elif version != "1.0":
            raise RegistryError(f"registry {self.path}: unsupported registry version {version!r} (1.0 or 1.1)")
        out = []
        for e in entries:
            if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ("id", "manifest_hash",
                                                                                     "registered_at")):
                raise RegistryError(f"registry {self.path} has a malformed entry")
            if version == "1.0" and not isinstance(e.get("proof_hash"), str):
                raise RegistryError(f"registry {self.path} has a malformed entry")
            out.append(_clean(e))
        return out

    @staticmethod
    def _json_version(doc: dict[str, Any]) -> Any:
        """cap-agent's detection: ``meta.schema_version`` when ``meta`` is present, else ``registry_version``."""
        if "meta" in doc:
            meta = doc["meta"]
            return meta.get("schema_version") if isinstance(meta, dict) else None
        return doc.get("registry_version", "1.0")

    # -- SQLite
    def _db(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE in add); timeout: wait for writers.
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("CREATE TABLE IF NOT EXISTS registry_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.execute("INSERT OR IGNORE INTO registry_meta VALUES ('registry_version', '1.0')")
            con.execute(
                "CREATE TABLE IF NOT EXISTS registry_entries(id TEXT PRIMARY KEY, manifest_hash TEXT NOT NULL, "
                "proof_hash TEXT NOT NULL, timestamp_file TEXT, registered_at TEXT NOT NULL, signature TEXT, "
                "public_key TEXT, blob_manifest TEXT, blob_proof TEXT, blob_wasm TEXT, blob_abi TEXT, "
                "selfverify_status TEXT, selfverify_at TEXT, verifier_name TEXT, verifier_version TEXT, kid TEXT, "
                "signature_scheme TEXT)"
            )
            con.execute("CREATE INDEX IF NOT EXISTS idx_registry_hashes ON registry_entries(manifest_hash, proof_hash)")
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"registry {self.path} is not a usable SQLite database: {exc}") from None
        return con

    def entries(self) -> list[dict[str, Any]]:
        """All entries (JSON: insertion order; SQLite: by registered_at then id)."""
        if self.backend == "json":
            return self._load_json()
        if not self.path.exists():
            return []
        con = self._db()
        try:
            cur = con.execute(f"SELECT {', '.join(_FIELDS)} FROM registry_entries ORDER BY registered_at, id")
            return [_clean(dict(zip(_FIELDS, row))) for row in cur.fetchall()]
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"registry {self.path}: {exc}") from None
        finally:
            con.close()

    def add(self, manifest_hash: str, proof_hash: str, *, secret_key: bytes | None = None,
            timestamp_file: str | None = None, registered_at: str | None = None) -> dict[str, Any]:
        """Append a (signed) entry ``proof_NNN`` and return it. The id is chosen and the entry written under one
        lock (JSON) or one immediate transaction (SQLite), so concurrent adds never collide or lose entries."""

        def make(ids: Sequence[str]) -> dict[str, Any]:
            entry: dict[str, Any] = {
                "id": _next_id(ids),
                "manifest_hash": manifest_hash,
                "proof_hash": proof_hash,
                "timestamp_file": timestamp_file,
                "registered_at": registered_at or _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
            }
            if secret_key is not None:
                entry = sign_entry(entry, secret_key)
            return _clean(entry)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.backend == "json":
            from capfast._io import atomic_write, locked

            # The data file is replaced on every write (a new inode), so the one file lock sits on a sibling file.
            with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock_fh, locked(lock_fh):
                doc = self._read_doc() if self.path.exists() else {"registry_version": "1.0", "entries": []}
                existing = self._load_json(doc)
                if self._json_version(doc) != "1.0":
                    raise RegistryError(f"registry {self.path} is a cap-agent v1.1 registry: capfast reads it but "
                                        "adds entries only to v1.0 registries (use another --registry file)")
                entry = make([e["id"] for e in existing])
                atomic_write(self.path, pretty({"registry_version": "1.0", "entries": [*existing, entry]}))
            return entry
        con = self._db()
        try:
            con.execute("BEGIN IMMEDIATE")  # the write lock first: no other add can read the same ids meanwhile
            try:
                entry = make([row[0] for row in con.execute("SELECT id FROM registry_entries")])
                con.execute(
                    f"INSERT INTO registry_entries({', '.join(entry)}) VALUES ({', '.join('?' * len(entry))})",
                    list(entry.values()),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"registry {self.path}: {exc}") from None
        finally:
            con.close()
        return entry

    def _read_doc(self) -> Any:
        with open(self.path, "rb") as fh:
            data = fh.read(MAX_REGISTRY_BYTES + 1)
        if len(data) > MAX_REGISTRY_BYTES:
            raise RegistryError(f"registry {self.path} is over {MAX_REGISTRY_BYTES} bytes")
        doc = strict_json.loads(data, what=f"registry {self.path}", error=RegistryError, max_bytes=MAX_REGISTRY_BYTES)
        if not isinstance(doc, dict):
            raise RegistryError(f"registry {self.path} must be a JSON object")
        return doc

    def find(self, manifest_hash: str, proof_hash: str | None = None) -> list[dict[str, Any]]:
        """Entries with this manifest hash (and proof hash, when given)."""
        return [e for e in self.entries() if e["manifest_hash"] == manifest_hash
                and (proof_hash is None or e.get("proof_hash") == proof_hash)]

    def lookup(self, manifest_hash: str, manifest_file_hash: str, proof_hash: str) -> list[tuple[dict[str, Any], str]]:
        """``(entry, how)`` for every entry of this manifest and proof: keyed by THE manifest hash (capfast) or by
        the SHA3-256 of the raw manifest file (cap-agent); ``how`` is :data:`MANIFEST_HASH` or :data:`FILE_HASH`."""
        out = []
        for e in self.entries():
            if e.get("proof_hash") != proof_hash:
                continue
            if e["manifest_hash"] == manifest_hash:
                out.append((e, MANIFEST_HASH))
            elif e["manifest_hash"] == manifest_file_hash:
                out.append((e, FILE_HASH))
        return out
