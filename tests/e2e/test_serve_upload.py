"""``POST /proof/upload`` against a real ``cap serve`` process (issue 19, items 4 and 10).

A 6 MiB upload used to cost the server about 700 MiB of memory (every entry decompressed into memory, then the proof
base64-encoded in one piece; four at once: 2.4 GiB). The server's peak RSS (``VmHWM``) is measured here. Errors must
not show server paths, and a client that disconnects mid-body must not be logged as a 500 with a traceback."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from servhelpers import Keys, cap_serve_process  # noqa: E402

MIB = 1 << 20
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@contextmanager
def server(tmp: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes], Path, Keys]]:
    keys = Keys(tmp)
    log = tmp / "server.log"
    full = {"CAP_AUTH_PUBLIC_KEY_PEM": str(keys.pem_path), "CAP_RATE_LIMIT_ENABLED": "0", **env}
    with cap_serve_process(tmp / "state", full, log_level="info", log_path=log) as (url, proc):
        yield url, proc, log, keys


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> tuple[Path, dict, bytes]:
    """A ZIP of ~5 MiB: a real manifest, a 48 MiB proof.dat and two more 48 MiB entries (compression ~90:1 each,
    inside the bundle reader's 100:1 cap)."""
    from capfast.cli import main

    tmp = tmp_path_factory.mktemp("upload")
    b = tmp / "b"
    assert main(["prepare", "--suppliers", str(EXAMPLES / "suppliers.csv"), "--ubos", str(EXAMPLES / "ubos.csv"),
                 "--output", str(b)]) == 0
    assert main(["manifest", "build", "--commitments", str(b / "commitments.json"), "--policy",
                 str(EXAMPLES / "policy.lksg.v1.yml"), "--sanctions", str(EXAMPLES / "sanctions.csv"), "--output",
                 str(b / "manifest.json")]) == 0
    data = bytearray(48 * MIB)
    data[::300] = os.urandom(len(data[::300]))
    proof = bytes(data)
    path = tmp / "package.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("manifest.json", (b / "manifest.json").read_bytes())
        for name in ("proof.dat", "README.txt", "extra/data.bin"):
            z.writestr(name, proof)
    return path, json.loads((b / "manifest.json").read_bytes()), proof


@pytest.mark.once
@pytest.mark.slow
def test_upload_memory_is_bounded_per_request_and_across_requests(tmp_path: Path, package) -> None:
    path, manifest, proof = package
    assert path.stat().st_size < 8 * MIB
    with server(tmp_path) as (url, proc, _log, keys):
        token = keys.token(lifetime=600)
        assert httpx.get(f"{url}/healthz").status_code == 200
        before = peak_rss(proc.pid)

        def upload(_: int) -> httpx.Response:
            with open(path, "rb") as fh:
                return httpx.post(f"{url}/proof/upload", files={"file": ("package.zip", fh)},
                                  headers={"Authorization": f"Bearer {token}"}, timeout=300)

        r = upload(0)
        assert r.status_code == 200, r.text[:300]
        doc = r.json()
        assert doc["manifest"] == manifest and base64.b64decode(doc["proof_base64"]) == proof
        assert doc["package_info"] == {"total_size": path.stat().st_size, "file_count": 4}
        one = peak_rss(proc.pid) - before
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            codes = [x.status_code for x in pool.map(upload, range(4))]
        assert codes == [200] * 4
        four = peak_rss(proc.pid) - before
        # 144 MiB of content per upload, a 64 MiB answer: the server's peak grows by a few MiB, not by the content
        assert one < 32 * MIB, f"one upload raised the server's peak RSS by {one / MIB:.0f} MiB"
        assert four < 64 * MIB, f"four concurrent uploads raised the server's peak RSS by {four / MIB:.0f} MiB"
        assert not list((tmp_path / "state" / "uploads").iterdir())  # temp files removed


@pytest.mark.once
def test_upload_errors_show_no_server_paths(tmp_path: Path) -> None:
    with server(tmp_path) as (url, _proc, _log, keys):
        h = {"Authorization": f"Bearer {keys.token()}"}
        bad_zip = tmp_path / "bad.zip"
        with zipfile.ZipFile(bad_zip, "w") as z:
            z.writestr("../evil", b"x")
        for content in (b"not a zip at all", bad_zip.read_bytes(), b"PK\x05\x06" + b"\x00" * 18):
            r = httpx.post(f"{url}/proof/upload", files={"file": ("p.zip", content)}, headers=h)
            assert r.status_code == 400 and r.json()["error"] == "invalid_package", r.text
            message = r.json()["message"]
            assert str(tmp_path) not in message and "/uploads/" not in message and "upload-" not in message, message


def _partial(port: int, head: str, body: bytes) -> None:
    """Send headers and part of the body, then vanish."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head.encode() + body)
    time.sleep(0.3)
    s.close()


@pytest.mark.once
def test_client_disconnect_mid_body_is_not_a_500(tmp_path: Path) -> None:
    from capfast import ed25519  # noqa: F401 - the server imports it too; warm the page cache

    pk = bytes(range(32)).hex()
    with server(tmp_path, CAP_STORE_PUBLISHERS=f"org.test.app={pk}") as (url, _proc, log, keys):
        port = int(url.rsplit(":", 1)[1])
        tok = keys.token()
        multipart = b'--BB\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n' + b"x" * 5000
        _partial(port, f"POST /proof/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: "
                       "multipart/form-data; boundary=BB\r\nContent-Length: 100000\r\n\r\n", multipart)
        _partial(port, f"POST /verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: "
                       "application/json\r\nContent-Length: 100000\r\n\r\n", b'{"policy_id": "' + b"a" * 5000)
        stmt = base64.b64encode(b"{}").decode()
        _partial(port, f"POST /store/org.test.app/stable/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}"
                       f"\r\nX-Cap-Statement: {stmt}\r\nX-Cap-Statement-Signature: 00\r\nContent-Length: 100000\r\n\r\n",
                 b"PK" + b"\x00" * 5000)
        time.sleep(1.0)
        assert httpx.get(f"{url}/healthz").status_code == 200
    text = log.read_text()
    assert "Traceback" not in text and "internal_error" not in text, text[-3000:]
    statuses = [json.loads(line)["status"] for line in text.splitlines() if line.startswith('{"ts"') and
                '"path":"/' in line and '"method":"POST"' in line]
    assert len(statuses) == 3 and all(s < 500 for s in statuses), text[-3000:]
