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
