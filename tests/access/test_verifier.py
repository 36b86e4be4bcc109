"""The one verifier (capfast.access.verifier) on both encodings: grants, time and leeway, issuers and key purposes,
revocation lists, holder binding, batch ≡ single."""

from __future__ import annotations

import json

import pytest
from accesshelpers import AUD, NOW

from capfast import ed25519, wallet
from capfast.access import (
    Challenge,
    IssuerKey,
    RevocationList,
    RevocationSet,
    TrustedIssuers,
    Verifier,
    biscuit,
    jsontoken,
    prove,
)
from capfast.access.keys import TOKEN_KEY_USAGE, load_issuer
from capfast.access.replay import SqliteRedemptionStore
from capfast.errors import (
    AudienceMismatchError,
    CapLevelTooLowError,
    DeviceMismatchError,
    HolderProofError,
    KeyPurposeError,
    RevocationListError,
    RoleNotGrantedError,
    ScopeNotGrantedError,
    TokenDeniedError,
    TokenExpiredError,
    TokenFormatError,
    TokenNotYetValidError,
    TokenReplayError,
    TokenRevokedError,
    TokenSignatureError,
    UntrustedIssuerError,
)
from capfast.lksg.keys import derive_kid, keygen

ENCODINGS = ["json", "json-wallet", "biscuit"]


def issue(env, encoding: str, **kw) -> str:
    if encoding == "json":
        return jsontoken.issue(env.claims(**kw), env.key)
    if encoding == "json-wallet":
        return jsontoken.issue(env.claims(issuer=env.wallet_issuer.address, **kw), env.wallet_issuer)
    return biscuit.issue(env.claims(**kw), env.key)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_grants(env, encoding):
    tok = issue(env, encoding, scope=["app:/vpn", "net:/vpn/*"])
    v = env.verifier()
    got = v.verify(tok, required_scope="net:/vpn/core", min_cap_level=71, role="infra.user", now=NOW)
    assert got.claims.wallet == env.holder.address and got.claims.cap_level == 71
    assert got.encoding == ("biscuit" if encoding == "biscuit" else "json")
    for kw, err in [
        (dict(required_scope="app:/vpnx"), ScopeNotGrantedError),
        (dict(required_scope="app:/vpn/x"), ScopeNotGrantedError),
        (dict(required_scope="net:/vpn"), ScopeNotGrantedError),
        (dict(required_scope="net:/vpnx/core"), ScopeNotGrantedError),
        (dict(required_scope="app:/*"), ScopeNotGrantedError),
        (dict(min_cap_level=72), CapLevelTooLowError),
        (dict(audience="other.org"), AudienceMismatchError),
        (dict(role="infra.admin"), RoleNotGrantedError),
        (dict(role="infra"), RoleNotGrantedError),
    ]:
        with pytest.raises(err):
            v.verify(tok, now=NOW, **kw)
    with pytest.raises(TokenDeniedError, match="no audience"):
        Verifier(env.trusted).verify(tok, now=NOW)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_time_and_leeway(env, encoding):
    tok = issue(env, encoding, now=NOW, lifetime=600)
    v = env.verifier(leeway=30)
    v.verify(tok, now=NOW + 600 + 30)
    with pytest.raises(TokenExpiredError):
        v.verify(tok, now=NOW + 600 + 31)
    v.verify(tok, now=NOW - 30)  # issuer clock ahead, inside the leeway
    with pytest.raises(TokenNotYetValidError):
        v.verify(tok, now=NOW - 31)
    future = issue(env, encoding, now=NOW, not_before=NOW + 100, lifetime=600)
    with pytest.raises(TokenNotYetValidError):
        v.verify(future, now=NOW + 50)
    v.verify(future, now=NOW + 80)
    with pytest.raises(TokenFormatError, match="over this verifier"):
        env.verifier(max_lifetime=300).verify(tok, now=NOW)


@pytest.mark.parametrize("encoding", ["json", "biscuit"])
def test_untrusted_and_tampered(env, encoding):
    tok = issue(env, encoding)
    with pytest.raises(UntrustedIssuerError):
        Verifier(TrustedIssuers(), audience=AUD).verify(tok, now=NOW)
    other = ed25519.generate()
    impostor = IssuerKey(other.secret, other.public, env.key.kid)  # claims the pinned KID, signs with another key
    forged = (jsontoken.issue if encoding == "json" else biscuit.issue)(env.claims(), impostor)
    with pytest.raises(TokenSignatureError):
        env.verifier().verify(forged, now=NOW)
    if encoding == "json":
        doc = json.loads(tok)
        for field, value in [("cap_level", 100), ("role", "infra.admin"), ("scope", ["app:/*"]), ("valid_until", NOW + 10**6)]:
            with pytest.raises(TokenSignatureError):
                env.verifier().verify(json.dumps({**doc, field: value}), now=NOW)


