"""``cap token`` and ``cap qr`` end to end, as a user drives them: real processes, files, QR images."""

from __future__ import annotations

import json

import pytest

from capfast import wallet

pytestmark = pytest.mark.once


def _setup(cap, tmp_path):
    assert cap("token", "keygen", "--owner", "Example Org", "-o", "issuer").code == 0
    r = cap("token", "pin", "--issuers", "issuers.json", "--pubkey", "issuer.json", "--json")
    assert r.code == 0 and r.json()["ok"]
    holder = wallet.generate()
    r = cap("token", "issue", "--key", "issuer.json", "--wallet", holder.address, "--role", "infra.user",
            "--scope", "app:/vpn", "--scope", "net:/vpn/*", "--cap-level", "71", "--audience", "example.org",
            "-o", "t.json", "--json")
    assert r.code == 0, r.stderr
    return holder


def test_issue_verify_inspect_revoke(cap, tmp_path):
    holder = _setup(cap, tmp_path)
    doc = json.loads((tmp_path / "t.json").read_text())
    assert list(doc)[:5] == ["wallet", "role", "scope", "cap_level", "valid_until"] and doc["wallet"] == holder.address
    ok = cap("token", "verify", "t.json", "--issuers", "issuers.json", "--audience", "example.org",
             "--scope", "net:/vpn/core", "--min-cap-level", "70", "--json")
    assert ok.code == 0 and ok.json()["claims"]["cap_level"] == 71
    for extra, code in [(["--scope", "app:/vpnx"], "scope_not_granted"), (["--min-cap-level", "90"], "cap_level_too_low")]:
        r = cap("token", "verify", "t.json", "--issuers", "issuers.json", "--audience", "example.org", *extra)
        assert r.code == 1 and r.stderr.startswith("cap: error:") and code in r.stderr and "Traceback" not in r.stderr
    r = cap("token", "verify", "t.json", "--issuers", "issuers.json", "--audience", "example.org", "--json",
            "--scope", "app:/x")
    assert r.code == 1 and r.json()["ok"] is False
    inspected = cap("token", "inspect", "t.json", "--json").json()
    assert inspected["verified"] is False and list(inspected["token"])[:5] == ["wallet", "role", "scope", "cap_level",
                                                                                "valid_until"]
    assert cap("token", "revoke", "--key", "issuer.json", "--token", "t.json", "--list", "rl.json").code == 0
    r = cap("token", "verify", "t.json", "--issuers", "issuers.json", "--audience", "example.org",
            "--revocations", "rl.json")
    assert r.code == 1 and "token_revoked" in r.stderr
    # tampering, garbage and a package key
    (tmp_path / "bad.json").write_text((tmp_path / "t.json").read_text().replace('"cap_level": 71', '"cap_level": 99'))
    r = cap("token", "verify", "bad.json", "--issuers", "issuers.json", "--audience", "example.org")
    assert r.code == 1 and "signature_invalid" in r.stderr
    (tmp_path / "junk.json").write_text('{"wallet": "0x", "wallet": 1}')
    r = cap("token", "verify", "junk.json", "--issuers", "issuers.json", "--audience", "example.org")
    assert r.code == 1 and "token_malformed" in r.stderr and "duplicate" in r.stderr
    assert cap("keys", "keygen", "--owner", "P", "--output", "pkg").code == 0
    r = cap("token", "issue", "--key", "pkg.json", "--wallet", holder.address, "--role", "r", "--scope", "app:/x",
            "--cap-level", "1", "--audience", "example.org")
    assert r.code == 2 and "captoken" in r.stderr and "Traceback" not in r.stderr


def test_biscuit_attenuate(cap, tmp_path):
    holder = _setup(cap, tmp_path)
    assert cap("token", "issue", "--key", "issuer.json", "--wallet", holder.address, "--role", "infra.user",
               "--scope", "net:/vpn/*", "--cap-level", "71", "--audience", "example.org", "--format", "biscuit",
               "-o", "b.txt").code == 0
    r = cap("token", "attenuate", "b.txt", "--issuers", "issuers.json", "--scope", "net:/vpn/core",
            "--max-cap-level", "50", "-o", "b2.txt", "--json")
    assert r.code == 0 and r.json()["effective"]["cap_level"] == 50
    ok = cap("token", "verify", "b2.txt", "--issuers", "issuers.json", "--audience", "example.org", "--scope",
             "net:/vpn/core", "--json")
    assert ok.code == 0 and ok.json()["claims"]["scope"] == ["net:/vpn/core"]
    r = cap("token", "verify", "b2.txt", "--issuers", "issuers.json", "--audience", "example.org", "--scope",
            "net:/vpn/edge")
    assert r.code == 1 and "scope_not_granted" in r.stderr
    r = cap("token", "attenuate", "t.json", "--issuers", "issuers.json", "--max-cap-level", "1")
    assert r.code == 2 and "Biscuit" in r.stderr


def test_qr_onboarding(cap, tmp_path):
    _setup(cap, tmp_path)
    r = cap("qr", "request", "--device-id", "board-7", "--domain", "example.org", "--role", "infra.user",
            "--scope", "net:/vpn/core", "--state", "dev.json", "--png", "req.png", "--svg", "req.svg", "--json")
    assert r.code == 0 and r.json()["qr"].startswith("CQR1:")
    assert (tmp_path / "dev.json").stat().st_mode & 0o777 == 0o600
    r = cap("qr", "answer", "--image", "req.png", "--token", "t.json", "--key", "issuer.json", "--issuers",
            "issuers.json", "--audit", "app.audit.jsonl", "--png", "answer.png")
    assert r.code == 2 and "approval needed" in r.stderr  # no terminal: approval must be explicit
    r = cap("qr", "answer", "--image", "req.png", "--token", "t.json", "--key", "issuer.json", "--issuers",
            "issuers.json", "--audit", "app.audit.jsonl", "--png", "answer.png", "--yes", "--json")
    assert r.code == 0, r.stderr
    effect = r.json()["effect"]
    r = cap("qr", "redeem", "--image", "answer.png", "--state", "dev.json", "--issuers", "issuers.json",
            "--store", "redeemed.sqlite", "--audit", "dev.audit.jsonl", "--json")
    assert r.code == 0 and r.json()["claims"]["effect"] == effect and "wallet" not in r.json()["claims"]
    r = cap("qr", "redeem", "--image", "answer.png", "--state", "dev.json", "--issuers", "issuers.json",
            "--store", "redeemed.sqlite", "--audit", "dev.audit.jsonl")
    assert r.code == 1 and "token_replayed" in r.stderr
    events = [json.loads(line)["event"] for line in (tmp_path / "dev.audit.jsonl").read_text().splitlines()]
    assert events == ["captoken.redeemed", "captoken.misuse"]
    assert cap("audit", "verify", "--file", "dev.audit.jsonl").code == 0
    r = cap("qr", "answer", "--payload", "https://evil.example/x", "--token", "t.json", "--key", "issuer.json",
            "--issuers", "issuers.json", "--audit", "app.audit.jsonl", "--yes")
    assert r.code == 2 and "CQR1" in r.stderr
