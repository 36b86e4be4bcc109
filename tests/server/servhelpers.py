"""Helpers for the server tests: RSA keys and tokens, free ports, real `cap serve` processes, throwaway
PostgreSQL and Redis instances (Debian binaries; started under a temp dir, loopback only)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://auth.example.com"
AUDIENCE = "cap-verifier"
ALL_SCOPES = "verify:read policy:read policy:write store:publish tokens:verify"


class Keys:
    """An RSA-2048 key pair written as a PEM public key file, minting RS256 tokens."""

    def __init__(self, directory: Path, kid: str = "k1") -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.pem_path = directory / f"{kid}.pub.pem"
        self.pem_path.write_bytes(self.public_pem)

    def jwk(self) -> dict[str, Any]:
        d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        d.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return d

    def token(self, scope: str = ALL_SCOPES, *, lifetime: int = 300, headers: dict[str, Any] | None = None,
              drop: tuple[str, ...] = (), **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"sub": "client-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + lifetime,
                                "scope": scope}
        body.update(claims)
        for k in drop:
            body.pop(k, None)
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": self.kid, **(headers or {})})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            out = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {out}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout} s")


CAP_CMD = [sys.executable, "-c", "import sys; from capfast.cli import main; sys.exit(main())"]


@contextmanager
def cap_serve_process(state_dir: Path, env: dict[str, str] | None = None, *extra: str, log_level: str = "warning",
                      log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """A real `cap serve` process on a free loopback port; yields ``(base URL, process)``; terminated afterwards.
    Its stderr (the logs) goes to ``log_path`` when given."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CAP_")}
    full_env.update(env or {})
    err: Any = open(log_path, "w") if log_path is not None else subprocess.PIPE  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*CAP_CMD, "serve", "--port", str(port), "--state-dir", str(state_dir),
                             "--log-level", log_level, *extra],
                            env=full_env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        if log_path is not None:
            err.close()


@contextmanager
def cap_serve(state_dir: Path, env: dict[str, str] | None = None, *extra: str) -> Iterator[str]:
    """A real `cap serve` process on a free loopback port; yields its base URL; terminated afterwards."""
    with cap_serve_process(state_dir, env, *extra) as (url, _proc):
        yield url


class ThreadServer:
    """uvicorn serving an ASGI app in a background thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_port(self.port)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def need_binary(name: str, package: str) -> str:
    """Path of a service binary; FAIL when $CI is set (CI installs it via .ci/services.sh), else skip."""
    found = shutil.which(name)
    if found is None:
        for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (d / name).exists():
                found = str(d / name)
                break
    if found is None:
        msg = f"{name} not found: install the Debian package {package} (.ci/services.sh does it on CI)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


@contextmanager
def redis_server(tmp: Path) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """A throwaway redis-server on a free loopback port (no persistence); yields (url, process)."""
    binary = need_binary("redis-server", "redis-server")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, None, 15)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]


@contextmanager
def postgres_server(tmp: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free loopback port; yields its URL."""
    initdb = need_binary("initdb", "postgresql")
    pg_ctl = need_binary("pg_ctl", "postgresql")
    import tempfile

    # a directory of its own under /tmp: pytest's tmp dirs are 0700 root, which the postgres user cannot enter
    base = Path(tempfile.mkdtemp(prefix="capfast-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    r = subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "cap", "--auth=trust", "-E", "UTF8",
                                     "--no-sync"]), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"initdb failed: {r.stderr}")
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} -c fsync=off"
    r = subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "-t", "60",
                                     "start"]), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        pytest.fail(f"pg_ctl start failed: {r.stderr} {log}")
    try:
        yield f"postgresql://cap@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]), capture_output=True,
                       timeout=60)
        shutil.rmtree(base, ignore_errors=True)
