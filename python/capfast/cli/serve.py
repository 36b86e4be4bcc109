"""``cap serve``: the REST verifier API and CAP store (uvicorn running :func:`capfast.server.app.create_app`).

Runs with no configuration: SQLite under ``--state-dir`` (default ``./cap-state``), in-process rate limits,
bound to 127.0.0.1:8080. Authentication has no default key and no bypass: until ``CAP_AUTH_PUBLIC_KEY_PEM`` or
``CAP_AUTH_JWKS_URL`` is set, the protected endpoints answer 401 with instructions (printed at start-up too).
Every setting: see :mod:`capfast.server.config`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_USAGE, CliError, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap serve``."""
    p = cli.command(
        "serve", run_serve, help="run the REST verifier API and CAP store",
        description="Run the REST verifier API (/verify, /policy/..., /proof/upload) and the CAP store (/store/...). "
        "Configuration: --config FILE (TOML/JSON) and CAP_* environment variables (see the README's Services "
        "section). Protected endpoints need RS256 bearer tokens: set CAP_AUTH_PUBLIC_KEY_PEM or "
        "CAP_AUTH_JWKS_URL; there is no bypass. With --json the startup status is one JSON line on stdout.")
    p.argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.argument("--config", type=Path, default=None, help="TOML or JSON configuration file")
    p.argument("--state-dir", type=Path, default=None, help="state directory (default ./cap-state)")
    p.argument("--database-url", default=None, help="sqlite:///PATH or postgresql://... (default SQLite)")
    p.argument("--auth-public-key", default=None, help="RSA public key PEM for RS256 bearer tokens")
    p.argument("--auth-jwks-url", default=None, help="JWKS URL for RS256 bearer tokens")
    p.argument("--rate-limit", type=int, default=None, help="global requests per minute per client (100)")
    p.argument("--rate-limit-burst", type=int, default=None, help="global burst (120)")
    p.argument("--redis-url", default=None, help="share rate limits through Redis (redis:// or unix://)")
    p.argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from capfast.errors import CapfastError
    from capfast.server.app import create_app
    from capfast.server.auth import NOT_CONFIGURED_MESSAGE
    from capfast.server.config import RateSpec, ServerConfig, load_config
    from capfast.server.guard import ConnectionGuard, ConnectionLimits, guarded_protocol
    from capfast.server.logs import configure_logging

    overrides: dict[str, Any] = {
        "state_dir": args.state_dir, "database_url": args.database_url,
        "auth_public_key_pem": args.auth_public_key, "auth_jwks_url": args.auth_jwks_url,
        "redis_url": args.redis_url,
    }
    if args.rate_limit is not None or args.rate_limit_burst is not None:
        g = ServerConfig().rate_global
        overrides["rate_global"] = RateSpec(args.rate_limit or g.per_minute, args.rate_limit_burst or g.burst)
    try:
        config = load_config(args.config, **overrides)
        configure_logging(getattr(logging, args.log_level.upper()))
        app = create_app(config)
    except (CapfastError, OSError, ValueError) as exc:
        raise CliError(f"cannot start the server: {exc}", EXIT_USAGE) from None
    if not config.auth_configured:
        sys.stderr.write(f"cap serve: protected endpoints will answer 401 -- {NOT_CONFIGURED_MESSAGE}\n")
    sys.stderr.write(f"cap serve: state in {config.state_dir.resolve()}, database {app.state.cap.storage.kind}\n")
    if args.json:
        emit(args, {"ok": True, "host": args.host, "port": args.port, "state_dir": str(config.state_dir.resolve()),
                    "database": app.state.cap.storage.kind, "auth_configured": config.auth_configured}, "")
    _raise_fd_limit(config.max_connections + 256)
    # Connection limits (slowloris): our h11 protocol with per-client and total caps, a header deadline and a body
    # idle timeout (capfast.server.guard). No uvicorn limit_concurrency: it answered 503 to every request,
    # /healthz included, as soon as that many connections were merely open.
    guard = ConnectionGuard(ConnectionLimits(config.header_timeout, config.body_idle_timeout,
                                             config.max_connections_per_client, config.max_connections),
                            config.proxy_networks())
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                server_header=False, proxy_headers=False, timeout_keep_alive=5, http=guarded_protocol(guard))
    return 0


def _raise_fd_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` descriptors if the hard limit allows (the default soft limit is often 1024)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
