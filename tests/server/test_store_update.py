"""CAP store (publish, latest, delta, blobs) and the update client, including one test per TUF attack
(security.md §1) against a deliberately malicious loopback store, and SIGKILL during an update."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from servhelpers import CAP_CMD, ThreadServer
from storehelpers import (
    APP,
    EVIL_SK,
    PUB_PK,
    PUB_SK,
    EvilStore,
    build_version,
    drip,
    endless,
    publish,
    release_routes,
)

from capfast.cap.package import Package
from capfast.cap.update import (
    DownloadError,
    EndlessDataError,
    EquivocationError,
    MixAndMatchError,
    RollbackError,
    SlowRetrievalError,
    StaleMetadataError,
    UntrustedMetadataError,
    rollback,
    update,
)


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pkgs")
    return {"v1": build_version(tmp, "1.0.0"), "v2": build_version(tmp, "2.0.0")}


@pytest.fixture
def store(tmp_path, keys):
    from capfast.server.app import create_app
    from capfast.server.config import load_config

    app = create_app(load_config(env={}, state_dir=tmp_path / "srv", auth_public_key_pem=str(keys.pem_path),
                                 store_publishers={APP: PUB_PK.hex()}, rate_limit_enabled=False))
    with ThreadServer(app) as url:
        yield url
    app.state.cap.storage.close()


def _state(root: Path) -> bytes:
    return (root / APP / "state.json").read_bytes()


def _current_ok(root: Path) -> dict:
    st = json.loads(_state(root))
    pkg = Package.open(root / APP / "versions" / f"{st['current']['root']}.cap")
    pkg.verify(PUB_PK, full=True)
    return st


# -- the real store ---------------------------------------------------------------------------------------------------

def test_publish_update_delta_rollback(store, keys, versions, tmp_path):
    tok = keys.token()
    r = publish(store, tok, versions["v1"], 1)
    assert r.status_code == 201, r.text
    inst = tmp_path / "apps"
    res = update(APP, store, "stable", inst, public_key=PUB_PK)
    n1 = len(Package.open(versions["v1"])._unique)
    assert res.status == "updated" and res.downloaded_blobs == n1 and res.seq == 1
    assert update(APP, store, "stable", inst, public_key=PUB_PK).status == "up-to-date"
    assert publish(store, tok, versions["v2"], 2).status_code == 201
    res = update(APP, store, "stable", inst, public_key=PUB_PK)
    p1, p2 = Package.open(versions["v1"]), Package.open(versions["v2"])
    new_blobs = set(p2._unique) - set(p1._unique)
    assert res.downloaded_blobs == len(new_blobs) == 2 and res.reused_blobs == len(p2._unique) - 2
    assert res.previous_root == p1.root.hex()
    st = _current_ok(inst)
    assert st["current"]["root"] == p2.root.hex() and st["previous"]["root"] == p1.root.hex()
    # cap rollback, then a new update reinstalls v2 without downloading
    st = rollback(APP, inst)
    assert st["current"]["root"] == p1.root.hex()
    assert _current_ok(inst)["current"]["seq"] == 1
    res = update(APP, store, "stable", inst, public_key=PUB_PK)
    assert res.status == "updated" and res.downloaded_blobs == 0 and res.root == p2.root.hex()


def test_publish_refusals(store, keys, versions, tmp_path):
    tok = keys.token()
    assert publish(store, keys.token(scope="verify:read"), versions["v1"], 1).status_code == 403
    assert publish(store, tok, versions["v1"], 1, sk=EVIL_SK).status_code == 400  # statement by another key
    evil_pkg = build_version(tmp_path / "evil", "1.0.0", sk=EVIL_SK)
    r = publish(store, tok, evil_pkg, 1, sk=PUB_SK)
    assert r.status_code == 400 and r.json()["error"] == "invalid_package"
    r = publish(store, tok, versions["v1"], 1, root="0" * 64)
    assert r.status_code == 400
    assert publish(store, tok, versions["v2"], 5).status_code == 201
    r = publish(store, tok, versions["v1"], 5)
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert publish(store, tok, versions["v1"], 4).status_code == 409


def test_delta_and_blob_ranges(store, keys, versions):
    tok = keys.token()
    publish(store, tok, versions["v1"], 1)
    publish(store, tok, versions["v2"], 2)
    p1, p2 = Package.open(versions["v1"]), Package.open(versions["v2"])
    r = httpx.post(f"{store}/store/delta", json={"root": p2.root.hex(), "have_root": p1.root.hex()}).json()
    assert set(r["missing"]) == set(p2._unique) - set(p1._unique)
    assert r["bytes"] == sum(p2._unique[h].compressed_size for h in r["missing"])
    r = httpx.post(f"{store}/store/delta", json={"root": p2.root.hex(), "have": sorted(p2._unique)}).json()
    assert r["missing"] == []
    for bad in ({"root": "xyz"}, {"root": p2.root.hex(), "have": ["zz"]}, {"root": p2.root.hex(), "have": 5}):
        assert httpx.post(f"{store}/store/delta", json=bad).status_code == 400
    assert httpx.post(f"{store}/store/delta", json={"root": "0" * 64}).status_code == 404
    h = next(iter(p2._unique))
    base = f"{store}/store/releases/{p2.root.hex()}/blobs"
    full = httpx.get(f"{base}/{h}")
    assert full.status_code == 200 and len(full.content) == p2._unique[h].compressed_size
    part = httpx.get(f"{base}/{h}", headers={"Range": "bytes=2-9"})
    assert part.status_code == 206 and part.content == full.content[2:10]
    assert httpx.get(f"{base}/{'0' * 64}").status_code == 404
    assert httpx.get(f"{store}/store/releases/{'0' * 64}/blobs/{h}").status_code == 404
    assert httpx.get(f"{base}/..%2f..%2fetc").status_code in (400, 404)
    latest = httpx.get(f"{store}/store/{APP}/stable/latest").json()
    assert latest["seq"] == 2 and latest["root"] == p2.root.hex()
    assert httpx.get(f"{store}/store/{APP}/beta/latest").status_code == 404


# -- TUF attacks against a malicious store ----------------------------------------------------------------------------

@pytest.fixture
def evil():
    servers: list[EvilStore] = []

    def make(routes):
        s = EvilStore(routes)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def _installed(evil, versions, tmp_path, seq=2, which="v2"):
    """An install dir holding ``which`` at ``seq`` from an honest store; returns (root, state bytes)."""
    honest = evil(release_routes(versions[which], seq))
    inst = tmp_path / "apps"
    update(APP, honest.url, "stable", inst, public_key=PUB_PK)
    return inst, _state(inst)


def _no_new_versions(inst: Path, before: bytes) -> None:
    assert _state(inst) == before  # trusted state unchanged byte for byte
    st = json.loads(before)
    assert {p.name for p in (inst / APP / "versions").iterdir()} == {f"{st['current']['root']}.cap"}
    assert not [p for p in (inst / APP / "blobs").iterdir() if p.name.endswith(".tmp")]


def test_attack_arbitrary_package(evil, versions, tmp_path):
    inst, before = _installed(evil, versions, tmp_path, seq=1, which="v1")
    # a complete release signed by the attacker's key (statement and package)
    bad = build_version(tmp_path / "evil", "2.0.0", sk=EVIL_SK)
    s = evil(release_routes(bad, 2, sk=EVIL_SK))
    with pytest.raises(UntrustedMetadataError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    assert s.log == [f"GET /store/{APP}/stable/latest"]
    _no_new_versions(inst, before)
    # a genuine statement, but a blob replaced with other bytes of the right length
    routes = release_routes(versions["v2"], 2)
    new = sorted(set(Package.open(versions["v2"])._unique) - set(Package.open(versions["v1"])._unique))[0]
    key = ("GET", f"/store/releases/{Package.open(versions['v2']).root.hex()}/blobs/{new}")
    routes[key] = bytes(len(routes[key]))
    s = evil(routes)
    with pytest.raises(DownloadError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    _no_new_versions(inst, before)


def test_attack_rollback(evil, versions, tmp_path):
    inst, before = _installed(evil, versions, tmp_path, seq=2, which="v2")
    s = evil(release_routes(versions["v1"], 1))  # an older, validly signed release
    with pytest.raises(RollbackError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    _no_new_versions(inst, before)


def test_attack_equivocation_keeps_evidence(evil, versions, tmp_path):
    inst, before = _installed(evil, versions, tmp_path, seq=2, which="v2")
    s = evil(release_routes(versions["v1"], 2))  # same seq, other root
    with pytest.raises(EquivocationError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    st = json.loads(_state(inst))
    assert st["current"] == json.loads(before)["current"]
    assert st["evidence"][0]["other_root"] == Package.open(versions["v1"]).root.hex()


def test_attack_freeze(evil, versions, tmp_path):
    inst, before = _installed(evil, versions, tmp_path, seq=1, which="v1")
    s = evil(release_routes(versions["v2"], 2, expires_in=-10))  # stale metadata replayed
    with pytest.raises(StaleMetadataError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    _no_new_versions(inst, before)
    # the clock is fixed once at the start: a statement valid now is stale for a client whose clock is later
    s = evil(release_routes(versions["v2"], 2, expires_in=100))
    import time

    with pytest.raises(StaleMetadataError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK, now=time.time() + 200)


def test_attack_mix_and_match(evil, versions, tmp_path):
    inst, before = _installed(evil, versions, tmp_path, seq=1, which="v1")
    routes = release_routes(versions["v2"], 2)
    r1 = release_routes(versions["v1"], 1)
    root2 = Package.open(versions["v2"]).root.hex()
    root1 = Package.open(versions["v1"]).root.hex()
    routes[("GET", f"/store/releases/{root2}/index")] = r1[("GET", f"/store/releases/{root1}/index")]
    s = evil(routes)
    with pytest.raises(MixAndMatchError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    assert not any("/blobs/" in x for x in s.log)
    _no_new_versions(inst, before)


def test_attack_endless_data(evil, versions, tmp_path):
    inst, before = _installed(evil, versions, tmp_path, seq=1, which="v1")
    routes = release_routes(versions["v2"], 2)
    for key in list(routes):
        if "/blobs/" in key[1]:
            routes[key] = endless
    s = evil(routes)
    with pytest.raises(EndlessDataError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    _no_new_versions(inst, before)
    routes = release_routes(versions["v2"], 2)
    routes[("GET", f"/store/{APP}/stable/latest")] = endless  # metadata is capped too
    s = evil(routes)
    with pytest.raises(EndlessDataError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK)
    _no_new_versions(inst, before)


def test_attack_slow_retrieval(evil, versions, tmp_path):
    inst, before = _installed(evil, versions, tmp_path, seq=1, which="v1")
    routes = release_routes(versions["v2"], 2)
    for key in list(routes):
        if "/blobs/" in key[1]:
            routes[key] = drip(0.05)  # every read arrives quickly; the whole never does
    s = evil(routes)
    with pytest.raises(SlowRetrievalError):
        update(APP, s.url, "stable", inst, public_key=PUB_PK, deadline=1.0)
    _no_new_versions(inst, before)


def test_attack_extraneous_blobs(evil, versions, tmp_path):
    inst, _ = _installed(evil, versions, tmp_path, seq=1, which="v1")
    routes = release_routes(versions["v2"], 2)
    extra = "e" * 64
    routes[("POST", "/store/delta")] = json.dumps({"missing": [extra, "f" * 64]}).encode()
    routes[("GET", f"/store/releases/{Package.open(versions['v2']).root.hex()}/blobs/{extra}")] = b"payload"
    s = evil(routes)
    res = update(APP, s.url, "stable", inst, public_key=PUB_PK)
    assert res.status == "updated" and extra in res.ignored_hints
    assert not any(extra in x for x in s.log)  # never fetched
    assert not list((inst / APP / "blobs").glob(f"{extra}*"))
    _current_ok(inst)


def test_unpinned_key_refused(evil, versions, tmp_path):
    from capfast.cap.trust import TrustStore

    s = evil(release_routes(versions["v1"], 1))
    with pytest.raises(UntrustedMetadataError):
        update(APP, s.url, "stable", tmp_path / "apps", trust_store=TrustStore(tmp_path / "empty.json"))
    assert s.log == []


# -- SIGKILL during an update ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["after_metadata", "after_blobs", "after_package", "before_swap", "after_swap"])
def test_sigkill_leaves_old_or_new_complete(store, keys, versions, tmp_path, point):
    tok = keys.token()
    publish(store, tok, versions["v1"], 1)
    inst = tmp_path / "apps"
    update(APP, store, "stable", inst, public_key=PUB_PK)
    publish(store, tok, versions["v2"], 2)
    pk_file = tmp_path / "pk.hex"
    pk_file.write_text(PUB_PK.hex())
    cmd = [*CAP_CMD, "update", APP, "--server", store, "--channel", "stable", "--root", str(inst), "--pubkey",
           str(pk_file)]
    env = {**os.environ, "CAPFAST_FAULT": point}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    st = _current_ok(inst)  # the current version is complete and verifies
    roots = {Package.open(versions[v]).root.hex(): v for v in ("v1", "v2")}
    assert roots[st["current"]["root"]] == ("v2" if point == "after_swap" else "v1")
    # the next run completes the update
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert roots[_current_ok(inst)["current"]["root"]] == "v2"
