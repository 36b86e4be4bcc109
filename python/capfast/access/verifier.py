"""The one CapToken verifier. Every consumer of a token — containers, the VPN gate, devices, incidents, the REST
API — calls :meth:`Verifier.verify` (or :func:`verify`) and gets the verified claims or a named error.

Both encodings go through the same steps, failing closed at the first problem (``docs/captoken.md`` §5):

1. **Form** — size cap before parsing, then the JSON wire profile or the Biscuit decoding
   (:class:`~capfast.errors.TokenFormatError`, :class:`~capfast.errors.TokenTooLargeError`).
2. **Issuer** — the issuer the token names must be pinned (and its key valid now); the signature must verify under
   the pinned key (:class:`~capfast.errors.UntrustedIssuerError`, :class:`~capfast.errors.TokenSignatureError`).
3. **Revocation** — no revocation id of the token on its issuer's newest signed list
   (:class:`~capfast.errors.TokenRevokedError`).
4. **Time** — ``not_before`` and ``issued_at`` no further in the future than the leeway, ``valid_until`` plus the
   leeway not past, lifetime within the cap (5 minutes for one-time tokens)
   (:class:`~capfast.errors.TokenNotYetValidError`, :class:`~capfast.errors.TokenExpiredError`).
5. **Grant** — audience equal, role covered, scope covered (segment matching), cap_level at least the minimum,
   device binding (:class:`~capfast.errors.TokenDeniedError` subclasses); for a Biscuit, the Datalog authorizer also
   enforces every attenuation block under fixed limits.
6. **Holder** — when asked, a fresh EIP-191 proof by the token's wallet (:class:`~capfast.errors.HolderProofError`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from capfast import captoken, ed25519, wallet
from capfast.access import biscuit
from capfast.access.claims import Claims, unix_time
from capfast.access.holder import HolderProof
from capfast.access.keys import TrustedIssuers
from capfast.access.replay import RedemptionStore
from capfast.access.revocation import RevocationSet
from capfast.access.scopes import covers_any, role_covers
from capfast.errors import (
    AudienceMismatchError,
    CapLevelTooLowError,
    DeviceMismatchError,
    HolderProofError,
    InvalidArgumentError,
    RoleNotGrantedError,
    ScopeNotGrantedError,
    TokenDeniedError,
    TokenError,
    TokenExpiredError,
    TokenFormatError,
    TokenNotYetValidError,
    TokenReplayError,
    TokenSignatureError,
    UntrustedIssuerError,
)

__all__ = ["DEFAULT_LEEWAY", "MAX_LEEWAY", "ONE_TIME_MAX_LIFETIME", "Verified", "Verifier", "verify"]

DEFAULT_LEEWAY = 30
MAX_LEEWAY = 60
ONE_TIME_MAX_LIFETIME = 300


@dataclass(frozen=True)
class Verified:
    """A token that passed every check. ``claims`` are the effective claims (a Biscuit's attenuations applied);
    ``authority`` what the issuer signed."""

    claims: Claims
    encoding: str
    authority: Claims
    revocation_ids: tuple[str, ...]
    attenuations: tuple[biscuit.Attenuation, ...] = ()
    holder_verified: bool = False
    issuer_kind: str = field(default="ed25519")

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": True,
            "encoding": self.encoding,
            "issuer_kind": self.issuer_kind,
            "claims": self.claims.to_dict(),
            "authority": self.authority.to_dict(),
            "attenuations": len(self.attenuations),
            "revocation_ids": list(self.revocation_ids),
            "holder_verified": self.holder_verified,
        }


class Verifier:
    """Pinned issuers, revocation lists and time policy, applied identically to every token."""

    def __init__(
        self,
        trusted: TrustedIssuers,
        *,
        revocations: RevocationSet | None = None,
        audience: str | None = None,
        leeway: int = DEFAULT_LEEWAY,
        max_lifetime: int | None = None,
        nonce_store: RedemptionStore | None = None,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise InvalidArgumentError(f"leeway must be 0..{MAX_LEEWAY} seconds (clock skew only)")
        self.trusted = trusted
        self.revocations = revocations
        self.audience = audience
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.nonce_store = nonce_store

    # -- policy shared by both encodings ---------------------------------------------------------------------------
    def _key_valid(self, issuer: str, now: int) -> None:
        if not issuer.startswith("0x"):
            self.trusted.key_for(issuer, now)

    def _time(self, c: Claims, now: int) -> None:
        if c.valid_until < c.issued_at or c.valid_until < c.not_before:
            raise TokenFormatError("valid_until lies before issued_at or not_before")
        if c.issued_at > now + self.leeway:
            raise TokenNotYetValidError(
                f"token issued in the future ({c.issued_at}, now {now}): check the issuer clock"
            )
        if c.not_before > now + self.leeway:
            raise TokenNotYetValidError(f"token not valid before {c.not_before} (now {now})")
        if c.valid_until + self.leeway < now:
            raise TokenExpiredError(f"token expired at {c.valid_until} (now {now})")
        lifetime = c.valid_until - c.issued_at
        if c.one_time and lifetime > ONE_TIME_MAX_LIFETIME:
            raise TokenFormatError(f"one-time token lives {lifetime} s, over the {ONE_TIME_MAX_LIFETIME} s cap")
        if self.max_lifetime is not None and lifetime > self.max_lifetime:
            raise TokenFormatError(f"token lives {lifetime} s, over this verifier's {self.max_lifetime} s cap")

    def _grant(
        self,
        c: Claims,
        *,
        audience: str | None,
        role: str | None,
        required_scope: str | None,
        min_cap_level: int,
        device: str | None,
    ) -> None:
        aud = audience if audience is not None else self.audience
        if aud is None:
            raise TokenDeniedError("no audience given: a verifier must say which domain it serves (audience=...)")
        if not hmac.compare_digest(c.audience.encode(), aud.encode()):
            raise AudienceMismatchError(f"token is for {c.audience!r}, not for {aud!r}")
        if role is not None and not role_covers(c.role, role):
            raise RoleNotGrantedError(f"token role {c.role!r} does not cover {role!r}")
        if required_scope is not None and not covers_any(c.scope, required_scope):
            raise ScopeNotGrantedError(f"no scope of the token ({', '.join(c.scope)}) covers {required_scope!r}")
        if c.cap_level < min_cap_level:
            raise CapLevelTooLowError(f"cap_level {c.cap_level} is below the required {min_cap_level}")
        if c.device is not None and (device is None or not hmac.compare_digest(c.device.encode(), device.encode())):
            raise DeviceMismatchError(f"token is bound to device {c.device!r}, presented by {device!r}")

    def _holder(self, c: Claims, proof: HolderProof | None, now: int, aud: str | None) -> bool:
        if proof is None:
            raise HolderProofError("proof of possession required: sign a fresh challenge with the token's wallet")
        if c.wallet is None:
            raise HolderProofError("a token without a wallet (one-time token) cannot prove a holder")
        ch = proof.challenge
        if aud is not None and ch.audience != aud:
            raise HolderProofError(f"challenge is for {ch.audience!r}, not for {aud!r}")
        if ch.issued_at > now + self.leeway or ch.expires_at + self.leeway < now:
            raise HolderProofError("challenge is not fresh (outside its window)")
        if not wallet.verify_message(c.wallet, ch.message(c.token_id), proof.signature):
            raise HolderProofError("challenge was not signed by the token's wallet")
        if self.nonce_store is not None and not self.nonce_store.redeem("nonce:" + ch.nonce, ch.expires_at, now=now):
            raise TokenReplayError("holder challenge already used (replayed proof)")
        return True

    # -- entry points ----------------------------------------------------------------------------------------------
    def verify(
        self,
        token: bytes | str,
        *,
        required_scope: str | None = None,
        min_cap_level: int = 0,
        audience: str | None = None,
        role: str | None = None,
        device: str | None = None,
        request_id: str | None = None,
        now: int | float | _dt.datetime | None = None,
        holder_proof: HolderProof | None = None,
        require_holder: bool = False,
    ) -> Verified:
        """Verify a JSON or Biscuit token for one request; the verified claims, or a named
        :class:`~capfast.errors.TokenError`."""
        t = unix_time(now)
        if isinstance(min_cap_level, bool) or not isinstance(min_cap_level, int) or min_cap_level < 0:
            raise InvalidArgumentError("min_cap_level must be a non-negative integer")
        if biscuit.looks_like_biscuit(token):
            v, bt = self._biscuit(token, t)
            eff = v.claims
            self._time(v.authority, t)
            self._grant(eff, audience=audience, role=role, required_scope=required_scope,
                        min_cap_level=min_cap_level, device=device)
            biscuit.authorize(bt, now=t, leeway=self.leeway, required_scope=required_scope,
                              min_cap_level=min_cap_level, device=device if device is not None else eff.device,
                              request_id=request_id)
        else:
            v = self._json(token, t)
            self._time(v.claims, t)
            self._grant(v.claims, audience=audience, role=role, required_scope=required_scope,
                        min_cap_level=min_cap_level, device=device)
        if require_holder or holder_proof is not None:
            ok = self._holder(v.claims, holder_proof, t, audience if audience is not None else self.audience)
            v = Verified(v.claims, v.encoding, v.authority, v.revocation_ids, v.attenuations, ok, v.issuer_kind)
        return Verified(v.claims, v.encoding, v.authority, v.revocation_ids, v.attenuations, v.holder_verified,
                        v.issuer_kind)

    def _revoked(self, issuer: str, ids: Iterable[str]) -> None:
        if self.revocations is not None:
            self.revocations.check(issuer, ids)

    def _json(self, token: bytes | str, now: int) -> Verified:
        parsed = captoken.parse(token)
        claims = Claims.from_wire(parsed.claims)
        issuer = claims.issuer
        if issuer.startswith("0x"):
            if not self.trusted.has_wallet(issuer):
                raise UntrustedIssuerError(f"issuer {issuer} is not a pinned token issuer")
            ok = wallet.verify_message(issuer, parsed.signed, parsed.signature)
            kind = "wallet"
        else:
            key = self.trusted.key_for(issuer, now)
            ok = ed25519.verify(key.public_key, parsed.signed, parsed.signature)
            kind = "ed25519"
        if not ok:
            raise TokenSignatureError(f"signature does not verify for issuer {issuer}")
        ids = (claims.revocation_id, claims.token_id)
        self._revoked(issuer, ids)
        return Verified(claims, "json", claims, ids, (), False, kind)

    def _biscuit(self, token: bytes | str, now: int) -> tuple[Verified, biscuit.BiscuitToken]:
        kid = biscuit.read_unverified_issuer(token)
        key = self.trusted.key_for(kid, now)
        bt = biscuit.load(token, key.public_key)
        if bt.claims.issuer != kid:
            raise TokenFormatError("Biscuit names two different issuers")
        ids = (bt.claims.revocation_id, bt.claims.token_id, *bt.revocation_ids)
        self._revoked(kid, ids)
        return Verified(bt.effective(), "biscuit", bt.claims, ids, bt.attenuations, False, "ed25519"), bt

    def verify_batch(
        self,
        tokens: Sequence[bytes | str],
        *,
        required_scope: str | None = None,
        min_cap_level: int = 0,
        audience: str | None = None,
        role: str | None = None,
        device: str | None = None,
        now: int | float | _dt.datetime | None = None,
    ) -> list[Verified | TokenError]:
        """Verdicts for many tokens, each what :meth:`verify` gives alone (without holder proofs). JSON tokens are
        parsed and their signatures checked in one native batch; Biscuits one by one."""
        t = unix_time(now)
        kw: dict[str, Any] = dict(required_scope=required_scope, min_cap_level=min_cap_level, audience=audience,
                                  role=role, device=device)
        out: list[Verified | TokenError | None] = [None] * len(tokens)
        json_idx = [i for i, tok in enumerate(tokens) if not biscuit.looks_like_biscuit(tok)]
        keys, wallets = self.trusted.pinned_for_batch()
        results = captoken.verify_batch([tokens[i] for i in json_idx], keys, wallets)
        for i, r in zip(json_idx, results):
            if isinstance(r, TokenError):
                out[i] = r
                continue
            try:
                claims = Claims.from_wire(r)
                self._key_valid(claims.issuer, t)
                ids = (claims.revocation_id, claims.token_id)
                self._revoked(claims.issuer, ids)
                self._time(claims, t)
                self._grant(claims, **kw)
                kind = "wallet" if claims.issuer.startswith("0x") else "ed25519"
                out[i] = Verified(claims, "json", claims, ids, (), False, kind)
            except TokenError as exc:
                out[i] = exc
        for i, tok in enumerate(tokens):
            if out[i] is None:
                try:
                    out[i] = self.verify(tok, now=t, **kw)
                except TokenError as exc:
                    out[i] = exc
        return [o for o in out if o is not None]

    def redeem(
        self,
        token: bytes | str,
        store: RedemptionStore,
        *,
        device: str,
        verifier_secret: bytes | None = None,
        audience: str | None = None,
        required_scope: str | None = None,
        role: str | None = None,
        min_cap_level: int = 0,
        now: int | float | _dt.datetime | None = None,
    ) -> Verified:
        """Verify a one-time token for ``device`` and mark it used, atomically, *before* the caller acts on it.

        A token that carries a ``binding`` needs the ``verifier_secret`` whose SHA-256 it names (PKCE-style: only
        the device that asked holds it). A second redemption of the same token id raises
        :class:`~capfast.errors.TokenReplayError`."""
        t = unix_time(now)
        v = self.verify(token, audience=audience, device=device, required_scope=required_scope, role=role,
                        min_cap_level=min_cap_level, now=t)
        c = v.claims
        if not c.one_time or c.device is None:
            raise TokenDeniedError("only one-time device tokens (effect, device) can be redeemed")
        if c.binding is not None:
            if verifier_secret is None:
                raise DeviceMismatchError("this token is bound to the requesting device's secret; none was given")
            if not hmac.compare_digest(hashlib.sha256(verifier_secret).hexdigest(), c.binding):
                raise DeviceMismatchError("the device secret does not match the token's binding")
        if not store.redeem(c.token_id, c.valid_until, now=t):
            raise TokenReplayError(f"token {c.token_id} was already redeemed")
        return v


def verify(
    token: bytes | str,
    *,
    trusted: TrustedIssuers,
    required_scope: str | None = None,
    min_cap_level: int = 0,
    audience: str | None = None,
    role: str | None = None,
    device: str | None = None,
    now: int | float | _dt.datetime | None = None,
    revocations: RevocationSet | None = None,
    leeway: int = DEFAULT_LEEWAY,
) -> Verified:
    """One-call form of :meth:`Verifier.verify`."""
    return Verifier(trusted, revocations=revocations, leeway=leeway).verify(
        token, required_scope=required_scope, min_cap_level=min_cap_level, audience=audience, role=role,
        device=device, now=now,
    )
