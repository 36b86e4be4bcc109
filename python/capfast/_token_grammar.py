"""The CapToken field grammar (``docs/captoken.md`` §3–4), shared by the pure-Python twin of the wire reader and by
the access layer (the native core has the same rules in ``rust/src/token/mod.rs``). No capfast imports: it sits
below both.
"""

from __future__ import annotations

__all__ = [
    "CONTEXT",
    "FIELDS",
    "MAX_CAP_LEVEL",
    "MAX_SCOPE_LEN",
    "MAX_TIME",
    "MAX_TOKEN_BYTES",
    "REQUIRED",
    "lower_hex",
    "valid_audience",
    "valid_device",
    "valid_role",
    "valid_scope",
]

#: Largest token accepted, checked before parsing.
MAX_TOKEN_BYTES = 8192
#: Context string that starts every signed message (key-purpose separation).
CONTEXT = b"capfast-captoken-v1\n"
#: Highest capability level.
MAX_CAP_LEVEL = 100
#: Latest timestamp accepted (9999-12-31T23:59:59Z).
MAX_TIME = 253_402_300_799
MAX_SCOPE_LEN = 256
#: Every member name of the format, in canonical (sorted) order.
FIELDS = (
    "audience",
    "binding",
    "cap_level",
    "device",
    "effect",
    "issued_at",
    "issuer",
    "not_before",
    "revocation_id",
    "role",
    "scope",
    "signature",
    "token_id",
    "valid_until",
    "wallet",
)
#: The members every token has (besides one of wallet/effect).
REQUIRED = (
    "audience",
    "cap_level",
    "issued_at",
    "issuer",
    "not_before",
    "revocation_id",
    "role",
    "scope",
    "signature",
    "token_id",
    "valid_until",
)
_LOWER_HEX = frozenset("0123456789abcdef")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SEG = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")
_DEVICE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


def lower_hex(s: str, n: int) -> bool:
    return len(s) == n and all(c in _LOWER_HEX for c in s)


def valid_role(s: str) -> bool:
    if not s or len(s) > 64 or s[0] not in _WORD or s[-1] not in _WORD:
        return False
    prev_sep = False
    for c in s:
        sep = c in "._-"
        if not sep and c not in _WORD:
            return False
        if sep and prev_sep:
            return False
        prev_sep = sep
    return True


def valid_audience(s: str) -> bool:
    if not s or len(s) > 253:
        return False
    for label in s.split("."):
        if not label or len(label) > 63 or label[0] not in _WORD or label[-1] not in _WORD:
            return False
        if not all(c in _WORD or c == "-" for c in label):
            return False
    return True


def valid_device(s: str) -> bool:
    return 0 < len(s) <= 128 and all(c in _DEVICE for c in s)


def _valid_kind(s: str) -> bool:
    return 0 < len(s) <= 32 and "a" <= s[0] <= "z" and all(c in _WORD or c == "-" for c in s)


def _valid_segment(s: str) -> bool:
    return 0 < len(s) <= 64 and s not in (".", "..") and all(c in _SEG for c in s)


def valid_scope(s: str) -> bool:
    if len(s) > MAX_SCOPE_LEN or ":/" not in s:
        return False
    kind, path = s.split(":/", 1)
    if not _valid_kind(kind):
        return False
    segments = path.split("/")
    if segments[-1] == "*":
        return all(_valid_segment(x) for x in segments[:-1])
    return all(_valid_segment(x) for x in segments)
