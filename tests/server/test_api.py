"""REST API behaviour against the seed's bodies and status codes (in-process ASGI client)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

SEED_POLICY = {
    "version": "lksg.v1", "name": "Test Policy", "created_at": "2025-11-06T10:00:00Z",
    "constraints": {"require_at_least_one_ubo": True, "supplier_count_max": 10}, "notes": "",
}
# The seed's API reference gives this hash for exactly this policy (POST /policy/compile example).
SEED_POLICY_HASH = "0x0afcb402e74ff6a11601863fc4ae2f2d756124db71bc703f5889ecefcd371ff4"

V2_OK = {
    "id": "lksg.demo.v1", "version": "1.0.0", "legal_basis": [{"directive": "LkSG", "article": "§3"}],
    "description": "Demo policy", "inputs": {"ubo_count": {"type": "integer"}, "supplier_count": {"type": "integer"}},
    "rules": [{"id": "rule_ubo_exists", "op": "range_min", "lhs": {"var": "ubo_count"}, "rhs": 1},
              {"id": "rule_supplier_eq", "op": "eq", "lhs": {"var": "supplier_count"},
               "rhs": {"var": "supplier_count"}}],
}


def test_health_ready_metrics_public(make_client):
    c = make_client(auth=False)
    h = c.get("/healthz")
    assert h.status_code == 200 and h.json()["status"] == "OK" and "version" in h.json()
    r = c.get("/readyz")
    assert r.status_code == 200
    names = {x["name"]: x["status"] for x in r.json()["checks"]}
    assert names == {"database": "OK", "verifier_core": "OK", "crypto": "OK"}
    m = c.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in ("cap_verifier_requests_total", "cap_auth_token_validation_failures_total", "cap_cache_hit_ratio",
                 "cap_verifier_request_duration_seconds_bucket", "rate_limit_exceeded_total"):
        assert name in m.text or name == "rate_limit_exceeded_total"


def test_readyz_fails_when_database_is_gone(make_client):
    c = make_client(auth=False)
    c.app.state.cap.storage.close()
    r = c.get("/readyz")
    assert r.status_code == 503
    assert {x["name"]: x["status"] for x in r.json()["checks"]}["database"] == "FAIL"
    c.app.state.cap.storage = type(c.app.state.cap.storage)(str(c.app.state.cap.config.state_dir / "cap.db"))


def test_no_keys_configured_refuses_with_instructions(make_client):
    c = make_client(auth=False)
    for method, path in (("post", "/verify"), ("post", "/policy/compile"), ("get", f"/policy/{SEED_POLICY_HASH}"),
                         ("post", "/policy/v2/compile"), ("post", "/proof/upload"),
                         ("post", "/store/org.test.app/stable/publish")):
        r = getattr(c, method)(path)
        assert r.status_code == 401, path
        body = r.json()
        assert body["error"] == "unauthorized"
        assert "CAP_AUTH_PUBLIC_KEY_PEM" in body["message"] and "CAP_AUTH_JWKS_URL" in body["message"]


def test_policy_compile_dedup_and_get(client, auth):
    r = client.post("/policy/compile", json={"policy": SEED_POLICY}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["policy_hash"] == SEED_POLICY_HASH and body["status"] == "compiled"
    assert body["metadata"]["id"] == body["policy_id"] and body["metadata"]["status"] == "active"
    again = client.post("/policy/compile", json={"policy": SEED_POLICY}, headers=auth).json()
    assert again["policy_id"] == body["policy_id"]
    assert client.app.state.cap.storage.count_policies() == 1
    for key in (body["policy_id"], SEED_POLICY_HASH):
        got = client.get(f"/policy/{key}", headers=auth)
        assert got.status_code == 200
        assert got.json()["policy"] == SEED_POLICY and got.json()["metadata"]["hash"] == SEED_POLICY_HASH
    missing = client.get("/policy/" + "0x" + "0" * 64, headers=auth)
    assert missing.status_code == 404 and missing.json() == {"error": "not_found", "message": "Policy not found"}
    assert client.get("/policy/not-a-uuid", headers=auth).status_code == 400


def test_policy_compile_validation_error(client, auth):
    bad = dict(SEED_POLICY, version="v9")
    r = client.post("/policy/compile", json={"policy": bad}, headers=auth)
    assert r.status_code == 400 and r.json()["error"] == "validation_error" and "lksg.v" in r.json()["message"]
    assert client.post("/policy/compile", json={}, headers=auth).json()["error"] == "invalid_request"


def test_policy_v2_compile(client, auth):
    r = client.post("/policy/v2/compile", json={"policy": V2_OK, "persist": True, "lint_mode": "relaxed"},
                    headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["policy_id"] == "lksg.demo.v1" and body["stored"] is True and body["lints"] == []
    assert body["policy_hash"].startswith("sha3-256:")
    bad = dict(V2_OK, rules=[{"id": "rule_ubo_min", "op": ">=", "lhs": {"var": "ubo_count"}, "rhs": 1}])
    r = client.post("/policy/v2/compile", json={"policy": bad}, headers=auth)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "lint_error" and body["message"] == "Policy contains lint errors"
    assert any(x["code"] == "E2001" and x["rule_id"] == "rule_ubo_min" for x in body["details"]["lints"])
    r = client.post("/policy/v2/compile", json={"persist": True}, headers=auth)
    assert r.status_code == 400 and r.json()["error"] == "validation_error"
    changed = dict(V2_OK, description="other")
    r = client.post("/policy/v2/compile", json={"policy": changed, "persist": True}, headers=auth)
    assert r.status_code == 409


def test_verify_mock_proof(client, auth, lksg_case):
    m, p = lksg_case["manifest"], lksg_case["proof"]
    req = {"policy_id": m["policy"]["hash"], "context": {"manifest": m, "proof": p}, "backend": "mock",
           "options": None}
    r = client.post("/verify", json=req, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["result"] == "warn"  # mock: bindings verified, checks self-declared
    assert body["report"]["status"] == "warn" and body["manifest_hash"].startswith("0x")
    # tampering with the manifest breaks the proof's binding
    m2 = json.loads(json.dumps(m))
    m2["supplier_root"] = "0x" + "1" * 64
    r = client.post("/verify", json={**req, "context": {"manifest": m2, "proof": p}}, headers=auth)
    assert r.status_code == 200 and r.json()["result"] == "fail"
    # policy id not matching the manifest
    r = client.post("/verify", json={**req, "policy_id": "0x" + "2" * 64}, headers=auth)
    assert r.json()["result"] == "fail"
    # cached second call; metrics count results
    client.post("/verify", json=req, headers=auth)
    text = client.get("/metrics").text
    assert 'cap_verifier_requests_total{result="warn"} 2.0' in text
    assert 'cap_verifier_requests_total{result="fail"} 2.0' in text
    assert "cap_cache_hit_ratio 0.25" in text


def test_verify_checks_embedded_signatures(client, auth, lksg_case):
    """`report.signature_valid` reflects an embedded Ed25519 signature; a forged one fails the request."""
    from capfast import ed25519
    from capfast.lksg.signing import manifest_message

    m = json.loads(json.dumps(lksg_case["manifest"]))
    assert m["signatures"] == []
    sk = bytes(range(1, 33))
    pk = ed25519.public_key(sk)
    sig = ed25519.sign(sk, manifest_message(m))
    m["signatures"] = [{"alg": "Ed25519", "signer": "ACME", "pubkey_hex": "0x" + pk.hex(), "sig_hex": "0x" + sig.hex()}]
    req = {"policy_id": m["policy"]["hash"], "context": {"manifest": m, "proof": None}, "backend": "mock"}
    body = client.post("/verify", json=req, headers=auth).json()
    assert body["report"]["signature_valid"] is True and body["result"] == "warn", body
    forged = json.loads(json.dumps(m))
    forged["signatures"][0]["sig_hex"] = "0x" + bytes(64 - len(b"x")).hex() + "78"
    body = client.post("/verify", json={**req, "context": {"manifest": forged, "proof": None}}, headers=auth).json()
    assert body["result"] == "fail" and body["report"]["signature_valid"] is False
    assert any("does not verify" in d for d in body["report"]["details"]), body


@pytest.mark.parametrize("body,needle", [
    ({}, "Missing required field: policy_id"),
    ({"policy_id": 5, "context": {}, "backend": "mock"}, "policy_id must be"),
    ({"policy_id": "0x00", "backend": "mock"}, "Missing required field: context"),
    ({"policy_id": "0x00", "context": {"manifest": []}, "backend": "mock"}, "context.manifest must be"),
    ({"policy_id": "0x00", "context": {"manifest": {}}}, "Missing required field: backend"),
    ({"policy_id": "0x00", "context": {"manifest": {}}, "backend": "quantum"}, "backend must be"),
    ({"policy_id": "0x00", "context": {"manifest": {"version": "x"}}, "backend": "mock"}, "Invalid manifest"),
])
def test_verify_bad_requests(client, auth, body, needle):
    r = client.post("/verify", json=body, headers=auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request" and needle in r.json()["message"]


@pytest.mark.parametrize("raw", [b"{bad", b"[1,2]", b'{"a":1,"a":2}', b'{"x": NaN}', b"\xff\xfe", b"[" * 100_000])
def test_bad_json_is_400_never_500(client, auth, raw):
    r = client.post("/verify", content=raw, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_oversized_json_is_413(make_client, auth):
    c = make_client(max_json_bytes=1000)
    r = c.post("/verify", content=b"{" + b" " * 2000 + b"}", headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_wrong_content_type_is_415(client, auth):
    r = client.post("/verify", content=b"{}", headers={**auth, "Content-Type": "text/plain"})
    assert r.status_code == 415


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return buf.getvalue()


def test_proof_upload(client, auth, lksg_case):
    d = lksg_case["dir"]
    data = _zip({"manifest.json": (d / "manifest.json").read_bytes(), "proof.dat": lksg_case["proof_bytes"]})
    r = client.post("/proof/upload", files={"file": ("p.zip", data, "application/zip")}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["manifest"] == lksg_case["manifest"]
    import base64

    assert base64.b64decode(body["proof_base64"]) == lksg_case["proof_bytes"]
    assert body["package_info"] == {"total_size": len(data), "file_count": 2}
    r = client.post("/proof/upload", files={"file": ("p.zip", _zip({"proof.dat": b"x"}), "application/zip")},
                    headers=auth)
    assert r.status_code == 400 and r.json() == {"error": "invalid_package",
                                                 "message": "Missing required file: manifest.json"}
    r = client.post("/proof/upload", files={"file": ("p.zip", b"not a zip", "application/zip")}, headers=auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_package"
    r = client.post("/proof/upload", files={"other": ("p.zip", data, "application/zip")}, headers=auth)
    assert r.status_code == 400


def test_proof_upload_too_large_is_413(make_client, auth):
    c = make_client(max_upload_bytes=200_000)
    big = _zip({"manifest.json": b"{}", "proof.dat": __import__("os").urandom(400_000)})
    r = c.post("/proof/upload", files={"file": ("p.zip", big, "application/zip")}, headers=auth)
    assert r.status_code == 413
    assert r.json() == {"error": "file_too_large", "message": "File exceeds maximum size of 0.2 MB"}
    assert not any(c.app.state.cap.upload_dir.iterdir())  # temp files removed


def test_unknown_route_and_method(client):
    assert client.get("/nope").json() == {"error": "not_found", "message": "Resource not found"}
    r = client.get("/verify")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_openapi_document(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path in ("/verify", "/policy/compile", "/policy/{policy_id}", "/policy/v2/compile", "/proof/upload",
                 "/healthz", "/readyz", "/metrics", "/store/delta",
                 "/store/releases/{root}/blobs/{sha256}"):
        assert path in doc["paths"], path
    # every route of the app is documented
    from starlette.routing import Route

    app_paths = {r.path for r in client.app.routes if isinstance(r, Route)} - {"/openapi.json"}
    assert app_paths <= set(doc["paths"])


def test_request_log_is_json(client, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="capfast.server.access"):
        client.get("/healthz")
    line = json.loads(caplog.records[-1].getMessage())
    assert line["path"] == "/healthz" and line["status"] == 200 and "duration_ms" in line
