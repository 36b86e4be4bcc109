"""``/healthz``, ``/readyz``, ``/metrics``, ``POST /verify`` and ``POST /proof/upload``.

``/verify`` takes the seed's body (``policy_id``, ``context.manifest``, optional ``context.proof``, ``backend``,
``options``), checks the manifest (manifest.v1.0), resolves ``policy_id`` (``0x`` hash or a stored policy's UUID)
and requires it to match ``manifest.policy.hash``, then verifies the proof with
:func:`capfast.lksg.proof.verify_proof` (real checks for ``merkle-disclosure-v1``, bindings only for the mock
backend, which therefore yields ``warn``). Results are cached by (policy id, manifest hash, proof hash).

``/proof/upload`` streams the ``file`` part of the multipart body straight to disk (never whole in memory),
refuses more than ``max_upload_bytes`` with 413 as soon as the limit is crossed, decompresses only
``manifest.json`` and ``proof.dat`` (bounded, to disk), streams the ``proof_base64`` answer, and processes at most
``max_concurrent_uploads`` uploads at once (see :func:`proof_upload`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from typing import Any

import anyio
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from capfast.server.api import ApiError, json_body, require, state_of
from capfast.server.auth import SCOPES
from capfast.server.metrics import CONTENT_TYPE

__all__ = ["ROUTES"]

BACKENDS = ("mock", "zkvm", "halo2", "merkle-disclosure-v1")
_CACHE_MAX = 4096


async def healthz(request: Request) -> Response:
    from capfast import __version__

    return JSONResponse({"status": "OK", "version": __version__, "build_hash": None})


def _ready_checks(request: Request) -> list[dict[str, str]]:
    st = state_of(request)
    checks = []
    try:
        st.storage.ping()
        checks.append({"name": "database", "status": "OK", "backend": st.storage.kind})
    except Exception as exc:  # noqa: BLE001
        checks.append({"name": "database", "status": "FAIL", "message": str(exc)})
    try:
        import hashlib

        from capfast import merkle
        from capfast._backend import core

        # RFC 6962: the root of a one-leaf tree is SHA-256(0x00 || leaf)
        ok = merkle.root([b"abc"], hash="sha256") == hashlib.sha256(b"\x00abc").digest()
        checks.append({"name": "verifier_core", "status": "OK" if ok else "FAIL",
                       "backend": getattr(core, "__name__", "?")})
    except Exception as exc:  # noqa: BLE001
        checks.append({"name": "verifier_core", "status": "FAIL", "message": str(exc)})
    try:
        from capfast import ed25519

        sk = bytes(range(32))
        pk = ed25519.public_key(sk)
        ok = ed25519.verify(pk, b"ready", ed25519.sign(sk, b"ready"))
        checks.append({"name": "crypto", "status": "OK" if ok else "FAIL"})
    except Exception as exc:  # noqa: BLE001
        checks.append({"name": "crypto", "status": "FAIL", "message": str(exc)})
    if st.config.redis_url:
        try:
            st.limiter.ping()
            checks.append({"name": "rate_limiter", "status": "OK"})
        except Exception as exc:  # noqa: BLE001
            checks.append({"name": "rate_limiter", "status": "FAIL", "message": str(exc)})
    return checks


async def readyz(request: Request) -> Response:
    checks = await anyio.to_thread.run_sync(_ready_checks, request)
    ok = all(c["status"] == "OK" for c in checks)
    return JSONResponse({"status": "OK" if ok else "FAIL", "checks": checks}, status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE)


def _verify(request: Request, policy_id: str, manifest_doc: dict[str, Any], proof_doc: Any) -> dict[str, Any]:
    from capfast.errors import CapfastError
    from capfast.lksg.manifest import manifest_hash, parse_manifest
    from capfast.lksg.proof import verify_proof
    from capfast.lksg.serial import compact, sha3_hex
    from capfast.lksg.signing import verify_embedded_signatures

    st = state_of(request)
    try:
        manifest = parse_manifest(manifest_doc, "context.manifest")
    except CapfastError as exc:
        raise ApiError(400, "invalid_request", f"Invalid manifest: {exc}") from None
    m_hash = manifest_hash(manifest)
    p_hash = sha3_hex(compact(proof_doc)) if proof_doc is not None else None
    cache_key = f"{policy_id}|{m_hash}|{p_hash}"
    cached = st.verify_cache.get(cache_key)
    if cached is not None:
        st.cache_hits += 1
        st.verify_cache.move_to_end(cache_key)
        st.metrics.cache_ratio.set(st.cache_hits / (st.cache_hits + st.cache_misses))
        return cached
    st.cache_misses += 1
    st.metrics.cache_ratio.set(st.cache_hits / (st.cache_hits + st.cache_misses))
    details: list[str] = []
    errors: list[str] = []
    policy_hash = manifest["policy"]["hash"]
    if policy_id.startswith("0x"):
        if policy_id != policy_hash:
            errors.append(f"policy_id {policy_id} does not match manifest.policy.hash {policy_hash}")
    else:
        found = st.storage.get_policy(policy_id)
        if found is None:
            raise ApiError(404, "not_found", "Policy not found")
        if found[0]["hash"] != policy_hash:
            errors.append(f"policy {policy_id} has hash {found[0]['hash']}, the manifest names {policy_hash}")
    if proof_doc is None:
        status = "warn"
        details.append("no proof given: manifest-only verification")
    else:
        res = verify_proof(proof_doc, manifest)
        status = res.status
        errors.extend(res.errors)
        details.extend(res.warnings)
    # Embedded signatures (seed: `signature_valid` = "whether signature is valid (if present)"). The API pins no
    # signer keys, so a valid signature proves integrity of the manifest, not who signed it: said in the details.
    sigs = verify_embedded_signatures(manifest_doc, [])
    signature_valid = bool(sigs) and all(s["valid"] for s in sigs)
    for s in sigs:
        if not s["valid"]:
            errors.append(f"{s['file']}: {s.get('error', 'invalid signature')}")
        else:
            details.append(f"{s['file']}: valid Ed25519 signature by key {s['kid']} (key not pinned by this server)")
    if errors:
        status = "fail"
    details = [f"error: {e}" for e in errors] + details
    body = {
        "result": status, "manifest_hash": m_hash, "proof_hash": p_hash, "trace": None, "signature": None,
        "timestamp": None,
        "report": {"status": status, "manifest_hash": m_hash, "proof_hash": p_hash, "signature_valid": signature_valid,
                   "details": details},
    }
    st.verify_cache[cache_key] = body
    while len(st.verify_cache) > _CACHE_MAX:
        st.verify_cache.popitem(last=False)
    return body


async def verify(request: Request) -> Response:
    await require(request, SCOPES["verify"])
    doc = await json_body(request)
    policy_id = doc.get("policy_id")
    if policy_id is None:
        raise ApiError(400, "invalid_request", "Missing required field: policy_id")
    if not isinstance(policy_id, str) or not policy_id or len(policy_id) > 200:
        raise ApiError(400, "invalid_request", "policy_id must be a non-empty string")
    context = doc.get("context")
    if not isinstance(context, dict):
        raise ApiError(400, "invalid_request", "Missing required field: context" if context is None else
                       "context must be an object")
    manifest = context.get("manifest")
    if not isinstance(manifest, dict):
        raise ApiError(400, "invalid_request", "Missing required field: context.manifest" if manifest is None else
                       "context.manifest must be an object")
    proof = context.get("proof")
    if proof is not None and not isinstance(proof, dict):
        raise ApiError(400, "invalid_request", "context.proof must be an object")
    backend = doc.get("backend")
    if backend is None:
        raise ApiError(400, "invalid_request", "Missing required field: backend")
    if backend not in BACKENDS:
        raise ApiError(400, "invalid_request", f"backend must be one of {', '.join(BACKENDS)}")
    if backend in ("zkvm", "halo2"):
        raise ApiError(400, "invalid_request", f"backend {backend!r} is not supported by this server")
    if doc.get("options") is not None and not isinstance(doc["options"], dict):
        raise ApiError(400, "invalid_request", "options must be an object or null")
    body = await anyio.to_thread.run_sync(_verify, request, policy_id, manifest, proof)
    state_of(request).metrics.verify_results.labels(body["result"]).inc()
    return JSONResponse(body)


class _TooLarge(Exception):
    pass


#: multipart parts other than ``file``: at most this many, with this many bytes in all
_MAX_PARTS, _MAX_FIELD_BYTES = 8, 64 * 1024
#: waiting for an upload slot (CAP_MAX_CONCURRENT_UPLOADS) longer than this is a 503
_UPLOAD_WAIT_SECONDS = 10.0
#: base64 is streamed from the extracted proof in slices of this many input bytes (a multiple of 3)
_B64_SLICE = 3 * 256 * 1024


class _FilePart:
    """python-multipart callbacks writing the ``file`` part straight to ``out`` (nothing else is kept)."""

    def __init__(self, out: Any, limit: int) -> None:
        self.out, self.limit = out, limit
        self.size = self.parts = self.field_bytes = 0
        self.found = self.in_file = False
        self.header_name = b""
        self.headers: dict[bytes, bytes] = {}
        self.error: str | None = None

    def on_part_begin(self) -> None:
        self.parts += 1
        self.headers, self.in_file = {}, False
        if self.parts > _MAX_PARTS:
            self.error = f"more than {_MAX_PARTS} multipart parts"

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        name = self.header_name.lower()
        self.headers[name] = self.headers.get(name, b"") + data[start:end]

    def on_header_end(self) -> None:
        self.header_name = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        if params.get(b"name") == b"file" and not self.found:
            self.found = self.in_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self.in_file:
            self.size += n
            if self.size > self.limit:
                raise _TooLarge
            self.out.write(data[start:end])
        else:
            self.field_bytes += n
            if self.field_bytes > _MAX_FIELD_BYTES:
                self.error = f"multipart fields other than 'file' exceed {_MAX_FIELD_BYTES} bytes"

    def callbacks(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("on_part_begin", "on_header_field", "on_header_value",
                                                        "on_header_end", "on_headers_finished", "on_part_data")}


def _upload_slots(request: Request) -> anyio.Semaphore:
    slots = getattr(request.app.state, "upload_slots", None)
    if slots is None:
        slots = request.app.state.upload_slots = anyio.Semaphore(state_of(request).config.max_concurrent_uploads)
    return slots


async def proof_upload(request: Request) -> Response:
    """Memory stays bounded per request and across requests: the ``file`` part is streamed to disk as it arrives
    (never held whole, never spooled twice), only ``manifest.json`` (≤ 16 MiB) and ``proof.dat`` (≤ 64 MiB,
    extracted to disk) are decompressed, the ``proof_base64`` answer is encoded slice by slice while it is sent,
    and at most ``max_concurrent_uploads`` uploads are processed at once (others wait up to 10 s, then 503)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    await require(request, SCOPES["upload"])
    st = state_of(request)
    limit = st.config.max_upload_bytes
    too_large = ApiError(413, "file_too_large", f"File exceeds maximum size of {limit / 1_000_000:g} MB")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise too_large
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(400, "invalid_request", "Content-Type must be multipart/form-data with a 'file' field")
    slots = _upload_slots(request)
    acquired = False
    with anyio.move_on_after(_UPLOAD_WAIT_SECONDS):
        await slots.acquire()
        acquired = True
    if not acquired:
        raise ApiError(503, "service_unavailable", f"{st.config.max_concurrent_uploads} uploads are being processed; "
                       "retry later", headers={"Retry-After": "5"})
    release = _Once(slots.release)
    fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".zip", dir=st.upload_dir)
    cleanup = _Once(lambda: _unlink(tmp))
    try:
        with os.fdopen(fd, "wb") as out:
            part = _FilePart(out, limit)
            parser = MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]
            seen = 0
            try:
                async for chunk in request.stream():
                    seen += len(chunk)
                    if seen > limit + 64 * 1024:
                        raise too_large
                    parser.write(chunk)
                    if part.error:
                        raise ApiError(400, "invalid_request", f"Malformed multipart body: {part.error}")
                parser.finalize()
            except _TooLarge:
                raise too_large from None
            except ApiError:
                raise
            except ClientDisconnect:
                raise
            except Exception as exc:  # noqa: BLE001 - python-multipart's errors on malformed input
                raise ApiError(400, "invalid_request", f"Malformed multipart body: {exc}") from None
        if not part.found:
            raise ApiError(400, "invalid_request", "Missing required multipart field: file")
        manifest, proof_path, count = await anyio.to_thread.run_sync(_read_package, tmp, str(st.upload_dir))
    except BaseException:
        cleanup()
        release()
        raise
    cleanup()
    proof_cleanup = _Once(lambda: _unlink(proof_path))
    info = {"total_size": part.size, "file_count": count}
    head = (json.dumps({"manifest": manifest}, ensure_ascii=False)[:-1] + ', "proof_base64": "').encode()
    tail = ('", "package_info": ' + json.dumps(info) + "}").encode()
    proof_size = os.path.getsize(proof_path)

    def body() -> Iterator[bytes]:
        try:
            yield head
            with open(proof_path, "rb") as fh:
                while chunk := fh.read(_B64_SLICE):
                    yield base64.b64encode(chunk)
            yield tail
        finally:
            proof_cleanup()
            release()

    def finish() -> None:
        proof_cleanup()
        release()

    length = len(head) + 4 * ((proof_size + 2) // 3) + len(tail)
    return StreamingResponse(body(), media_type="application/json", headers={"Content-Length": str(length)},
                             background=BackgroundTask(finish))


class _Once:
    """Call ``fn`` the first time only (cleanup reachable from several paths)."""

    def __init__(self, fn: Any) -> None:
        self.fn: Any = fn

    def __call__(self) -> None:
        fn, self.fn = self.fn, None
        if fn is not None:
            fn()


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _read_package(path: str, tmp_dir: str) -> tuple[dict[str, Any], str, int]:
    """``(manifest, extracted proof.dat path, file count)`` of an uploaded ZIP. Only ``manifest.json`` and
    ``proof.dat`` are decompressed, each bounded by its declared size, cap and ratio; every entry name is checked.
    Errors name entries, never server paths."""
    import stat
    import zipfile

    from capfast.errors import BundleError, CapfastError
    from capfast.lksg.bundle import Limits, check_name
    from capfast.lksg.manifest import MAX_MANIFEST_BYTES, parse_manifest

    lim = Limits()
    caps = {"manifest.json": MAX_MANIFEST_BYTES, "proof.dat": lim.max_file_bytes}

    def bad(message: str) -> ApiError:
        return ApiError(400, "invalid_package", f"Invalid package: {message}")

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise bad(f"the upload is not a readable ZIP archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > lim.max_entries:
            raise bad(f"ZIP has {len(infos)} entries, over the {lim.max_entries} limit")
        seen: set[str] = set()
        wanted: dict[str, zipfile.ZipInfo] = {}
        count = 0
        for info in infos:
            try:
                name = check_name(info.filename.rstrip("/") if info.is_dir() else info.filename)
            except BundleError as exc:
                raise bad(str(exc)) from None
            if name in seen:
                raise bad(f"ZIP has the entry {name!r} twice")
            seen.add(name)
            if (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
                raise bad(f"ZIP entry {name!r} is a symlink")
            if not info.is_dir():
                count += 1
                if name in caps:
                    wanted[name] = info
        for required in ("manifest.json", "proof.dat"):
            if required not in wanted:
                raise ApiError(400, "invalid_package", f"Missing required file: {required}")

        def open_checked(name: str) -> Any:
            info = wanted[name]
            if info.file_size > caps[name]:
                raise bad(f"{name} is {info.file_size} bytes, over the {caps[name]}-byte limit")
            if info.compress_size and info.file_size // max(info.compress_size, 1) > lim.max_ratio:
                raise bad(f"{name} has a compression ratio over {lim.max_ratio} (zip bomb?)")
            return zf.open(info)

        try:
            with open_checked("manifest.json") as fh:
                raw = fh.read(MAX_MANIFEST_BYTES + 1)
            if len(raw) != wanted["manifest.json"].file_size:
                raise bad("manifest.json is not the size its header declares")
            try:
                manifest = parse_manifest(raw)
            except CapfastError as exc:
                raise ApiError(400, "invalid_package", f"Invalid manifest.json: {exc}") from None
            fd, proof_path = tempfile.mkstemp(prefix="proof-", suffix=".dat", dir=tmp_dir)
            try:
                declared, written = wanted["proof.dat"].file_size, 0
                with os.fdopen(fd, "wb") as out, open_checked("proof.dat") as fh:
                    while chunk := fh.read(min(1 << 20, declared + 1 - written)):
                        written += len(chunk)
                        if written > declared:
                            break
                        out.write(chunk)
                if written != declared:
                    raise bad("proof.dat is not the size its header declares")
            except BaseException:
                _unlink(proof_path)
                raise
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
            raise bad(f"ZIP entry cannot be read ({type(exc).__name__}: {exc})") from None
    return manifest, proof_path, count


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/verify", verify, methods=["POST"]),
    Route("/proof/upload", proof_upload, methods=["POST"]),
]
