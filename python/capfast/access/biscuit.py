"""The attenuable CapToken: a Biscuit (biscuit-auth 6, through biscuit-python) whose authority block carries the
claims and whose later blocks narrow them (``docs/captoken.md`` §6).

Authority block (signed by the issuer's cap-key.v1 token key, which must be pinned by the verifier)::

    capfast_token("v1"); issuer("<kid>"); wallet("0x…") | effect("…"); role("…"); scope("…")…;
    cap_level(71); valid_until(…); issued_at(…); not_before(…); token_id("…"); audience("…"); revocation_id("…");
    [device("…");] [binding("…");]
    check if time($t), $t <= <valid_until as a date>;

Attenuation blocks (any holder can append them offline; :func:`attenuate` writes only these forms)::

    check if covering_scope($s), {"app:/vpn", …}.contains($s);    // fewer scopes
    check if min_cap_level($m), $m <= 50;                          // lower level
    check if time($t), $t <= 2026-…Z;                               // earlier expiry
    check if device("board-7");                                     // bound to one device
    check if request_id("…");                                       // bound to one request

The verifier's authorizer supplies ``time(now − leeway)``, ``min_cap_level(m)``, ``covering_scope(c)`` for every
scope that covers the required one (:func:`capfast.access.scopes.covering`: membership is exactly segment matching),
``device``/``request_id`` when known, and checks the authority grants with ``check if covering_scope($s), scope($s)``
and ``check if min_cap_level($m), cap_level($l), $l >= $m``. Facts a later block adds are invisible to these checks
(Biscuit's scoping), so a block can only ever narrow. Datalog runs under fact and iteration limits
(:data:`LIMITS`); the wall-clock limit is set far above any honest evaluation, so verdicts do not depend on the
machine's speed, and a token that hits a limit is refused (:class:`~capfast.errors.DatalogLimitError`).
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import biscuit_auth as _b

from capfast.access.claims import Claims
from capfast.access.keys import IssuerKey
from capfast.access.scopes import covering, intersect
from capfast.captoken import MAX_CAP_LEVEL, valid_device, valid_scope
from capfast.errors import (
    CapLevelTooLowError,
    DatalogLimitError,
    DeviceMismatchError,
    ScopeNotGrantedError,
    TokenDeniedError,
    TokenExpiredError,
    TokenFormatError,
    TokenSignatureError,
    TokenTooLargeError,
)

__all__ = [
    "LIMITS",
    "MAX_BISCUIT_BYTES",
    "MAX_BLOCKS",
    "Attenuation",
    "BiscuitToken",
    "attenuate",
    "authorize",
    "inspect_unverified",
    "issue",
    "load",
    "looks_like_biscuit",
    "read_unverified_issuer",
]

#: Encoded size cap (base64url text or raw bytes), checked before decoding.
MAX_BISCUIT_BYTES = 16384
#: Most blocks (authority + attenuations).
MAX_BLOCKS = 16


@dataclass(frozen=True)
class Limits:
    max_facts: int = 1000
    max_iterations: int = 100
    #: A backstop only: honest evaluations take microseconds; fact/iteration limits are what bind.
    max_time: _dt.timedelta = _dt.timedelta(seconds=30)


LIMITS = Limits()

_SINGLE = ("issuer", "role", "cap_level", "valid_until", "issued_at", "not_before", "token_id", "audience",
           "revocation_id")
_OPTIONAL = ("wallet", "effect", "device", "binding")


def _date(t: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, _dt.UTC)


def _b64(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.strip()
    return base64.urlsafe_b64encode(bytes(data)).decode("ascii")


def looks_like_biscuit(token: bytes | str) -> bool:
    """Whether ``token`` is a Biscuit (base64url text or raw bytes) rather than JSON text."""
    if isinstance(token, str):
        return not token.lstrip().startswith("{")
    return not bytes(token).lstrip().startswith(b"{")


def _raw_text(token: bytes | str) -> str:
    if isinstance(token, str):
        text = token.strip()
        if len(text) > MAX_BISCUIT_BYTES:
            raise TokenTooLargeError(f"token is {len(text)} characters, over the {MAX_BISCUIT_BYTES} limit")
        if not re.fullmatch(r"[A-Za-z0-9_-]+=*", text):
            raise TokenFormatError("a Biscuit token must be base64url text")
        return text
    raw = bytes(token)
    if len(raw) > MAX_BISCUIT_BYTES:
        raise TokenTooLargeError(f"token is {len(raw)} bytes, over the {MAX_BISCUIT_BYTES} limit")
    return _b64(raw)


def _pk(public_key: bytes) -> Any:
    return _b.PublicKey.from_bytes(bytes(public_key), _b.Algorithm.Ed25519)


def issue(claims: Claims, signer: IssuerKey) -> str:
    """A Biscuit carrying ``claims``, signed by the Ed25519 issuer key (wallet issuers cannot sign Biscuits)."""
    if not isinstance(signer, IssuerKey):
        raise TokenFormatError("Biscuit tokens are signed by Ed25519 token keys (cap-key.v1), not by wallets")
    if claims.issuer != signer.kid:
        raise TokenFormatError(f"claims name issuer {claims.issuer}, but the signing key is {signer.kid}")
    lines = ['capfast_token("v1");']
    params: dict[str, Any] = {}
    d = claims.to_dict()
    for name, value in d.items():
        if name == "scope":
            for i, s in enumerate(value):
                lines.append(f"scope({{scope{i}}});")
                params[f"scope{i}"] = s
        else:
            lines.append(f"{name}({{{name}}});")
            params[name] = value
    lines.append("check if time($t), $t <= {expiry};")
    params["expiry"] = _date(claims.valid_until)
    builder = _b.BiscuitBuilder("\n".join(lines), params)
    return builder.build(_b.PrivateKey.from_bytes(signer.secret, _b.Algorithm.Ed25519)).to_base64()


def read_unverified_issuer(token: bytes | str) -> str:
    """The ``issuer`` the authority block names (read without checking signatures: only to pick the pinned key)."""
    text = _raw_text(token)
    try:
        ub = _b.UnverifiedBiscuit.from_base64(text)
        source = ub.block_source(0)
    except Exception as exc:  # noqa: BLE001 - biscuit-python raises several unrelated classes here
        raise TokenFormatError(f"not a Biscuit token: {exc}") from None
    found = re.findall(r'^issuer\("([0-9a-f]{32})"\);$', source, flags=re.M)
    if len(found) != 1:
        raise TokenFormatError("Biscuit authority block does not name exactly one issuer key")
    return found[0]


def inspect_unverified(token: bytes | str) -> tuple[Claims, list[str]]:
    """The authority claims and the attenuation blocks' Datalog, read **without** checking any signature (for
    display only; :func:`load` is what verification uses)."""
    text = _raw_text(token)
    try:
        ub = _b.UnverifiedBiscuit.from_base64(text)
        source = ub.block_source(0)
        blocks = [ub.block_source(i) for i in range(1, min(ub.block_count(), MAX_BLOCKS))]
    except Exception as exc:  # noqa: BLE001 - biscuit-python raises several unrelated classes here
        raise TokenFormatError(f"not a Biscuit token: {exc}") from None
    return _authority_claims(source), blocks


@dataclass(frozen=True)
class Attenuation:
    """One block's narrowing, as :func:`attenuate` writes it (``None`` = unchanged)."""

    scopes: tuple[str, ...] | None = None
    max_cap_level: int | None = None
    valid_until: int | None = None
    device: str | None = None
    request_id: str | None = None
    other: tuple[str, ...] = ()


