"""Bearer JWT validation (RS256 only; security.md §6) and the seed's 401/403 bodies."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from servhelpers import AUDIENCE, ISSUER, Keys, b64url

# Backend-independent (JWT RS256 authentication on the policy routes: pyjwt/cryptography, never the capfast backend): runs in the native pass only.
pytestmark = pytest.mark.once

UNAUTH = "unauthorized"
POLICY = {"version": "lksg.v1", "name": "P", "created_at": "2025-11-06T10:00:00Z",
          "constraints": {"require_at_least_one_ubo": True, "supplier_count_max": 10}, "notes": ""}


def _call(client, token: str | None, path: str = "/policy/compile"):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.post(path, json={"policy": POLICY}, headers=headers)


def _unsigned(header: dict, claims: dict, sig: bytes = b"") -> str:
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(sig)])


def _claims(**over):
    now = int(time.time())
    c = {"sub": "c", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "scope": "policy:write"}
    c.update(over)
    return c


def test_valid_token_accepted(client, keys):
    assert _call(client, keys.token()).status_code == 200


def test_missing_token_seed_body(client):
    r = _call(client, None)
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "message": "Missing or invalid authorization token"}
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_insufficient_scope_is_403_seed_body(client, keys):
    r = _call(client, keys.token(scope="verify:read"))
    assert r.status_code == 403 and r.json() == {"error": "forbidden", "message": "Insufficient scopes"}
    # read scope does not grant write, write does not grant read
    assert client.get("/policy/" + "0x" + "0" * 64,
                      headers={"Authorization": f"Bearer {keys.token(scope='policy:write')}"}).status_code == 403


def test_alg_none_rejected(client):
    r = _call(client, _unsigned({"alg": "none", "typ": "JWT"}, _claims()))
    assert r.status_code == 401 and r.json()["error"] == UNAUTH


def test_hs256_with_public_key_as_secret_rejected(client, keys):
    # RS256 -> HS256 confusion: HMAC over the token with the server's public PEM as the secret
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": keys.kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(_claims()).encode())}"
    sig = hmac.new(keys.public_pem, signing_input.encode(), hashlib.sha256).digest()
    r = _call(client, f"{signing_input}.{b64url(sig)}")
    assert r.status_code == 401


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256", "HS512"])
def test_other_algorithms_rejected(client, keys, alg):
    header = {"alg": alg, "typ": "JWT"}
    assert _call(client, _unsigned(header, _claims(), b"x" * 256)).status_code == 401


def test_forged_signature_rejected(client, keys, tmp_path):
    other = Keys(tmp_path, kid=keys.kid)
    assert _call(client, other.token()).status_code == 401
    tok = keys.token()
    head, body, sig = tok.split(".")
    claims = json.loads(jwt.utils.base64url_decode(body))
    claims["scope"] = "policy:write store:publish admin"
    assert _call(client, f"{head}.{b64url(json.dumps(claims).encode())}.{sig}").status_code == 401


@pytest.mark.parametrize("drop", ["exp", "iat", "iss", "aud", "sub"])
def test_required_claims(client, keys, drop):
    assert _call(client, keys.token(drop=(drop,))).status_code == 401


def test_time_claims_with_leeway(client, keys):
    now = int(time.time())
    assert _call(client, keys.token(exp=now - 120, iat=now - 400)).status_code == 401  # expired past leeway
    assert _call(client, keys.token(exp=now - 5, iat=now - 300)).status_code == 200  # inside 30 s leeway
    assert _call(client, keys.token(nbf=now + 300)).status_code == 401
    assert _call(client, keys.token(nbf=now + 5)).status_code == 200
    assert _call(client, keys.token(iat=now + 300, exp=now + 600)).status_code == 401
    assert _call(client, keys.token(iat=now, exp=now + 10 * 86400)).status_code == 401  # lifetime bound


@pytest.mark.parametrize("iss", [ISSUER + "/", ISSUER[:-1], "x" + ISSUER, "https://auth.example.co"])
def test_issuer_exact(client, keys, iss):
    assert _call(client, keys.token(iss=iss)).status_code == 401


@pytest.mark.parametrize("aud", ["cap-verifier-x", "other", ["other"]])
def test_audience(client, keys, aud):
    assert _call(client, keys.token(aud=aud)).status_code == 401


def test_audience_list_containing_ours_accepted(client, keys):
    assert _call(client, keys.token(aud=["other", AUDIENCE])).status_code == 200


def test_unknown_crit_header_rejected(client, keys):
    assert _call(client, keys.token(headers={"crit": ["x-unknown"], "x-unknown": 1})).status_code == 401


def test_bad_typ_rejected(client, keys):
    assert _call(client, keys.token(headers={"typ": "cap-capability+jwt"})).status_code == 401


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "Zm9v.YmFy.YmF6", "x" * 100_000, "a" * 3000 + ".." + "b"])
def test_malformed_tokens_401_quickly(client, token):
    r = client.post("/policy/compile", json={}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"] == UNAUTH


def test_non_bearer_scheme(client, keys):
    r = client.post("/policy/compile", json={}, headers={"Authorization": f"Basic {keys.token()}"})
    assert r.status_code == 401


def test_failures_are_counted(client, keys):
    _call(client, None)
    _call(client, keys.token(scope=""))
    assert "cap_auth_token_validation_failures_total 2.0" in client.get("/metrics").text


def test_wycheproof_rs256_primitive(vectors):
    """The RS256 verifier PyJWT uses accepts exactly Wycheproof's valid signatures (invalid ones rejected)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = vectors / "wycheproof" / "rsa_signature_2048_sha256_test.json"
    doc = json.loads(path.read_text())
    alg = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    counts = {"valid": 0, "invalid": 0, "acceptable": 0}
    for group in doc["testGroups"]:
        key = load_pem_public_key(group["publicKeyPem"].encode())
        for t in group["tests"]:
            ok = alg.verify(bytes.fromhex(t["msg"]), key, bytes.fromhex(t["sig"]))
            counts[t["result"]] += 1
            if t["result"] == "valid":
                assert ok, t["tcId"]
            elif t["result"] == "invalid":
                assert not ok, t["tcId"]
    assert counts["valid"] > 0 and counts["invalid"] > 50


