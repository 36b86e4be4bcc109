"""CapTokens and device onboarding (issue 11): the claims model, scopes, the seed's JSON token and the attenuable
Biscuit form, issuer keys and pinning, signed revocation lists, holder binding, one-time redemption, and the one
verifier every consumer calls (:class:`Verifier`). ``docs/captoken.md`` is the written format."""

from capfast.access.claims import Claims, new_id, unix_time
from capfast.access.holder import Challenge, HolderProof, prove
from capfast.access.keys import IssuerKey, IssuerWallet, TrustedIssuers, keygen_token_key, load_issuer
from capfast.access.revocation import RevocationList, RevocationSet
from capfast.access.verifier import Verified, Verifier, verify

__all__ = [
    "Challenge",
    "Claims",
    "HolderProof",
    "IssuerKey",
    "IssuerWallet",
    "RevocationList",
    "RevocationSet",
    "TrustedIssuers",
    "Verified",
    "Verifier",
    "keygen_token_key",
    "load_issuer",
    "new_id",
    "prove",
    "unix_time",
    "verify",
]
