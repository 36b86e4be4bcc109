"""Pure-Python twin of the native CapToken reader and batch verifier (``rust/src/token/``).

It mirrors the Rust code step for step — the wire profile of JSON (``docs/captoken.md`` §2), the field checks in
the same order, the same messages — so both backends refuse the same tokens with the same error and build the same
signed bytes. Signatures are checked with the twins of Ed25519 (PyNaCl) and of the wallet functions (coincurve).
"""

from __future__ import annotations

from typing import Any

from capfast._py.ed25519 import _bytes, ed25519_verify
from capfast._py.wallet import wallet_parse_address, wallet_recover_message
from capfast._token_grammar import (
    CONTEXT,
    FIELDS,
    MAX_CAP_LEVEL,
    MAX_TIME,
    MAX_TOKEN_BYTES,
    REQUIRED,
    lower_hex,
    valid_audience,
    valid_device,
    valid_role,
    valid_scope,
)
from capfast.errors import (
    InvalidArgumentError,
    TokenFormatError,
    TokenTooLargeError,
    WalletError,
)

__all__ = ["captoken_parse", "captoken_verify_batch"]

MAX_UINT = (1 << 53) - 1
MAX_ARRAY = 64
MAX_BATCH = 1 << 22

_WS = b" \t\n\r"
_DIGITS = b"0123456789"


def _fmt(msg: str) -> TokenFormatError:
    return TokenFormatError(msg)


def _describe(b: int) -> str:
    return f"'{chr(b)}'" if 0x21 <= b <= 0x7E else f"byte 0x{b:02x}"


class _Reader:
    __slots__ = ("s", "pos")

    def __init__(self, s: bytes) -> None:
        self.s = s
        self.pos = 0

    def ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.pos < n and s[self.pos] in _WS:
            self.pos += 1

    def peek(self) -> int:
        if self.pos >= len(self.s):
            raise _fmt(f"truncated: unexpected end of input at byte {self.pos}")
        return self.s[self.pos]

    def expect(self, want: int) -> None:
        b = self.peek()
        if b != want:
            raise _fmt(f"expected '{chr(want)}' at byte {self.pos}, found {_describe(b)}")
        self.pos += 1

    def string(self) -> str:
        self.expect(0x22)
        start = self.pos
        while True:
            b = self.peek()
            if b == 0x22:
                break
            if b == 0x5C:
                raise _fmt(
                    f"escape sequence at byte {self.pos} (not canonical: token strings are printable ASCII "
                    "without escapes)"
                )
            if 0x20 <= b <= 0x7E:
                self.pos += 1
            elif b < 0x20 or b == 0x7F:
                raise _fmt(f"control character in a string at byte {self.pos}")
            else:
                raise _fmt(f"non-ASCII byte in a string at byte {self.pos}")
        text = self.s[start : self.pos].decode("ascii")
        self.pos += 1
        return text

    def uint(self) -> int:
        start = self.pos
        s, n = self.s, len(self.s)
        while self.pos < n and s[self.pos] in _DIGITS:
            self.pos += 1
        digits = s[start : self.pos]
        if self.pos < n and s[self.pos] in b".eE":
            raise _fmt(f"number at byte {start} has a fraction or exponent (integers only)")
        if len(digits) > 1 and digits[0] == 0x30:
            raise _fmt(f"number at byte {start} has a leading zero")
        if len(digits) > 16:
            raise _fmt(f"number at byte {start} is larger than {MAX_UINT}")
        v = int(digits)
        if v > MAX_UINT:
            raise _fmt(f"number at byte {start} is larger than {MAX_UINT}")
        return v

    def array(self) -> list[str]:
        self.expect(0x5B)
        items: list[str] = []
        self.ws()
        if self.peek() == 0x5D:
            self.pos += 1
            return items
        while True:
            self.ws()
            if self.peek() != 0x22:
                raise _fmt(f"array element at byte {self.pos} is not a string (found {_describe(self.peek())})")
            if len(items) == MAX_ARRAY:
                raise _fmt(f"array has more than {MAX_ARRAY} elements")
            items.append(self.string())
            self.ws()
            b = self.peek()
            if b == 0x2C:
                self.pos += 1
            elif b == 0x5D:
                self.pos += 1
                return items
            else:
                raise _fmt(f"expected ',' or ']' at byte {self.pos}, found {_describe(b)}")

    def value(self) -> str | int | list[str]:
        b = self.peek()
        if b == 0x22:
            return self.string()
        if b == 0x5B:
            return self.array()
        if 0x30 <= b <= 0x39:
            return self.uint()
        if b == 0x2D:
            raise _fmt(f"negative number at byte {self.pos} (unsigned integers only)")
        raise _fmt(
            f"unsupported value at byte {self.pos}: found {_describe(b)} (expected a string, an unsigned integer "
            "or an array of strings)"
        )


