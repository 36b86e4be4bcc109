"""`cap serve` as a client sees it: a real server process on a loopback port, real HTTP.

Started with no configuration it serves health/readiness/metrics and refuses protected endpoints with
instructions; with a key it runs the seed's flows; hostile input always gets a 4xx JSON body, never a 500."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from servhelpers import Keys, cap_serve  # noqa: E402

# Backend-independent (`cap serve` end to end: health, metrics, policy compile, body limits, JWT checks -- no route it calls computes with the backend): runs in the native pass only.
pytestmark = pytest.mark.once

POLICY = {"version": "lksg.v1", "name": "Test Policy", "created_at": "2025-11-06T10:00:00Z",
          "constraints": {"require_at_least_one_ubo": True, "supplier_count_max": 10}, "notes": ""}


def test_no_configuration(tmp_path):
    with cap_serve(tmp_path / "state") as url:
        assert httpx.get(f"{url}/healthz").json()["status"] == "OK"
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert "cap_verifier_requests_total" in httpx.get(f"{url}/metrics").text
        r = httpx.post(f"{url}/policy/compile", json={"policy": POLICY})
        assert r.status_code == 401 and "CAP_AUTH_PUBLIC_KEY_PEM" in r.json()["message"]
        assert httpx.get(f"{url}/openapi.json").json()["openapi"].startswith("3.")
    assert (tmp_path / "state" / "cap.db").exists()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    keys = Keys(tmp)
    env = {"CAP_AUTH_PUBLIC_KEY_PEM": str(keys.pem_path), "CAP_MAX_UPLOAD_BYTES": "100000",
           "CAP_RATE_LIMIT": "10000", "CAP_RATE_LIMIT_BURST": "10000", "CAP_RATE_LIMIT_VERIFY": "10000/10000",
           "CAP_RATE_LIMIT_POLICY_V2": "10000/10000"}
    with cap_serve(tmp / "state", env) as url:
        yield url, keys


def test_flow_with_token(server):
    url, keys = server
    h = {"Authorization": f"Bearer {keys.token()}"}
    r = httpx.post(f"{url}/policy/compile", json={"policy": POLICY}, headers=h)
    assert r.status_code == 200
    pid = r.json()["policy_id"]
    assert httpx.get(f"{url}/policy/{pid}", headers=h).json()["policy"] == POLICY


@pytest.mark.parametrize("content,ctype", [
    (b"{not json", "application/json"), (b"[]", "application/json"), (b"\x00\xff" * 10, "application/json"),
    (b'{"policy_id": [1], "context": 5, "backend": {}}', "application/json"), (b"{}", "text/xml"),
    (b'{"policy_id": "0x1", "context": {"manifest": {"version": "manifest.v1.0"}}, "backend": "mock"}',
     "application/json"),
])
def test_hostile_bodies_get_4xx_json(server, content, ctype):
    url, keys = server
    h = {"Authorization": f"Bearer {keys.token()}", "Content-Type": ctype}
    for path in ("/verify", "/policy/compile", "/policy/v2/compile", "/store/delta"):
        r = httpx.post(f"{url}{path}", content=content, headers=h)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert "error" in r.json()


def test_oversized_upload_413(server):
    url, keys = server
    h = {"Authorization": f"Bearer {keys.token()}"}
    r = httpx.post(f"{url}/proof/upload", files={"file": ("a.zip", b"\x00" * 300_000)}, headers=h)
    assert r.status_code == 413 and r.json()["error"] == "file_too_large"
    r = httpx.post(f"{url}/verify", content=b"{" + b" " * (2 << 20) + b"}",
                   headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_expired_forged_and_replayed_tokens(server, tmp_path):
    url, keys = server
    now = int(time.time())
    bad = [keys.token(exp=now - 3600, iat=now - 7200), Keys(tmp_path).token(), "x.y.z", keys.token()[:-4] + "AAAA"]
    for tok in bad:
        r = httpx.post(f"{url}/policy/compile", json={"policy": POLICY}, headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    # a replayed valid token is accepted while valid (bearer semantics); a replayed expired one is not
    tok = keys.token(lifetime=60)
    for _ in range(2):
        assert httpx.post(f"{url}/policy/compile", json={"policy": POLICY},
                          headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    assert "cap_auth_token_validation_failures_total 4.0" in httpx.get(f"{url}/metrics").text
