"""Fixtures for the CapToken tests: a pinned Ed25519 token key, a pinned issuer wallet, a holder wallet."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from capfast import wallet
from capfast.access import Claims, IssuerKey, IssuerWallet, TrustedIssuers, Verifier
from capfast.access.keys import keygen_token_key, load_issuer

# servhelpers (redis-server, free ports) lives beside the server tests; accesshelpers beside this file
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from accesshelpers import AUD, NOW  # noqa: E402


@dataclass
class Env:
    key: IssuerKey
    key_path: Path
    wallet_issuer: IssuerWallet
    holder: wallet.Wallet
    trusted: TrustedIssuers

    def claims(self, **kw) -> Claims:
        base = dict(role="infra.user", scope=["app:/vpn", "app:/audit"], cap_level=71, audience=AUD,
                    issuer=self.key.kid, wallet=self.holder.address, now=NOW, lifetime=3600)
        base.update(kw)
        return Claims.new(**base)

    def verifier(self, **kw) -> Verifier:
        kw.setdefault("audience", AUD)
        return Verifier(self.trusted, **kw)


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> Env:
    d = tmp_path_factory.mktemp("issuer")
    meta, path = keygen_token_key(d / "issuer", "Example Org", valid_days=3650,
                                  now=datetime.fromtimestamp(NOW - 86400, UTC))
    key = load_issuer(path)
    assert isinstance(key, IssuerKey)
    trusted = TrustedIssuers()
    trusted.pin_key(path)
    wi = IssuerWallet.from_secret(wallet.generate().secret)
    trusted.pin_wallet(wi.address)
    return Env(key, path, wi, wallet.generate(), trusted)
