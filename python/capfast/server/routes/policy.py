"""``POST /policy/compile`` (lksg.v1, content dedup by hash), ``GET /policy/{id}`` (UUID or ``0x`` hash) and
``POST /policy/v2/compile`` (PolicyV2 with the linter; 422 on lint errors)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from capfast import strict_json
from capfast.server.api import ApiError, json_body, require, state_of
from capfast.server.auth import SCOPES

__all__ = ["ROUTES"]

_HASH = re.compile(r"0x[0-9a-f]{64}")


async def compile_v1(request: Request) -> Response:
    from capfast.errors import PolicyError
    from capfast.lksg.policy import parse_policy
    from capfast.lksg.serial import compact

    await require(request, SCOPES["policy_write"])
    doc = await json_body(request)
    if "policy" not in doc:
        raise ApiError(400, "invalid_request", "Missing required field: policy")
    try:
        policy = parse_policy(doc["policy"])
    except PolicyError as exc:
        raise ApiError(400, "validation_error", str(exc)) from None
    canonical = policy.canonical()
    st = state_of(request)
    meta = await anyio.to_thread.run_sync(st.storage.put_policy, policy.name, policy.version, policy.hash,
                                          compact(canonical), policy.notes or None)
    return JSONResponse({"policy_id": meta["id"], "policy_hash": policy.hash, "metadata": meta, "status": "compiled"})


async def get_policy(request: Request) -> Response:
    await require(request, SCOPES["policy_read"])
    key = request.path_params["policy_id"]
    if not _HASH.fullmatch(key):
        try:
            key = str(uuid.UUID(key))
        except ValueError:
            raise ApiError(400, "invalid_request", "policy id must be a UUID or a 0x-prefixed SHA3-256 hash") \
                from None
    found = await anyio.to_thread.run_sync(state_of(request).storage.get_policy, key)
    if found is None:
        raise ApiError(404, "not_found", "Policy not found")
    meta, policy_json = found
    policy = strict_json.loads(policy_json, what="stored policy", error=ValueError, max_bytes=len(policy_json))
    return JSONResponse({"metadata": meta, "policy": policy})


async def compile_v2(request: Request) -> Response:
    from capfast.errors import PolicyError
    from capfast.lksg.lint import lint_policy
    from capfast.lksg.policy_v2 import compile_ir, parse_policy_v2
    from capfast.lksg.serial import compact

    await require(request, SCOPES["policy_write"])
    doc = await json_body(request)
    policy = doc.get("policy")
    if not isinstance(policy, dict):
        raise ApiError(400, "validation_error", "Invalid policy structure", {"lints": [
            {"code": "E1001", "level": "error", "message": "Missing required field: policy"}]})
    persist = doc.get("persist", False)
    if not isinstance(persist, bool):
        raise ApiError(400, "invalid_request", "persist must be a boolean")
    mode = doc.get("lint_mode", "strict")
    if mode not in ("strict", "relaxed"):
        raise ApiError(400, "invalid_request", "lint_mode must be 'strict' or 'relaxed'")
    lints = [d.to_dict() for d in lint_policy(policy, strict=mode == "strict")]
    if any(d["level"] == "error" for d in lints):
        raise ApiError(422, "lint_error", "Policy contains lint errors", {"lints": lints})
    try:
        ir = compile_ir(parse_policy_v2(policy))
    except PolicyError as exc:
        raise ApiError(422, "lint_error", "Policy contains lint errors", {"lints": lints + [
            {"code": "E1001", "level": "error", "message": str(exc), "rule_id": None}]}) from None
    stored = False
    if persist:
        stored = await anyio.to_thread.run_sync(state_of(request).storage.put_policy_v2, ir["policy_id"],
                                                ir["policy_hash"], compact(ir), ir["ir_hash"])
        if not stored:
            raise ApiError(409, "conflict", f"policy {ir['policy_id']} is already stored with a different hash")
    out: dict[str, Any] = {"policy_id": ir["policy_id"], "policy_hash": ir["policy_hash"], "ir": ir,
                           "ir_hash": ir["ir_hash"], "stored": stored, "lints": lints}
    return JSONResponse(out)


ROUTES = [
    Route("/policy/compile", compile_v1, methods=["POST"]),
    Route("/policy/v2/compile", compile_v2, methods=["POST"]),
    Route("/policy/{policy_id}", get_policy, methods=["GET"]),
]
