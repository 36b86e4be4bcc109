"""Manifest signing compatible with cap-agent §3.2; the §11.4 vector; tampering with any signed byte is detected."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from capfast.errors import KeyFileError
from capfast.lksg import signing

SEED = b"\x2a" * 32  # cap-agent.md §11.4: the seed of every vector
PUBKEY_HEX = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61"
# The §3.2 manifest with the full roots (§1.4) and policy hash (§2.1).
MANIFEST = json.loads((Path(__file__).resolve().parents[1] / "vectors/cap-agent/manifest-3.2.json").read_text())
SIG_HEX = (
    "0x3f4ac1bc35fb006545ce061fd7a1d1cf3000d0d0441db87d2a37a44a179640d8"
    "76ba0286e9c7fbfcaef041b5826d03aacaaa577c10f15ed2bc660108329cd00f"
)


def test_cap_agent_vector_11_4():
    message = signing.manifest_message(MANIFEST)
    # §3.3: the struct-order hash of the same bytes.
    assert "0x" + hashlib.sha3_256(message).hexdigest() == (
        "0x41bcda11379ff63000b1c433537c780da4c00fa70a8962e4e152575a3254e041"
    )
    signed = signing.sign_manifest(MANIFEST, SEED)
    block = signed.to_json()["signature"]
    assert block == {"alg": "Ed25519", "signer": "Company", "pubkey_hex": "0x" + PUBKEY_HEX, "sig_hex": SIG_HEX}
    assert signing.verify_signed_manifest(signed, bytes.fromhex(PUBKEY_HEX))


def test_message_is_struct_order_and_drops_unknown_keys():
    shuffled = dict(reversed(list(MANIFEST.items())))
    shuffled["extensions"] = {"x": 1}
    assert signing.manifest_message(shuffled) == signing.manifest_message(MANIFEST)
    # issue 5: the statement roots are signed (appended after the struct fields), not dropped
    shuffled["sanctions_root"] = "0x" + "00" * 32
    assert signing.manifest_message(shuffled) == signing.manifest_message(MANIFEST)[:-1] + (
        ',"sanctions_root":"0x' + "00" * 32 + '"}'
    ).encode()
    with_anchor = copy.deepcopy(MANIFEST)
    with_anchor["time_anchor"] = {
        "kind": "tsa", "reference": "r", "audit_tip_hex": "0x01", "created_at": "t", "private": None,
    }
    assert signing.manifest_message(with_anchor).endswith(
        b'"signatures":[],"time_anchor":{"kind":"tsa","reference":"r","audit_tip_hex":"0x01","created_at":"t"}}'
    )


@pytest.mark.parametrize("field", ["version", "policy", "audit", "signatures"])
def test_missing_fields_raise(field):
    bad = copy.deepcopy(MANIFEST)
    del bad[field]
    with pytest.raises(KeyFileError, match=field):
        signing.manifest_message(bad)


def test_file_round_trip_and_every_signed_byte_is_covered(tmp_path):
    path = tmp_path / "signature.json"
    signing.write_signed_manifest(path, signing.sign_manifest(MANIFEST, SEED, "ACME"))
    pk = bytes.fromhex(PUBKEY_HEX)
    assert signing.verify_signed_manifest(signing.read_signed_manifest(path), pk)
    original = path.read_bytes()
    # The signer name is an unsigned label in cap-agent's format (the trusted --pub-key is what identifies the
    # signer), so its bytes are excluded; every other byte of the file is covered.
    name_at = original.index(b'"signer": "ACME"') + len(b'"signer": "')
    unsigned = range(name_at, name_at + 4)
    for i in range(len(original)):
        if i in unsigned:
            continue
        tampered = bytearray(original)
        tampered[i] ^= 0x01
        path.write_bytes(bytes(tampered))
        try:
            ok = signing.verify_signed_manifest(signing.read_signed_manifest(path), pk)
        except (KeyFileError, UnicodeDecodeError):
            ok = False
        assert not ok, f"flipping byte {i} ({chr(original[i])!r}) went undetected"


def test_wrong_key_and_malformed_blocks(tmp_path):
    signed = signing.sign_manifest(MANIFEST, SEED)
    assert not signing.verify_signed_manifest(signed, b"\x01" * 32)
    doc = signed.to_json()
    for key, value, match in [
        ("alg", "ed25519", "alg"),
        ("pubkey_hex", PUBKEY_HEX, "pubkey_hex"),
        ("sig_hex", SIG_HEX[:-2], "sig_hex"),
        ("sig_hex", SIG_HEX.upper(), "sig_hex"),
    ]:
        bad = copy.deepcopy(doc)
        bad["signature"][key] = value
        (tmp_path / "s.json").write_text(json.dumps(bad))
        with pytest.raises(KeyFileError, match=match):
            signing.read_signed_manifest(tmp_path / "s.json")
    # cap-agent accepts sig_hex without the 0x prefix.
    ok = copy.deepcopy(doc)
    ok["signature"]["sig_hex"] = SIG_HEX[2:]
    (tmp_path / "s.json").write_text(json.dumps(ok))
    assert signing.verify_signed_manifest(signing.read_signed_manifest(tmp_path / "s.json"))
