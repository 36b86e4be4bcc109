"""Ed25519 signatures (RFC 8032) under capfast's single validity rule.

The rule (``docs/ed25519-validity.md``): a signature ``R ‖ S`` by key ``A`` is valid iff ``S < L``; ``A`` and ``R``
are canonical encodings of points that are not of small order and have no torsion component; and
``R = [S]B − [k]A``. Under it the cofactored and cofactorless equations agree, so :func:`verify_batch` (a random
linear combination, bisected on failure) returns exactly what :func:`verify` returns for each signature, and the
native core and the pure-Python twin (PyNaCl) give the same verdicts.

Secret keys are 32-byte seeds; public keys 32 bytes; signatures 64 bytes. A wrongly sized key or signature raises
:class:`~capfast.errors.InvalidArgumentError` (it is a caller bug, not an invalid signature). Batch arguments are
sequences of bytes-like objects or C-contiguous 2-D uint8 arrays (numpy ``(n, 32)`` keys, ``(n, 64)``
signatures, ``(n, m)`` messages), which the native core reads in place with the GIL released.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from capfast._backend import core

__all__ = [
    "PUBLIC_KEY_LEN",
    "SECRET_KEY_LEN",
    "SIGNATURE_LEN",
    "KeyPair",
    "generate",
    "public_key",
    "sign",
    "verify",
    "verify_batch",
    "verify_batch_all",
]

SECRET_KEY_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64


class KeyPair(NamedTuple):
    """A secret seed and its public key."""

    secret: bytes
    public: bytes


def generate() -> KeyPair:
    """A fresh key pair from the operating system's random source."""
    sk, pk = core.ed25519_generate()
    return KeyPair(sk, pk)


def public_key(sk: bytes) -> bytes:
    """The public key of the 32-byte secret seed ``sk``."""
    return core.ed25519_public_key(sk)


def sign(sk: bytes, msg: bytes) -> bytes:
    """The deterministic RFC 8032 signature of ``msg`` by ``sk`` (64 bytes).

    The public key is always derived from ``sk`` (accepting it from the caller leaks the key, RUSTSEC-2022-0093).
    """
    return core.ed25519_sign(sk, msg)


def verify(pk: bytes, msg: bytes, sig: bytes) -> bool:
    """Whether ``sig`` is a valid signature of ``msg`` by ``pk`` under capfast's rule."""
    return core.ed25519_verify(pk, msg, sig)


def verify_batch(pks: Any, msgs: Any, sigs: Any) -> list[bool]:
    """Per-signature verdicts, each exactly :func:`verify`'s for the same triple.

    The three arguments must have the same length. Invalid signatures are located exactly (the native core bisects
    a failing combination); a malformed size raises instead of yielding ``False``.
    """
    return core.ed25519_verify_batch(pks, msgs, sigs)


def verify_batch_all(pks: Any, msgs: Any, sigs: Any) -> bool:
    """``True`` iff every signature is valid; faster than :func:`verify_batch` when failures need not be located.

    An empty batch is all-valid.
    """
    return core.ed25519_verify_batch_all(pks, msgs, sigs)
