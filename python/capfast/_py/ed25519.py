"""Pure-Python twin of the native Ed25519 functions, on PyNaCl (libsodium).

libsodium's ``crypto_sign_verify_detached`` already rejects ``S >= L``, small-order ``R``, non-canonical or
small-order ``A`` and compares the re-encoded ``R`` (cofactorless). capfast's rule (docs/ed25519-validity.md)
additionally requires ``A`` and ``R`` to lie in the prime-order subgroup; ``crypto_core_ed25519_is_valid_point``
checks exactly "canonical, on the curve, not of small order, no torsion component", so the twin applies it to both
points first. The batch functions verify one signature at a time: the verdicts are the rule's, by construction.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from nacl import bindings as _sodium
from nacl.exceptions import BadSignatureError

from capfast.errors import InvalidArgumentError

__all__ = [
    "ed25519_generate",
    "ed25519_public_key",
    "ed25519_sign",
    "ed25519_verify",
    "ed25519_verify_batch",
    "ed25519_verify_batch_all",
]

SECRET_KEY_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
MAX_BATCH = 1 << 24
#: The order of the prime-order subgroup, 2^252 + 27742317777372353535851937790883648493.
L = 2**252 + 27742317777372353535851937790883648493


def _bytes(obj: Any) -> bytes:
    """A bytes-like argument as bytes (the native ``ByteView`` accepts the same objects)."""
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, str):
        raise TypeError("expected a bytes-like object, got str (encode it first)")
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"expected a bytes-like object, got {type(obj).__name__}") from None
    if view.format not in ("B", "b", "c") or view.itemsize != 1:
        raise TypeError(f"expected a bytes-like object, got {type(obj).__name__} of format {view.format!r}")
    if not view.c_contiguous:
        raise BufferError("buffer must be C-contiguous")
    return view.tobytes()


def _sized(obj: Any, size: int, what: str) -> bytes:
    data = _bytes(obj)
    if len(data) != size:
        raise InvalidArgumentError(f"{what} must be {size} bytes, got {len(data)}")
    return data


def _rows(obj: Any, name: str, width: int | None) -> list[bytes]:
    """Mirror of the native ``Rows::read``: a 2-D uint8 buffer, or a sequence of bytes-like objects."""
    shape = f"(n, {width})" if width is not None else "(n, m)"
    flat = InvalidArgumentError(
        f"{name} must be a sequence of bytes-like objects or a {shape} uint8 array, not one flat buffer"
    )
    if isinstance(obj, bytes | bytearray | str):
        raise flat
    if not isinstance(obj, list | tuple):
        try:
            view = memoryview(obj)
        except TypeError:
            view = None
        if view is not None and view.format in ("B", "b", "c") and view.itemsize == 1:
            if view.ndim != 2:
                raise flat
            rows, cols = view.shape  # type: ignore[misc]
            if width is not None and cols != width:
                raise InvalidArgumentError(f"{name} must have shape (n, {width}), got ({rows}, {cols})")
            if not view.c_contiguous:
                raise BufferError(f"{name} must be C-contiguous")
            data = view.tobytes()
            return [data[i * cols : (i + 1) * cols] for i in range(rows)]
    out: list[bytes] = []
    for i, item in enumerate(obj):
        data = _bytes(item)
        if width is not None and len(data) != width:
            raise InvalidArgumentError(f"{name}[{i}] must be {width} bytes, got {len(data)}")
        out.append(data)
    return out


def ed25519_generate() -> tuple[bytes, bytes]:
    """A fresh random key pair: (32-byte secret seed, 32-byte public key)."""
    seed = os.urandom(SECRET_KEY_LEN)
    return seed, ed25519_public_key(seed)


def ed25519_public_key(sk: bytes) -> bytes:
    """The 32-byte public key of a 32-byte secret seed."""
    pk, _ = _sodium.crypto_sign_seed_keypair(_sized(sk, SECRET_KEY_LEN, "secret key"))
    return pk


def ed25519_sign(sk: bytes, msg: bytes) -> bytes:
    """RFC 8032 signature of ``msg`` by the seed ``sk``; the public key is derived from the seed, never supplied."""
    seed = _sized(sk, SECRET_KEY_LEN, "secret key")
    m = _bytes(msg)
    _, expanded = _sodium.crypto_sign_seed_keypair(seed)
    return _sodium.crypto_sign(m, expanded)[:SIGNATURE_LEN]


def _valid_key(pk: bytes, cache: dict[bytes, bool] | None = None) -> bool:
    if cache is not None:
        hit = cache.get(pk)
        if hit is not None:
            return hit
    ok = bool(_sodium.crypto_core_ed25519_is_valid_point(pk))
    if cache is not None:
        cache[pk] = ok
    return ok


def _verify(pk: bytes, msg: bytes, sig: bytes, cache: dict[bytes, bool] | None = None) -> bool:
    if int.from_bytes(sig[32:], "little") >= L:
        return False
    if not _valid_key(pk, cache):
        return False
    if not _sodium.crypto_core_ed25519_is_valid_point(sig[:32]):
        return False
    try:
        _sodium.crypto_sign_open(sig + msg, pk)
    except BadSignatureError:
        return False
    return True


def ed25519_verify(pk: bytes, msg: bytes, sig: bytes) -> bool:
    """Single verification under capfast's validity rule (docs/ed25519-validity.md)."""
    p = _sized(pk, PUBLIC_KEY_LEN, "public key")
    s = _sized(sig, SIGNATURE_LEN, "signature")
    return _verify(p, _bytes(msg), s)


def _batch(pks: Iterable[Any], msgs: Iterable[Any], sigs: Iterable[Any]) -> tuple[list[bytes], ...]:
    p = _rows(pks, "pks", PUBLIC_KEY_LEN)
    m = _rows(msgs, "msgs", None)
    s = _rows(sigs, "sigs", SIGNATURE_LEN)
    if not (len(p) == len(m) == len(s)):
        raise InvalidArgumentError(
            f"pks, msgs and sigs must have the same length, got {len(p)}, {len(m)} and {len(s)}"
        )
    if len(p) > MAX_BATCH:
        raise InvalidArgumentError(f"batch of {len(p)} signatures exceeds the limit of {MAX_BATCH}")
    return p, m, s


def ed25519_verify_batch(pks: Iterable[Any], msgs: Iterable[Any], sigs: Iterable[Any]) -> list[bool]:
    """Per-signature verdicts, each identical to :func:`ed25519_verify` on the same triple."""
    p, m, s = _batch(pks, msgs, sigs)
    cache: dict[bytes, bool] = {}
    return [_verify(*t, cache=cache) for t in zip(p, m, s, strict=True)]


def ed25519_verify_batch_all(pks: Iterable[Any], msgs: Iterable[Any], sigs: Iterable[Any]) -> bool:
    """``True`` iff every signature is valid."""
    p, m, s = _batch(pks, msgs, sigs)
    cache: dict[bytes, bool] = {}
    return all(_verify(*t, cache=cache) for t in zip(p, m, s, strict=True))
