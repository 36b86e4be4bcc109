"""CapQR onboarding end to end: real QR images (segno → PNG → zxing-cpp), the one-time token's shape, delivery by
direct QR and LAN HTTPS, atomic redemption (50 concurrent processes against SQLite and against a real redis-server:
exactly one success, 49 audited refusals), store restarts, and hostile QR payloads."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import threading

import pytest
from accesshelpers import AUD, NOW, race_worker

from capfast import cbor
from capfast.access import jsontoken, qr
from capfast.access.delivery import BleTransport, DeviceReceiver, DirectQrTransport, LanHttpsTransport
from capfast.access.onboarding import DeviceRequest, answer, redeem, redeem_token, start_request
from capfast.access.qr import QrRequest, QrResponse, b45decode, b45encode
from capfast.access.replay import RedisRedemptionStore, SqliteRedemptionStore, open_store
from capfast.errors import (
    DeviceMismatchError,
    OnboardingError,
    QrPayloadError,
    RoleNotGrantedError,
    ScopeNotGrantedError,
    TokenExpiredError,
    TokenReplayError,
)
from capfast.lksg.audit import AuditLog, verify_audit_log


def _events(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def flow(env, tmp_path):
    app_token = jsontoken.issue(env.claims(scope=["app:/vpn", "net:/vpn/*"], cap_level=71), env.key)
    dev = start_request("board-7", AUD, "infra.user", ["net:/vpn/core"], now=NOW)
    return env, app_token, dev, AuditLog(tmp_path / "app.audit.jsonl"), AuditLog(tmp_path / "device.audit.jsonl")


def test_rfc9285_base45_examples():
    for raw, text in [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")]:
        assert b45encode(raw) == text and b45decode(text) == raw
    for bad in ["GGW", "A", "ABCD", "aa"]:
        with pytest.raises(QrPayloadError):
            b45decode(bad)


def test_end_to_end_from_real_qr_images(flow, tmp_path):
    env, app_token, dev, app_audit, dev_audit = flow
    # 1. the device shows its request; the app reads it from the image
    png = qr.render(dev.payload.to_text(), tmp_path / "request.png")
    qr.render(dev.payload.to_text(), tmp_path / "request.svg")
    assert (tmp_path / "request.svg").read_text().lstrip().startswith("<?xml")
    scanned = qr.decode(qr.decode_image(png))
    assert scanned == dev.payload
    # 2. the app checks its own token and derives the one-time token
    grant = answer(scanned, app_token=app_token, verifier=env.verifier(), signer=env.key, audit=app_audit, now=NOW)
    doc = json.loads(grant.token)
    assert "wallet" not in doc and doc["effect"] == grant.effect and doc["token_id"] == dev.payload.request_id
    assert doc["device"] == "board-7" and doc["binding"] == hashlib.sha256(dev.verifier).hexdigest()
    assert doc["valid_until"] - doc["issued_at"] <= 300 and doc["scope"] == ["net:/vpn/core"]
    issued = _events(app_audit.path)[-1]
    assert issued["event"] == "captoken.onetime.issued" and issued["details"]["effect"] == grant.effect
    assert issued["details"]["wallet"] == env.holder.address  # only the app's log links effect → wallet
    # 3. direct QR response, scanned by the device from the image
    transport = DirectQrTransport(tmp_path / "answer.png")
    transport.deliver(grant.response())
    assert transport.terminal and "█" in transport.terminal or "▀" in transport.terminal
    response = qr.decode(qr.decode_image(tmp_path / "answer.png"))
    assert isinstance(response, QrResponse)
    assert grant.token.encode() not in response.to_text().encode()  # sealed, not readable in the QR
    # 4. redemption
    store = SqliteRedemptionStore(tmp_path / "redeemed.sqlite")
    got = redeem(dev, response, verifier=env.verifier(), store=store, audit=dev_audit, now=NOW + 5)
    assert got.claims.effect == grant.effect and got.claims.wallet is None
    with pytest.raises(TokenReplayError):
        redeem(dev, response, verifier=env.verifier(), store=store, audit=dev_audit, now=NOW + 6)
    events = [e["event"] for e in _events(dev_audit.path)]
    assert events == ["captoken.redeemed", "captoken.misuse"]
    assert _events(dev_audit.path)[-1]["details"]["reason"] == "token_replayed"
    assert verify_audit_log(dev_audit.path).ok and verify_audit_log(app_audit.path).ok
    store.close()


def test_refusals_are_named_and_audited(flow, tmp_path):
    env, app_token, dev, app_audit, dev_audit = flow
    v = env.verifier()
    with pytest.raises(RoleNotGrantedError):
        answer(start_request("board-7", AUD, "ops.admin", ["net:/vpn/core"], now=NOW).payload, app_token=app_token,
               verifier=v, signer=env.key, audit=app_audit, now=NOW)
    with pytest.raises(ScopeNotGrantedError):
        answer(start_request("board-7", AUD, "infra.user", ["db:/x"], now=NOW).payload, app_token=app_token,
               verifier=v, signer=env.key, audit=app_audit, now=NOW)
    with pytest.raises(QrPayloadError, match="expired"):
        answer(dev.payload, app_token=app_token, verifier=v, signer=env.key, audit=app_audit, now=NOW + 301)
    grant = answer(dev.payload, app_token=app_token, verifier=v, signer=env.key, audit=app_audit, now=NOW)
    store = SqliteRedemptionStore(tmp_path / "r.sqlite")
    # expired one-time token
    with pytest.raises(TokenExpiredError):
        redeem(dev, grant.response(), verifier=v, store=store, audit=dev_audit, now=NOW + 300 + v.leeway + 1)
    # a foreign device: another request's state cannot open the box
    other = start_request("board-9", AUD, "infra.user", ["net:/vpn/core"], now=NOW)
    with pytest.raises(QrPayloadError):
        redeem(other, grant.response(), verifier=v, store=store, audit=dev_audit, now=NOW)
    with pytest.raises(QrPayloadError):
        redeem(other, QrResponse(other.payload.request_id, grant.sealed), verifier=v, store=store, audit=dev_audit,
               now=NOW)
    # the right token at the gate without the device's verifier (a relayed or photographed code): refused
    with pytest.raises(DeviceMismatchError):
        redeem_token(grant.token, verifier=v, store=store, audit=dev_audit, device="board-7", verifier_secret=b"x" * 32,
                     now=NOW)
    with pytest.raises(DeviceMismatchError):
        redeem_token(grant.token, verifier=v, store=store, audit=dev_audit, device="board-9",
                     verifier_secret=dev.verifier, now=NOW)
    # none of the refusals consumed the token
    redeem(dev, grant.response(), verifier=v, store=store, audit=dev_audit, now=NOW + 1)
    reasons = [e["details"].get("reason") for e in _events(dev_audit.path) if e["event"] == "captoken.misuse"]
    assert reasons == ["token_expired", "qr_payload_invalid", "qr_payload_invalid", "device_mismatch", "device_mismatch"]
    store.close()


def test_device_state_file(flow, tmp_path):
    _, _, dev, _, _ = flow
    dev.save(tmp_path / "state.json")
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    assert DeviceRequest.load(tmp_path / "state.json") == dev
    doc = json.loads((tmp_path / "state.json").read_text())
    doc["verifier"] = "00" * 32
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(OnboardingError, match="verifier"):
        DeviceRequest.load(tmp_path / "bad.json")


def test_lan_https_delivery(flow, tmp_path):
    env, app_token, dev, app_audit, dev_audit = flow
    grant = answer(dev.payload, app_token=app_token, verifier=env.verifier(), signer=env.key, audit=app_audit, now=NOW)
    with DeviceReceiver(dev.payload.request_id) as rx:
        with pytest.raises(OnboardingError, match="fingerprint"):
            LanHttpsTransport(rx.host, rx.port, pin_sha256="00" * 32).deliver(grant.response())
        with pytest.raises(OnboardingError, match="refused"):
            LanHttpsTransport(rx.host, rx.port).deliver(QrResponse("ab" * 16, grant.sealed))  # another request
        LanHttpsTransport(rx.host, rx.port, pin_sha256=rx.fingerprint).deliver(grant.response())
        got = rx.wait()
    store = SqliteRedemptionStore(tmp_path / "r.sqlite")
    assert redeem(dev, got, verifier=env.verifier(), store=store, audit=dev_audit, now=NOW).claims.device == "board-7"
    with pytest.raises(OnboardingError, match="BLE"):
        BleTransport().deliver(got)
    store.close()


def _race(env, flow_tuple, spec, tmp_path, n=50):
    _, app_token, dev, app_audit, _ = flow_tuple
    grant = answer(dev.payload, app_token=app_token, verifier=env.verifier(), signer=env.key, audit=app_audit, now=NOW)
    env.trusted.save(tmp_path / "issuers.json")
    audit_path = tmp_path / "gate.audit.jsonl"
    # forkserver: workers fork from a clean single-threaded server (never from this multi-threaded test process),
    # with the heavy imports done once there
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["accesshelpers", "capfast.access.onboarding", "capfast.access.replay", "redis"])
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=race_worker, args=(spec, grant.token, tmp_path / "issuers.json", audit_path,
                                                     dev.verifier, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("TokenReplayError") == n - 1, outcomes
    events = _events(audit_path)
    assert [e["event"] for e in events].count("captoken.redeemed") == 1
    misuse = [e for e in events if e["event"] == "captoken.misuse"]
    assert len(misuse) == n - 1 and {e["details"]["reason"] for e in misuse} == {"token_replayed"}
    assert verify_audit_log(audit_path).ok


@pytest.mark.slow
def test_fifty_concurrent_redemptions_sqlite(env, flow, tmp_path):
    _race(env, flow, str(tmp_path / "redeemed.sqlite"), tmp_path)


@pytest.mark.slow
def test_fifty_concurrent_redemptions_redis(env, flow, tmp_path):
    from servhelpers import redis_server

    with redis_server(tmp_path) as (url, _):
        _race(env, flow, url, tmp_path)


def test_store_survives_restart(tmp_path):
    store = SqliteRedemptionStore(tmp_path / "r.sqlite")
    assert store.redeem("a" * 32, NOW + 100, now=NOW)
    store.close()
    again = open_store(tmp_path / "r.sqlite")
    assert not again.redeem("a" * 32, NOW + 100, now=NOW)
    assert again.redeem("b" * 32, NOW + 100, now=NOW)
    again.close()


def test_threads_against_sqlite(tmp_path):
    store = SqliteRedemptionStore(tmp_path / "r.sqlite")
    wins: list[bool] = []
    barrier = threading.Barrier(20)

    def go():
        barrier.wait()
        wins.append(store.redeem("k" * 32, NOW + 100, now=NOW))

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1 and len(wins) == 20


def _payload(**overrides):
    base = {"v": 1, "t": "req", "device_id": "board-7", "domain": AUD, "request_id": "ab" * 16, "role": "infra.user",
            "scope": ["app:/vpn"], "device_key": b"\1" * 32, "expires_at": NOW + 60, "verifier_hash": b"\2" * 32}
    base.update(overrides)
    return base


def _text(doc, sort=True):
    if sort:
        doc = {k: doc[k] for k in sorted(doc, key=lambda k: cbor.dumps(k))}
    return qr.PREFIX + b45encode(cbor.dumps(doc))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("https://evil.example/onboard", "prefix"),
        ("CQR2:" + b45encode(b"\xa0"), "prefix"),
        (qr.PREFIX + "A" * 4000, "over the"),
        (qr.PREFIX + "abc", "base45"),
        (_text(_payload(), sort=False), "deterministic"),
        (_text(_payload(v=2)), "version"),
        (_text({**_payload(), "url": "https://x"}), "unexpected"),
        (_text({k: v for k, v in _payload().items() if k != "verifier_hash"}), "missing"),
        (_text(_payload(device_key=b"\1" * 31)), "32 bytes"),
        (_text(_payload(domain="Evil.ORG")), "domain"),
        (_text(_payload(scope=["app:/../x"])), "scope"),
        (_text(_payload(t="zzz")), "type"),
        (qr.PREFIX + b45encode(cbor.dumps(_payload()) + b"\0"), "CBOR"),
    ],
)
def test_hostile_qr_payloads(text, match):
    with pytest.raises(QrPayloadError, match=match):
        qr.decode(text)


def test_request_freshness():
    ok = QrRequest.from_doc(_payload())
    ok.check_fresh(NOW)
    with pytest.raises(QrPayloadError, match="expired"):
        ok.check_fresh(NOW + 61)
    with pytest.raises(QrPayloadError, match="past"):
        QrRequest.from_doc(_payload(expires_at=NOW + 3600)).check_fresh(NOW)


def test_redis_store_semantics(tmp_path):
    from servhelpers import redis_server

    with redis_server(tmp_path) as (url, _):
        store = RedisRedemptionStore.from_url(url)
        assert store.redeem("x" * 32, NOW + 100)
        assert not store.redeem("x" * 32, NOW + 100)
        store.close()


def test_terminal_rendering_scans(flow):
    """The terminal QR code is a real QR code: redrawn pixel by pixel from its characters, zxing-cpp reads it."""
    zxingcpp = pytest.importorskip("zxingcpp")
    image_mod = pytest.importorskip("PIL.Image")
    _, _, dev, _, _ = flow
    text = dev.payload.to_text()
    lines = [line for line in qr.terminal(text).split("\n") if line]
    scale = 3
    img = image_mod.new("L", (max(map(len, lines)) * scale, len(lines) * 2 * scale), 0)
    px = img.load()
    for y, line in enumerate(lines):
        for x, ch in enumerate(line):
            # segno draws light modules as the block glyph (a QR code for a dark terminal): the quiet zone is "█"
            for half, light in ((0, ch in "█▀"), (1, ch in "█▄")):
                if light:
                    for dy in range(scale):
                        for dx in range(scale):
                            px[x * scale + dx, (y * 2 + half) * scale + dy] = 255
    assert [r.text for r in zxingcpp.read_barcodes(img)] == [text]
