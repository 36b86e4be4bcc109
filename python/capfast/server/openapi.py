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
            "/store/blobs/{sha256}": {"get": {"summary": "a zstd blob by hash (Range supported)",
                                              "parameters": [{"name": "sha256", "in": "path", "required": True,
                                                              "schema": {"type": "string"}}],
                                              "responses": {"200": {"description": "bytes"},
                                                            "206": {"description": "range"},
                                                            "404": _err("unknown")}}},
        },
    }


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def openapi_route() -> Route:
    return Route("/openapi.json", _openapi, methods=["GET"])
