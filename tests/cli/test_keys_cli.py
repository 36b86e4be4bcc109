"""``cap keys`` and ``cap sign`` driven through the real console script."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from capfast.lksg import keys

MANIFEST = json.loads((Path(__file__).resolve().parents[1] / "vectors/cap-agent/manifest-3.2.json").read_text())


def test_keygen_rotate_attest_verify_chain(cap, tmp_path):
    r = cap("keys", "keygen", "--owner", "ACME GmbH", "--output", "keys/old", "--valid-days", "30", "--json")
    assert r.code == 0, r.stderr
    old = r.json()
    assert old["ok"] and old["metadata"] == os.path.join("keys", "old.json")
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "old.ed25519").st_mode) == 0o600
    meta = json.loads((tmp_path / "keys" / "old.json").read_text())
    assert meta["kid"] == old["kid"] == keys.derive_kid((tmp_path / "keys" / "old.pub").read_bytes())
    assert meta["usage"] == ["signing", "registry"]
    r = cap("keys", "keygen", "--owner", "ACME GmbH", "--output", "keys/new.json", "--usage", "signing")
    assert r.code == 0, r.stderr
    # Never overwrites a key silently.
    r = cap("keys", "keygen", "--owner", "X", "--output", "keys/new")
    assert r.code == 3 and "refusing to overwrite" in r.stderr and "Traceback" not in r.stderr

    r = cap("keys", "attest", "--signer", "keys/old.json", "--subject", "keys/new.json", "--output", "keys/a1.json")
    assert r.code == 0, r.stderr
    r = cap("keys", "rotate", "--current", "keys/old.json", "--new", "keys/new.json", "--json")
    assert r.code == 0, r.stderr
    assert r.json()["retired_kid"] == old["kid"]
    assert (tmp_path / "keys" / "archive" / "old.json").exists()
    r = cap("keys", "verify-chain", "--attestations", "keys/a1.json", "--dir", "keys", "--json")
    assert r.code == 0, r.stderr
    assert r.json()["links"][0]["signer_kid"] == old["kid"]

    # Tampered attestation: exit 1 with a one-line reason.
    doc = json.loads((tmp_path / "keys" / "a1.json").read_text())
    doc["attestation"]["subject_owner"] = "Mallory"
    (tmp_path / "keys" / "a1.json").write_text(json.dumps(doc))
    r = cap("keys", "verify-chain", "--attestations", "keys/a1.json", "--dir", "keys")
    assert r.code == 1 and "signature does not verify" in r.stdout


def test_sign_and_verify_manifest(cap, tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST, indent=2))
    assert cap("keys", "keygen", "--owner", "ACME", "--output", "keys/company").code == 0
    r = cap("sign", "manifest", "--manifest", "manifest.json", "--key", "keys/company.ed25519", "--json")
    assert r.code == 0, r.stderr
    assert (tmp_path / "build" / "signature.json").exists()
    for pub in ("keys/company.pub", "keys/company.json"):
        r = cap("sign", "verify-manifest", "--signed", "build/signature.json", "--pub-key", pub)
        assert r.code == 0, r.stderr
    # Sign with the metadata file instead of the raw key: same deterministic signature.
    r2 = cap("sign", "manifest", "--manifest", "manifest.json", "--key", "keys/company.json", "--output", "s2.json")
    assert r2.code == 0, r2.stderr
    assert json.loads((tmp_path / "s2.json").read_text()) == json.loads((tmp_path / "build/signature.json").read_text())
    # Another key: rejected.
    assert cap("keys", "keygen", "--owner", "Other", "--output", "keys/other").code == 0
    r = cap("sign", "verify-manifest", "--signed", "build/signature.json", "--pub-key", "keys/other.pub")
    assert r.code == 1
    # Tampered manifest content: rejected.
    doc = json.loads((tmp_path / "build" / "signature.json").read_text())
    doc["manifest"]["audit"]["events_count"] = 3
    (tmp_path / "t.json").write_text(json.dumps(doc))
    r = cap("sign", "verify-manifest", "--signed", "t.json", "--pub-key", "keys/company.pub", "--json")
    assert r.code == 1 and r.json()["ok"] is False
    # Malformed key file: usage error, one line, no traceback.
    (tmp_path / "short.ed25519").write_bytes(b"\x00" * 31)
    r = cap("sign", "manifest", "--manifest", "manifest.json", "--key", "short.ed25519")
    assert r.code == 2 and r.stderr.count("\n") == 1 and "32 raw bytes" in r.stderr