def _parse_object(text: bytes, known: tuple[str, ...]) -> list[tuple[str, Any]]:
    r = _Reader(text)
    r.ws()
    if r.pos == len(text):
        raise _fmt("empty input (expected a JSON object)")
    r.expect(0x7B)
    members: list[tuple[str, Any]] = []
    r.ws()
    if r.peek() == 0x7D:
        r.pos += 1
    else:
        seen: set[str] = set()
        while True:
            r.ws()
            at = r.pos
            if r.peek() != 0x22:
                raise _fmt(f"expected a member name at byte {at}, found {_describe(r.peek())}")
            key = r.string()
            if key not in known:
                raise _fmt(f'unknown field "{key}" at byte {at}')
            if key in seen:
                raise _fmt(f'duplicate field "{key}" at byte {at}')
            seen.add(key)
            r.ws()
            r.expect(0x3A)
            r.ws()
            members.append((key, r.value()))
            r.ws()
            b = r.peek()
            if b == 0x2C:
                r.pos += 1
            elif b == 0x7D:
                r.pos += 1
                break
            else:
                raise _fmt(f"expected ',' or '}}' at byte {r.pos}, found {_describe(b)}")
    r.ws()
    if r.pos != len(text):
        raise _fmt(f"trailing data at byte {r.pos}")
    return members


def _q(value: str) -> str:
    return '"' + value[:80] + '"'


def _check(ok: bool, name: str, what: str, value: str) -> None:
    if not ok:
        raise _fmt(f'field "{name}" must be {what}, got {_q(value)}')


