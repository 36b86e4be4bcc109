"""``/healthz``, ``/readyz``, ``/metrics``, ``POST /verify`` and ``POST /proof/upload``.

``/verify`` takes the seed's body (``policy_id``, ``context.manifest``, optional ``context.proof``, ``backend``,
``options``), checks the manifest (manifest.v1.0), resolves ``policy_id`` (``0x`` hash or a stored policy's UUID)
and requires it to match ``manifest.policy.hash``, then verifies the proof with
:func:`capfast.lksg.proof.verify_proof` (real checks for ``merkle-disclosure-v1``, bindings only for the mock
backend, which therefore yields ``warn``). Results are cached by (policy id, manifest hash, proof hash).

``/proof/upload`` streams the multipart body to disk (never whole in memory), refuses more than
``max_upload_bytes`` with 413 as soon as the limit is crossed, and reads the ZIP with the bounded bundle reader
(:func:`capfast.lksg.bundle.read_bundle`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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


async def proof_upload(request: Request) -> Response:
    from starlette.datastructures import UploadFile

    await require(request, SCOPES["upload"])
    st = state_of(request)
    limit = st.config.max_upload_bytes
    mb = limit / 1_000_000
    too_large = ApiError(413, "file_too_large", f"File exceeds maximum size of {mb:g} MB")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise too_large
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "invalid_request", "Content-Type must be multipart/form-data with a 'file' field")
    seen = [0]
    receive = request.receive

    async def counting_receive() -> Any:
        message = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit + 64 * 1024:
                raise _TooLarge
        return message

    req = Request(request.scope, counting_receive)
    try:
        form = await req.form(max_files=1, max_fields=8)
    except _TooLarge:
        raise too_large from None
    except Exception as exc:  # noqa: BLE001 - malformed multipart from the client
        raise ApiError(400, "invalid_request", f"Malformed multipart body: {exc}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        await form.close()
        raise ApiError(400, "invalid_request", "Missing required multipart field: file")
    fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".zip", dir=st.upload_dir)
    try:
        total = 0
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = await upload.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise too_large
                out.write(chunk)
        await form.close()
        body = await anyio.to_thread.run_sync(_read_package, tmp, total)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return JSONResponse(body)


def _read_package(path: str, total: int) -> dict[str, Any]:
    from capfast.errors import BundleError, CapfastError
    from capfast.lksg.bundle import read_bundle
    from capfast.lksg.manifest import parse_manifest

    try:
        kind, files = read_bundle(path)
    except BundleError as exc:
        raise ApiError(400, "invalid_package", f"Invalid package: {exc}") from None
    if kind != "zip":
        raise ApiError(400, "invalid_package", "the upload must be a ZIP archive")
    for required in ("manifest.json", "proof.dat"):
        if required not in files:
            raise ApiError(400, "invalid_package", f"Missing required file: {required}")
    try:
        manifest = parse_manifest(files["manifest.json"])
    except CapfastError as exc:
        raise ApiError(400, "invalid_package", f"Invalid manifest.json: {exc}") from None
    return {"manifest": manifest, "proof_base64": base64.b64encode(files["proof.dat"]).decode(),
            "package_info": {"total_size": total, "file_count": len(files)}}


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/verify", verify, methods=["POST"]),
    Route("/proof/upload", proof_upload, methods=["POST"]),
]