@dataclass(frozen=True)
class BiscuitToken:
    """A Biscuit whose signatures verified under a pinned key: authority claims, attenuations, revocation ids."""

    token: Any
    claims: Claims
    attenuations: tuple[Attenuation, ...]
    revocation_ids: tuple[str, ...]

    def effective(self) -> Claims:
        """The claims as narrowed by every attenuation (what the token can still be used for)."""
        c = self.claims
        scopes = list(c.scope)
        level, until = c.cap_level, c.valid_until
        device = c.device
        for a in self.attenuations:
            if a.scopes is not None:
                scopes = intersect(scopes, a.scopes)
            if a.max_cap_level is not None:
                level = min(level, a.max_cap_level)
            if a.valid_until is not None:
                until = min(until, a.valid_until)
            if a.device is not None and device is None:
                device = a.device
        if not scopes:
            # Nothing left: represent as the empty grant the verifier will refuse for every scope.
            return c.replace(cap_level=level, valid_until=until, device=device)
        return c.replace(scope=tuple(scopes), cap_level=level, valid_until=until, device=device)


def _authority_claims(source: str) -> Claims:
    facts: dict[str, list[Any]] = {}
    for m in re.finditer(r'^([a-z_]+)\((?:"([^"\\]*)"|(\d+))\);$', source, flags=re.M):
        name, text, num = m.group(1), m.group(2), m.group(3)
        facts.setdefault(name, []).append(text if text is not None else int(num))
    if facts.get("capfast_token") != ["v1"]:
        raise TokenFormatError("not a CapToken Biscuit (no capfast_token(\"v1\") in the authority block)")
    data: dict[str, Any] = {}
    for name in _SINGLE:
        values = facts.get(name, [])
        if len(values) != 1:
            raise TokenFormatError(f"Biscuit authority block must state {name} exactly once")
        data[name] = values[0]
    for name in _OPTIONAL:
        values = facts.get(name, [])
        if len(values) > 1:
            raise TokenFormatError(f"Biscuit authority block states {name} more than once")
        if values:
            data[name] = values[0]
    data["scope"] = tuple(facts.get("scope", []))
    return Claims.from_dict(data)