def _take_str(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise _fmt(f'field "{name}" must be a string')
    return v


def _take_uint(v: Any, name: str) -> int:
    if not isinstance(v, int):
        raise _fmt(f'field "{name}" must be an unsigned integer')
    return v


def _time(v: Any, name: str) -> int:
    t = _take_uint(v, name)
    if t > MAX_TIME:
        raise _fmt(f'field "{name}" is after 9999-12-31 ({t})')
    return t


class _Parsed:
    __slots__ = ("claims", "issuer_kind", "issuer_raw", "signed", "signature")

    def __init__(self, claims: dict[str, Any], kind: str, raw: bytes, signed: bytes, signature: bytes) -> None:
        self.claims, self.issuer_kind, self.issuer_raw = claims, kind, raw
        self.signed, self.signature = signed, signature


def _parse(raw: bytes) -> _Parsed:
    if len(raw) > MAX_TOKEN_BYTES:
        raise TokenTooLargeError(f"token is {len(raw)} bytes, over the {MAX_TOKEN_BYTES}-byte limit")
    members = _parse_object(raw, FIELDS)
    got = dict(members)
    for name in REQUIRED:
        if name not in got:
            raise _fmt(f'missing field "{name}"')

    def opt_str(name: str) -> str | None:
        return _take_str(got[name], name) if name in got else None

    wallet = opt_str("wallet")
    effect = opt_str("effect")
    if wallet is not None and effect is not None:
        raise _fmt('a token carries either "wallet" or "effect", not both')
    if wallet is None and effect is None:
        raise _fmt('missing field "wallet" (or "effect" for a one-time token)')
    if wallet is not None:
        try:
            wallet_parse_address(wallet)
        except WalletError as exc:
            raise _fmt(f'field "wallet": {exc}') from None
    if effect is not None:
        _check(lower_hex(effect, 32), "effect", "32 lowercase hex digits", effect)
    role = _take_str(got["role"], "role")
    _check(valid_role(role), "role", "a role name (a-z, 0-9, inner '.', '_' or '-', at most 64)", role)
    scope = got["scope"]
    if not isinstance(scope, list):
        raise _fmt('field "scope" must be an array of strings')
    if not scope:
        raise _fmt('field "scope" must name at least one scope')
    for i, s in enumerate(scope):
        _check(valid_scope(s), "scope", "scopes of the form kind:/path[/*]", s)
        if s in scope[:i]:
            raise _fmt(f'field "scope" lists "{s}" twice')
    cap_level = _take_uint(got["cap_level"], "cap_level")
    if cap_level > MAX_CAP_LEVEL:
        raise _fmt(f'field "cap_level" must be at most {MAX_CAP_LEVEL}, got {cap_level}')
    valid_until = _time(got["valid_until"], "valid_until")
    issued_at = _time(got["issued_at"], "issued_at")
    not_before = _time(got["not_before"], "not_before")
    issuer = _take_str(got["issuer"], "issuer")
    if lower_hex(issuer, 32):
        kind, issuer_raw = "kid", bytes.fromhex(issuer)
    elif issuer.startswith("0x"):
        try:
            issuer_raw = wallet_parse_address(issuer)
        except WalletError as exc:
            raise _fmt(f'field "issuer": {exc}') from None
        kind = "wallet"
    else:
        raise _fmt(
            'field "issuer" must be a key id (32 lowercase hex digits) or a wallet address, got ' + _q(issuer)
        )
    token_id = _take_str(got["token_id"], "token_id")
    _check(lower_hex(token_id, 32), "token_id", "32 lowercase hex digits", token_id)
    revocation_id = _take_str(got["revocation_id"], "revocation_id")
    _check(lower_hex(revocation_id, 32), "revocation_id", "32 lowercase hex digits", revocation_id)
    audience = _take_str(got["audience"], "audience")
    _check(valid_audience(audience), "audience", "a lowercase DNS name", audience)
    device = opt_str("device")
    if device is not None:
        _check(valid_device(device), "device", "a device id (1-128 of A-Z a-z 0-9 . _ : -)", device)
    binding = opt_str("binding")
    if binding is not None:
        _check(lower_hex(binding, 64), "binding", "64 lowercase hex digits", binding)
    sig_text = _take_str(got["signature"], "signature")
    want = 128 if kind == "kid" else 130
    sig_hex = sig_text[2:] if sig_text.startswith("0x") else ""
    if not lower_hex(sig_hex, want):
        raise _fmt(
            f'field "signature" must be 0x and {want} lowercase hex digits for this issuer '
            f"({'Ed25519' if want == 128 else 'EIP-191'})"
        )
    claims: dict[str, Any] = {"audience": audience}
    if binding is not None:
        claims["binding"] = binding
    claims["cap_level"] = cap_level
    if device is not None:
        claims["device"] = device
    if effect is not None:
        claims["effect"] = effect
    claims.update(
        issued_at=issued_at,
        issuer=issuer,
        not_before=not_before,
        revocation_id=revocation_id,
        role=role,
        scope=list(scope),
        token_id=token_id,
        valid_until=valid_until,
    )
    if wallet is not None:
        claims["wallet"] = wallet
    return _Parsed(claims, kind, issuer_raw, _signed_bytes(members), bytes.fromhex(sig_hex))


def _signed_bytes(members: list[tuple[str, Any]]) -> bytes:
    parts = []
    for k, v in sorted((m for m in members if m[0] != "signature"), key=lambda m: m[0]):
        if isinstance(v, str):
            text = f'"{v}"'
        elif isinstance(v, int):
            text = str(v)
        else:
            text = "[" + ",".join(f'"{x}"' for x in v) + "]"
        parts.append(f'"{k}":{text}')
    return CONTEXT + ("{" + ",".join(parts) + "}").encode("ascii")


def captoken_parse(raw: Any) -> tuple[dict[str, Any], bytes, bytes]:
    """``(claims, signed, signature)`` of one token; a malformed token raises its named error."""
    p = _parse(_bytes(raw))
    return p.claims, p.signed, p.signature


def captoken_verify_batch(tokens: Any, kids: Any, keys: Any, wallets: Any) -> list[tuple[str | None, str, Any]]:
    """Per token ``(None, "", claims)`` or ``(kind, message, None)``; see the native docstring."""
    kid_list = [_bytes(k) for k in kids]
    key_list = [_bytes(k) for k in keys]
    if len(kid_list) != len(key_list):
        raise InvalidArgumentError("kids and keys differ in length")
    pinned_keys: dict[bytes, bytes] = {}
    for k, v in zip(kid_list, key_list):
        if len(k) != 16:
            raise InvalidArgumentError(f"a kid must be 16 bytes, got {len(k)}")
        if len(v) != 32:
            raise InvalidArgumentError(f"issuer key must be 32 bytes, got {len(v)}")
        pinned_keys[k] = v
    pinned_wallets: set[bytes] = set()
    for w in wallets:
        raw_w = _bytes(w)
        if len(raw_w) != 20:
            raise InvalidArgumentError(f"a wallet must be 20 bytes, got {len(raw_w)}")
        pinned_wallets.add(raw_w)
    items = [_bytes(t) for t in tokens]
    if len(items) > MAX_BATCH:
        raise InvalidArgumentError(f"batch of {len(items)} tokens exceeds {MAX_BATCH}")
    out: list[tuple[str | None, str, Any]] = []
    for raw in items:
        try:
            p = _parse(raw)
        except TokenTooLargeError as exc:
            out.append(("too_large", str(exc), None))
            continue
        except TokenFormatError as exc:
            out.append(("format", str(exc), None))
            continue
        issuer = p.claims["issuer"]
        if p.issuer_kind == "kid":
            pk = pinned_keys.get(p.issuer_raw)
            if pk is None:
                out.append(("untrusted_issuer", f"issuer {issuer} is not a pinned token issuer", None))
                continue
            ok = ed25519_verify(pk, p.signed, p.signature)
        else:
            if p.issuer_raw not in pinned_wallets:
                out.append(("untrusted_issuer", f"issuer {issuer} is not a pinned token issuer", None))
                continue
            ok = wallet_recover_message(p.signed, p.signature) == p.issuer_raw
        if ok:
            out.append((None, "", p.claims))
        else:
            out.append(("signature", f"signature does not verify for issuer {issuer}", None))
    return out

