"""The OpenAPI 3.1 document served at ``/openapi.json`` (written by hand to match the routes)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["openapi_document", "openapi_route"]


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_STD = {"400": _err("invalid request"), "401": _err("missing or invalid token"), "403": _err("insufficient scope"),
        "413": _err("body too large"), "429": {"description": "rate limited", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/RateLimited"}}}}}


def openapi_document() -> dict[str, Any]:
    from capfast import __version__

    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    sec: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "capfast verifier API and CAP store", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS256)"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}},
                "RateLimited": {"type": "object", "required": ["error", "code"], "properties": {
                    "error": {"type": "string"}, "code": {"const": "RATE_LIMIT_EXCEEDED"}}},
                "VerifyRequest": {"type": "object", "required": ["policy_id", "context", "backend"], "properties": {
                    "policy_id": {"type": "string"},
                    "context": {"type": "object", "required": ["manifest"], "properties": {
                        "manifest": {"type": "object"}, "proof": {"type": ["object", "null"]}}},
                    "backend": {"enum": ["mock", "merkle-disclosure-v1"]},
                    "options": {"type": ["object", "null"]}}},
                "PolicyCompileRequest": {"type": "object", "required": ["policy"], "properties": {
                    "policy": {"type": "object"}}},
                "PolicyV2CompileRequest": {"type": "object", "required": ["policy"], "properties": {
                    "policy": {"type": "object"}, "persist": {"type": "boolean"},
                    "lint_mode": {"enum": ["strict", "relaxed"]}}},
                "TokenVerifyRequest": {"type": "object", "required": ["token"], "additionalProperties": False,
                                       "properties": {
                                           "token": {"type": "string", "maxLength": 16384,
                                                     "description": "a JSON CapToken or a Biscuit (base64url)"},
                                           "required_scope": {"type": "string", "maxLength": 256},
                                           "min_cap_level": {"type": "integer", "minimum": 0, "maximum": 100},
                                           "role": {"type": "string", "maxLength": 256},
                                           "device": {"type": "string", "maxLength": 256}}},
                "TokenVerifyResponse": {"type": "object", "required": ["valid"], "properties": {
                    "valid": {"type": "boolean"}, "error": {"type": "string"}, "message": {"type": "string"},
                    "claims": {"type": "object"}, "encoding": {"enum": ["json", "biscuit"]}}},
                "OnboardDeviceRequest": {"type": "object", "required": ["qr"], "additionalProperties": False,
                                         "properties": {"qr": {"type": "string", "maxLength": 3000,
                                                               "description": "the device's CQR1: request"}}},
                "OnboardDecision": {"type": "object", "required": ["qr", "token"], "additionalProperties": False,
                                    "properties": {"qr": {"type": "string", "maxLength": 3000},
                                                   "token": {"type": "string", "maxLength": 16384,
                                                             "description": "the approving app's own CapToken"}}},
                "OnboardTokenRequest": {"type": "object", "required": ["grant_type", "device_code"],
                                        "additionalProperties": False, "properties": {
                                            "grant_type": {"const": "urn:ietf:params:oauth:grant-type:device_code"},
                                            "device_code": {"type": "string", "maxLength": 64}}},
                "OnboardRedeemRequest": {"type": "object", "required": ["token", "verifier", "device"],
                                         "additionalProperties": False, "properties": {
                                             "token": {"type": "string", "maxLength": 8192},
                                             "verifier": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                             "device": {"type": "string", "maxLength": 128}}},
                "DeltaRequest": {"type": "object", "required": ["root"], "properties": {
                    "root": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "have_root": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
                    "have": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}},
            },
        },
        "paths": {
            "/healthz": {"get": {"summary": "liveness", "responses": ok}},
            "/readyz": {"get": {"summary": "readiness (database, native core, crypto)",
                                "responses": {**ok, "503": _err("not ready")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
            "/verify": {"post": {"summary": "verify a manifest and proof", "security": sec,
                                 "requestBody": _json({"$ref": "#/components/schemas/VerifyRequest"}),
                                 "responses": {**ok, **_STD, "404": _err("policy not found")}}},
            "/proof/upload": {"post": {"summary": "upload a proof package (ZIP)", "security": sec, "requestBody": {
                "required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {**ok, **_STD}}},
            "/policy/compile": {"post": {"summary": "compile and store an lksg.v1 policy", "security": sec,
                                         "requestBody": _json({"$ref": "#/components/schemas/PolicyCompileRequest"}),
                                         "responses": {**ok, **_STD}}},
            "/policy/{policy_id}": {"get": {"summary": "a stored policy by UUID or 0x hash", "security": sec,
                                            "parameters": [{"name": "policy_id", "in": "path", "required": True,
                                                            "schema": {"type": "string"}}],
                                            "responses": {**ok, **_STD, "404": _err("not found")}}},
            "/policy/v2/compile": {"post": {"summary": "lint and compile a PolicyV2", "security": sec,
                                            "requestBody": _json({"$ref":
                                                                  "#/components/schemas/PolicyV2CompileRequest"}),
                                            "responses": {**ok, **_STD, "409": _err("conflict"),
                                                          "422": _err("lint errors")}}},
            "/store/{app_id}/{channel}/latest": {"get": {"summary": "latest signed release statement",
                                                         "parameters": [
                                                             {"name": "app_id", "in": "path", "required": True,
                                                              "schema": {"type": "string"}},
                                                             {"name": "channel", "in": "path", "required": True,
                                                              "schema": {"type": "string"}}],
                                                         "responses": {**ok, "404": _err("no release")}}},
            "/store/{app_id}/{channel}/publish": {"post": {
                "summary": "publish a signed .cap", "security": sec,
                "parameters": [{"name": "app_id", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "channel", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "responses": {"201": {"description": "published"}, **_STD, "409": _err("not newer")}}},
            "/store/releases/{root}/{part}": {"get": {
                "summary": "manifest, index or signature of a release",
                "parameters": [{"name": "root", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "part", "in": "path", "required": True,
                                "schema": {"enum": ["manifest", "index", "signature"]}}],
                "responses": {"200": {"description": "bytes"}, "404": _err("unknown")}}},
            "/store/delta": {"post": {"summary": "blob hashes missing for a client",
                                      "requestBody": _json({"$ref": "#/components/schemas/DeltaRequest"}),
                                      "responses": {**ok, "400": _err("bad request"), "404": _err("unknown root")}}},
            "/tokens/verify": {"post": {
                "summary": "verify a CapToken (JSON or Biscuit) for a scope, level, role and device", "security": sec,
                "requestBody": _json({"$ref": "#/components/schemas/TokenVerifyRequest"}),
                "responses": {"200": {"description": "verdict (valid or the refusal code)", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TokenVerifyResponse"}}}},
                    **_STD, "503": _err("CapTokens not configured")}}},
            "/onboard/device": {"post": {
                "summary": "device authorization (RFC 8628 style): register a CapQR request, get a device_code",
                "requestBody": _json({"$ref": "#/components/schemas/OnboardDeviceRequest"}),
                "responses": {**ok, "400": _err("bad or expired request"), "409": _err("already registered"),
                              "413": _err("body too large"), "429": _STD["429"]}}},
            "/onboard/approve": {"post": {
                "summary": "the app approves a request with its own CapToken; a one-time token is sealed to the device",
                "requestBody": _json({"$ref": "#/components/schemas/OnboardDecision"}),
                "responses": {**ok, "400": _err("bad request"), "403": _err("the app's token does not cover it"),
                              "404": _err("unknown request"), "409": _err("already decided"),
                              "413": _err("body too large"), "429": _STD["429"]}}},
            "/onboard/deny": {"post": {
                "summary": "the app denies a request",
                "requestBody": _json({"$ref": "#/components/schemas/OnboardDecision"}),
                "responses": {**ok, "400": _err("bad request"), "403": _err("invalid app token"),
                              "404": _err("unknown request"), "409": _err("already decided"),
                              "413": _err("body too large"), "429": _STD["429"]}}},
            "/onboard/token": {"post": {
                "summary": "the device polls: authorization_pending, slow_down, expired_token, access_denied or the "
                           "sealed answer",
                "requestBody": _json({"$ref": "#/components/schemas/OnboardTokenRequest"}),
                "responses": {**ok, "400": _err("pending, slow_down, expired, denied or bad request"),
                              "413": _err("body too large"), "429": _STD["429"]}}},
            "/onboard/redeem": {"post": {
                "summary": "redeem a one-time token once (atomic); refusals are audited as misuse",
                "requestBody": _json({"$ref": "#/components/schemas/OnboardRedeemRequest"}),
                "responses": {**ok, "400": _err("bad request"), "403": _err("refused"),
                              "409": _err("already redeemed"), "413": _err("body too large"),
                              "429": _STD["429"]}}},
            "/store/releases/{root}/blobs/{sha256}": {"get": {
                "summary": "the zstd payload of blob sha256 as release root's index describes it (Range supported)",
                "parameters": [{"name": "root", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "sha256", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "bytes"}, "206": {"description": "range"},
                              "400": _err("malformed root or hash"), "404": _err("unknown")}}},
        },
    }


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def openapi_route() -> Route:
    return Route("/openapi.json", _openapi, methods=["GET"])
