"""Pure-Python twin of the native wallet functions (``rust/src/wallet.rs``): Keccak-256 from pycryptodome,
secp256k1 from coincurve (libsecp256k1). Same validity rule (``docs/wallet.md``): 65-byte ``r ‖ s ‖ v``,
``1 ≤ r, s < n``, ``s ≤ n/2``, ``v ∈ {27, 28, 0, 1}``; RFC 6979 low-S signing, so signatures equal the native ones
byte for byte.
"""

from __future__ import annotations

import os
from typing import Any

import coincurve
from Crypto.Hash import keccak as _keccak

from capfast._py.ed25519 import _bytes
from capfast.errors import InvalidArgumentError, WalletError

__all__ = [
    "keccak256",
    "wallet_address",
    "wallet_checksum_address",
    "wallet_generate",
    "wallet_parse_address",
    "wallet_personal_hash",
    "wallet_recover_hash",
    "wallet_recover_message",
    "wallet_recover_messages",
    "wallet_sign_hash",
    "wallet_sign_message",
]

#: The order of secp256k1's group.
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MAX_BATCH = 1 << 24
_HEX = frozenset("0123456789abcdefABCDEF")


def keccak256(data: Any) -> bytes:
    """Keccak-256 of ``data``."""
    return _keccak.new(digest_bits=256, data=_bytes(data)).digest()


def wallet_personal_hash(msg: Any) -> bytes:
    """The EIP-191 version-0x45 hash that ``personal_sign`` signs."""
    m = _bytes(msg)
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(m)).encode() + m)


def _secret(sk: Any) -> int:
    data = _bytes(sk)
    if len(data) != 32:
        raise InvalidArgumentError(f"wallet secret key must be 32 bytes, got {len(data)}")
    k = int.from_bytes(data, "big")
    if not 0 < k < N:
        raise InvalidArgumentError("wallet secret key is zero or not below the curve order")
    return k


def wallet_generate() -> bytes:
    """A fresh random 32-byte secp256k1 secret key."""
    while True:
        seed = os.urandom(32)
        if 0 < int.from_bytes(seed, "big") < N:
            return seed


def _address_of_point(uncompressed: bytes) -> bytes:
    return keccak256(uncompressed[1:])[12:]


def wallet_address(sk: Any) -> bytes:
    """The 20-byte address of a 32-byte secret key."""
    _secret(sk)
    return _address_of_point(coincurve.PrivateKey(_bytes(sk)).public_key.format(compressed=False))


def wallet_checksum_address(addr: Any) -> str:
    """EIP-55 text of a 20-byte address."""
    raw = _bytes(addr)
    if len(raw) != 20:
        raise InvalidArgumentError(f"address must be 20 bytes, got {len(raw)}")
    lower = raw.hex()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def wallet_parse_address(text: str) -> bytes:
    """The 20 bytes of ``0x`` + 40 hex digits; mixed case must be the exact EIP-55 checksum."""
    if not isinstance(text, str):
        raise TypeError(f"address must be a str, not {type(text).__name__}")
    if not text.startswith("0x"):
        raise WalletError(f"address must start with 0x: {shown(text)}")
    hexpart = text[2:]
    if len(hexpart) != 40 or not all(c in _HEX for c in hexpart):
        raise WalletError(f"address must be 0x and 40 hex digits: {shown(text)}")
    raw = bytes.fromhex(hexpart)
    if any(c.islower() for c in hexpart) and any(c.isupper() for c in hexpart):
        expected = wallet_checksum_address(raw)
        if expected != text:
            raise WalletError(f"address {text} has a wrong EIP-55 checksum (expected {expected})")
    return raw


def shown(text: str) -> str:
    """``text`` for an error message, as the native core renders it: first 50 characters, quoted, anything but
    printable ASCII (and ``"``, ``\\``) as ``?``."""
    return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text[:50]) + '"'


def wallet_sign_hash(sk: Any, digest: Any) -> bytes:
    """``r ‖ s ‖ v`` (v = 27 + recovery id) over a 32-byte digest; RFC 6979, low-S."""
    _secret(sk)
    d = _bytes(digest)
    if len(d) != 32:
        raise InvalidArgumentError(f"digest must be 32 bytes, got {len(d)}")
    sig = coincurve.PrivateKey(_bytes(sk)).sign_recoverable(d, hasher=None)
    r, s, recid = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    if s > N // 2:  # libsecp256k1 always signs low-S; kept as the rule's invariant
        s, recid = N - s, recid ^ 1
    return r + s.to_bytes(32, "big") + bytes([27 + recid])


def wallet_sign_message(sk: Any, msg: Any) -> bytes:
    """EIP-191 ``personal_sign`` of ``msg``."""
    return wallet_sign_hash(sk, wallet_personal_hash(msg))


def _recover(digest: bytes, sig: bytes) -> bytes | None:
    if len(sig) != 65:
        return None
    v = sig[64]
    if v in (0, 27):
        recid = 0
    elif v in (1, 28):
        recid = 1
    else:
        return None
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
    if not (0 < r < N and 0 < s < N) or s > N // 2:
        return None
    try:
        pub = coincurve.PublicKey.from_signature_and_message(sig[:64] + bytes([recid]), digest, hasher=None)
    except Exception:  # noqa: BLE001 - libsecp256k1 reports every failed recovery as a plain exception
        return None
    return _address_of_point(pub.format(compressed=False))


def wallet_recover_hash(digest: Any, sig: Any) -> bytes | None:
    """The 20-byte address that signed ``digest``, or ``None``."""
    d = _bytes(digest)
    if len(d) != 32:
        raise InvalidArgumentError(f"digest must be 32 bytes, got {len(d)}")
    return _recover(d, _bytes(sig))


def wallet_recover_message(msg: Any, sig: Any) -> bytes | None:
    """The 20-byte address that ``personal_sign``ed ``msg``, or ``None``."""
    return _recover(wallet_personal_hash(msg), _bytes(sig))


def wallet_recover_messages(msgs: Any, sigs: Any) -> list[bytes | None]:
    """:func:`wallet_recover_message` for each pair."""
    m = [_bytes(x) for x in msgs]
    s = [_bytes(x) for x in sigs]
    if len(m) != len(s):
        raise InvalidArgumentError(f"msgs and sigs differ in length ({len(m)} vs {len(s)})")
    if len(m) > MAX_BATCH:
        raise InvalidArgumentError(f"batch of {len(m)} exceeds {MAX_BATCH}")
    return [_recover(wallet_personal_hash(a), b) for a, b in zip(m, s)]
