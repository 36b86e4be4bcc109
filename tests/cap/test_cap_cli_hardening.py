"""CAP package commands attacked from outside (issue 19, items 3, 10, 12), through the real ``cap`` console script.

Every hostile package here is validly signed (the RFC 8032 test key), so only the attacked property is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from caphelpers import RFC_PK, RFC_SK, forge, make_app

from capfast import cbor
from capfast._backend import core
from capfast.cap.package import build

CAP = Path(sys.executable).parent / "cap"
MIB = 1 << 20


def cap(*args: object, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CAP), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def one_line_error(r: subprocess.CompletedProcess[str], code: int) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r.stderr.strip()


@pytest.fixture
def pk_file(tmp_path: Path) -> Path:
    from capfast.cap.keys import key_json

    p = tmp_path / "publisher.ed25519.pk.json"
    p.write_text(key_json(RFC_PK))
    return p


def _fanout_package(tmp_path: Path, paths: int, blob_mib: int = 64) -> Path:
    """A signed package whose index lists one ``blob_mib`` MiB blob under ``paths`` paths -- the ``cap extract``
    disk bomb. The blob is zeros with a random byte every 16 KiB: about 4000:1, within the per-blob ratio cap."""
    base = build(make_app(tmp_path / "app"), RFC_SK, tmp_path / "base.cap")
    data = bytearray(blob_mib * MIB)
    data[:: 16 * 1024] = os.urandom(len(data) // (16 * 1024))
    raw = tmp_path / "raw.bin"
    raw.write_bytes(data)
    ((h, size, blob),) = core.cap_pack_files([str(raw)], 10)
    raw.unlink()
    entry = {"hash": h, "size": size, "compressed_size": len(blob), "compression": "zstd"}
    names = sorted(["ui/index.html", *(f"ui/copy{i:03d}.bin" for i in range(paths - 1))], key=str.encode)
    files = {n: entry for n in names}
    from caphelpers import read_entries

    meta = [(n, d) for n, d in read_entries(base.path) if n.startswith("_cap/")]
    return forge(base.path, tmp_path / "bomb.cap", index_map={"files": files}, entries=meta + [(f"blobs/{h}.zst", blob)])


@pytest.mark.once
def test_extract_disk_bomb_refused_before_writing(tmp_path: Path, pk_file: Path) -> None:
    bomb = _fanout_package(tmp_path, paths=70)  # 70 x 64 MiB = 4.4 GiB from a package of a few KiB
    assert bomb.stat().st_size < 64 * 1024  # 4.4 GiB to write from a package of a few dozen KiB
    out = tmp_path / "out"
    r = cap("extract", bomb, "--out", out, "--pubkey", pk_file, "--json", timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["error_type"] == "DecompressionBombError" and "--max-bytes" in doc["error"]
    assert "70 files" in doc["error"] and str(70 * 64 * MIB) in doc["error"]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".extract-" in p.name]


@pytest.mark.once
def test_extract_caps_are_options(tmp_path: Path, pk_file: Path) -> None:
    bomb = _fanout_package(tmp_path, paths=41, blob_mib=8)
    out = tmp_path / "out"
    r = cap("extract", bomb, "--out", out, "--pubkey", pk_file, "--max-bytes", "256M")
    assert r.returncode == 1 and "over the cap of 268435456 bytes" in r.stdout
    r = cap("extract", bomb, "--out", out, "--pubkey", pk_file, "--max-files", "40")
    assert r.returncode == 1 and "41 files, over the cap of 40" in r.stdout
    assert not out.exists()
    r = cap("extract", bomb, "--out", out, "--pubkey", pk_file, "--max-bytes", "1G")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) == 41 * 8 * MIB
    assert one_line_error(cap("extract", bomb, "--out", tmp_path / "o2", "--max-bytes", "lots"), 2)


def test_extract_refuses_when_the_disk_would_fill(tmp_path: Path, pk_file: Path, monkeypatch) -> None:
    import shutil

    from capfast.cli import main

    bomb = _fanout_package(tmp_path, paths=3, blob_mib=8)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=20 * MIB))
    assert main(["extract", str(bomb), "--out", str(tmp_path / "out"), "--pubkey", str(pk_file)]) == 3
    assert not (tmp_path / "out").exists()


@pytest.fixture
def sk_file(tmp_path: Path) -> Path:
    from capfast.cap.keys import key_json

    p = tmp_path / "publisher.ed25519.sk.json"
    p.write_text(key_json(RFC_SK))
    os.chmod(p, 0o600)
    return p


def _temps(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


@pytest.mark.once
def test_build_killed_midway_leaves_nothing_for_long(tmp_path: Path, sk_file: Path) -> None:
    app = make_app(tmp_path / "app", {"ui/index.html": b"<h1>x</h1>", "ui/big.bin": os.urandom(4 * MIB)})
    dist = tmp_path / "dist"
    dist.mkdir()
    # SIGKILL after the archive is written, before it is renamed into place: the temp file stays behind ...
    env = {**os.environ, "CAPFAST_FAULT": "build_before_rename"}
    proc = subprocess.run([str(CAP), "build", str(app), "--key", str(sk_file), "--out", str(dist / "app.cap")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == -9
    left = _temps(dist)
    assert len(left) == 1 and (dist / left[0]).stat().st_size > 4 * MIB and not (dist / "app.cap").exists()
    # ... a temp of a build that is still running (this process) is not touched ...
    live = dist / f".app.cap.build-{os.getpid()}-inprogress.tmp"
    live.write_bytes(b"x")
    # ... and the next build of the same target removes the dead one.
    r = cap("build", app, "--key", sk_file, "--out", dist / "app.cap")
    assert r.returncode == 0, r.stderr
    assert _temps(dist) == [live.name] and (dist / "app.cap").exists()


# -- item 12: capability entries the engine cannot parse ---------------------------------------------------------

def _with_manifest(tmp_path: Path, built: Path, caps: dict, name: str = "caps.cap") -> Path:
    """``built`` with its manifest's capabilities replaced (canonical CBOR), re-rooted and re-signed."""
    from caphelpers import read_entries

    from capfast.cap.manifest import Manifest

    ents = read_entries(built)
    data = cbor.loads(dict(ents)["_cap/manifest.cbor"])
    data["capabilities"] = caps
    raw = Manifest(data, strict_capabilities=False).to_cbor()
    return forge(built, tmp_path / name, entries=[(n, raw if n == "_cap/manifest.cbor" else d) for n, d in ents])


