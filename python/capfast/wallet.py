"""Ethereum-style wallets: Keccak-256, EIP-55 checksum addresses, EIP-191 ``personal_sign`` and signer recovery.

One validity rule (``docs/wallet.md``), identical in the native core (``k256``) and the pure-Python twin
(coincurve): a signature is 65 bytes ``r ‖ s ‖ v`` with ``1 ≤ r, s < n``, ``s ≤ n/2`` (low-S: a malleated twin of
a valid signature is refused) and ``v`` 27 or 28 (0 or 1 accepted too). Signing is RFC 6979 deterministic, so the
same key and message give the same signature as eth-account.

Addresses are handled as text in EIP-55 form (``0x5aAeb6…``); :func:`parse_address` accepts all-lowercase and
all-uppercase text (no checksum) and insists on the exact checksum when the case is mixed. Secret keys are 32 raw
bytes. Used by the CapToken layer (issuer wallets, holder binding) and by incidents.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any, NamedTuple

from capfast._backend import core
from capfast.errors import WalletError

__all__ = [
    "SECRET_KEY_LEN",
    "SIGNATURE_LEN",
    "Wallet",
    "address_of",
    "checksum_address",
    "generate",
    "is_checksum_address",
    "keccak256",
    "parse_address",
    "personal_hash",
    "recover_hash",
    "recover_message",
    "recover_messages",
    "same_address",
    "sign_hash",
    "sign_message",
    "verify_message",
]

SECRET_KEY_LEN = 32
SIGNATURE_LEN = 65


class Wallet(NamedTuple):
    """A secret key and its EIP-55 address."""

    secret: bytes
    address: str


def keccak256(data: Any) -> bytes:
    """Keccak-256 (Ethereum's hash; not FIPS 202 SHA3-256) of a bytes-like object."""
    return core.keccak256(data)


def personal_hash(message: Any) -> bytes:
    """``keccak256("\\x19Ethereum Signed Message:\\n" ‖ len ‖ message)``: what ``personal_sign`` signs (EIP-191)."""
    return core.wallet_personal_hash(_msg(message))


def _msg(message: Any) -> Any:
    return message.encode("utf-8") if isinstance(message, str) else message


def checksum_address(address: str | bytes) -> str:
    """The EIP-55 text of an address given as 20 bytes or as ``0x`` text (checked like :func:`parse_address`)."""
    raw = parse_address(address) if isinstance(address, str) else bytes(address)
    return core.wallet_checksum_address(raw)


def parse_address(text: str) -> bytes:
    """The 20 bytes of ``0x`` + 40 hex digits. Mixed case must be the exact EIP-55 checksum, else
    :class:`~capfast.errors.WalletError` naming the expected spelling."""
    return core.wallet_parse_address(text)


def is_checksum_address(text: str) -> bool:
    """Whether ``text`` is an address spelled exactly in its EIP-55 form."""
    try:
        return checksum_address(text) == text
    except (WalletError, TypeError):
        return False


def same_address(a: str, b: str) -> bool:
    """Whether two address texts name the same account (both are parsed, so a bad checksum raises)."""
    return hmac.compare_digest(parse_address(a), parse_address(b))


def generate() -> Wallet:
    """A fresh wallet from the operating system's random source."""
    sk = core.wallet_generate()
    return Wallet(sk, address_of(sk))


def address_of(secret: bytes) -> str:
    """The EIP-55 address of a 32-byte secret key."""
    return core.wallet_checksum_address(core.wallet_address(secret))


def sign_hash(secret: bytes, digest: bytes) -> bytes:
    """A 65-byte ``r ‖ s ‖ v`` signature of a 32-byte digest. Never sign a digest you did not compute."""
    return core.wallet_sign_hash(secret, digest)


def sign_message(secret: bytes, message: bytes | str) -> bytes:
    """EIP-191 ``personal_sign`` of ``message`` (``str`` is UTF-8 encoded), as a wallet would produce it."""
    return core.wallet_sign_message(secret, _msg(message))


def _addr_text(raw: bytes | None) -> str | None:
    return None if raw is None else core.wallet_checksum_address(raw)


def recover_hash(digest: bytes, signature: bytes) -> str | None:
    """The EIP-55 address whose key signed ``digest``, or ``None`` when the signature breaks the rule."""
    return _addr_text(core.wallet_recover_hash(digest, signature))


def recover_message(message: bytes | str, signature: bytes) -> str | None:
    """The EIP-55 address that ``personal_sign``ed ``message``, or ``None``."""
    return _addr_text(core.wallet_recover_message(_msg(message), signature))


def recover_messages(messages: Sequence[bytes], signatures: Sequence[bytes]) -> list[str | None]:
    """:func:`recover_message` for many pairs (native: in parallel, GIL released); each answer is the single one's."""
    return [_addr_text(a) for a in core.wallet_recover_messages(messages, signatures)]


def verify_message(address: str, message: bytes | str, signature: bytes) -> bool:
    """Whether ``signature`` is ``address``'s ``personal_sign`` of ``message``."""
    expected = parse_address(address)
    got = core.wallet_recover_message(_msg(message), signature)
    return got is not None and hmac.compare_digest(got, expected)
