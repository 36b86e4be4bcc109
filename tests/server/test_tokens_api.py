"""``POST /tokens/verify`` and the RFC 8628-style CapQR onboarding endpoints of ``cap serve``."""

from __future__ import annotations

import time

import pytest

from capfast import wallet
from capfast.access import Claims, TrustedIssuers, biscuit, jsontoken, load_issuer
from capfast.access.keys import keygen_token_key
from capfast.access.onboarding import DeviceRequest, open_sealed, start_request
from capfast.access.qr import QrResponse, decode

AUD = "example.org"


@pytest.fixture
def tok(tmp_path):
    _, key_path = keygen_token_key(tmp_path / "issuer", "Example Org")
    trusted = TrustedIssuers()
    trusted.pin_key(key_path)
    trusted.save(tmp_path / "issuers.json")
    key = load_issuer(key_path)
    holder = wallet.generate()

    def issue(**kw):
        base = dict(role="infra.user", scope=["app:/vpn", "net:/vpn/*"], cap_level=71, audience=AUD,
                    issuer=key.kid, wallet=holder.address)
        base.update(kw)
        return jsontoken.issue(Claims.new(**base), key)

    cfg = dict(token_issuers=str(tmp_path / "issuers.json"), token_audience=AUD, onboarding_key=str(key_path))
    return key, issue, cfg


def test_tokens_verify(make_client, auth, keys, tok):
    key, issue, cfg = tok
    client = make_client(**cfg)
    t = issue()
    r = client.post("/tokens/verify", json={"token": t, "required_scope": "net:/vpn/core", "min_cap_level": 70},
                    headers=auth)
    assert r.status_code == 200 and r.json()["valid"] is True and r.json()["claims"]["cap_level"] == 71
    b = biscuit.attenuate(biscuit.issue(Claims.new(role="r", scope=["app:/vpn"], cap_level=10, audience=AUD,
                                                   issuer=key.kid, wallet=wallet.generate().address), key),
                          key.public, max_cap_level=5)
    assert client.post("/tokens/verify", json={"token": b}, headers=auth).json()["claims"]["cap_level"] == 5
    for body, code in [({"token": t, "required_scope": "app:/vpnx"}, "scope_not_granted"),
                       ({"token": t, "min_cap_level": 90}, "cap_level_too_low"),
                       ({"token": t.replace("\"cap_level\":71", "\"cap_level\":72")}, "signature_invalid"),
                       ({"token": "{"}, "token_malformed"),
                       ({"token": issue(audience="other.org")}, "audience_mismatch")]:
        r = client.post("/tokens/verify", json=body, headers=auth)
        assert r.status_code == 200 and r.json() == {**r.json(), "valid": False, "error": code}
    assert client.post("/tokens/verify", json={"token": t}).status_code == 401
    assert client.post("/tokens/verify", json={"token": t},
                       headers={"Authorization": f"Bearer {keys.token('verify:read')}"}).status_code == 403
    assert client.post("/tokens/verify", json={"tok": t}, headers=auth).status_code == 400
    assert client.post("/tokens/verify", json={"token": t, "min_cap_level": "9"}, headers=auth).status_code == 400
    r = client.post("/tokens/verify", content=b'{"token": "a", "token": "b"}', headers={**auth,
                                                                                    "content-type": "application/json"})
    assert r.status_code == 400


def test_tokens_not_configured(client, auth):
    r = client.post("/tokens/verify", json={"token": "x"}, headers=auth)
    assert r.status_code == 503 and r.json()["error"] == "not_configured"


def _poll(client, code):
    return client.post("/onboard/token", json={"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                                               "device_code": code})


def test_device_flow(make_client, tok, monkeypatch):
    _, issue, cfg = tok
    client = make_client(**cfg)
    dev: DeviceRequest = start_request("board-7", AUD, "infra.user", ["net:/vpn/core"])
    qr_text = dev.payload.to_text()
    r = client.post("/onboard/device", json={"qr": qr_text})
    assert r.status_code == 200, r.text
    code = r.json()["device_code"]
    assert client.post("/onboard/device", json={"qr": qr_text}).status_code == 409
    r = _poll(client, code)
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending"
    r = _poll(client, code)
    assert r.status_code == 400 and r.json()["error"] == "slow_down" and r.json()["details"]["interval"] == 10
    # a token that does not cover the request cannot approve it
    r = client.post("/onboard/approve", json={"qr": qr_text, "token": issue(scope=["app:/vpn"])})
    assert r.status_code == 403 and r.json()["error"] == "scope_not_granted"
    r = client.post("/onboard/approve", json={"qr": qr_text, "token": issue()})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    state = client.app.state.cap.tokens
    state.pending[code].last_poll = 0.0  # the test does not wait out the interval
    r = _poll(client, code)
    assert r.status_code == 200, r.text
    answer = decode(r.json()["answer"])
    assert isinstance(answer, QrResponse)
    token = open_sealed(dev, answer.sealed)
    state.pending[code].last_poll = 0.0
    assert _poll(client, code).json()["error"] == "expired_token"  # collected once
    redeem = {"token": token, "verifier": dev.verifier.hex(), "device": "board-7"}
    r = client.post("/onboard/redeem", json=redeem)
    assert r.status_code == 200 and r.json()["redeemed"] is True and "wallet" not in r.json()["claims"]
    r = client.post("/onboard/redeem", json=redeem)
    assert r.status_code == 409 and r.json()["error"] == "token_replayed"
    r = client.post("/onboard/redeem", json={**redeem, "verifier": "00" * 32})
    assert r.status_code in (403, 409)
    audit = (client.app.state.cap.config.state_dir / "tokens.audit.jsonl").read_text()
    assert "captoken.onetime.issued" in audit and "captoken.misuse" in audit and "captoken.redeemed" in audit


def test_device_flow_denied_and_expired(make_client, tok):
    _, issue, cfg = tok
    client = make_client(**cfg)
    dev = start_request("board-8", AUD, "infra.user", ["app:/vpn"])
    code = client.post("/onboard/device", json={"qr": dev.payload.to_text()}).json()["device_code"]
    assert client.post("/onboard/deny", json={"qr": dev.payload.to_text(), "token": issue()}).json() == {
        "status": "denied"}
    assert _poll(client, code).json()["error"] == "access_denied"
    old = start_request("board-9", AUD, "infra.user", ["app:/vpn"], now=int(time.time()) - 400, ttl=300)
    r = client.post("/onboard/device", json={"qr": old.payload.to_text()})
    assert r.status_code == 400 and r.json()["error"] == "expired_token"
    assert _poll(client, "ab" * 32).json()["error"] == "expired_token"
    other = start_request("board-9", "other.org", "infra.user", ["app:/vpn"])
    assert client.post("/onboard/device", json={"qr": other.payload.to_text()}).status_code == 400
    assert client.post("/onboard/device", json={"qr": "https://evil.example"}).status_code == 400
    r = client.post("/onboard/token", json={"grant_type": "password", "device_code": "x"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_onboarding_is_rate_limited(make_client, tok):
    _, _, cfg = tok
    client = make_client(rate_onboard="60/3", **cfg)
    codes = [client.post("/onboard/token", json={"grant_type": "x", "device_code": "y"}).status_code for _ in range(6)]
    assert 429 in codes
