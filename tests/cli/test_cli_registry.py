"""``cap registry`` under concurrent writers and against cap-agent's registries (issue 19, items 8 and 13).

Concurrent ``add`` used to lose entries: SQLite failed with a UNIQUE constraint on the id, the JSON backend
silently dropped some. cap-agent's entries (keyed by the raw manifest file's SHA3-256, v1.0/v1.1 JSON, SQLite)
were never found by ``registry verify``. The cap-agent entry used here is the published §7.5 vector."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
VEC = REPO / "tests" / "vectors" / "cap-agent"
SEED = bytes([0x2A]) * 32


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    from capfast.cli import main

    b = tmp_path_factory.mktemp("reg")
    assert main(["prepare", "--suppliers", str(EXAMPLES / "suppliers.csv"), "--ubos", str(EXAMPLES / "ubos.csv"),
                 "--output", str(b)]) == 0
    assert main(["manifest", "build", "--commitments", str(b / "commitments.json"), "--policy",
                 str(EXAMPLES / "policy.lksg.v1.yml"), "--sanctions", str(EXAMPLES / "sanctions.csv"), "--output",
                 str(b / "manifest.json")]) == 0
    (b / "proof.dat").write_bytes(b"any proof bytes")
    return {"manifest": b / "manifest.json", "proof": b / "proof.dat"}


_WORKER = textwrap.dedent("""
    import sys
    from capfast.cli import main
    registry, manifest, proof, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    for _ in range(n):
        code = main(["registry", "add", "--manifest", manifest, "--proof", proof, "--registry", registry, "--json"])
        if code != 0:
            sys.exit(code)
""")


@pytest.mark.once
@pytest.mark.parametrize("name", ["registry.sqlite", "registry.json"])
def test_concurrent_adds_lose_nothing(cap, case, tmp_path: Path, name: str) -> None:
    reg = tmp_path / name
    workers, each = 4, 25
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(reg), str(case["manifest"]), str(case["proof"]),
                               str(each)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(workers)]
    # and real console-script processes racing them
    racers = [subprocess.Popen([str(Path(sys.executable).parent / "cap"), "registry", "add", "--manifest",
                                str(case["manifest"]), "--proof", str(case["proof"]), "--registry", str(reg)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    for p in procs + racers:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    r = cap("registry", "list", "--registry", reg, "--json")
    assert r.code == 0, r.stderr
    ids = [e["id"] for e in r.json()["entries"]]
    total = workers * each + len(racers)
    assert len(ids) == total and len(set(ids)) == total
    assert sorted(ids) == [f"proof_{i:03d}" for i in range(1, total + 1)]


def _cap_agent_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The §3.2 manifest file as cap-agent writes it (pretty, no trailing newline), the §4.1 proof, the §7.5 key."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(json.loads((VEC / "manifest-3.2.json").read_text()), indent=2, ensure_ascii=False))
    pub = tmp_path / "company.pub"
    from capfast import ed25519

    pub.write_bytes(ed25519.public_key(SEED))
    return manifest, VEC / "proof-4.1.dat", pub


def _v11(entry: dict) -> dict:
    """cap-agent's v1.0 → v1.1 migration (cap-agent.md §7.6)."""
    out = {"entry_id": entry["id"], "created_at": entry["registered_at"], "policy_id": "migrated.v1",
           "ir_hash": "sha3-256:migrated_" + entry["manifest_hash"], "manifest_hash": entry["manifest_hash"],
           "proof_hash": entry["proof_hash"]}
    out.update({k: entry[k] for k in ("kid", "signature", "public_key", "signature_scheme")})
    return out


def _sqlite(path: Path, entry: dict) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE registry_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT OR IGNORE INTO registry_meta VALUES ('registry_version', '1.0');"
        "CREATE TABLE registry_entries(id TEXT PRIMARY KEY, manifest_hash TEXT NOT NULL, proof_hash TEXT NOT NULL, "
        "timestamp_file TEXT, registered_at TEXT NOT NULL, signature TEXT, public_key TEXT, blob_manifest TEXT, "
        "blob_proof TEXT, blob_wasm TEXT, blob_abi TEXT, selfverify_status TEXT, selfverify_at TEXT, "
        "verifier_name TEXT, verifier_version TEXT, kid TEXT, signature_scheme TEXT);"
        "CREATE INDEX idx_registry_hashes ON registry_entries(manifest_hash, proof_hash);")
    con.execute(f"INSERT OR REPLACE INTO registry_entries({', '.join(entry)}) VALUES ({', '.join('?' * len(entry))})",
                list(entry.values()))
    con.commit()
    con.close()


@pytest.mark.once
@pytest.mark.parametrize("kind", ["v1.0.json", "v1.1.json", "sqlite"])
def test_verify_finds_cap_agent_entries(cap, tmp_path: Path, kind: str) -> None:
    manifest, proof, pub = _cap_agent_files(tmp_path)
    entry = json.loads((VEC / "registry-7.5.json").read_text())["entries"][0]
    if kind == "v1.0.json":
        reg = VEC / "registry-7.5.json"
    elif kind == "v1.1.json":
        reg = tmp_path / "registry.json"
        reg.write_text(json.dumps({"meta": {"schema_version": "1.1", "tool_version": "cap-agent",
                                            "created_at": "2025-10-25T10:05:00+00:00", "migrated_from": "1.0"},
                                   "entries": [_v11(entry)]}, indent=2))
    else:
        reg = tmp_path / "registry.sqlite"
        _sqlite(reg, entry)
    r = cap("registry", "verify", "--manifest", manifest, "--proof", proof, "--registry", reg, "--pubkey", pub,
            "--json")
    assert r.code == 0, (r.stdout, r.stderr)
    (found,) = r.json()["entries"]
    assert found["id"] == "proof_001" and found["valid"] is True
    assert found["matched_by"] == "manifest file hash (cap-agent)"
    assert "bdaf1ef5d2f72c3add243a4e04b42182" in found["message"]  # the KID published with the vector

    # the same lookup with a tampered signature fails
    forged = dict(entry, signature=entry["signature"].replace("4pI7", "4pI8"))
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps({"registry_version": "1.0", "entries": [forged]}))
    r = cap("registry", "verify", "--manifest", manifest, "--proof", proof, "--registry", bad, "--json")
    assert r.code == 1 and r.json()["entries"][0]["valid"] is False


@pytest.mark.once
def test_v11_registry_is_read_only(cap, one_line_error, case, tmp_path: Path) -> None:
    entry = json.loads((VEC / "registry-7.5.json").read_text())["entries"][0]
    reg = tmp_path / "registry.json"
    before = json.dumps({"meta": {"schema_version": "1.1"}, "entries": [_v11(entry)]})
    reg.write_text(before)
    line = one_line_error(cap("registry", "add", "--manifest", case["manifest"], "--proof", case["proof"],
                              "--registry", reg), 2)
    assert "v1.1" in line
    assert reg.read_text() == before
    r = cap("registry", "list", "--registry", reg, "--json")
    assert r.code == 0 and [e["id"] for e in r.json()["entries"]] == ["proof_001"]
