"""How an app hands a one-time token to a device (``docs/capqr.md`` §4). Every transport carries the same thing —
the :class:`~capfast.access.qr.QrResponse` text, whose token is sealed to the device's X25519 key — so a transport
never sees a usable token, and adding one changes nothing else.

* :class:`DirectQrTransport` — the app shows the response as a QR code (PNG/SVG/terminal); the device scans it.
* :class:`LanHttpsTransport` — the app POSTs the response to the device's receiver over HTTPS on the LAN
  (:class:`DeviceReceiver`: a self-signed TLS endpoint; the app may pin its certificate's SHA-256).
* :class:`BleTransport` — the interface slot for a BLE beacon transport (seed: "BLE Beacon"). No BLE stack is
  reachable here, so it raises; a BLE class only has to implement :meth:`Transport.deliver` the same way.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import os
import queue
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from capfast.access import qr
from capfast.access.qr import QrResponse
from capfast.errors import OnboardingError, QrPayloadError

__all__ = ["BleTransport", "DeviceReceiver", "DirectQrTransport", "LanHttpsTransport", "Transport"]

DELIVER_PATH = "/capqr/v1/deliver"
MAX_BODY = qr.MAX_QR_TEXT + 16


class Transport(Protocol):
    """Delivers one sealed answer to the device that asked."""

    name: str

    def deliver(self, response: QrResponse) -> None: ...


class DirectQrTransport:
    """Show the answer as a QR code: writes ``path`` (PNG/SVG) when given and keeps the terminal rendering."""

    name = "qr"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.text: str | None = None
        self.terminal: str | None = None

    def deliver(self, response: QrResponse) -> None:
        self.text = response.to_text()
        if self.path is not None:
            qr.render(self.text, self.path)
        self.terminal = qr.terminal(self.text)


class BleTransport:
    """Interface slot: a BLE beacon transport would advertise the response text to the device. Not available here."""

    name = "ble"

    def deliver(self, response: QrResponse) -> None:
        raise OnboardingError("BLE delivery is not available in this build; use the QR or LAN HTTPS transport")


class LanHttpsTransport:
    """POST the answer to ``https://host:port/capqr/v1/deliver``. With ``pin_sha256`` the device certificate's
    SHA-256 must match (checked before anything is sent); without it the sealed box is the only protection of the
    token (TLS then only hides metadata)."""

    name = "lan-https"

    def __init__(self, host: str, port: int, *, pin_sha256: str | None = None, timeout: float = 10.0) -> None:
        self.host, self.port, self.pin, self.timeout = host, port, pin_sha256, timeout

    def deliver(self, response: QrResponse) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # self-signed device certificates: pinned below instead
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=ctx)
        try:
            conn.connect()
            if self.pin is not None:
                sock = conn.sock
                der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
                if der is None or hashlib.sha256(der).hexdigest() != self.pin.lower():
                    raise OnboardingError("the device's TLS certificate does not match the pinned fingerprint")
            body = response.to_text().encode("ascii")
            conn.request("POST", DELIVER_PATH, body=body, headers={"Content-Type": "text/plain"})
            reply = conn.getresponse()
            reply.read(4096)
            if reply.status != 204:
                raise OnboardingError(f"the device refused the delivery (HTTP {reply.status})")
        except (OSError, http.client.HTTPException) as exc:
            raise OnboardingError(f"LAN delivery to {self.host}:{self.port} failed: {exc}") from None
        finally:
            conn.close()


def _self_signed(directory: Path, name: str) -> tuple[Path, Path, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "device.crt", directory / "device.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class DeviceReceiver:
    """The device's LAN endpoint: HTTPS on ``host:port`` (a fresh self-signed certificate), accepting well-formed
    CapQR responses for its own request id (size-capped, strict) into :attr:`inbox`."""

    def __init__(self, request_id: str, *, host: str = "127.0.0.1", port: int = 0, name: str = "capqr-device"):
        self.request_id = request_id
        self.inbox: queue.Queue[QrResponse] = queue.Queue(maxsize=8)
        self._dir = tempfile.TemporaryDirectory(prefix="capqr-")
        cert, key, self.fingerprint = _self_signed(Path(self._dir.name), name)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet: the device logs redemptions, not HTTP lines
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                try:
                    length = int(self.headers.get("Content-Length", "-1"))
                except ValueError:
                    length = -1
                if self.path != DELIVER_PATH or not 0 < length <= MAX_BODY:
                    self.send_error(404 if self.path != DELIVER_PATH else 413)
                    return
                body = self.rfile.read(length)
                try:
                    resp = qr.decode(body.decode("ascii"))
                    if not isinstance(resp, QrResponse) or resp.request_id != receiver.request_id:
                        raise QrPayloadError("not an answer to this device's request")
                    receiver.inbox.put_nowait(resp)
                except (QrPayloadError, UnicodeDecodeError, queue.Full):
                    self.send_error(400)
                    return
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.timeout = 10
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        addr = self.server.server_address
        self.host, self.port = str(addr[0]), int(addr[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DeviceReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
        self._dir.cleanup()

    def wait(self, timeout: float = 10.0) -> QrResponse:
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise OnboardingError("no delivery arrived in time") from None
