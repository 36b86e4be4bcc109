"""Server configuration: defaults, then a TOML/JSON file, then ``CAP_*`` environment variables, then CLI flags.

Every setting has a safe default so ``cap serve`` runs with no configuration: SQLite under the state directory,
the in-process rate limiter, loopback bind. Authentication has **no default key and no bypass**: until a PEM file
(``CAP_AUTH_PUBLIC_KEY_PEM``) or a JWKS URL (``CAP_AUTH_JWKS_URL``) is configured, every protected endpoint answers
401 with a message saying how to configure one; the public endpoints (health, readiness, metrics, OpenAPI, store
reads) keep working.

Environment variables (all optional)::

    CAP_CONFIG                 path of a TOML or JSON configuration file (same keys as below, flat)
    CAP_STATE_DIR              state directory (default ./cap-state)
    CAP_DATABASE_URL           sqlite:///path.db (default <state>/cap.db) or postgresql://...
    CAP_AUTH_PUBLIC_KEY_PEM    RSA public key (PEM) file for RS256 tokens
    CAP_AUTH_JWKS_URL          JWKS URL (keys picked by ``kid``)
    CAP_AUTH_ISSUER            required ``iss`` (default https://auth.example.com)
    CAP_AUTH_AUDIENCE          required ``aud`` (default cap-verifier)
    CAP_AUTH_LEEWAY            clock leeway in seconds for exp/nbf/iat (default 30, at most 60)
    CAP_AUTH_MAX_LIFETIME      maximum exp - iat in seconds (default 86400)
    CAP_RATE_LIMIT             global requests per minute (default 100)
    CAP_RATE_LIMIT_BURST       global burst (default 120)
    CAP_RATE_LIMIT_VERIFY      "20/25" (per minute / burst) for POST /verify
    CAP_RATE_LIMIT_POLICY_V2   "10/15" for POST /policy/v2/compile
    CAP_RATE_LIMIT_STORE       "3000/1000" for the CAP store's GET endpoints (an update fetches one blob per request)
    CAP_RATE_LIMIT_ENABLED     "0" turns rate limiting off (benchmarks)
    CAP_REDIS_URL              redis://host:port/db or unix:///path/redis.sock: share limits across processes
    CAP_RATE_LIMIT_FAIL_OPEN   "1" (default): if Redis is unreachable, allow and count the error; "0": answer 503
    CAP_TRUSTED_PROXIES        comma-separated IPs/CIDRs whose X-Forwarded-For is honoured (default none)
    CAP_MAX_UPLOAD_BYTES       /proof/upload and store publish limit (default 100 MB)
    CAP_MAX_JSON_BYTES         JSON request body limit (default 1 MiB)
    CAP_MAX_CONCURRENT_UPLOADS /proof/upload requests processed at once (default 4; more wait up to 10 s, then 503)
    CAP_HEADER_TIMEOUT         seconds a connection has to send its request line and headers (default 10)
    CAP_BODY_IDLE_TIMEOUT      longest pause, in seconds, while a request body is received (default 30)
    CAP_MAX_CONNECTIONS_PER_CLIENT  open connections per client address, IPv6 per /64 (default 32; trusted
                               proxies exempt)
    CAP_MAX_CONNECTIONS        open connections in all (default 1000); see capfast.server.guard
    CAP_STORE_PUBLISHERS       "app.id=hex_ed25519_pk,..." keys allowed to publish per app id
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from capfast import strict_json
from capfast.errors import InvalidArgumentError

__all__ = ["RateSpec", "ServerConfig", "load_config"]


@dataclass(frozen=True)
class RateSpec:
    """``per_minute`` requests per minute with a burst of ``burst``."""

    per_minute: int
    burst: int

    @classmethod
    def parse(cls, text: str, what: str) -> RateSpec:
        try:
            a, _, b = str(text).partition("/")
            spec = cls(int(a), int(b or a))
        except ValueError:
            raise InvalidArgumentError(f"{what}: expected PER_MINUTE/BURST such as 20/25, got {text!r}") from None
        if spec.per_minute <= 0 or spec.burst <= 0:
            raise InvalidArgumentError(f"{what}: rate and burst must be positive")
        return spec


@dataclass(frozen=True)
class ServerConfig:
    """All server settings (see the module docstring for the environment variables)."""

    state_dir: Path = Path("cap-state")
    database_url: str = ""
    auth_public_key_pem: str = ""
    auth_jwks_url: str = ""
    auth_issuer: str = "https://auth.example.com"
    auth_audience: str = "cap-verifier"
    auth_leeway: int = 30
    auth_max_lifetime: int = 86_400
    auth_jwks_cache_seconds: int = 300
    auth_jwks_refresh_cooldown: int = 30
    rate_limit_enabled: bool = True
    rate_global: RateSpec = RateSpec(100, 120)
    rate_verify: RateSpec = RateSpec(20, 25)
    rate_policy_v2: RateSpec = RateSpec(10, 15)
    rate_store: RateSpec = RateSpec(3000, 1000)
    redis_url: str = ""
    rate_limit_fail_open: bool = True
    trusted_proxies: tuple[str, ...] = ()
    max_upload_bytes: int = 100 * 1000 * 1000
    max_json_bytes: int = 1 << 20
    max_concurrent_uploads: int = 4
    header_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    max_connections_per_client: int = 32
    max_connections: int = 1000
    store_publishers: dict[str, str] = field(default_factory=dict)
    # CapTokens (issue 11): pinned issuers (captoken-issuers.v1), the domain this server serves, an optional signed
    # revocation list, and the token key that signs one-time onboarding tokens.
    token_issuers: str = ""
    token_audience: str = ""
    token_revocations: str = ""
    onboarding_key: str = ""
    rate_onboard: RateSpec = RateSpec(60, 30)

    @property
    def auth_configured(self) -> bool:
        return bool(self.auth_public_key_pem or self.auth_jwks_url)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'cap.db').resolve()}"

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out = []
        for p in self.trusted_proxies:
            try:
                out.append(ipaddress.ip_network(p.strip(), strict=False))
            except ValueError:
                raise InvalidArgumentError(f"trusted proxy {p!r} is not an IP address or CIDR") from None
        return out


_ENV = {
    "CAP_STATE_DIR": "state_dir", "CAP_DATABASE_URL": "database_url",
    "CAP_AUTH_PUBLIC_KEY_PEM": "auth_public_key_pem", "CAP_AUTH_JWKS_URL": "auth_jwks_url",
    "CAP_AUTH_ISSUER": "auth_issuer", "CAP_AUTH_AUDIENCE": "auth_audience", "CAP_AUTH_LEEWAY": "auth_leeway",
    "CAP_AUTH_MAX_LIFETIME": "auth_max_lifetime", "CAP_RATE_LIMIT_ENABLED": "rate_limit_enabled",
    "CAP_RATE_LIMIT_VERIFY": "rate_verify", "CAP_RATE_LIMIT_POLICY_V2": "rate_policy_v2",
    "CAP_RATE_LIMIT_STORE": "rate_store",
    "CAP_REDIS_URL": "redis_url", "CAP_RATE_LIMIT_FAIL_OPEN": "rate_limit_fail_open",
    "CAP_TRUSTED_PROXIES": "trusted_proxies", "CAP_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "CAP_MAX_JSON_BYTES": "max_json_bytes", "CAP_STORE_PUBLISHERS": "store_publishers",
    "CAP_TOKEN_ISSUERS": "token_issuers", "CAP_TOKEN_AUDIENCE": "token_audience",
    "CAP_TOKEN_REVOCATIONS": "token_revocations", "CAP_ONBOARDING_KEY": "onboarding_key",
    "CAP_RATE_LIMIT_ONBOARD": "rate_onboard",
    "CAP_MAX_CONCURRENT_UPLOADS": "max_concurrent_uploads", "CAP_HEADER_TIMEOUT": "header_timeout",
    "CAP_BODY_IDLE_TIMEOUT": "body_idle_timeout", "CAP_MAX_CONNECTIONS_PER_CLIENT": "max_connections_per_client",
    "CAP_MAX_CONNECTIONS": "max_connections",
}


def _coerce(name: str, value: Any) -> Any:
    """Convert a file/env/flag value to the field's type, with an error naming the setting."""
    try:
        if name == "state_dir":
            return Path(value)
        if name in ("rate_verify", "rate_policy_v2", "rate_global", "rate_store", "rate_onboard"):
            return value if isinstance(value, RateSpec) else RateSpec.parse(value, name)
        if name in ("rate_limit_enabled", "rate_limit_fail_open"):
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if name in ("max_concurrent_uploads", "max_connections_per_client", "max_connections"):
            n = int(value)
            if n < 1:
                raise ValueError
            return n
        if name in ("header_timeout", "body_idle_timeout"):
            f = float(value)
            if not 0 < f <= 3600:
                raise ValueError
            return f
        if name in ("auth_leeway", "auth_max_lifetime", "max_upload_bytes", "max_json_bytes",
                    "auth_jwks_cache_seconds", "auth_jwks_refresh_cooldown"):
            n = int(value)
            if n < 0:
                raise ValueError
            if name == "auth_leeway" and n > 60:
                raise InvalidArgumentError("auth_leeway must be at most 60 seconds (RFC 8725 practice)")
            return n
        if name == "trusted_proxies":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(i.strip() for i in items if i.strip())
        if name == "store_publishers":
            if isinstance(value, dict):
                pairs = value.items()
            else:
                pairs = [p.split("=", 1) for p in str(value).split(",") if p.strip()]  # type: ignore[assignment]
            out = {}
            for app, pk in pairs:
                if len(bytes.fromhex(pk.strip())) != 32:
                    raise ValueError
                out[app.strip()] = pk.strip().lower()
            return out
        return str(value)
    except InvalidArgumentError:
        raise
    except (ValueError, TypeError):
        raise InvalidArgumentError(f"configuration {name}: invalid value {value!r}") from None