HMBOWN_CAPS = {
    "network": {"allow": ["https://api.example.com/v1", "api.example.com", "https://API.Example.com",
                          "https://ok.example.org"]},
    "filesystem": {"scopes": ["documents://app/*", "documents://../x"]},
    "native_accel": {"allow": ["Bad Module", "simd"]},
}


@pytest.mark.once
def test_unparseable_capabilities_do_not_break_verification(tmp_path: Path, pk_file: Path) -> None:
    base = build(make_app(tmp_path / "app"), RFC_SK, tmp_path / "base.cap").path
    pkg = _with_manifest(tmp_path, base, HMBOWN_CAPS)
    for args in (("verify", pkg), ("verify", pkg, "--full")):
        r = cap(*args, "--pubkey", pk_file)
        assert r.returncode == 0, (r.stdout, r.stderr)
    r = cap("extract", pkg, "--out", tmp_path / "out", "--pubkey", pk_file)
    assert r.returncode == 0, (r.stdout, r.stderr)

    r = cap("inspect", pkg, "--pubkey", pk_file, "--json")
    assert r.returncode == 0, r.stderr
    caps = json.loads(r.stdout)["capabilities"]
    invalid = {(i["capability"], i["entry"]) for i in caps["invalid"]}
    assert invalid == {("network.allow", "https://api.example.com/v1"), ("network.allow", "api.example.com"),
                       ("network.allow", "https://API.Example.com"), ("filesystem.scopes", "documents://../x"),
                       ("native_accel.allow", "Bad Module")}
    assert caps["network"]["origins"] == ["https://ok.example.org:443"]
    assert caps["filesystem"]["scopes"] == ["documents://app/*"] and caps["native_accel"]["modules"] == ["simd"]
    assert any("denied" in w for w in caps["warnings"])
    human = cap("inspect", pkg, "--pubkey", pk_file)
    assert human.returncode == 0 and "denied (unparseable) network.allow 'api.example.com'" in human.stdout

    # enforcement: the unparseable entries grant nothing, the parseable ones still do
    denied = cap("caps", "check", pkg, "--allow", "network=https://api.example.com/v1/users", "--json")
    assert denied.returncode == 1 and json.loads(denied.stdout)["queries"][0]["allowed"] is False
    for q in ("network=https://ok.example.org/x", "filesystem=documents://app/a.txt", "native_accel=simd"):
        r = cap("caps", "check", pkg, "--allow", q)
        assert r.returncode == 0 and "ALLOWED" in r.stdout, (q, r.stdout)
    r = cap("caps", "check", pkg, "--allow", "native_accel=Bad Module")
    assert r.returncode == 1 and "DENIED" in r.stdout