def test_package_signing_key_is_refused_as_token_key(env, tmp_path):
    meta, path = keygen(tmp_path / "pkg", "Publisher", usage=("signing", "registry"))
    assert TOKEN_KEY_USAGE not in meta.usage
    with pytest.raises(KeyPurposeError):
        load_issuer(path)
    with pytest.raises(KeyPurposeError):
        TrustedIssuers().pin_key(path)
    # A token signed with that key by hand is still refused: its KID is not pinned as a token issuer.
    sk = (tmp_path / "pkg.ed25519").read_bytes()
    rogue = IssuerKey(sk, meta.public_key, meta.kid)
    tok = jsontoken.issue(env.claims(issuer=meta.kid), rogue)
    with pytest.raises(UntrustedIssuerError):
        env.verifier().verify(tok, now=NOW)
    # And a package signature never verifies as a token signature: token messages start with their context string.
    assert jsontoken.read(jsontoken.issue(env.claims(), env.key))[1].signed.startswith(b"capfast-captoken-v1\n")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_revocation_lists(env, encoding, tmp_path):
    tok = issue(env, encoding)
    v = env.verifier()
    verified = v.verify(tok, now=NOW)
    signer = env.wallet_issuer if encoding == "json-wallet" else env.key
    rl = RevocationList.issue(signer, [verified.authority.revocation_id], sequence=1, now=NOW)
    rl.save(tmp_path / "rl.json")
    loaded = RevocationList.load(tmp_path / "rl.json")
    assert loaded == rl
    revs = RevocationSet(env.trusted)
    revs.add(loaded)
    with pytest.raises(TokenRevokedError):
        env.verifier(revocations=revs).verify(tok, now=NOW)
    # rollback to an older list, a list signed by someone else, a tampered list: all refused
    older = RevocationList.issue(signer, [], sequence=0 + 1, now=NOW)
    newer = loaded.extended(signer, ["ab" * 16], now=NOW)
    revs.add(newer)
    with pytest.raises(RevocationListError, match="older"):
        revs.add(loaded)
    with pytest.raises(RevocationListError):
        revs.add(older)
    doc = json.loads(loaded.dumps())
    doc["revoked"] = []
    with pytest.raises(RevocationListError, match="signature"):
        RevocationSet(env.trusted).add(RevocationList.from_json(json.dumps(doc)))
    other = ed25519.generate()
    stranger = IssuerKey(other.secret, other.public, derive_kid(other.public))
    with pytest.raises(RevocationListError, match="not a pinned issuer"):
        RevocationSet(env.trusted).add(RevocationList.issue(stranger, [], sequence=1))
    with pytest.raises(RevocationListError):
        RevocationList.from_json('{"schema":"captoken-revocations.v1","schema":"x"}')


def test_biscuit_block_revocation_ids(env):
    tok = biscuit.attenuate(biscuit.issue(env.claims(), env.key), env.key.public, max_cap_level=50)
    v = env.verifier().verify(tok, now=NOW)
    block_ids = [r for r in v.revocation_ids if len(r) == 128]
    assert len(block_ids) == 2
    revs = RevocationSet(env.trusted)
    revs.add(RevocationList.issue(env.key, [block_ids[1]], sequence=1))  # revoke only the attenuated child
    with pytest.raises(TokenRevokedError):
        env.verifier(revocations=revs).verify(tok, now=NOW)
    env.verifier(revocations=revs).verify(biscuit.issue(env.claims(), env.key), now=NOW)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_holder_binding(env, encoding, tmp_path):
    tok = issue(env, encoding)
    store = SqliteRedemptionStore(tmp_path / "nonces.sqlite")
    v = env.verifier(nonce_store=store)
    token_id = v.verify(tok, now=NOW).claims.token_id
    ch = Challenge.new(AUD, now=NOW)
    proof = prove(ch, token_id, env.holder.secret)
    assert v.verify(tok, holder_proof=proof, now=NOW).holder_verified
    with pytest.raises(TokenReplayError):
        v.verify(tok, holder_proof=proof, now=NOW)  # the nonce is single-use
    with pytest.raises(HolderProofError, match="required"):
        v.verify(tok, require_holder=True, now=NOW)
    thief = wallet.generate()
    with pytest.raises(HolderProofError, match="not signed by"):
        v.verify(tok, holder_proof=prove(Challenge.new(AUD, now=NOW), token_id, thief.secret), now=NOW)
    with pytest.raises(HolderProofError, match="fresh"):
        v.verify(tok, holder_proof=prove(Challenge.new(AUD, now=NOW - 1000), token_id, env.holder.secret), now=NOW)
    with pytest.raises(HolderProofError, match="challenge is for"):
        v.verify(tok, holder_proof=prove(Challenge.new("evil.org", now=NOW), token_id, env.holder.secret), now=NOW)
    store.close()


def test_device_binding(env):
    tok = jsontoken.issue(env.claims(device="board-7"), env.key)
    v = env.verifier()
    v.verify(tok, device="board-7", now=NOW)
    for dev in (None, "board-8"):
        with pytest.raises(DeviceMismatchError):
            v.verify(tok, device=dev, now=NOW)


def test_batch_equals_single(env):
    toks = [issue(env, e, cap_level=lvl) for e in ENCODINGS for lvl in (10, 80)]
    toks += [toks[0].replace('"cap_level":10', '"cap_level":11'), "{", "not-a-biscuit!"]
    v = env.verifier()
    batch = v.verify_batch(toks, required_scope="app:/vpn", min_cap_level=50, now=NOW)
    for tok, got in zip(toks, batch):
        try:
            single = v.verify(tok, required_scope="app:/vpn", min_cap_level=50, now=NOW)
        except Exception as exc:  # noqa: BLE001
            assert type(got) is type(exc), (tok[:60], got, exc)
        else:
            assert got == single
    assert [type(b).__name__ for b in batch].count("Verified") == 3
