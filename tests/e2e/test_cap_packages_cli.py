"""End to end: the installed ``cap`` console script on the project's example app, as a publisher and a user would
run it (issue 3). Runs once per backend (``CAPFAST_BACKEND`` is passed through to the subprocess).

keys generate → build → verify --pubkey (--full) → inspect --json → extract → diff against a modified rebuild →
tamper one byte of the package → verify fails with exit code 1 and a one-line error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CAP = Path(sys.executable).parent / "cap"
EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "app"


def cap(*args: str | Path, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(CAP), *map(str, args)], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)
    if ok:
        assert proc.returncode == 0, f"cap {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    assert CAP.is_file(), f"the cap console script is not installed next to {sys.executable}"
    e = dict(os.environ)
    e["CAPFAST_TRUST_STORE"] = str(tmp_path / "trust" / "known_publishers.json")  # never the user's own store
    e.pop("CAPFAST_PROGRESS", None)
    return e


def _blob_payload_offset(path: Path) -> tuple[int, int]:
    """(offset, size) of the largest blob's stored bytes."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if i.filename.startswith("blobs/")), key=lambda i: i.compress_size)
    raw = path.read_bytes()
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def test_publish_verify_inspect_extract_diff_tamper(tmp_path: Path, env: dict[str, str]) -> None:
    keys = tmp_path / "keys"
    cap("keys", "generate", "--out", keys, env=env)
    sk, pk = keys / "publisher.ed25519.sk.json", keys / "publisher.ed25519.pk.json"
    assert sk.is_file() and pk.is_file()
    assert sk.stat().st_mode & 0o077 == 0, "the secret key must not be readable by others"

    app = tmp_path / "app"
    shutil.copytree(EXAMPLE_APP, app)
    v1 = tmp_path / "notes-1.cap"
    built = json.loads(cap("build", app / "Cap.toml", "--key", sk, "--out", v1, "--json", env=env).stdout)
    assert built["ok"] and built["app_id"] == "org.capfast.example.notes" and v1.is_file()
    assert built["files"] == 4 and len(built["root"]) == 64

    # Reproducible: the same input gives the same bytes.
    again = tmp_path / "again.cap"
    cap("build", app / "Cap.toml", "--key", sk, "--out", again, env=env)
    assert again.read_bytes() == v1.read_bytes()

    out = cap("verify", v1, "--pubkey", pk, env=env).stdout
    assert out.startswith("OK:") and "provided key" in out
    verified = json.loads(cap("verify", v1, "--pubkey", pk, "--full", "--json", env=env).stdout)
    assert verified["ok"] and verified["full"] and verified["key_source"] == "provided"
    assert verified["root"] == built["root"] and verified["embedded_key_matches"] is True

    # Without a given or pinned key, the embedded key alone is not trusted.
    untrusted = cap("verify", v1, env=env, ok=False)
    assert untrusted.returncode == 1 and "TrustError" in untrusted.stdout

    info = json.loads(cap("inspect", v1, "--pubkey", pk, "--json", env=env).stdout)
    assert info["status"].startswith("OK") and info["root"] == built["root"]
    assert info["manifest"]["app"]["id"] == "org.capfast.example.notes"
    assert sorted(f["path"] for f in info["files"]) == ["core/notes_core.wasm", "ui/app.js", "ui/index.html",
                                                        "ui/style.css"]

    target = tmp_path / "installed"
    extracted = json.loads(cap("extract", v1, "--out", target, "--pubkey", pk, "--json", env=env).stdout)
    assert extracted["ok"] and extracted["files"] == 4
    for rel in ("ui/index.html", "ui/app.js", "ui/style.css", "core/notes_core.wasm"):
        assert (target / rel).read_bytes() == (app / rel).read_bytes(), rel
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "core/notes_core.wasm", "ui/app.js", "ui/index.html", "ui/style.css"]

    # A modified rebuild: one file changed, one added; diff lists them and what a client would download.
    (app / "ui" / "app.js").write_text((app / "ui" / "app.js").read_text() + "\n// v2\n")
    (app / "ui" / "help.html").write_text("<h1>help</h1>\n")
    toml = (app / "Cap.toml").read_text().replace('version = "1.0.0"', 'version = "1.1.0"')
    (app / "Cap.toml").write_text(toml)
    v2 = tmp_path / "notes-2.cap"
    cap("build", app / "Cap.toml", "--key", sk, "--out", v2, env=env)
    d = json.loads(cap("diff", v1, v2, "--json", env=env).stdout)
    assert [f["path"] for f in d["added"]] == ["ui/help.html"]
    assert [f["path"] for f in d["changed"]] == ["ui/app.js"]
    assert d["removed"] == [] and d["unchanged"] == 3
    assert d["download_blobs"] == 2 and d["download_bytes"] > 0
    human = cap("diff", v1, v2, env=env).stdout
    assert "+ ui/help.html" in human and "~ ui/app.js" in human

    # Tamper one byte inside a blob's stored bytes: the full verification refuses, one line, exit code 1.
    tampered = tmp_path / "tampered.cap"
    raw = bytearray(v1.read_bytes())
    offset, size = _blob_payload_offset(v1)
    raw[offset + size // 2] ^= 0x01
    tampered.write_bytes(bytes(raw))
    bad = cap("verify", tampered, "--pubkey", pk, "--full", env=env, ok=False)
    assert bad.returncode == 1, bad
    lines = bad.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED (") and "blob" in lines[0], bad.stdout
    assert "Traceback" not in bad.stderr
    refused = cap("extract", tampered, "--out", tmp_path / "never", "--pubkey", pk, env=env, ok=False)
    assert refused.returncode == 1 and not (tmp_path / "never").exists()

    # Tamper one byte of the signed metadata: refused even without --full.
    meta = bytearray(v1.read_bytes())
    with zipfile.ZipFile(v1) as z:
        mi = z.getinfo("_cap/manifest.cbor")
    meta[mi.header_offset + 30 + len(mi.filename) + 3] ^= 0x20
    tampered.write_bytes(bytes(meta))
    bad = cap("verify", tampered, "--pubkey", pk, env=env, ok=False)
    assert bad.returncode == 1 and len(bad.stdout.strip().splitlines()) == 1
    assert bad.stdout.startswith("FAILED (") and "Traceback" not in bad.stderr