_ATT_SCOPE = re.compile(r'^check if covering_scope\(\$s\), \{((?:"[^"\\]*"(?:, )?)+)\}\.contains\(\$s\)$')
_ATT_LEVEL = re.compile(r"^check if min_cap_level\(\$m\), \$m <= (\d+)$")
_ATT_TIME = re.compile(r"^check if time\(\$t\), \$t <= (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$")
_ATT_DEVICE = re.compile(r'^check if device\("([^"\\]*)"\)$')
_ATT_REQUEST = re.compile(r'^check if request_id\("([^"\\]*)"\)$')


def _parse_block(source: str) -> Attenuation:
    scopes: tuple[str, ...] | None = None
    level = until = None
    device = request = None
    other: list[str] = []
    for stmt in (s.strip() for s in source.split(";")):
        if not stmt:
            continue
        if m := _ATT_SCOPE.match(stmt):
            new = tuple(re.findall(r'"([^"\\]*)"', m.group(1)))
            scopes = new if scopes is None else tuple(intersect(scopes, new))
        elif m := _ATT_LEVEL.match(stmt):
            level = int(m.group(1)) if level is None else min(level, int(m.group(1)))
        elif m := _ATT_TIME.match(stmt):
            t = int(_dt.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp())
            until = t if until is None else min(until, t)
        elif m := _ATT_DEVICE.match(stmt):
            device = m.group(1)
        elif m := _ATT_REQUEST.match(stmt):
            request = m.group(1)
        else:
            other.append(stmt)
    return Attenuation(scopes, level, until, device, request, tuple(other))


def load(token: bytes | str, public_key: bytes) -> BiscuitToken:
    """Decode a Biscuit and check its signatures under ``public_key`` (the pinned key of the named issuer)."""
    text = _raw_text(token)
    try:
        tok = _b.Biscuit.from_base64(text, _pk(public_key))
    except Exception as exc:  # noqa: BLE001 - BiscuitValidationError / BiscuitSerializationError / ValueError
        message = str(exc)
        if "signature" in message.lower() or "verifying" in message.lower():
            raise TokenSignatureError(f"Biscuit signature does not verify under the pinned key: {message}") from None
        raise TokenFormatError(f"not a valid Biscuit token: {message}") from None
    count = tok.block_count()
    if count > MAX_BLOCKS:
        raise TokenFormatError(f"Biscuit has {count} blocks, more than {MAX_BLOCKS}")
    for i in range(count):
        if tok.block_external_key(i) is not None:
            raise TokenFormatError("third-party blocks are not accepted in CapTokens")
    claims = _authority_claims(tok.block_source(0))
    atts = tuple(_parse_block(tok.block_source(i)) for i in range(1, count))
    return BiscuitToken(tok, claims, atts, tuple(tok.revocation_ids))


