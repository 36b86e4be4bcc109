"""CapQR payloads: what a device shows and what the app answers, as QR codes (``docs/capqr.md``).

A payload is a deterministic CBOR map (RFC 8949 §4.2.1: definite lengths, shortest heads, keys sorted by their
encoding; the one strict codec of :mod:`capfast.cbor`) in base45 (RFC 9285, the QR alphanumeric alphabet) behind
a fixed prefix::

    CQR1:<base45(cbor)>

The prefix is not a URL scheme, so no scanner opens anything; the reader refuses anything over the size cap before
decoding, any other prefix or version, non-canonical base45 or CBOR, unknown or missing fields, and values outside
their grammar (:class:`~capfast.errors.QrPayloadError`).

* :class:`QrRequest` — the device's request (seed: ``{device_id, domain, request_id}``) plus the requested role and
  scopes, the device's ephemeral X25519 key, an expiry, and ``verifier_hash`` = SHA-256 of a secret only the device
  holds (PKCE-style binding of the redemption to the device that asked).
* :class:`QrResponse` — the app's direct-QR answer: the request id and the one-time token sealed to the device key.

Rendering (:func:`render`) writes PNG or SVG files and terminal text with segno; :func:`decode_image` reads a QR
code back from an image with zxing-cpp (the optional ``scan`` extra).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno

from capfast import cbor
from capfast._io import atomic_write
from capfast.captoken import lower_hex, valid_audience, valid_device, valid_role, valid_scope
from capfast.errors import CborError, OnboardingError, QrPayloadError

__all__ = [
    "MAX_QR_TEXT",
    "PREFIX",
    "QrRequest",
    "QrResponse",
    "b45decode",
    "b45encode",
    "decode",
    "decode_image",
    "render",
    "terminal",
]

PREFIX = "CQR1:"
#: Largest QR text accepted (a sealed one-time token fits well inside; a version-40 QR holds 4296 characters).
MAX_QR_TEXT = 3000
MAX_REQUEST_TTL = 600

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INDEX = {c: i for i, c in enumerate(_B45)}


def b45encode(data: bytes) -> str:
    """RFC 9285 base45."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = divmod(n, 45 * 45)
        e, d = divmod(n, 45)
        out += [_B45[d], _B45[e], _B45[c]]
    if len(data) % 2:
        e, d = divmod(data[-1], 45)
        out += [_B45[d], _B45[e]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """RFC 9285 base45, strict: a triple over 65535, a pair over 255, a length of 1 mod 3 or a foreign character is
    an error (so each byte string has exactly one encoding)."""
    if len(text) % 3 == 1:
        raise QrPayloadError("base45 text has an impossible length")
    out = bytearray()
    try:
        vals = [_B45_INDEX[c] for c in text]
    except KeyError as exc:
        raise QrPayloadError(f"character {exc.args[0]!r} is not base45") from None
    for i in range(0, len(vals) - 2, 3):
        n = vals[i] + vals[i + 1] * 45 + vals[i + 2] * 45 * 45
        if n > 0xFFFF:
            raise QrPayloadError("base45 triple out of range")
        out += n.to_bytes(2, "big")
    if len(vals) % 3 == 2:
        n = vals[-2] + vals[-1] * 45
        if n > 0xFF:
            raise QrPayloadError("base45 pair out of range")
        out.append(n)
    return bytes(out)


def _canonical_map(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in sorted(d, key=lambda k: cbor.dumps(k))}


def _encode(d: dict[str, Any]) -> str:
    return PREFIX + b45encode(cbor.dumps(_canonical_map(d)))


def _decode_map(text: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise QrPayloadError("a QR payload is text")
    if len(text) > MAX_QR_TEXT:
        raise QrPayloadError(f"QR payload is {len(text)} characters, over the {MAX_QR_TEXT} limit")
    if not text.startswith(PREFIX):
        raise QrPayloadError(f"not a CapQR payload (expected the prefix {PREFIX!r}; URLs are never followed)")
    raw = b45decode(text[len(PREFIX) :])
    try:
        doc = cbor.loads(raw, max_depth=4)
    except CborError as exc:
        raise QrPayloadError(f"QR payload is not strict CBOR: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) for k in doc):
        raise QrPayloadError("QR payload must be a CBOR map with text keys")
    if cbor.dumps(_canonical_map(doc)) != raw:
        raise QrPayloadError("QR payload is not in deterministic CBOR (keys must be sorted)")
    if doc.get("v") != 1:
        raise QrPayloadError(f"unsupported CapQR version {doc.get('v')!r}")
    return doc


def _need(doc: dict[str, Any], keys: set[str], kind: str) -> None:
    if set(doc) != keys:
        missing, extra = sorted(keys - set(doc)), sorted(set(doc) - keys)
        raise QrPayloadError(f"{kind} payload: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}")


def _bytes_field(doc: dict[str, Any], name: str, size: int) -> bytes:
    v = doc[name]
    if not isinstance(v, bytes) or len(v) != size:
        raise QrPayloadError(f"{name} must be {size} bytes")
    return v


@dataclass(frozen=True)
class QrRequest:
    """What the device displays."""

    device_id: str
    domain: str
    request_id: str
    role: str
    scope: tuple[str, ...]
    device_key: bytes
    expires_at: int
    verifier_hash: bytes

    _KEYS = frozenset({"v", "t", "device_id", "domain", "request_id", "role", "scope", "device_key", "expires_at",
                       "verifier_hash"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", tuple(self.scope))
        if not valid_device(self.device_id):
            raise QrPayloadError(f"device_id {self.device_id!r} is not a device id")
        if not valid_audience(self.domain):
            raise QrPayloadError(f"domain {self.domain!r} is not a lowercase DNS name")
        if not lower_hex(self.request_id, 32):
            raise QrPayloadError("request_id must be 32 lowercase hex digits")
        if not valid_role(self.role):
            raise QrPayloadError(f"role {self.role!r} is not a role name")
        if not 1 <= len(self.scope) <= 16 or not all(isinstance(s, str) and valid_scope(s) for s in self.scope):
            raise QrPayloadError("scope must list 1-16 scopes of the form kind:/path[/*]")
        if len(self.device_key) != 32 or len(self.verifier_hash) != 32:
            raise QrPayloadError("device_key and verifier_hash must be 32 bytes")
        if isinstance(self.expires_at, bool) or not isinstance(self.expires_at, int) or self.expires_at < 0:
            raise QrPayloadError("expires_at must be Unix seconds")

    def to_text(self) -> str:
        return _encode({"v": 1, "t": "req", "device_id": self.device_id, "domain": self.domain,
                        "request_id": self.request_id, "role": self.role, "scope": list(self.scope),
                        "device_key": self.device_key, "expires_at": self.expires_at,
                        "verifier_hash": self.verifier_hash})

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> QrRequest:
        _need(doc, set(cls._KEYS), "request")
        for name in ("device_id", "domain", "request_id", "role"):
            if not isinstance(doc[name], str):
                raise QrPayloadError(f"{name} must be text")
        if not isinstance(doc["scope"], list):
            raise QrPayloadError("scope must be an array")
        return cls(doc["device_id"], doc["domain"], doc["request_id"], doc["role"], tuple(doc["scope"]),
                   _bytes_field(doc, "device_key", 32), doc["expires_at"], _bytes_field(doc, "verifier_hash", 32))

    def check_fresh(self, now: int) -> None:
        """Refuse an expired request, or one that claims to live longer than :data:`MAX_REQUEST_TTL`."""
        if self.expires_at < now:
            raise QrPayloadError(f"the device's request expired at {self.expires_at} (now {now}); show a new code")
        if self.expires_at > now + MAX_REQUEST_TTL:
            raise QrPayloadError(f"the request claims to live past {MAX_REQUEST_TTL} s; refusing it")


@dataclass(frozen=True)
class QrResponse:
    """The app's direct-QR answer: the one-time token sealed to the device key."""

    request_id: str
    sealed: bytes

    def __post_init__(self) -> None:
        if not lower_hex(self.request_id, 32):
            raise QrPayloadError("request_id must be 32 lowercase hex digits")
        if not 48 < len(self.sealed) <= 2048:
            raise QrPayloadError("sealed token has an impossible size")

    def to_text(self) -> str:
        return _encode({"v": 1, "t": "tok", "request_id": self.request_id, "sealed": self.sealed})

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> QrResponse:
        _need(doc, {"v", "t", "request_id", "sealed"}, "response")
        if not isinstance(doc["request_id"], str) or not isinstance(doc["sealed"], bytes):
            raise QrPayloadError("response fields have the wrong types")
        return cls(doc["request_id"], doc["sealed"])


def decode(text: str) -> QrRequest | QrResponse:
    """Read a CapQR payload (strict; see the module doc)."""
    doc = _decode_map(text.strip() if isinstance(text, str) else text)
    kind = doc.get("t")
    if kind == "req":
        return QrRequest.from_doc(doc)
    if kind == "tok":
        return QrResponse.from_doc(doc)
    raise QrPayloadError(f"unknown CapQR payload type {kind!r}")


def _qr(text: str) -> Any:
    return segno.make(text, error="m", micro=False)


def render(text: str, path: str | os.PathLike[str], *, scale: int = 6) -> Path:
    """Write the QR code of ``text`` as PNG or SVG (by the file's suffix), atomically."""
    p = Path(path)
    kind = p.suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise OnboardingError(f"{p}: a QR image must be .png or .svg")
    buf = io.BytesIO()
    _qr(text).save(buf, kind=kind, scale=scale, border=4)
    atomic_write(p, buf.getvalue())
    return p


def terminal(text: str) -> str:
    """The QR code of ``text`` as terminal text (two modules per character, quiet zone included)."""
    out = io.StringIO()
    _qr(text).terminal(out=out, compact=True, border=4)
    return out.getvalue()


def _QR_FORMAT(zxingcpp: Any) -> Any:  # noqa: N802 - zxing-cpp's own enum, typed loosely across versions
    return zxingcpp.BarcodeFormat.QRCode


def decode_image(path: str | os.PathLike[str]) -> str:
    """The CapQR text in an image file (PNG, JPEG, … via Pillow), read with zxing-cpp."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        raise OnboardingError("reading QR images needs the 'scan' extra: pip install 'capfast[scan]'") from None
    p = Path(path)
    if p.stat().st_size > 20 << 20:
        raise QrPayloadError(f"{p}: image larger than 20 MiB")
    Image.MAX_IMAGE_PIXELS = 40_000_000
    try:
        with Image.open(p) as img:
            img.load()
            found = zxingcpp.read_barcodes(img, formats=_QR_FORMAT(zxingcpp))
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise QrPayloadError(f"{p}: not a readable image: {exc}") from None
    texts = [r.text for r in found if r.text.startswith(PREFIX)]
    if len(texts) != 1:
        raise QrPayloadError(f"{p}: expected exactly one CapQR code, found {len(texts)}")
    return texts[0]