# -- JWKS ---------------------------------------------------------------------------------------------------------------

class _Jwks:
    """A loopback JWKS server counting fetches."""

    def __init__(self, keys: list[Keys]) -> None:
        self.doc = {"keys": [k.jwk() for k in keys]}
        self.fetches = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.fetches += 1
                body = json.dumps(outer.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks(keys):
    s = _Jwks([keys])
    yield s
    s.close()


def test_jwks_keys_and_unknown_kid_cooldown(make_client, keys, jwks, tmp_path):
    c = make_client(auth=False, auth_jwks_url=jwks.url)
    assert _call(c, keys.token()).status_code == 200
    assert jwks.fetches == 1
    stranger = Keys(tmp_path, kid="random-kid")
    for i in range(20):
        tok = stranger.token(headers={"kid": f"kid-{i}"})
        assert _call(c, tok).status_code == 401
    assert jwks.fetches == 1  # unknown kids inside the cooldown never trigger a refetch
    for kid in ("../../dev/null", "' OR 1=1 --"):
        assert _call(c, keys.token(headers={"kid": kid})).status_code == 401


def test_jwks_rotation_after_cooldown(make_client, keys, jwks, tmp_path):
    c = make_client(auth=False, auth_jwks_url=jwks.url)
    c.app.state.cap.auth.jwks.cooldown = 0  # allow a refresh per unknown kid for this test
    new = Keys(tmp_path, kid="k2")
    assert _call(c, new.token()).status_code == 401
    jwks.doc = {"keys": [keys.jwk(), new.jwk()]}
    assert _call(c, new.token()).status_code == 200
    jwks.doc = {"keys": [new.jwk()]}
    c.app.state.cap.auth.jwks.fetched_at = float("-inf")  # cache lifetime over
    assert _call(c, keys.token()).status_code == 401
    assert _call(c, new.token()).status_code == 200


def test_jku_and_embedded_jwk_ignored(make_client, keys, jwks, tmp_path):
    c = make_client(auth=False, auth_jwks_url=jwks.url)
    attacker = Keys(tmp_path, kid="k1")
    tok = attacker.token(headers={"jku": "http://127.0.0.1:1/evil.json", "jwk": attacker.jwk(),
                                  "x5u": "http://127.0.0.1:1/x"})
    assert _call(c, tok).status_code == 401


def test_jwks_rejects_weak_and_duplicate_keys(make_client, jwks, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    w = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key()))
    w.update(kid="weak")
    jwks.doc = {"keys": [w]}
    c = make_client(auth=False, auth_jwks_url=jwks.url)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about signing with a short key: that is the point here
        tok = jwt.encode(_claims(), weak, algorithm="RS256", headers={"kid": "weak"})
    assert _call(c, tok).status_code == 401
    assert c.app.state.cap.auth.jwks.keys == {}


def test_jwks_duplicate_kid_refused(make_client, keys, jwks):
    jwks.doc = {"keys": [keys.jwk(), keys.jwk()]}
    c = make_client(auth=False, auth_jwks_url=jwks.url)
    assert _call(c, keys.token()).status_code == 401
