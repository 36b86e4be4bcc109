"""cap-key.v1 metadata, the one KID formula, keygen/rotate/attest/verify-chain, cap-agent files, tampering."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from capfast import ed25519
from capfast.errors import KeyFileError
from capfast.lksg import attestation, keys

SEED = b"\x2a" * 32
PUB = bytes.fromhex("197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61")


def test_kid_and_fingerprint_vectors():
    assert ed25519.public_key(SEED) == PUB
    assert base64.b64encode(PUB).decode() == "GX9rI+FshTLGq8g4+s1ep4m+DHaykgM0A5v6iz02jWE="
    # cap-agent.md §8.1 / §7.5 / §11.4: key-store KID of the seed-42 key.
    assert keys.derive_kid(PUB) == "bdaf1ef5d2f72c3add243a4e04b42182"
    assert keys.fingerprint(PUB) == "sha256:" + __import__("hashlib").sha256(PUB).hexdigest()[:32]
    with pytest.raises(KeyFileError):
        keys.derive_kid(PUB[:31])


def _cap_agent_metadata(**over):
    """A cap-key.v1 file as cap-agent writes it (§8.1), including its SHA3 'sha256:' fingerprint."""
    doc = {
        "schema": "cap-key.v1",
        "kid": "bdaf1ef5d2f72c3add243a4e04b42182",
        "owner": "Company",
        "created_at": "2025-10-25T10:00:00.123456789+00:00",
        "valid_from": "2025-10-25T10:00:00.123456789+00:00",
        "valid_to": "2027-10-25T10:00:00.123456789+00:00",
        "algorithm": "ed25519",
        "status": "active",
        "usage": ["signing", "registry"],
        "public_key": "GX9rI+FshTLGq8g4+s1ep4m+DHaykgM0A5v6iz02jWE=",
        "fingerprint": "sha256:52e3346c88476bcd62a9efa9c1e4b2f1",
    }
    doc.update(over)
    return doc


def test_reads_cap_agent_key_files(tmp_path):
    (tmp_path / "company.json").write_text(json.dumps(_cap_agent_metadata(), indent=2))
    (tmp_path / "company.ed25519").write_bytes(SEED)
    meta = keys.read_key(tmp_path / "company.json")
    assert meta.kid == "bdaf1ef5d2f72c3add243a4e04b42182" and meta.public_key == PUB and meta.status == "active"
    assert keys.load_secret_key(tmp_path / "company.json") == SEED
    (tmp_path / "company.ed25519").write_bytes(b"\x01" * 32)
    with pytest.raises(KeyFileError, match="does not match"):
        keys.load_secret_key(tmp_path / "company.json")


@pytest.mark.parametrize(
    "over, match",
    [
        ({"kid": "0x44deeb8ecfca0c7cd730d5fceb490718"}, "kid"),  # another of cap-agent's KID formulas
        ({"fingerprint": "sha256:b600306cfa76723f"}, "fingerprint"),
        ({"schema": "cap-key.v2"}, "schema"),
        ({"algorithm": "rsa"}, "algorithm"),
        ({"status": "lost"}, "status"),
        ({"public_key": "GX9rI+FshTLGq8g4+s1ep4m+DHaykgM0A5v6iz02jWF="}, "canonical"),
        ({"public_key": "AAAA"}, "32 bytes"),
        ({"valid_to": "tomorrow"}, "valid_to"),
    ],
)
def test_rejects_inconsistent_metadata(tmp_path, over, match):
    (tmp_path / "k.json").write_text(json.dumps(_cap_agent_metadata(**over)))
    with pytest.raises(KeyFileError, match=match):
        keys.read_key(tmp_path / "k.json")


def test_keygen_files_modes_and_round_trip(tmp_path):
    meta, path = keys.keygen(tmp_path / "keys" / "company", "ACME GmbH", valid_days=30, usage=["signing"])
    meta_path, secret_path, pub_path = keys.key_paths(path)
    assert path == meta_path == tmp_path / "keys" / "company.json"
    assert stat.S_IMODE(os.stat(secret_path).st_mode) == 0o600
    assert pub_path.read_bytes() == meta.public_key
    assert ed25519.public_key(secret_path.read_bytes()) == meta.public_key
    again = keys.read_key(meta_path)
    assert again == meta
    assert list(json.loads(meta_path.read_text())) == [
        "schema", "kid", "owner", "created_at", "valid_from", "valid_to", "algorithm", "status", "usage",
        "public_key", "fingerprint",
    ]
    assert meta.kid == keys.derive_kid(meta.public_key) and meta.usage == ("signing",)
    assert keys.load_secret_key(meta_path) == secret_path.read_bytes()
    with pytest.raises(FileExistsError):
        keys.keygen(tmp_path / "keys" / "company.json", "ACME GmbH")
    meta2, _ = keys.keygen(tmp_path / "keys" / "company.json", "ACME GmbH", force=True)
    assert meta2.kid != meta.kid
    assert not list((tmp_path / "keys").glob(".*tmp"))


def _chain(tmp_path, n=3):
    store = tmp_path / "store"
    paths = [keys.keygen(store / f"k{i}", f"owner {i}")[1] for i in range(n)]
    atts = []
    for i in range(n - 1):
        att = attestation.attest(paths[i], paths[i + 1])
        out = store / f"att{i}.json"
        attestation.write_attestation(out, att)
        atts.append(out)
    return store, paths, atts


def test_rotation_and_attestation_chain(tmp_path):
    store, paths, atts = _chain(tmp_path)
    links = attestation.verify_chain(atts, store)
    assert [(x.signer_kid, x.subject_kid) for x in links] == [
        (keys.read_key(paths[0]).kid, keys.read_key(paths[1]).kid),
        (keys.read_key(paths[1]).kid, keys.read_key(paths[2]).kid),
    ]
    assert not any(x.legacy_encoding for x in links)
    retired, active, archived = keys.rotate(paths[0], paths[1])
    assert retired.status == "retired" and active.status == "active"
    assert archived == store / "archive" / "k0.json" and not paths[0].exists()
    assert (store / "archive" / "k0.ed25519").exists() and keys.read_key(archived).status == "retired"
    # Retired signers (found in archive/) still anchor the chain.
    assert len(attestation.verify_chain(atts, store)) == 2
    # Out of order: the chain is broken.
    with pytest.raises(KeyFileError, match="chain broken"):
        attestation.verify_chain([atts[1], atts[0]], store)
    with pytest.raises(KeyFileError, match="at least one"):
        attestation.verify_chain([], store)
    # A revoked signer breaks the chain when a store is given.
    meta = keys.read_key(paths[1])
    paths[1].write_text(json.dumps({**meta.to_json(), "status": "revoked"}))
    with pytest.raises(KeyFileError, match="revoked"):
        attestation.verify_chain(atts, store)
    assert len(attestation.verify_chain(atts)) == 2  # without a store only the cryptography is checked


def test_signer_outside_store_or_validity(tmp_path):
    store, paths, atts = _chain(tmp_path, 2)
    with pytest.raises(KeyFileError, match="not in the key store"):
        attestation.verify_chain(atts, tmp_path / "elsewhere")
    late = attestation.attest(paths[0], paths[1], now=datetime.now(UTC) + timedelta(days=400))
    attestation.write_attestation(store / "late.json", late)
    with pytest.raises(KeyFileError, match="validity"):
        attestation.verify_chain([store / "late.json"], store)


def test_attestation_signed_and_verified_over_the_same_bytes(tmp_path):
    store, paths, atts = _chain(tmp_path, 2)
    att = attestation.read_attestation(atts[0])
    assert list(json.loads(att.signed_bytes())) == [
        "schema", "signer_kid", "signer_owner", "subject_kid", "subject_owner", "subject_public_key", "attested_at",
    ]
    assert ed25519.verify(att.signer_public_key, att.signed_bytes(), att.signature)
    # cap-agent's CLI signed the sorted-keys JSON: accepted, and reported as legacy.
    secret = keys.load_secret_key(paths[0])
    legacy = type(att)(**{**att.__dict__, "signature": ed25519.sign(secret, att.legacy_signed_bytes())})
    assert attestation.verify_attestation(legacy) is None
    attestation.write_attestation(store / "legacy.json", legacy)
    assert attestation.verify_chain([store / "legacy.json"], store)[0].legacy_encoding


def test_tampering_with_any_attestation_byte_is_detected(tmp_path):
    store, paths, atts = _chain(tmp_path, 2)
    original = atts[0].read_bytes()
    for i in range(len(original)):
        tampered = bytearray(original)
        tampered[i] ^= 0x01
        atts[0].write_bytes(bytes(tampered))
        with pytest.raises((KeyFileError, UnicodeDecodeError)):
            attestation.verify_chain([atts[0]], store)
    atts[0].write_bytes(original)
    assert attestation.verify_chain([atts[0]], store)


def test_substituted_subject_key_is_detected(tmp_path):
    store, paths, atts = _chain(tmp_path, 2)
    doc = json.loads(atts[0].read_text())
    evil = ed25519.generate().public
    doc["attestation"]["subject_public_key"] = base64.b64encode(evil).decode()
    doc["attestation"]["subject_kid"] = keys.derive_kid(evil)
    atts[0].write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="signature does not verify"):
        attestation.verify_chain([atts[0]], store)
