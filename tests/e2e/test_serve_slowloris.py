"""Slowloris against a real ``cap serve`` process on loopback (issue 19, item 1; bounded: about 15 s).

1,000 connections from one address that never finish their headers used to make every request answer 503,
``/healthz`` included, for as long as they were held. Now one address holds at most 32 connections (the rest are
reset on accept), a connection must finish its headers within CAP_HEADER_TIMEOUT (408, then closed) and may not
pause a request body for longer than CAP_BODY_IDLE_TIMEOUT; health and readiness stay answerable throughout."""

from __future__ import annotations

import resource
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from servhelpers import cap_serve_process  # noqa: E402

ATTACKER = "127.0.0.2"  # all of 127.0.0.0/8 is loopback on Linux: the attack comes from another client address
HEADER_TIMEOUT = 3.0


def _closed(s: socket.socket, wait: float) -> bool:
    """Whether the server closed ``s`` (EOF or reset) within ``wait`` seconds; any bytes before that are read."""
    s.settimeout(wait)
    end = time.monotonic() + wait
    try:
        while time.monotonic() < end:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


@pytest.mark.once
@pytest.mark.slow
def test_half_open_connections_do_not_take_the_server_down(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1400:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    probe = socket.socket()
    try:
        probe.bind((ATTACKER, 0))
    except OSError:
        pytest.skip(f"cannot bind {ATTACKER} (loopback aliases are Linux-only)")
    finally:
        probe.close()
    env = {"CAP_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "CAP_BODY_IDLE_TIMEOUT": "3"}
    socks: list[socket.socket] = []
    stop = threading.Event()
    try:
        with cap_serve_process(tmp_path / "state", env) as (url, _proc):
            port = int(url.rsplit(":", 1)[1])
            for _ in range(1000):
                s = socket.socket()
                s.bind((ATTACKER, 0))
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                socks.append(s)

            def trickle() -> None:  # one more header byte per second on every connection: never idle, never done
                while not stop.wait(1.0):
                    for s in socks:
                        try:
                            s.send(b"a")
                        except OSError:
                            pass

            threading.Thread(target=trickle, daemon=True).start()

            # health and readiness keep answering, fast, while the attack is held (longer than the header deadline)
            started = time.monotonic()
            with httpx.Client(timeout=5) as client:
                while time.monotonic() - started < HEADER_TIMEOUT + 3:
                    for path in ("/healthz", "/readyz"):
                        t0 = time.monotonic()
                        r = client.get(url + path)
                        assert r.status_code == 200, (path, r.status_code, r.text)
                        assert time.monotonic() - t0 < 2.0, path
                    time.sleep(0.3)

            # by now the server has closed every attacker connection: most at once, the admitted ones at the deadline
            still_open = [s for s in socks if not _closed(s, 0.01)]
            assert not still_open, f"{len(still_open)} of 1000 half-open connections still held"
            stop.set()

            # a request body that stalls is cut off too
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                      b"\r\n{\"a\": ")
            assert _closed(s, 3 + 3)
            s.close()

            # and the attacking address is a normal client again once its connections are gone
            with socket.socket() as s:
                s.bind((ATTACKER, 0))
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                s.settimeout(5)
                assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        stop.set()
        for s in socks:
            s.close()
