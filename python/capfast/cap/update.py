"""The CAP store update client (CAP spec §10) and the signed release statement it trusts.

A **release statement** is the publisher's signed freshness record for one app id and channel (the role TUF's
timestamp metadata plays)::

    {"app_id", "channel", "expires" (unix seconds), "root" (hex), "seq" (int ≥ 1), "type": "capfast.release.v1",
     "version"}

serialised as compact JSON with sorted keys and signed with Ed25519 over ``b"capfast-release-v1\\0" + bytes``.
The package itself stays signed over its root (``_cap/signature.ed25519``), and the root covers the manifest and
every blob hash, so one pinned key authenticates everything the client installs.

:func:`update` (``cap update APP --server URL --channel C``), with the clock fixed once at the start:

1. ``GET /store/{app}/{channel}/latest`` (≤ 16 KiB); the statement must verify with the **pinned** key, name the
   requested app and channel, and not be expired (:class:`StaleMetadataError`: freeze attack);
2. ``seq`` below the highest accepted for the channel → :class:`RollbackError`; the same ``seq`` with another
   root → :class:`EquivocationError` (both kept in ``state.json`` as evidence); same seq and root → up to date;
3. manifest, index and signature of that root (bounded); the root recomputed from them must equal the statement's
   (:class:`MixAndMatchError`) and the package signature must verify with the pinned key;
4. ``POST /store/delta`` is asked which blobs are missing; the answer is only a hint: the client fetches exactly
   the blobs the **signed index** lists that it does not hold with the index's ``compressed_size`` (a payload of
   the same content at another compression level does not fit this release's index), each from
   ``GET /store/releases/{root}/blobs/{sha256}`` (anything else the server names is ignored and reported as
   extraneous), read up to its compressed size + 1 (:class:`EndlessDataError`), checked by decompressing against
   its SHA-256 and size, all under one total deadline (:class:`SlowRetrievalError`). Local payloads are kept as
   ``blobs/<sha256>-<compressed_size>.zst``;
5. the package is assembled in a temporary file, verified fully, renamed into ``versions/<root>.cap``; then
   ``state.json`` is replaced atomically (the swap). The previous version is kept for :func:`rollback`.

A crash (even SIGKILL) at any point leaves ``state.json`` pointing at a complete, verified package: either the
old or the new one. ``CAPFAST_FAULT=<point>`` kills the process at a named point (tests only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capfast import ed25519, strict_json
from capfast._backend import core
from capfast._io import LockBusyError, atomic_write, fault_point, fsync_dir, locked
from capfast.cap.delta import missing_blobs
from capfast.cap.index import Index
from capfast.cap.manifest import Manifest, validate_app_id
from capfast.cap.package import INDEX, MANIFEST, ROOT, SIGNATURE, Package
from capfast.errors import CapfastError, InvalidArgumentError

__all__ = [
    "DownloadError", "EndlessDataError", "EquivocationError", "MixAndMatchError", "RollbackError",
    "SlowRetrievalError", "StaleMetadataError", "UntrustedMetadataError", "UpdateError", "UpdateResult",
    "make_release_statement", "parse_release_statement", "rollback", "status", "update",
    "FAULT_POINTS", "STATEMENT_TYPE",
]

STATEMENT_TYPE = "capfast.release.v1"
_DOMAIN = b"capfast-release-v1\x00"
MAX_STATEMENT = 16 * 1024
MAX_MANIFEST = 1 << 20
MAX_INDEX = 64 << 20
MAX_STATE = 64 << 20
FAULT_POINTS = ("after_metadata", "after_blobs", "after_package", "before_swap", "after_swap")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHANNEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class UpdateError(CapfastError):
    """The update failed; nothing was installed and the local trusted state is unchanged."""


class UntrustedMetadataError(UpdateError):
    """A statement, package signature or field does not check out with the pinned key (arbitrary package)."""


class StaleMetadataError(UpdateError):
    """The release statement has expired (freeze attack)."""


class RollbackError(UpdateError):
    """The server offers an older release than one already accepted."""


class EquivocationError(UpdateError):
    """Two different roots signed for the same sequence number."""


class MixAndMatchError(UpdateError):
    """Metadata that does not belong together (index/manifest not matching the signed root)."""


class DownloadError(UpdateError):
    """A download failed (HTTP error, wrong hash or size)."""


class EndlessDataError(DownloadError):
    """The server sent more bytes than the signed size allows."""


class SlowRetrievalError(DownloadError):
    """The total update deadline passed (slow retrieval)."""


def _statement_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_release_statement(secret_key: bytes, *, app_id: str, channel: str, seq: int, root: bytes | str,
                           version: str, expires: int) -> tuple[bytes, bytes]:
    """``(statement_bytes, signature)`` for a release (publisher side)."""
    validate_app_id(app_id)
    if not _CHANNEL.fullmatch(channel):
        raise InvalidArgumentError(f"channel {channel!r}: lowercase letters, digits, '.', '_', '-' (≤ 64)")
    if not isinstance(seq, int) or seq < 1:
        raise InvalidArgumentError("seq must be a positive integer")
    root_hex = root.hex() if isinstance(root, bytes) else root
    doc = {"app_id": app_id, "channel": channel, "expires": int(expires), "root": root_hex, "seq": seq,
           "type": STATEMENT_TYPE, "version": version}
    data = _statement_bytes(doc)
    return data, ed25519.sign(secret_key, _DOMAIN + data)


def parse_release_statement(data: bytes, signature: bytes, public_key: bytes) -> dict[str, Any]:
    """Verify and parse a statement; :class:`UntrustedMetadataError` on any problem."""
    if len(data) > MAX_STATEMENT:
        raise UntrustedMetadataError("release statement too large")
    try:
        ok = len(signature) == 64 and ed25519.verify(public_key, _DOMAIN + data, signature)
    except CapfastError:
        ok = False
    if not ok:
        raise UntrustedMetadataError("release statement signature does not verify with the pinned key")
    try:
        doc = strict_json.loads(data, what="release statement", error=ValueError, max_bytes=MAX_STATEMENT)
    except ValueError:
        raise UntrustedMetadataError("release statement is not JSON") from None
    if not isinstance(doc, dict) or _statement_bytes(doc) != data or doc.get("type") != STATEMENT_TYPE:
        raise UntrustedMetadataError("release statement is not canonical capfast.release.v1 JSON")
    for key, typ in (("app_id", str), ("channel", str), ("expires", int), ("root", str), ("seq", int),
                     ("version", str)):
        if not isinstance(doc.get(key), typ) or isinstance(doc.get(key), bool):
            raise UntrustedMetadataError(f"release statement field {key} missing or of the wrong type")
    if not _HEX64.fullmatch(doc["root"]) or doc["seq"] < 1:
        raise UntrustedMetadataError("release statement root/seq malformed")
    return doc


@dataclass
class UpdateResult:
    app_id: str
    channel: str
    status: str  # "updated" | "up-to-date"
    seq: int
    root: str
    version: str
    previous_root: str | None = None
    downloaded_blobs: int = 0
    downloaded_bytes: int = 0
    reused_blobs: int = 0
    ignored_hints: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "requests"}


class _Local:
    """The install directory of one app: ``state.json``, ``blobs/``, ``versions/``, ``.lock``."""

    def __init__(self, root_dir: Path, app_id: str) -> None:
        validate_app_id(app_id)
        self.dir = root_dir / app_id
        self.blobs = self.dir / "blobs"
        self.versions = self.dir / "versions"
        for d in (self.dir, self.blobs, self.versions):
            d.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "state.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.dir / ".lock", "a+b") as fh:
            with contextlib.ExitStack() as stack:
                try:
                    stack.enter_context(locked(fh, blocking=False))
                except LockBusyError:
                    raise UpdateError(f"another update of {self.dir.name} is running") from None
                yield

    def sweep(self) -> None:
        """Remove temp files an interrupted update left (only ever called with the lock held, so none is live)."""
        for d in (self.blobs, self.versions):
            for p in d.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        p.unlink()

    def load(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {"current": None, "previous": None, "highest": {}, "evidence": []}
        doc = strict_json.load_file(self.state_path, error=UpdateError, max_bytes=MAX_STATE)
        if not isinstance(doc, dict):
            raise UpdateError(f"{self.state_path}: corrupt state")
        return doc

    def save(self, state: dict[str, Any]) -> None:
        atomic_write(self.state_path, json.dumps(state, sort_keys=True, indent=1) + "\n")

    def package_path(self, root: str) -> Path:
        return self.versions / f"{root}.cap"

    def payload_path(self, h: str, compressed_size: int) -> Path:
        return self.blobs / f"{h}-{compressed_size}.zst"

    def payloads(self, unique: dict[str, Any]) -> set[str]:
        """The blob hashes of ``unique`` held locally with exactly the index's compressed size (a payload kept
        under the older name ``<sha256>.zst`` is adopted when its size matches)."""
        names = {p.name for p in self.blobs.iterdir()}
        held = set()
        for h, e in unique.items():
            name = f"{h}-{e.compressed_size}.zst"
            if name not in names and f"{h}.zst" in names and (self.blobs / f"{h}.zst").stat().st_size == \
                    e.compressed_size:
                os.replace(self.blobs / f"{h}.zst", self.blobs / name)
                names.add(name)
            if name in names:
                held.add(h)
        return held


class _Fetcher:
    """HTTP GET/POST with byte caps and a total deadline; records every request."""

    def __init__(self, server: str, deadline: float, client: Any = None) -> None:
        import httpx

        self.base = server.rstrip("/")
        self.deadline_at = time.monotonic() + deadline
        self._owned = client is None
        self.client = client or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False)
        self.requests: list[str] = []
        self.bytes = 0

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def _timeout(self) -> Any:
        import httpx

        left = self.deadline_at - time.monotonic()
        if left <= 0:
            raise SlowRetrievalError("update deadline passed")
        return httpx.Timeout(min(10.0, left), connect=min(5.0, left))

    def get(self, path: str, cap: int, what: str, exact: int | None = None, method: str = "GET",
            json_body: Any = None) -> bytes:
        import httpx

        self.requests.append(f"{method} {path}")
        buf = bytearray()
        try:
            with self.client.stream(method, self.base + path, json=json_body, timeout=self._timeout()) as resp:
                if resp.status_code != 200:
                    raise DownloadError(f"{what}: HTTP {resp.status_code} from {path}")
                for chunk in resp.iter_raw():  # as received: no buffering past a deadline check
                    buf += chunk
                    if len(buf) > cap:
                        raise EndlessDataError(f"{what}: more than the allowed {cap} bytes")
                    if time.monotonic() > self.deadline_at:
                        raise SlowRetrievalError(f"{what}: update deadline passed after {len(buf)} bytes")
        except httpx.TimeoutException:
            raise SlowRetrievalError(f"{what}: timed out (update deadline)") from None
        except httpx.HTTPError as exc:
            raise DownloadError(f"{what}: {exc}") from None
        if exact is not None and len(buf) != exact:
            raise DownloadError(f"{what}: {len(buf)} bytes, the signed size is {exact}")
        self.bytes += len(buf)
        return bytes(buf)


def _pinned_key(app_id: str, public_key: bytes | None, trust_store: Any) -> bytes:
    if public_key is not None:
        if len(public_key) != 32:
            raise InvalidArgumentError("public key must be 32 bytes")
        return public_key
    pinned = trust_store.get(app_id) if trust_store is not None else None
    if pinned is None:
        raise UntrustedMetadataError(f"no pinned publisher key for {app_id}: pin one with 'cap trust pin' or "
                                     "pass --pubkey")
    return bytes(pinned)


def update(app_id: str, server: str, channel: str, install_root: str | os.PathLike[str], *,
           public_key: bytes | None = None, trust_store: Any = None, deadline: float = 300.0,
           now: float | None = None, client: Any = None) -> UpdateResult:
    """Update ``app_id`` from ``server``'s ``channel`` into ``install_root`` (see the module docstring)."""
    pk = _pinned_key(app_id, public_key, trust_store)
    if not _CHANNEL.fullmatch(channel):
        raise InvalidArgumentError(f"invalid channel {channel!r}")
    clock = time.time() if now is None else now
    local = _Local(Path(install_root), app_id)
    fetch = _Fetcher(server, deadline, client)
    with local.locked(), contextlib.closing(fetch):
        local.sweep()
        state = local.load()
        latest_raw = fetch.get(f"/store/{app_id}/{channel}/latest", MAX_STATEMENT, "release statement")
        try:
            latest = strict_json.loads(latest_raw, error=ValueError, max_bytes=MAX_STATEMENT)
            stmt_bytes = latest["statement"].encode("utf-8")
            stmt_sig = bytes.fromhex(latest["signature"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UntrustedMetadataError("malformed /latest answer") from None
        stmt = parse_release_statement(stmt_bytes, stmt_sig, pk)
        if stmt["app_id"] != app_id or stmt["channel"] != channel:
            raise UntrustedMetadataError(f"statement is for {stmt['app_id']}/{stmt['channel']}, not "
                                         f"{app_id}/{channel}")
        if stmt["expires"] <= clock:
            raise StaleMetadataError(f"release statement expired at {stmt['expires']} (now {int(clock)}): the "
                                     "server may be replaying stale metadata (freeze)")
        high = state["highest"].get(channel)
        root = stmt["root"]
        result = UpdateResult(app_id, channel, "updated", stmt["seq"], root, stmt["version"],
                              (state.get("current") or {}).get("root"), requests=fetch.requests)
        if high is not None:
            if stmt["seq"] < high["seq"]:
                raise RollbackError(f"server offers seq {stmt['seq']}, seq {high['seq']} was already accepted")
            if stmt["seq"] == high["seq"] and root != high["root"]:
                state["evidence"].append({"seq": stmt["seq"], "accepted_root": high["root"], "other_root": root,
                                          "statement": stmt_bytes.decode(), "signature": stmt_sig.hex()})
                local.save(state)
                raise EquivocationError(f"seq {stmt['seq']} signed for two roots: {high['root']} and {root}")
        cur = state.get("current")
        if cur is not None and cur["root"] == root and local.package_path(root).exists():
            result.status = "up-to-date"
            return result
        manifest = fetch.get(f"/store/releases/{root}/manifest", MAX_MANIFEST, "manifest")
        index_bytes = fetch.get(f"/store/releases/{root}/index", MAX_INDEX, "index")
        signature = fetch.get(f"/store/releases/{root}/signature", 64, "signature", exact=64)
        try:
            index = Index.from_cbor(index_bytes)
            man = Manifest.from_cbor(manifest)
        except CapfastError as exc:
            raise MixAndMatchError(f"metadata for root {root} does not parse: {exc}") from None
        computed = core.cap_root(hashlib.sha256(manifest).digest(), index.paths, index.hashes)
        if computed.hex() != root:
            raise MixAndMatchError(f"manifest and index give root {computed.hex()}, the statement says {root}")
        if man.app_id != app_id:
            raise MixAndMatchError(f"the package is {man.app_id}, not {app_id}")
        if not ed25519.verify(pk, computed, signature):
            raise UntrustedMetadataError("package signature does not verify with the pinned key")
        fault_point("after_metadata")
        unique = index.unique_blobs()
        held = local.payloads(unique)
        needed = [h.hex() for h in missing_blobs([bytes.fromhex(h) for h in unique], [bytes.fromhex(h) for h in held])]
        try:
            hint_raw = fetch.get("/store/delta", 8 << 20, "delta", method="POST",
                                 json_body={"root": root, "have_root": cur["root"] if cur else None})
            hint = strict_json.loads(hint_raw, error=ValueError, max_bytes=8 << 20).get("missing", [])
        except (DownloadError, ValueError, AttributeError):
            hint = []
        result.ignored_hints = sorted({h for h in hint if isinstance(h, str) and h not in unique})[:100]
        result.reused_blobs = len(unique) - len(needed)
        for h in needed:
            entry = unique[h]
            data = fetch.get(f"/store/releases/{root}/blobs/{h}", entry.compressed_size, f"blob {h}",
                             exact=entry.compressed_size)
            _store_blob(local, h, data, entry.size)
            result.downloaded_blobs += 1
            result.downloaded_bytes += len(data)
        fault_point("after_blobs")
        target = local.package_path(root)
        _assemble(local, target, manifest, index_bytes, computed, signature, unique)
        Package.open(target).verify(pk, full=True)
        fault_point("after_package")
        new_state = dict(state)
        if cur is not None and cur["root"] != root:
            new_state["previous"] = cur
        new_state["current"] = {"seq": stmt["seq"], "root": root, "version": stmt["version"], "channel": channel}
        new_state["highest"] = dict(state["highest"])
        if high is None or stmt["seq"] >= high["seq"]:
            new_state["highest"][channel] = {"seq": stmt["seq"], "root": root}
        fault_point("before_swap")
        local.save(new_state)
        fault_point("after_swap")
        _gc(local, new_state)
        return result


def _store_blob(local: _Local, h: str, data: bytes, size: int) -> None:
    """Verify a compressed blob (decompress, SHA-256, size) and store it atomically as ``blobs/<h>.zst``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{h[:16]}.", suffix=".tmp", dir=local.blobs)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            core.cap_verify_blobs(tmp, [(h, 0, len(data), zlib.crc32(data) & 0xFFFFFFFF, size)],
                                  max_blob=max(size, 1), max_total=max(size, 1))
        except CapfastError as exc:
            raise DownloadError(f"blob {h} does not match its signed hash/size: {exc}") from None
        os.replace(tmp, local.payload_path(h, len(data)))
        tmp = ""
        fsync_dir(local.blobs)
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _assemble(local: _Local, target: Path, manifest: bytes, index: bytes, root: bytes, signature: bytes,
              unique: dict[str, Any]) -> None:
    entries: list[tuple[str, bytes]] = [(MANIFEST, manifest), (INDEX, index), (ROOT, root.hex().encode() + b"\n"),
                                        (SIGNATURE, signature)]
    for h in sorted(unique):
        entries.append((f"blobs/{h}.zst", local.payload_path(h, unique[h].compressed_size).read_bytes()))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=local.versions)
    os.close(fd)
    try:
        core.zip_write(tmp, entries)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = ""
        fsync_dir(local.versions)
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _gc(local: _Local, state: dict[str, Any]) -> None:
    keep = {f"{v['root']}.cap" for v in (state.get("current"), state.get("previous")) if v}
    for p in local.versions.iterdir():
        if p.name not in keep:
            with contextlib.suppress(OSError):
                p.unlink()


def rollback(app_id: str, install_root: str | os.PathLike[str]) -> dict[str, Any]:
    """Make the previous version current again (and the current one previous); atomic."""
    local = _Local(Path(install_root), app_id)
    with local.locked():
        state = local.load()
        prev, cur = state.get("previous"), state.get("current")
        if prev is None:
            raise UpdateError(f"{app_id}: no previous version to roll back to")
        if not local.package_path(prev["root"]).exists():
            raise UpdateError(f"{app_id}: the previous version's package is missing")
        state["current"], state["previous"] = prev, cur
        local.save(state)
        return state


def status(app_id: str, install_root: str | os.PathLike[str]) -> dict[str, Any]:
    """The local state of ``app_id`` (current, previous, highest accepted per channel)."""
    local = _Local(Path(install_root), app_id)
    state = local.load()
    cur = state.get("current")
    state["current_package"] = str(local.package_path(cur["root"])) if cur else None
    return state