@pytest.mark.once
def test_build_still_refuses_unparseable_capabilities(tmp_path: Path, sk_file: Path) -> None:
    from caphelpers import APP_TOML

    app = make_app(tmp_path / "app", toml=APP_TOML + '[capabilities.network]\nallow = ["api.example.com"]\n')
    r = cap("build", app, "--key", sk_file, "--out", tmp_path / "x.cap")
    assert "api.example.com" in one_line_error(r, 2) and not (tmp_path / "x.cap").exists()


# -- item 10: smaller defects -----------------------------------------------------------------------------------

@pytest.mark.once
def test_public_key_file_is_not_a_signing_key(tmp_path: Path, sk_file: Path, pk_file: Path) -> None:
    app = make_app(tmp_path / "app")
    r = cap("build", app, "--key", pk_file, "--out", tmp_path / "x.cap")
    assert "public key" in one_line_error(r, 2) and not (tmp_path / "x.cap").exists()
    # the same bytes under a secret-key name, next to the real public key file
    disguised = tmp_path / "publisher.ed25519.sk.json"
    disguised.write_text(pk_file.read_text())
    r = cap("build", app, "--key", disguised, "--out", tmp_path / "x.cap")
    assert "public key" in one_line_error(r, 2)
    # publish checks the key against the package's signature before anything is sent
    from capfast.cap.keys import generate_keys

    other_sk, _ = generate_keys(tmp_path / "other")
    good = build(app, RFC_SK, tmp_path / "good.cap").path
    r = cap("publish", good, "--server", "http://127.0.0.1:9", "--seq", "1", "--key", other_sk)
    assert "not the key that signed" in one_line_error(r, 2)
    r = cap("publish", good, "--server", "http://127.0.0.1:9", "--seq", "1", "--key", pk_file)
    assert "public key" in one_line_error(r, 2)