def attenuate(
    token: bytes | str,
    public_key: bytes,
    *,
    scopes: Iterable[str] | None = None,
    max_cap_level: int | None = None,
    valid_until: int | None = None,
    device: str | None = None,
    request_id: str | None = None,
) -> str:
    """Append a block that narrows the token; needs only the issuer's *public* key (offline, no issuer contact).

    Any combination of: fewer ``scopes`` (each must be covered by the token's current scopes, else nothing would
    be left to use), a lower ``max_cap_level``, an earlier ``valid_until``, a ``device`` or ``request_id`` binding.
    The result can never do more than its parent (Biscuit blocks add checks; they cannot add trusted facts).
    """
    current = load(token, public_key)
    eff = current.effective()
    lines: list[str] = []
    params: dict[str, Any] = {}
    if scopes is not None:
        wanted = list(dict.fromkeys(scopes))
        if not wanted:
            raise TokenFormatError("attenuate to at least one scope")
        for s in wanted:
            if not valid_scope(s):
                raise TokenFormatError(f"scope {s!r} is not of the form kind:/path[/*]")
        if not intersect(eff.scope, wanted):
            raise ScopeNotGrantedError(f"none of {wanted} is covered by the token's scopes {list(eff.scope)}")
        lines.append("check if covering_scope($s), {" + ", ".join(f'"{s}"' for s in wanted) + "}.contains($s);")
    if max_cap_level is not None:
        bad = isinstance(max_cap_level, bool) or not isinstance(max_cap_level, int)
        if bad or not 0 <= max_cap_level <= MAX_CAP_LEVEL:
            raise TokenFormatError(f"max_cap_level must be 0..{MAX_CAP_LEVEL}")
        lines.append("check if min_cap_level($m), $m <= {level};")
        params["level"] = max_cap_level
    if valid_until is not None:
        if isinstance(valid_until, bool) or not isinstance(valid_until, int) or valid_until < 0:
            raise TokenFormatError("valid_until must be Unix seconds")
        lines.append("check if time($t), $t <= {until};")
        params["until"] = _date(valid_until)
    if device is not None:
        if not valid_device(device):
            raise TokenFormatError(f"device {device!r} is not a device id")
        lines.append("check if device({device});")
        params["device"] = device
    if request_id is not None:
        if not valid_device(request_id):
            raise TokenFormatError(f"request id {request_id!r} is not a request id")
        lines.append("check if request_id({request});")
        params["request"] = request_id
    if not lines:
        raise TokenFormatError("nothing to attenuate: give scopes, max_cap_level, valid_until, device or request_id")
    if current.token.block_count() >= MAX_BLOCKS:
        raise TokenFormatError(f"the token already has {MAX_BLOCKS} blocks")
    block = _b.BlockBuilder("\n".join(lines), params)
    return current.token.append(block).to_base64()


def _failed_check_error(message: str) -> Exception:
    if "execution limits" in message or "Timeout" in message:
        return DatalogLimitError(f"Datalog limits reached (facts {LIMITS.max_facts}, iterations "
                                 f"{LIMITS.max_iterations}): {message}")
    if "covering_scope" in message:
        return ScopeNotGrantedError(f"the token does not grant the required scope ({message})")
    if "min_cap_level" in message:
        return CapLevelTooLowError(f"the token's (attenuated) cap_level is below the required level ({message})")
    if "device(" in message or "request_id(" in message:
        return DeviceMismatchError(f"the token is bound to another device or request ({message})")
    if "time(" in message:
        return TokenExpiredError(f"the token (or an attenuation of it) has expired ({message})")
    return TokenDeniedError(f"authorization failed: {message}")


def authorize(
    bt: BiscuitToken,
    *,
    now: int,
    leeway: int,
    required_scope: str | None,
    min_cap_level: int,
    device: str | None = None,
    request_id: str | None = None,
) -> None:
    """Run the Datalog authorizer (module doc); raises the named error of the first kind of failed check."""
    lines = ["time({time});", "min_cap_level({min});", 'check if capfast_token("v1");',
             "check if min_cap_level($m), cap_level($l), $l >= $m;"]
    params: dict[str, Any] = {"time": _date(max(0, now - leeway)), "min": min_cap_level}
    if required_scope is not None:
        for i, c in enumerate(covering(required_scope)):
            lines.append(f"covering_scope({{c{i}}});")
            params[f"c{i}"] = c
        lines.append("check if covering_scope($s), scope($s);")
    if device is not None:
        lines.append("device({device});")
        params["device"] = device
    if request_id is not None:
        lines.append("request_id({request});")
        params["request"] = request_id
    lines.append("allow if true;")
    try:
        builder = _b.AuthorizerBuilder("\n".join(lines), params)
        limits = builder.limits()
        limits.max_facts = LIMITS.max_facts
        limits.max_iterations = LIMITS.max_iterations
        limits.max_time = LIMITS.max_time
        builder.set_limits(limits)
        builder.build(bt.token).authorize()
    except _b.AuthorizationError as exc:
        raise _failed_check_error(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - BiscuitValidationError for invalid block rules, DataLogError
        raise TokenFormatError(f"the token's Datalog cannot be evaluated: {exc}") from None
