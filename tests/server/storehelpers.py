"""Helpers for the CAP store tests: app versions, publishing, and a deliberately malicious store server."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from capfast import ed25519
from capfast.cap.package import INDEX, Package, build
from capfast.cap.update import make_release_statement

# RFC 8032 test 1 key pair (the publisher) and an attacker key
PUB_SK = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUB_PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
EVIL_SK = bytes(range(32))
APP = "org.test.app"

TOML = """cap_version = 1
[app]
id = "org.test.app"
name = "Test"
version = "{version}"
publisher = "Tester"
[entrypoints]
ui = "ui/index.html"
[capabilities.kv_store]
"""

FILES = {
    "1.0.0": {"ui/index.html": b"<h1>v1</h1>", "ui/app.js": b"console.log(1)\n" * 400, "ui/lib.js": b"lib();" * 300,
              "assets/big.bin": bytes(range(256)) * 64},
    "2.0.0": {"ui/index.html": b"<h1>v2</h1>", "ui/app.js": b"console.log(1)\n" * 400, "ui/lib.js": b"lib();" * 300,
              "assets/big.bin": bytes(range(256)) * 64, "ui/new.js": b"new();" * 200},
}


def build_version(tmp: Path, version: str, sk: bytes = PUB_SK) -> Path:
    d = tmp / f"src-{version}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "Cap.toml").write_text(TOML.format(version=version))
    for rel, data in FILES[version].items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    out = tmp / f"app-{version}.cap"
    build(d / "Cap.toml", sk, out)
    return out


def statement(pkg: Path, seq: int, *, channel: str = "stable", expires_in: int = 3600, sk: bytes = PUB_SK,
              root: str | None = None) -> tuple[bytes, bytes]:
    p = Package.open(pkg)
    return make_release_statement(sk, app_id=p.app_id, channel=channel, seq=seq, root=root or p.root.hex(),
                                  version=p.manifest.data["app"]["version"], expires=int(time.time()) + expires_in)


def publish(url: str, token: str, pkg: Path, seq: int, **kw: Any) -> httpx.Response:
    stmt, sig = statement(pkg, seq, **kw)
    return httpx.post(f"{url}/store/{APP}/{kw.get('channel', 'stable')}/publish", content=pkg.read_bytes(),
                      headers={"Authorization": f"Bearer {token}", "X-Cap-Statement": base64.b64encode(stmt).decode(),
                               "X-Cap-Statement-Signature": sig.hex()})


def release_routes(pkg: Path, seq: int, **kw: Any) -> dict[tuple[str, str], Any]:
    """The store's answers for one release, as a route table for :class:`EvilStore`."""
    p = Package.open(pkg)
    stmt, sig = statement(pkg, seq, **kw)
    root = p.root.hex()
    routes: dict[tuple[str, str], Any] = {
        ("GET", f"/store/{APP}/{kw.get('channel', 'stable')}/latest"):
            json.dumps({"statement": stmt.decode(), "signature": sig.hex(), "seq": seq, "root": root}).encode(),
        ("GET", f"/store/releases/{root}/manifest"): p.manifest_bytes,
        ("GET", f"/store/releases/{root}/index"): p._read(INDEX, 1 << 26),
        ("GET", f"/store/releases/{root}/signature"): p.signature,
        ("POST", "/store/delta"): json.dumps({"missing": sorted(p._unique)}).encode(),
    }
    for h, offset, csize, _crc, _size in p._blob_refs():
        with open(pkg, "rb") as fh:
            fh.seek(offset)
            routes[("GET", f"/store/releases/{root}/blobs/{h}")] = fh.read(csize)
    return routes


class EvilStore:
    """A loopback HTTP store whose answers a test controls; a value may be bytes or ``callable(handler)``."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = dict(routes)
        self.log: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                outer.log.append(f"{method} {self.path}")
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                value = outer.routes.get((method, self.path))
                if value is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if callable(value):
                    value(self)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(value)))
                self.end_headers()
                self.wfile.write(value)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def endless(handler: BaseHTTPRequestHandler) -> None:
    """Answer with no length and unbounded bytes (until the client hangs up)."""
    handler.send_response(200)
    handler.send_header("Connection", "close")
    handler.end_headers()
    try:
        for _ in range(100_000):
            handler.wfile.write(b"\x00" * 65536)
    except OSError:
        pass


def drip(delay: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """Answer one byte every ``delay`` seconds (slow retrieval)."""
    def serve(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            for _ in range(100_000):
                handler.wfile.write(b"\x28")
                handler.wfile.flush()
                time.sleep(delay)
        except OSError:
            pass
    return serve


def sign(sk: bytes, data: bytes) -> bytes:
    return ed25519.sign(sk, data)
