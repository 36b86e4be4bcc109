"""``cap`` package commands end to end (in-process), the trust store, and the capability engine."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from caphelpers import RFC_SK, make_app

from capfast import ed25519
from capfast.cap.capabilities import parse_capabilities, parse_origin
from capfast.cap.keys import PK_FILE, SK_FILE, key_json, load_public_key
from capfast.cap.trust import TrustStore, attest_rotation
from capfast.cli import main
from capfast.errors import CapabilityError, SignatureError, TrustError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "app" / "Cap.toml"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CAPFAST_TRUST_STORE", str(tmp_path / "trust.json"))
    return tmp_path


def test_key_files_match_reference_format(tmp_path):
    assert json.loads(key_json(RFC_SK))["key"] == "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
    assert key_json(ed25519.public_key(RFC_SK)) == (
        '{\n  "kind": "ed25519",\n  "encoding": "base64",\n  "key": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="\n}')
    (tmp_path / "bad.json").write_text('{"kind":"ed25519","encoding":"base64","key":"11qYAYKxCrfVS/7TyWQHOg7hcvPap'
                                       'iMlrwIaaPcHURp="}')
    with pytest.raises(SignatureError, match="canonical"):
        load_public_key(tmp_path / "bad.json")


def test_cli_full_flow(capsys, env):
    code, out, _ = run(capsys, "keys", "generate", "--out", env / "k")
    assert code == 0 and "Wrote" in out
    assert stat.S_IMODE(os.stat(env / "k" / SK_FILE).st_mode) == 0o600
    assert run(capsys, "keys", "generate", "--out", env / "k")[0] == 2
    sk, pk = env / "k" / SK_FILE, env / "k" / PK_FILE
    for name in ("a.cap", "b.cap"):
        assert run(capsys, "build", EXAMPLE, "--key", sk, "--out", env / name)[0] == 0
    assert (env / "a.cap").read_bytes() == (env / "b.cap").read_bytes()
    code, out, _ = run(capsys, "verify", env / "a.cap", "--json")
    assert code == 1 and json.loads(out)["error_type"] == "TrustError"
    code, out, _ = run(capsys, "verify", env / "a.cap", "--pubkey", pk, "--full", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["full"] and doc["key_source"] == "provided" and doc["embedded_key_matches"]
    assert run(capsys, "trust", "pin", "org.capfast.example.notes", "--pubkey", pk)[0] == 0
    code, out, _ = run(capsys, "verify", env / "a.cap")
    assert code == 0 and "pinned key" in out
    code, out, _ = run(capsys, "inspect", env / "a.cap", "--json")
    doc = json.loads(out)
    assert doc["status"] == "OK (pinned key)" and doc["capabilities"]["notifications"]["granted"]
    assert run(capsys, "extract", env / "a.cap", "--out", env / "x")[0] == 0
    assert (env / "x/ui/index.html").read_bytes() == (EXAMPLE.parent / "ui/index.html").read_bytes()
    code, out, _ = run(capsys, "diff", env / "a.cap", env / "b.cap", "--json")
    assert code == 0 and json.loads(out)["download_bytes"] == 0
    code, out, _ = run(capsys, "trust", "list", "--json")
    assert "org.capfast.example.notes" in json.loads(out)["pins"]
    other = ed25519.generate()
    (env / "other.pk.json").write_text(key_json(other.public))
    assert run(capsys, "verify", env / "a.cap", "--pubkey", env / "other.pk.json")[0] == 1
    assert run(capsys, "trust", "pin", "org.capfast.example.notes", "--pubkey", env / "other.pk.json")[0] == 2
    assert run(capsys, "trust", "unpin", "org.capfast.example.notes")[0] == 0
    assert run(capsys, "verify", env / "a.cap")[0] == 1


def test_cli_diff_reports_changes_and_download(capsys, env, tmp_path):
    (tmp_path / "sk.json").write_text(key_json(RFC_SK))
    a = make_app(tmp_path / "a", {"ui/index.html": b"v1", "ui/x.js": b"same", "ui/old.js": b"o"})
    b = make_app(tmp_path / "b", {"ui/index.html": b"v2!", "ui/x.js": b"same", "ui/new.js": b"n" * 100})
    for toml, name in ((a, "a.cap"), (b, "b.cap")):
        assert run(capsys, "build", toml, "--key", tmp_path / "sk.json", "--out", tmp_path / name)[0] == 0
    code, out, _ = run(capsys, "diff", tmp_path / "a.cap", tmp_path / "b.cap", "--json")
    d = json.loads(out)
    assert [f["path"] for f in d["added"]] == ["ui/new.js"] and [f["path"] for f in d["removed"]] == ["ui/old.js"]
    assert [f["path"] for f in d["changed"]] == ["ui/index.html"] and d["unchanged"] == 1
    assert d["download_blobs"] == 2 and d["download_bytes"] > 0


def test_cli_caps_check(capsys, env):
    (env / "o.json").write_text(json.dumps({"deny": ["notifications"], "network": {"allow": ["https://api.example.org"]},
                                            "kv_store": {"persistent": False}}))
    code, out, _ = run(capsys, "caps", "check", EXAMPLE, "--overlay", env / "o.json", "--json",
                       "--allow", "network=https://api.example.org/v1", "--allow", "kv_store")
    doc = json.loads(out)
    assert code == 1 and set(doc["restricted"]) == {"network", "notifications", "kv_store"}
    assert all(q["allowed"] for q in doc["queries"])
    assert run(capsys, "caps", "check", EXAMPLE, "--allow", "crypto_keystore")[0] == 1
    assert run(capsys, "caps", "check", EXAMPLE, "--allow", "notifications")[0] == 0
    (env / "bad.json").write_text(json.dumps({"grant": ["native_accel"]}))
    assert run(capsys, "caps", "check", EXAMPLE, "--overlay", env / "bad.json")[0] == 2


def test_trust_rotation_needs_old_key_attestation(tmp_path):
    store = TrustStore(tmp_path / "t.json")
    old, new, evil = ed25519.generate(), ed25519.generate(), ed25519.generate()
    store.pin("a.b", old.public)
    with pytest.raises(TrustError, match="pinned to another key"):
        store.pin("a.b", new.public)
    with pytest.raises(TrustError, match="not attested"):
        store.rotate("a.b", new.public, attest_rotation(evil.secret, "a.b", new.public))
    with pytest.raises(TrustError, match="not attested"):
        store.rotate("a.b", new.public, attest_rotation(old.secret, "other.app", new.public))
    assert TrustStore(tmp_path / "t.json").get("a.b") == old.public
    store.rotate("a.b", new.public, attest_rotation(old.secret, "a.b", new.public))
    reloaded = TrustStore(tmp_path / "t.json")
    assert reloaded.get("a.b") == new.public and reloaded.pins["a.b"]["rotations"][0]["from"] == old.public.hex()


@pytest.mark.parametrize("origin", ["https://a.com/x", "https://A.com", "https://a.com.", "ftp://a.com",
                                    "https://user@a.com", "https://*.a.com", "https://a.com:0", "https://a.com:080",
                                    "a.com", "https://a.com:99999"])
def test_origin_grammar_rejects(origin):
    with pytest.raises(CapabilityError):
        parse_origin(origin)


def test_capability_checks_exact_and_deny_by_default():
    caps = parse_capabilities({"network": {"allow": ["https://api.example.com", "http://localhost:8080"]},
                               "filesystem": {"scopes": ["documents://app/*", "cache://app/one.txt"]},
                               "native_accel": {"allow": ["simd"]}, "notifications": {"use_notifications": False}})
    assert caps.allows("network", "https://api.example.com/v1?q=1")
    assert caps.allows("network", "https://api.example.com:443/")
    assert caps.allows("network", "http://localhost:8080/x")
    for bad in ("https://api.example.com.evil.com/", "https://evil.com/https://api.example.com",
                "http://api.example.com/", "https://api.example.com:8443/", "https://x@api.example.com/",
                "http://localhost:8081/", "javascript:alert(1)"):
        assert not caps.allows("network", bad), bad
    assert caps.allows("filesystem", "documents://app/notes/a.txt")
    assert caps.allows("filesystem", "cache://app/one.txt")
    for bad in ("documents://app/../etc", "documents://appx/a", "cache://app/two.txt", "temp://app/a"):
        assert not caps.allows("filesystem", bad), bad
    assert caps.allows("native_accel", "simd") and not caps.allows("native_accel", "simd2")
    assert not caps.allows("notifications") and not caps.allows("kv_store") and not caps.allows("crypto_keystore")
    with pytest.raises(CapabilityError):
        caps.allows("camera")


def test_overlay_only_restricts():
    caps = parse_capabilities({"network": {"allow": ["https://a.com"]}, "filesystem": {"scopes": ["documents://app/*"]},
                               "kv_store": {"persistent": False}})
    eff = caps.apply_overlay({"network": {"allow": ["https://a.com", "https://b.com"]},
                              "filesystem": {"scopes": ["documents://app/sub/*"]},
                              "kv_store": {"persistent": True}})
    assert eff.allows("network", "https://a.com/") and not eff.allows("network", "https://b.com/")
    assert not eff.allows("filesystem", "documents://app/x")  # narrower policy scope drops the broader request
    assert not eff.allows("kv_store.persistent")
    assert not caps.apply_overlay({"deny": ["kv_store"]}).allows("kv_store")
    with pytest.raises(CapabilityError):
        caps.apply_overlay({"grant": ["native_accel"]})