def _read_file(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    if path.suffix == ".json":
        doc = strict_json.loads(raw, what=f"configuration {path}", error=InvalidArgumentError)
    else:
        import tomllib

        doc = tomllib.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict):
        raise InvalidArgumentError(f"{path}: configuration must be a table/object")
    return doc


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
                **overrides: Any) -> ServerConfig:
    """Defaults ← file (``path`` or ``$CAP_CONFIG``) ← environment ← ``overrides`` (non-``None`` only)."""
    env = dict(os.environ if env is None else env)
    known = {f.name for f in fields(ServerConfig)}
    values: dict[str, Any] = {}
    file_path = path or env.get("CAP_CONFIG")
    if file_path:
        for k, v in _read_file(Path(file_path)).items():
            if k not in known:
                raise InvalidArgumentError(f"{file_path}: unknown setting {k!r}")
            values[k] = v
    if "CAP_RATE_LIMIT" in env or "CAP_RATE_LIMIT_BURST" in env:
        g = ServerConfig().rate_global
        values["rate_global"] = RateSpec.parse(
            f"{env.get('CAP_RATE_LIMIT', g.per_minute)}/{env.get('CAP_RATE_LIMIT_BURST', g.burst)}", "CAP_RATE_LIMIT")
    for var, name in _ENV.items():
        if var in env:
            values[name] = env[var]
    for k, v in overrides.items():
        if v is not None:
            if k not in known:
                raise InvalidArgumentError(f"unknown setting {k!r}")
            values[k] = v
    return replace(ServerConfig(), **{k: _coerce(k, v) for k, v in values.items()})
