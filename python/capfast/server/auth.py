"""OAuth2 bearer JWT validation: RS256 only, keys from a PEM file or a JWKS URL (never from the token).

Rules (RFC 8725; reference notes security.md §6):

* the header is decoded first and bounded (token ≤ 8 KiB); ``alg`` must be exactly ``RS256`` (``none``, ``HS*``,
  ``ES*``... are refused before any key is looked at); ``jku``/``x5u``/``jwk`` headers are ignored; unknown
  ``crit`` parameters are refused by PyJWT; ``typ``, when present, must be ``JWT`` or ``at+jwt``;
* with a JWKS, ``kid`` is only a dictionary key into the fetched set; an unknown ``kid`` triggers at most one
  refresh per cooldown (default 30 s), so random ``kid`` values cannot make the server hammer the JWKS URL;
  the set must hold RSA keys of at least 2048 bits, no duplicate ``kid``, ``use``/``alg`` consistent with RS256;
* claims ``exp``, ``iat``, ``iss``, ``aud``, ``sub`` are required; ``iss`` must equal the configured issuer exactly,
  ``aud`` must contain the configured audience; ``exp``/``nbf``/``iat`` are checked with a small leeway; the
  lifetime ``exp - iat`` is bounded;
* ``scope`` (space-separated) must contain the endpoint's scope, else 403.

There is no bypass token and no built-in key. Without a configured key every protected endpoint answers 401 with
a message saying how to configure one.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from capfast import strict_json
from capfast.errors import CapfastError
from capfast.server.config import ServerConfig

__all__ = ["AuthError", "Authenticator", "Principal", "NOT_CONFIGURED_MESSAGE", "SCOPES"]

MAX_TOKEN_BYTES = 8192
MAX_JWKS_BYTES = 512 * 1024
MIN_RSA_BITS = 2048
NOT_CONFIGURED_MESSAGE = (
    "authentication is not configured on this server: set CAP_AUTH_PUBLIC_KEY_PEM=/path/to/rsa-public.pem or "
    "CAP_AUTH_JWKS_URL=https://issuer/.well-known/jwks.json (plus CAP_AUTH_ISSUER, CAP_AUTH_AUDIENCE) and restart "
    "'cap serve'"
)

#: The scope each protected operation needs.
SCOPES = {
    "verify": "verify:read",
    "upload": "verify:read",
    "policy_read": "policy:read",
    "policy_write": "policy:write",
    "store_publish": "store:publish",
    "tokens_verify": "tokens:verify",
}


class AuthError(CapfastError):
    """Authentication (401) or authorization (403) failure; ``status`` says which."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    """The validated caller."""

    subject: str
    scopes: frozenset[str]
    claims: dict[str, Any]


def _check_rsa(key: Any, where: str) -> RSAPublicKey:
    if not isinstance(key, RSAPublicKey):
        raise AuthError(f"{where}: not an RSA public key")
    if key.key_size < MIN_RSA_BITS:
        raise AuthError(f"{where}: RSA key of {key.key_size} bits, at least {MIN_RSA_BITS} required")
    return key


class JwksCache:
    """A JWKS fetched from one configured URL, cached, refreshed at most once per cooldown for unknown kids."""

    def __init__(self, url: str, lifespan: int = 300, cooldown: int = 30, timeout: float = 5.0) -> None:
        self.url = url
        self.lifespan = lifespan
        self.cooldown = cooldown
        self.timeout = timeout
        self.keys: dict[str, RSAPublicKey] = {}
        self.fetched_at = float("-inf")
        self.fetches = 0
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        self.fetches += 1
        self.fetched_at = time.monotonic()
        req = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL only
            raw = resp.read(MAX_JWKS_BYTES + 1)
        if len(raw) > MAX_JWKS_BYTES:
            raise AuthError("JWKS document too large")
        doc = strict_json.loads(raw, what="JWKS document", error=AuthError, max_bytes=MAX_JWKS_BYTES)
        entries = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise AuthError("JWKS document has no 'keys' list")
        keys: dict[str, RSAPublicKey] = {}
        for jwk in entries:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
                continue
            kid = jwk.get("kid")
            if not isinstance(kid, str) or not kid:
                continue
            if kid in keys:
                raise AuthError(f"JWKS has duplicate kid {kid!r}")
            keys[kid] = _check_rsa(jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk)), f"JWKS key {kid!r}")
        self.keys = keys

    def get(self, kid: str) -> RSAPublicKey | None:
        with self._lock:
            now = time.monotonic()
            if now - self.fetched_at > self.lifespan:
                self._safe_fetch()
            elif kid not in self.keys and now - self.fetched_at >= self.cooldown:
                self._safe_fetch()
            return self.keys.get(kid)

    def _safe_fetch(self) -> None:
        try:
            self._fetch()
        except (OSError, ValueError, AuthError, jwt.exceptions.PyJWTError):
            pass  # keep the previous keys; the failed attempt still counts for the cooldown


class Authenticator:
    """Validates bearer tokens according to the configuration (see the module docstring)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.static_key: RSAPublicKey | None = None
        self.jwks: JwksCache | None = None
        if config.auth_public_key_pem:
            with open(config.auth_public_key_pem, "rb") as fh:
                self.static_key = _check_rsa(load_pem_public_key(fh.read()), config.auth_public_key_pem)
        if config.auth_jwks_url:
            self.jwks = JwksCache(config.auth_jwks_url, config.auth_jwks_cache_seconds,
                                  config.auth_jwks_refresh_cooldown)

    @property
    def configured(self) -> bool:
        return self.static_key is not None or self.jwks is not None

    def authenticate(self, authorization: str | None, scope: str) -> Principal:
        """The caller of a request with header ``authorization``, holding ``scope``; :class:`AuthError` otherwise."""
        if not self.configured:
            raise AuthError(NOT_CONFIGURED_MESSAGE)
        if not authorization:
            raise AuthError("Missing or invalid authorization token")
        kind, _, token = authorization.partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            raise AuthError("Missing or invalid authorization token")
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("Missing or invalid authorization token (token too large)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.exceptions.PyJWTError:
            raise AuthError("Missing or invalid authorization token (malformed)") from None
        if header.get("alg") != "RS256":
            raise AuthError("Missing or invalid authorization token (algorithm must be RS256)")
        if header.get("typ") not in (None, "JWT", "at+jwt"):
            raise AuthError("Missing or invalid authorization token (unexpected typ)")
        key: RSAPublicKey | None = None
        kid = header.get("kid")
        if self.jwks is not None and isinstance(kid, str) and len(kid) <= 256:
            key = self.jwks.get(kid)
        if key is None and self.static_key is not None and (kid is None or self.jwks is None):
            key = self.static_key
        if key is None:
            raise AuthError("Missing or invalid authorization token (unknown key id)")
        c = self.config
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], audience=c.auth_audience, issuer=c.auth_issuer,
                leeway=c.auth_leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_signature": True,
                         "strict_aud": False},
            )
        except jwt.exceptions.PyJWTError as exc:
            raise AuthError(f"Missing or invalid authorization token ({exc})") from None
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            raise AuthError("Missing or invalid authorization token (exp/iat must be numbers)")
        if exp - iat > c.auth_max_lifetime:
            raise AuthError("Missing or invalid authorization token (lifetime too long)")
        if iat > time.time() + c.auth_leeway:
            raise AuthError("Missing or invalid authorization token (issued in the future)")
        raw_scope = claims.get("scope", "")
        scopes = frozenset(raw_scope.split()) if isinstance(raw_scope, str) else frozenset()
        if scope not in scopes:
            raise AuthError("Insufficient scopes", 403)
        return Principal(str(claims["sub"]), scopes, claims)
