"""Known answers (cap-format.md §3.6 vectors V1 and V2), the strict CBOR codec, Cap.toml and manifest validation."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from caphelpers import RFC_PK, RFC_SK
from hypothesis import given, settings
from hypothesis import strategies as st

from capfast import cbor, ed25519
from capfast.cap.index import FileEntry, Index
from capfast.cap.manifest import Manifest
from capfast.errors import CborError, DuplicateEntryError, InvalidHashError, ManifestError, UnsafePathError

V1_MANIFEST = bytes.fromhex(
    "a46b6361705f76657273696f6e0163617070a462696471636f6d2e746573742e736e617073686f74646e616d6568536e617073686f7467"
    "76657273696f6e65312e302e30697075626c697368657264546573746b656e747279706f696e7473a16275696d75692f696e6465782e68"
    "746d6c6c6361706162696c6974696573a0")
V2_MANIFEST = bytes.fromhex(
    "a46b6361705f76657273696f6e0163617070a662696475636f6d2e6578616d706c652e68656c6c6f2d636170646e616d656948656c6c6f"
    "204341506776657273696f6e65302e312e30697075626c6973686572714578616d706c65205075626c69736865726b6465736372697074"
    "696f6e783e4d696e696d616c204341502064656d6f2061707020285549202b206f7074696f6e616c205741534d20636f7265202b204b56"
    "206361706162696c697479296b6d696e5f72756e74696d65706361702d72756e74696d653e3d302e316b656e747279706f696e7473a262"
    "75696d75692f696e6465782e68746d6c69636f72655f7761736d7818636f72652f68656c6c6f5f6361705f636f72652e7761736d6c6361"
    "706162696c6974696573a3676e6574776f726ba165616c6c6f77817368747470733a2f2f6874747062696e2e6f72676a66696c65737973"
    "74656da16673636f706573817823646f63756d656e74733a2f2f636f6d2e6578616d706c652e68656c6c6f2d6361702f2a686b765f7374"
    "6f7265a16a70657273697374656e74f5")
# hello-cap's Cap.toml as the manifest bytes describe it, keys deliberately in a different order.
V2_TOML = """cap_version = 1
[capabilities.kv_store]
persistent = true
[capabilities.network]
allow = ["https://httpbin.org"]
[capabilities.filesystem]
scopes = ["documents://com.example.hello-cap/*"]
[entrypoints]
core_wasm = "core/hello_cap_core.wasm"
ui = "ui/index.html"
[app]
name = "Hello CAP"
id = "com.example.hello-cap"
version = "0.1.0"
publisher = "Example Publisher"
description = "Minimal CAP demo app (UI + optional WASM core + KV capability)"
min_runtime = "cap-runtime>=0.1"
"""
V2_FILES = {
    "core/hello_cap_core.wasm": ("e4daa87ed4cf58f48df867be0f6172a157045ee9805524fd2b3a4606cd87f195", 184, 178,
                                 "application/wasm"),
    "ui/app.js": ("e0bff5e83b9e00397df12599bc0e99c019040476a05118ba89eb3ee85f434a27", 2222, 924, "text/javascript"),
    "ui/index.html": ("313d5509ea3613f5802b17102137855e438ee6a895015078348b38ff63b0ae9a", 1592, 814, "text/html"),
    "ui/wasm_glue.js": ("1aea79478e2fbd4e64afe99ca071f94502929880c690afd9a5a495dfe468ba47", 1857, 849,
                        "text/javascript"),
}


def test_rfc_key_matches_vector():
    assert ed25519.public_key(RFC_SK) == RFC_PK


def test_v1_manifest_root_signature(core):
    m = Manifest({"cap_version": 1, "app": {"id": "com.test.snapshot", "name": "Snapshot", "version": "1.0.0",
                                            "publisher": "Test"}, "entrypoints": {"ui": "ui/index.html"}})
    assert m.to_cbor() == V1_MANIFEST
    mh = hashlib.sha256(V1_MANIFEST).digest()
    assert mh.hex() == "21b39f942745ac3a7b92a1f03253c0c66467cbfec996f74f8a4a3d3766b0884f"
    root = core.cap_root(mh, ["a.txt"], ["aa" * 32])
    assert root.hex() == "4efa6d8f0bd7f86da035e2159f7e301973d0bf7da9c7528a435747d749b66701"
    assert ed25519.sign(RFC_SK, root).hex() == (
        "79534b8ed52dd640e8ac984057f294262b11b847d870ba15317a24b73100db41"
        "c4ebe6d08f0287ccb9870c2b23f380dc8d641ae588ba69d5ce4e26dd7ca75500")
    assert core.cap_root(mh, [], []).hex() == "864d4b2e7b2ad858425a450d0a6b7f5e0104349cab587e74c29ccde6dd939237"


def test_v1_index_snapshot_shape():
    idx = Index({"a.txt": FileEntry("aa" * 32, 100, 80, "zstd", "text/plain")})
    b = idx.to_cbor()
    assert b.startswith(bytes.fromhex("a165") + b"files" + bytes.fromhex("a165") + b"a.txt" + bytes.fromhex("a564")
                        + b"hash" + bytes.fromhex("7840"))
    assert b.endswith(bytes.fromhex("64") + b"mime" + bytes.fromhex("6a") + b"text/plain")
    assert cbor2.loads(b) == {"files": {"a.txt": {"hash": "aa" * 32, "size": 100, "compressed_size": 80,
                                                  "compression": "zstd", "mime": "text/plain"}}}
    assert Index.from_cbor(b).to_cbor() == b


def test_v2_manifest_index_root_signature(core):
    m = Manifest.from_toml_text(V2_TOML)
    assert m.to_cbor() == V2_MANIFEST and len(V2_MANIFEST) == 401
    assert Manifest.from_cbor(V2_MANIFEST) == m
    mh = hashlib.sha256(V2_MANIFEST).digest()
    assert mh.hex() == "4649fc2551f7b000669b4eca7673824327d5c0f7b53a03cc160a4ad13eb9d20c"
    idx = Index({p: FileEntry(h, s, c, "zstd", mime) for p, (h, s, c, mime) in reversed(list(V2_FILES.items()))})
    ib = idx.to_cbor()
    assert len(ib) == 615
    assert hashlib.sha256(ib).hexdigest() == "28e10ae397e75d1636600f5099dc559ae7a4f78833c5290ea679f1c651b7f55d"
    root = core.cap_root(mh, idx.paths, idx.hashes)
    assert root.hex() == "cf2c0fa1b8c10d92541ef2ef113779906e23b04af76e18c4e7c125c3fe8e9963"
    # input order does not matter
    assert core.cap_root(mh, list(reversed(idx.paths)), list(reversed(idx.hashes))) == root
    assert ed25519.sign(RFC_SK, root).hex() == (
        "a12c0e9d01daffdd868672799f0b8cf71b2e6fda9a0f3a052c82f862cbeb651b"
        "e9a21f0e7ff8f9eb23f0c7e129b5792fed9f1bd3e032b73dd76bf8eb439dfa04")


def test_root_rejects_uppercase_and_duplicates(core):
    with pytest.raises(InvalidHashError):
        core.cap_root(b"\0" * 32, ["a"], ["AA" * 32])
    with pytest.raises(InvalidHashError):
        core.cap_root(b"\0" * 32, ["a"], ["aa" * 31])
    with pytest.raises(DuplicateEntryError):
        core.cap_root(b"\0" * 32, ["b", "a", "b"], ["aa" * 32] * 3)


# -- strict CBOR -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("hexdata, what", [
    ("1801", "non-shortest"), ("190017", "non-shortest"), ("1a0000ffff", "non-shortest"),
    ("3800", "non-shortest"), ("7800", "non-shortest"), ("9f01ff", "indefinite"), ("5f4101ff", "indefinite"),
    ("bf6161 01ff".replace(" ", ""), "indefinite"), ("c100", "tag"), ("c24101", "tag"), ("0100", "trailing"),
    ("9bffffffffffffffff", "cannot fit"), ("7bffffffffffffffff", "truncated"), ("62ff fe".replace(" ", ""), "UTF-8"),
    ("fa3f800000", "float"), ("fb3ff0000000000000", "float"), ("f7", "simple"), ("ff", "break"), ("", "empty"),
])
def test_cbor_rejects(hexdata, what):
    with pytest.raises(CborError, match=what):
        cbor.loads(bytes.fromhex(hexdata))


def test_cbor_duplicate_keys_and_depth():
    with pytest.raises(DuplicateEntryError):
        cbor.loads(bytes.fromhex("a2616101616102"))
    with pytest.raises(CborError, match="nesting"):
        cbor.loads(b"\x81" * 100 + b"\x01")


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.text(max_size=20)
    | st.floats(allow_nan=False) | st.binary(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_cbor_round_trip_and_cbor2_agrees(value):
    b = cbor.dumps(value)
    assert cbor.loads(b) == value
    assert cbor2.loads(b) == value
    assert cbor.dumps(cbor.loads(b)) == b


# -- Cap.toml and manifest validation ----------------------------------------------------------------------------------

BASE = """cap_version = 1
[app]
id = "{id}"
name = "X"
version = "{version}"
publisher = "P"
[entrypoints]
ui = "{ui}"
"""


def toml(id="a.b", version="1.0", ui="ui/index.html", extra=""):
    return BASE.format(id=id, version=version, ui=ui) + extra


@pytest.mark.parametrize("text, match", [
    (toml(extra="[capabilities.netwrok]\nallow = []\n"), "unknown key 'netwrok'"),
    (toml(extra="[app2]\n"), "unknown key 'app2'"),
    (toml().replace('publisher = "P"', 'publisher = "P"\nicon = "x"'), "unknown key 'icon'"),
    (toml(id=".."), "app.id"), (toml(id="."), "app.id"), (toml(id="a/b"), "app.id"), (toml(id=""), "app.id"),
    (toml(id="a..b"), "app.id"), (toml(version=""), "app.version"), (toml(version="1 0"), "app.version"),
    (toml().replace("cap_version = 1", "cap_version = 2"), "cap_version"),
    (toml(extra='[capabilities.filesystem]\nscopes = ["/etc/*"]\n'), "scope"),
    (toml(extra='[capabilities.filesystem]\nscopes = ["documents://../x"]\n'), "scope"),
    (toml(extra='[capabilities.network]\nallow = ["https://a.com/path"]\n'), "origin"),
    (toml(extra='[capabilities.native_accel]\nallow = ["../lib"]\n'), "native_accel"),
    (toml(extra='[data_contract]\ntelemetry = "sometimes"\n'), "telemetry"),
    (toml(extra='[targets.desktop]\nwhen = 1979-05-27T07:32:00Z\n'), "datetime"),
    (toml(ui="../x.html"), "entrypoints.ui"), (toml(ui="/abs.html"), "entrypoints.ui"),
    ("cap_version = 1\n[app\n", "Cap.toml"),
])
def test_cap_toml_rejections(text, match):
    with pytest.raises(ManifestError, match=match):
        Manifest.from_toml_text(text)


def test_defaults_materialised_and_targets_sorted():
    m = Manifest.from_toml_text(toml(extra="[capabilities.kv_store]\n[targets.desktop]\nz = 1\na = 2.5\n"
                                           "[updates]\nchannel = \"beta\"\n"))
    d = cbor.loads(m.to_cbor())
    assert list(d) == ["cap_version", "app", "entrypoints", "targets", "capabilities", "updates"]
    assert d["capabilities"] == {"kv_store": {"persistent": False}}
    assert list(d["targets"]["desktop"]) == ["a", "z"]
    assert d["updates"] == {"channel": "beta", "rollback": False}


def test_manifest_cbor_must_be_canonical_and_known():
    raw = cbor.loads(V1_MANIFEST)
    reordered = {k: raw[k] for k in reversed(list(raw))}
    with pytest.raises(CborError, match="canonical"):
        Manifest.from_cbor(cbor.dumps(reordered))
    with pytest.raises(ManifestError, match="unknown key"):
        Manifest.from_cbor(cbor.dumps({**raw, "extra": 1}))
    bad = dict(raw, app=dict(raw["app"], id=".."))
    with pytest.raises(ManifestError, match="app.id"):
        Manifest.from_cbor(cbor.dumps(bad))


@pytest.mark.parametrize("path", ["../x", "/etc/x", "C:x", "a\\b", "x\0y", "a/\x01b", "", ".", "a//b", "a/./b",
                                  "CON", "nul.txt", "x.", "x ", "a" * 256, "e\u0301"])
def test_index_rejects_unsafe_paths(path):
    with pytest.raises(UnsafePathError):
        Index({path: FileEntry("aa" * 32, 1, 1)})
