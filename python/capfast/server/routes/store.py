"""The CAP store (CAP spec §10): publish signed packages per app id and channel; serve releases, deltas and blobs.

* ``POST /store/{app_id}/{channel}/publish`` (scope ``store:publish``): body = the ``.cap`` file (streamed to
  disk, size-limited), headers ``X-Cap-Statement`` (base64 of the release statement, see
  :mod:`capfast.cap.update`) and ``X-Cap-Statement-Signature`` (hex). The package must verify fully with the
  publisher key configured for the app id (``CAP_STORE_PUBLISHERS``), and so must the statement, which must name
  this app id, channel and root, with a sequence above the channel's latest (409 otherwise).
* Public reads (authenticity comes from the publisher's signatures, not from the transport):
  ``GET /store/{app_id}/{channel}/latest``, ``GET /store/releases/{root}/manifest|index|signature``,
  ``POST /store/delta`` ``{"root", "have_root"?, "have"?}`` → ``{"missing": [hash...], "bytes"}`` (computed with
  the native :func:`capfast.cap.delta.missing_blobs`), ``GET /store/releases/{root}/blobs/{sha256}`` (that
  release's zstd payload of the blob; ``Range`` requests supported).

**Each release is served exactly the payloads its index describes.** One content hash can have several valid
payloads (another zstd level gives other bytes and another ``compressed_size``), and the client requires the
``compressed_size`` of the index it verified. Payloads are therefore stored per app id and keyed by what the index
records, ``blobs/<app_id>/<sha256>-<compressed_size>.zst``, and served per release root: a publisher can affect
neither another app's releases nor its own older ones (a new compression level is a new key). With ``have_root``
the delta compares ``(hash, compressed_size)``, so a re-compressed file counts as missing; a bare ``have`` list
compares hashes only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from capfast.server.api import ApiError, json_body, require, state_of
from capfast.server.auth import SCOPES

__all__ = ["ROUTES"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_HAVE = 200_000


def _check_app(app_id: str, channel: str) -> None:
    from capfast.cap.manifest import validate_app_id
    from capfast.errors import CapfastError

    try:
        validate_app_id(app_id)
    except CapfastError as exc:
        raise ApiError(400, "invalid_request", f"invalid app id: {exc}") from None
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", channel):
        raise ApiError(400, "invalid_request", "invalid channel name")


async def publish(request: Request) -> Response:
    await require(request, SCOPES["store_publish"])
    st = state_of(request)
    app_id, channel = request.path_params["app_id"], request.path_params["channel"]
    _check_app(app_id, channel)
    pk_hex = st.config.store_publishers.get(app_id)
    if pk_hex is None:
        raise ApiError(403, "forbidden", f"no publisher key is configured for {app_id} (CAP_STORE_PUBLISHERS)")
    try:
        statement = base64.b64decode(request.headers.get("x-cap-statement", ""), validate=True)
        stmt_sig = bytes.fromhex(request.headers.get("x-cap-statement-signature", ""))
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_request", "X-Cap-Statement must be base64 and X-Cap-Statement-Signature hex") \
            from None
    limit = st.config.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "file_too_large", f"File exceeds maximum size of {limit / 1_000_000:g} MB")
    fd, tmp = tempfile.mkstemp(prefix="publish-", suffix=".cap", dir=st.upload_dir)
    try:
        total = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise ApiError(413, "file_too_large", f"File exceeds maximum size of {limit / 1_000_000:g} MB")
                out.write(chunk)
        body = await anyio.to_thread.run_sync(_publish, st, app_id, channel, bytes.fromhex(pk_hex), tmp,
                                              statement, stmt_sig)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return JSONResponse(body, status_code=201)


def _publish(st: Any, app_id: str, channel: str, pk: bytes, path: str, statement: bytes,
             stmt_sig: bytes) -> dict[str, Any]:
    from capfast._io import fsync_dir
    from capfast.cap.package import Package
    from capfast.cap.update import UpdateError, parse_release_statement
    from capfast.errors import CapfastError
    from capfast.server.storage import StorageError

    try:
        pkg = Package.open(path)
        pkg.verify(pk, full=True)
    except CapfastError as exc:
        raise ApiError(400, "invalid_package", f"package rejected: {exc}") from None
    try:
        stmt = parse_release_statement(statement, stmt_sig, pk)
    except UpdateError as exc:
        raise ApiError(400, "invalid_request", f"release statement rejected: {exc}") from None
    if (stmt["app_id"], stmt["channel"], stmt["root"]) != (app_id, channel, pkg.root.hex()) or \
            pkg.app_id != app_id:
        raise ApiError(400, "invalid_request", "release statement does not match the app id, channel or package root")
    app_dir = st.blob_dir / app_id
    app_dir.mkdir(exist_ok=True)
    for h, offset, csize, _crc, _size in pkg._blob_refs():
        dest = app_dir / _payload_name(h, csize)
        if dest.exists():  # the same (content, compressed size) of this app: verified when it was published
            continue
        with open(path, "rb") as src:
            src.seek(offset)
            data = src.read(csize)
        fd, tmp = tempfile.mkstemp(prefix=f".{h[:16]}.", suffix=".tmp", dir=app_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    fsync_dir(app_dir)
    fsync_dir(st.blob_dir)
    try:
        st.storage.add_release(app_id, channel, stmt["seq"], stmt["version"], stmt["root"],
                               statement.decode("utf-8"), stmt_sig.hex(), pkg.manifest_bytes,
                               pkg._read("_cap/index.cbor", pkg.limits.max_index), pkg.signature)
    except StorageError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return {"app_id": app_id, "channel": channel, "seq": stmt["seq"], "root": stmt["root"],
            "version": stmt["version"], "blobs": len(pkg._unique)}


async def latest(request: Request) -> Response:
    app_id, channel = request.path_params["app_id"], request.path_params["channel"]
    _check_app(app_id, channel)
    rel = await anyio.to_thread.run_sync(state_of(request).storage.latest_release, app_id, channel)
    if rel is None:
        raise ApiError(404, "not_found", f"no release of {app_id} on channel {channel}")
    return JSONResponse(rel, headers={"Cache-Control": "no-cache"})


async def release_part(request: Request) -> Response:
    root, part = request.path_params["root"], request.path_params["part"]
    if not _HEX64.fullmatch(root) or part not in ("manifest", "index", "signature"):
        raise ApiError(404, "not_found", "Resource not found")
    meta = await anyio.to_thread.run_sync(state_of(request).storage.release_meta, root)
    if meta is None:
        raise ApiError(404, "not_found", f"unknown release root {root}")
    return Response(meta[part], media_type="application/octet-stream",
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


def _payload_name(h: str, compressed_size: int) -> str:
    return f"{h}-{compressed_size}.zst"


def _delta(st: Any, root: str, have: list[bytes], have_root: str | None) -> dict[str, Any]:
    from capfast.cap.delta import missing_blobs
    from capfast.cap.index import Index

    meta = st.storage.release_meta(root)
    if meta is None:
        raise ApiError(404, "not_found", f"unknown release root {root}")
    unique = Index.from_cbor(meta["index"]).unique_blobs()
    candidates = list(unique)
    if have_root is not None:
        old = st.storage.release_meta(have_root)
        if old is None:
            raise ApiError(404, "not_found", f"unknown have_root {have_root}")
        held = {h: e.compressed_size for h, e in Index.from_cbor(old["index"]).unique_blobs().items()}
        # the same content at another compressed size is another payload: the client needs this release's
        candidates = [h for h in unique if held.get(h, unique[h].compressed_size) == unique[h].compressed_size]
        have = have + [bytes.fromhex(h) for h in held]
        recompressed = [h for h in unique if h in held and held[h] != unique[h].compressed_size]
    else:
        recompressed = []
    missing = [h.hex() for h in missing_blobs([bytes.fromhex(h) for h in candidates], have)] + recompressed
    return {"root": root, "missing": missing, "bytes": sum(unique[h].compressed_size for h in missing),
            "total_blobs": len(unique)}


async def delta(request: Request) -> Response:
    doc = await json_body(request)
    root = doc.get("root")
    if not isinstance(root, str) or not _HEX64.fullmatch(root):
        raise ApiError(400, "invalid_request", "root must be 64 lowercase hex characters")
    have_root = doc.get("have_root")
    if have_root is not None and (not isinstance(have_root, str) or not _HEX64.fullmatch(have_root)):
        raise ApiError(400, "invalid_request", "have_root must be 64 lowercase hex characters or null")
    have_raw = doc.get("have", [])
    if not isinstance(have_raw, list) or len(have_raw) > _MAX_HAVE or \
            not all(isinstance(h, str) and _HEX64.fullmatch(h) for h in have_raw):
        raise ApiError(400, "invalid_request", f"have must be a list of at most {_MAX_HAVE} blob hashes")
    body = await anyio.to_thread.run_sync(_delta, state_of(request), root, [bytes.fromhex(h) for h in have_raw],
                                          have_root)
    return JSONResponse(body)


_RELEASE_CACHE_MAX = 256


def _release_blobs(request: Request, root: str) -> tuple[str, dict[str, int]] | None:
    """``(app_id, {blob hash: compressed size})`` of a published release (cached: a root's metadata never changes
    in a store), or None."""
    from capfast.cap.index import Index
    from capfast.cap.manifest import Manifest

    cache = getattr(request.app.state, "release_blobs", None)
    if cache is None:
        cache = request.app.state.release_blobs = OrderedDict()
    found = cache.get(root)
    if found is None:
        meta = state_of(request).storage.release_meta(root)
        if meta is None:
            return None
        sizes = {h: e.compressed_size for h, e in Index.from_cbor(meta["index"]).unique_blobs().items()}
        found = (Manifest.from_cbor(meta["manifest"]).app_id, sizes)
        cache[root] = found
        while len(cache) > _RELEASE_CACHE_MAX:
            cache.popitem(last=False)
    else:
        cache.move_to_end(root)
    return found


async def blob(request: Request) -> Response:
    root, h = request.path_params["root"], request.path_params["sha256"]
    if not _HEX64.fullmatch(root) or not _HEX64.fullmatch(h):
        raise ApiError(400, "invalid_request", "release root and blob id must be 64 lowercase hex characters")
    found = await anyio.to_thread.run_sync(_release_blobs, request, root)
    if found is None:
        raise ApiError(404, "not_found", f"unknown release root {root}")
    app_id, sizes = found
    if h not in sizes:
        raise ApiError(404, "not_found", f"blob {h} is not part of release {root}")
    blob_dir = Path(state_of(request).blob_dir)
    path = blob_dir / app_id / _payload_name(h, sizes[h])
    if not path.is_file():
        legacy = blob_dir / f"{h}.zst"  # stores written before payloads were kept per app and size
        if not (legacy.is_file() and legacy.stat().st_size == sizes[h]):
            raise ApiError(404, "not_found", f"blob {h} of release {root} is not stored")
        path = legacy
    return FileResponse(path, media_type="application/zstd",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})



ROUTES = [
    Route("/store/delta", delta, methods=["POST"]),
    Route("/store/releases/{root}/blobs/{sha256}", blob, methods=["GET", "HEAD"]),
    Route("/store/releases/{root}/{part}", release_part, methods=["GET"]),
    Route("/store/{app_id}/{channel}/latest", latest, methods=["GET"]),
    Route("/store/{app_id}/{channel}/publish", publish, methods=["POST"]),
]
