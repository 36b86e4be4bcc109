"""GCRA rate limiting: the pure rule with a fake clock, client-address extraction, the middleware's headers and
429 body, and the Redis backend shared by two real server processes."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from servhelpers import cap_serve, redis_server

from capfast.server.config import RateSpec, ServerConfig
from capfast.server.ratelimit import MemoryLimiter, RedisLimiter, client_key

# Backend-independent (GCRA rate limits (in-process and Redis): no capfast backend code): runs in the native pass only.
pytestmark = pytest.mark.once


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_seed_presets():
    c = ServerConfig()
    assert (c.rate_global, c.rate_verify, c.rate_policy_v2) == (RateSpec(100, 120), RateSpec(20, 25),
                                                                RateSpec(10, 15))


def test_gcra_burst_then_steady_rate_no_drift():
    clock = Clock()
    lim = MemoryLimiter(clock)
    spec = RateSpec(20, 25)  # one every 3 s, 25 at once
    got = [lim.hit("k", spec) for _ in range(26)]
    assert [d.allowed for d in got] == [True] * 25 + [False]
    assert [d.remaining for d in got[:3]] == [24, 23, 22] and got[24].remaining == 0
    assert got[25].retry_after == 3
    # a steady client at exactly the rate is never limited, for a long time
    for _ in range(1000):
        clock.t += 3.0
        assert lim.hit("k", spec).allowed
    # slightly faster than the rate: eventually limited
    denied = 0
    for _ in range(200):
        clock.t += 2.9
        denied += not lim.hit("k", spec).allowed
    assert denied > 0
    # other keys are independent
    assert lim.hit("other", spec).allowed


def test_gcra_recovers_after_idle():
    clock = Clock()
    lim = MemoryLimiter(clock)
    spec = RateSpec(10, 15)
    while lim.hit("k", spec).allowed:
        pass
    clock.t += 60 * 15 / 10
    assert sum(lim.hit("k", spec).allowed for _ in range(20)) == 15


def test_memory_bounded_under_key_flood():
    lim = MemoryLimiter(Clock(), max_keys=1000)
    for i in range(5000):
        lim.hit(f"ip{i}", RateSpec(100, 120))
    assert len(lim) == 1000


TRUSTED = [ipaddress.ip_network("10.0.0.0/8")]


def test_client_key_ignores_spoofed_xff_from_direct_client():
    assert client_key("203.0.113.7", "1.2.3.4", TRUSTED) == "203.0.113.7"
    assert client_key("203.0.113.7", "1.2.3.4", []) == "203.0.113.7"


def test_client_key_walks_trusted_proxy_chain_from_the_right():
    # client typed "6.6.6.6"; the real client 198.51.100.9 reached proxy 10.0.0.2, then proxy 10.0.0.1
    assert client_key("10.0.0.1", "6.6.6.6, 198.51.100.9, 10.0.0.2", TRUSTED) == "198.51.100.9"
    assert client_key("10.0.0.1", "garbage, 198.51.100.9", TRUSTED) == "198.51.100.9"
    assert client_key("10.0.0.1", "not-an-ip", TRUSTED) == "10.0.0.1"


def test_client_key_ipv6_aggregated_per_64():
    a = client_key("2001:db8:1:2:aaaa::1", None, [])
    b = client_key("2001:db8:1:2:bbbb::2", None, [])
    assert a == b == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1", None, []) == "192.0.2.1"


def test_middleware_headers_and_seed_429_body(make_client, keys):
    c = make_client(rate_policy_v2=RateSpec(10, 3))
    auth = {"Authorization": f"Bearer {keys.token()}"}
    answers = [c.post("/policy/v2/compile", json={}, headers=auth) for _ in range(4)]
    assert [r.status_code for r in answers] == [400, 400, 400, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "10"
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    r = answers[3]
    assert r.headers["retry-after"] == "6"
    assert r.json() == {"error": "Too many requests. Please retry after 6 seconds.", "code": "RATE_LIMIT_EXCEEDED"}
    assert 'rate_limit_exceeded_total{route="policy_v2"} 1.0' in c.get("/metrics").text
    # health and metrics are never limited; other endpoints use the global bucket
    assert all(c.get("/healthz").status_code == 200 for _ in range(10))
    assert c.post("/policy/compile", json={}, headers=auth).headers["x-ratelimit-limit"] == "100"


def test_rate_limit_applies_before_auth(make_client):
    c = make_client(rate_verify=RateSpec(1, 1))
    assert c.post("/verify", json={}).status_code == 401
    assert c.post("/verify", json={}).status_code == 429


def test_spoofed_xff_does_not_escape_the_limit(make_client):
    c = make_client(rate_verify=RateSpec(1, 2), client=("203.0.113.5", 1))
    codes = [c.post("/verify", json={}, headers={"X-Forwarded-For": f"1.1.1.{i}"}).status_code for i in range(3)]
    assert codes == [401, 401, 429]


def test_trusted_proxy_xff_separates_clients(make_client):
    c = make_client(rate_verify=RateSpec(1, 1), client=("10.0.0.1", 1), trusted_proxies=("10.0.0.0/8",))
    codes = [c.post("/verify", json={}, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
             for i in range(3)]
    assert codes == [401, 401, 401]
    assert c.post("/verify", json={}, headers={"X-Forwarded-For": "198.51.100.0"}).status_code == 429


def test_redis_limiter_unit(tmp_path):
    with redis_server(tmp_path) as (url, _):
        lim = RedisLimiter(url, prefix="t:")
        spec = RateSpec(20, 5)
        got = [lim.hit("k", spec) for _ in range(6)]
        assert [d.allowed for d in got] == [True] * 5 + [False]
        assert [d.remaining for d in got[:5]] == [4, 3, 2, 1, 0]
        assert got[5].retry_after == 3
        ttl = lim.client.pttl("t:k")
        assert 0 < ttl <= 16_000  # every key expires


def test_two_server_processes_share_one_limit(tmp_path, keys):
    with redis_server(tmp_path) as (url, _):
        env = {"CAP_REDIS_URL": url, "CAP_RATE_LIMIT_VERIFY": "6/6", "CAP_AUTH_PUBLIC_KEY_PEM": str(keys.pem_path)}
        with cap_serve(tmp_path / "a", env) as a, cap_serve(tmp_path / "b", env) as b:
            codes = [httpx.post(f"{url_}/verify", json={}).status_code for url_ in [a, b] * 5]
            assert codes.count(401) == 6 and codes.count(429) == 4, codes
            assert httpx.get(f"{a}/readyz").json()["checks"][-1] == {"name": "rate_limiter", "status": "OK"}


@pytest.mark.parametrize("fail_open", [True, False])
def test_redis_down_documented_behaviour(make_client, tmp_path, fail_open):
    with redis_server(tmp_path) as (url, proc):
        c = make_client(auth=False, redis_url=url, rate_limit_fail_open=fail_open)
        assert c.post("/verify", json={}).status_code == 401
        proc.kill()
        proc.wait()
        r = c.post("/verify", json={})
        assert r.status_code == (401 if fail_open else 503)
        assert "cap_rate_limit_backend_errors_total 1.0" in c.get("/metrics").text
        assert c.get("/readyz").status_code == 503


def test_store_reads_have_their_own_bucket(make_client):
    c = make_client(auth=False, rate_global=RateSpec(1, 1), rate_store=RateSpec(60, 5))
    codes = [c.get("/store/org.test.app/stable/latest").status_code for _ in range(6)]
    assert codes == [404] * 5 + [429]
    assert c.post("/verify", json={}).headers["x-ratelimit-limit"] == "20"
    assert c.post("/policy/compile", json={}).status_code == 401
    assert c.post("/policy/compile", json={}).status_code == 429
