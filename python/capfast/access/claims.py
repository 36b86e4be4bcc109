"""The one claims model of a CapToken, whichever encoding carries it (``docs/captoken.md`` §3).

The seed's token (``wallet``, ``role``, ``scope``, ``cap_level``, ``valid_until``, ``signature``) plus what a
verifier needs to be safe: ``issuer``, ``issued_at``, ``not_before``, ``token_id``, ``audience`` (the domain the
token is for) and ``revocation_id``. A one-time token (CapQR) carries no ``wallet`` but an opaque ``effect``
reference, and is bound to a ``device`` and, PKCE-style, to a ``binding`` = SHA-256 of a secret only the requesting
device holds. Times are Unix seconds.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from capfast import captoken
from capfast.errors import TokenFormatError, WalletError
from capfast.wallet import parse_address

__all__ = ["SEED_FIELDS", "TOKEN_FIELDS", "Claims", "new_id", "unix_time"]

#: The seed's fields, in the seed's order (``cap token inspect`` shows them first, in this order).
SEED_FIELDS = ("wallet", "role", "scope", "cap_level", "valid_until")
#: Every claim in the order capfast writes a JSON token (the seed's first); ``signature`` comes last.
TOKEN_FIELDS = (
    "wallet",
    "effect",
    "role",
    "scope",
    "cap_level",
    "valid_until",
    "issuer",
    "issued_at",
    "not_before",
    "token_id",
    "audience",
    "revocation_id",
    "device",
    "binding",
)


def new_id() -> str:
    """A fresh 128-bit identifier as 32 lowercase hex digits (token ids, revocation ids, effect references)."""
    return os.urandom(16).hex()


def unix_time(now: int | float | _dt.datetime | None = None) -> int:
    """Whole Unix seconds for ``now`` (default: the system clock). Naive datetimes are refused (ambiguous)."""
    if now is None:
        return int(time.time())
    if isinstance(now, _dt.datetime):
        if now.tzinfo is None:
            raise TokenFormatError("a datetime for token times must carry a time zone")
        return int(now.timestamp())
    if isinstance(now, bool) or not isinstance(now, int | float):
        raise TokenFormatError(f"a time must be Unix seconds or an aware datetime, not {type(now).__name__}")
    return int(now)


@dataclass(frozen=True)
class Claims:
    """What a token says. Instances are checked against the format's grammar on construction (so a model object
    is always encodable), and compare by value."""

    role: str
    scope: tuple[str, ...]
    cap_level: int
    valid_until: int
    issuer: str
    issued_at: int
    not_before: int
    token_id: str
    audience: str
    revocation_id: str
    wallet: str | None = None
    effect: str | None = None
    device: str | None = None
    binding: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", tuple(self.scope))
        self.check()

    def check(self) -> None:
        """Grammar and consistency checks (the same rules the wire reader applies)."""
        if (self.wallet is None) == (self.effect is None):
            raise TokenFormatError("a token carries exactly one of wallet (a holder) or effect (a one-time token)")
        if self.wallet is not None:
            try:
                parse_address(self.wallet)
            except WalletError as exc:
                raise TokenFormatError(f"wallet: {exc}") from None
        if not captoken.valid_role(self.role):
            raise TokenFormatError(f"role {self.role!r} is not a role name (a-z, 0-9, inner '.', '_' or '-')")
        if not self.scope:
            raise TokenFormatError("a token must grant at least one scope")
        for s in self.scope:
            if not isinstance(s, str) or not captoken.valid_scope(s):
                raise TokenFormatError(f"scope {s!r} is not of the form kind:/path[/*] (docs/captoken.md §4)")
        if len(set(self.scope)) != len(self.scope):
            raise TokenFormatError("a scope is listed twice")
        for name in ("cap_level", "valid_until", "issued_at", "not_before"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TokenFormatError(f"{name} must be a non-negative integer, got {v!r}")
        if self.cap_level > captoken.MAX_CAP_LEVEL:
            raise TokenFormatError(f"cap_level must be at most {captoken.MAX_CAP_LEVEL}, got {self.cap_level}")
        for name in ("valid_until", "issued_at", "not_before"):
            if getattr(self, name) > captoken.MAX_TIME:
                raise TokenFormatError(f"{name} is after 9999-12-31")
        if not captoken.valid_audience(self.audience):
            raise TokenFormatError(f"audience {self.audience!r} is not a lowercase DNS name")
        for name in ("token_id", "revocation_id"):
            if not captoken.lower_hex(getattr(self, name), 32):
                raise TokenFormatError(f"{name} must be 32 lowercase hex digits")
        if self.effect is not None and not captoken.lower_hex(self.effect, 32):
            raise TokenFormatError("effect must be 32 lowercase hex digits")
        if self.device is not None and not captoken.valid_device(self.device):
            raise TokenFormatError(f"device {self.device!r} is not a device id (1-128 of A-Z a-z 0-9 . _ : -)")
        if self.binding is not None and not captoken.lower_hex(self.binding, 64):
            raise TokenFormatError("binding must be 64 lowercase hex digits (a SHA-256)")

    @property
    def one_time(self) -> bool:
        """Whether this is a CapQR one-time token (an effect reference instead of a wallet)."""
        return self.effect is not None

    def to_dict(self) -> dict[str, Any]:
        """The claims as JSON data in :data:`TOKEN_FIELDS` order, absent optional claims omitted."""
        out: dict[str, Any] = {}
        for name in TOKEN_FIELDS:
            v = getattr(self, name)
            if v is None:
                continue
            out[name] = list(v) if name == "scope" else v
        return out

    def seed_view(self) -> dict[str, Any]:
        """The seed's own fields (``wallet`` or, for a one-time token, ``effect``), in the seed's order."""
        d = self.to_dict()
        first = "wallet" if self.wallet is not None else "effect"
        return {k: d[k] for k in (first, *SEED_FIELDS[1:])}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Claims:
        """Claims from JSON data (unknown names are refused; ``signature`` is ignored)."""
        unknown = sorted(set(data) - set(TOKEN_FIELDS) - {"signature"})
        if unknown:
            raise TokenFormatError(f"unknown claim(s): {', '.join(unknown)}")
        missing = [
            n
            for n in TOKEN_FIELDS
            if n not in data and n not in ("wallet", "effect", "device", "binding")
        ]
        if missing:
            raise TokenFormatError(f"missing claim(s): {', '.join(missing)}")
        kwargs = {n: data[n] for n in TOKEN_FIELDS if n in data}
        kwargs["scope"] = tuple(kwargs["scope"]) if isinstance(kwargs["scope"], list | tuple) else kwargs["scope"]
        return cls(**kwargs)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Claims:
        """Claims from the dict the wire reader (:func:`capfast.captoken.parse`) returned. The reader has already
        enforced every rule :meth:`check` would, so this skips re-checking (the batch path's hot loop)."""
        obj = object.__new__(cls)
        get = data.get
        for name in TOKEN_FIELDS:
            value = get(name)
            object.__setattr__(obj, name, tuple(value or ()) if name == "scope" else value)
        return obj

    def replace(self, **changes: Any) -> Claims:
        """A copy with some claims changed (re-checked)."""
        return replace(self, **changes)

    @classmethod
    def new(
        cls,
        *,
        role: str,
        scope: Iterable[str],
        cap_level: int,
        audience: str,
        issuer: str,
        lifetime: int = 3600,
        wallet: str | None = None,
        effect: str | None = None,
        device: str | None = None,
        binding: str | None = None,
        now: int | float | _dt.datetime | None = None,
        not_before: int | None = None,
        token_id: str | None = None,
        revocation_id: str | None = None,
    ) -> Claims:
        """Claims for a new token: fresh ids, ``issued_at = now``, ``valid_until = now + lifetime``."""
        t = unix_time(now)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise TokenFormatError(f"lifetime must be a positive number of seconds, got {lifetime!r}")
        return cls(
            role=role,
            scope=tuple(scope),
            cap_level=cap_level,
            valid_until=t + lifetime,
            issuer=issuer,
            issued_at=t,
            not_before=t if not_before is None else not_before,
            token_id=token_id or new_id(),
            audience=audience,
            revocation_id=revocation_id or new_id(),
            wallet=wallet,
            effect=effect,
            device=device,
            binding=binding,
        )