@pytest.mark.once
def test_retired_key_neither_signs_nor_vouches(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    for name in ("old", "new"):
        assert cap("keys", "keygen", "--owner", name, "--output", keys / name).returncode == 0
    manifest = Path(__file__).resolve().parents[1] / "vectors" / "cap-agent" / "manifest-3.2.json"
    r = cap("sign", "manifest", "--manifest", manifest, "--key", keys / "old.ed25519", "--output", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert cap("keys", "rotate", "--current", keys / "old.json", "--new", keys / "new.json").returncode == 0
    archived = keys / "archive"
    for key in (archived / "old.ed25519", archived / "old.json"):
        r = cap("sign", "manifest", "--manifest", manifest, "--key", key, "--output", tmp_path / "late.json")
        assert "retired" in one_line_error(r, 2) and not (tmp_path / "late.json").exists()
    for pub in (archived / "old.json", archived / "old.pub"):
        r = cap("sign", "verify-manifest", "--signed", tmp_path / "s.json", "--pub-key", pub)
        assert r.returncode == 1 and "retired" in r.stdout, (r.stdout, r.stderr)
        r = cap("sign", "verify-manifest", "--signed", tmp_path / "s.json", "--pub-key", pub, "--allow-retired")
        assert r.returncode == 0, (r.stdout, r.stderr)
    r = cap("sign", "manifest", "--manifest", manifest, "--key", keys / "new.ed25519", "--output", tmp_path / "n.json")
    assert r.returncode == 0, r.stderr


def _hostile_variants(tmp_path: Path) -> dict[str, Path]:
    base = build(make_app(tmp_path / "app"), RFC_SK, tmp_path / "base.cap").path
    index = cbor.loads(dict(__import__("caphelpers").read_entries(base))["_cap/index.cbor"])
    files = index["files"]
    out = {}
    # ui/x (a file) and ui/X/y (under a directory X): one of them cannot exist on a case-insensitive file system
    clash = dict(files)
    clash["ui/x"] = files["ui/app.js"]
    clash["ui/X/y"] = files["ui/copy.js"]
    out["case collision"] = forge(base, tmp_path / "clash.cap",
                                  index_map={"files": dict(sorted(clash.items(), key=lambda kv: kv[0].encode()))})
    # the manifest's entry point is not in the (re-signed) index
    no_ui = {k: v for k, v in files.items() if k != "ui/index.html"}
    from caphelpers import read_entries

    ents = [(n, d) for n, d in read_entries(base) if n != f"blobs/{files['ui/index.html']['hash']}.zst"]
    out["missing entry point"] = forge(base, tmp_path / "noui.cap", index_map={"files": no_ui}, entries=ents)
    return out


@pytest.mark.once
@pytest.mark.parametrize("case,error", [("case collision", "DuplicateEntryError"),
                                        ("missing entry point", "MissingEntryError")])
def test_hostile_package_same_exit_code_everywhere(tmp_path: Path, pk_file: Path, case: str, error: str) -> None:
    pkg = _hostile_variants(tmp_path)[case]
    for command in (("verify",), ("verify", "--full"), ("inspect",), ("extract", "--out", tmp_path / "out")):
        r = cap(command[0], pkg, *command[1:], "--pubkey", pk_file, "--json")
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert json.loads(r.stdout)["error_type"] == error, (command, r.stdout)
    assert not (tmp_path / "out").exists()


@pytest.mark.once
def test_unsigned_index_size_is_said_and_enforced(tmp_path: Path, pk_file: Path) -> None:
    from caphelpers import read_entries

    base = build(make_app(tmp_path / "app"), RFC_SK, tmp_path / "base.cap").path
    index = cbor.loads(dict(read_entries(base))["_cap/index.cbor"])
    index["files"]["ui/index.html"]["size"] += 1000  # not covered by the root: the signature still verifies
    index["files"]["ui/index.html"]["mime"] = "application/x-evil"
    pkg = forge(base, tmp_path / "size.cap", index_map=index, resign=False)
    assert cap("verify", pkg, "--pubkey", pk_file).returncode == 0
    r = cap("inspect", pkg, "--pubkey", pk_file, "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["status"].startswith("OK")
    assert set(doc["unsigned_index_fields"]) >= {"size", "mime"} and "not covered" in doc["unsigned_index_fields_note"]
    assert "not covered by the signature" in cap("inspect", pkg, "--pubkey", pk_file).stdout
    r = cap("extract", pkg, "--out", tmp_path / "out", "--pubkey", pk_file, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["error_type"] in ("BlobMismatchError", "DecompressionBombError")
    assert not (tmp_path / "out").exists()
