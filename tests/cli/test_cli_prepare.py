"""``cap prepare`` through the real console script: outputs, audit trail, cap-agent compatibility, failures."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import blake3
import pytest

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples"
CAP_AGENT_VECTORS = REPO / "tests" / "vectors" / "cap-agent"
SUPPLIERS = EXAMPLES / "suppliers.csv"
UBOS = EXAMPLES / "ubos.csv"
CAP_AGENT = json.loads((CAP_AGENT_VECTORS / "expected.json").read_text(encoding="utf-8"))
EVENTS = [
    "prepare_started",
    "data_loaded",
    "data_loaded",
    "merkle_root_computed",
    "merkle_root_computed",
    "merkle_root_computed",
    "commitments_saved",
]


def audit_entries(path: Path) -> list[dict]:
    """Verify ``path`` with the §6.1 algorithm written out here (independent of capfast.lksg.audit)."""
    prev, seq, out = "0x" + "0" * 64, 0, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        assert list(e) == ["seq", "ts", "event", "details", "prev_digest", "digest"]
        details = json.dumps(e["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        material = f"{e['seq']}{e['ts']}{e['event']}{details}{e['prev_digest']}".encode()
        assert e["digest"] == "0x" + hashlib.sha3_256(material).hexdigest(), e
        assert e["prev_digest"] == prev and e["seq"] == seq + 1
        prev, seq = e["digest"], e["seq"]
        out.append(e)
    return out


def b3(path: Path) -> str:
    return "0x" + blake3.blake3(path.read_bytes()).hexdigest()


def test_prepare_examples_default_scheme(cap, tmp_path: Path) -> None:
    r = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--output", "out")
    assert r.code == 0, r.stderr
    assert r.stderr == ""  # no progress bar for small inputs on a non-terminal
    doc = json.loads((tmp_path / "out" / "commitments.json").read_text(encoding="utf-8"))
    assert list(doc)[:5] == ["supplier_root", "ubo_root", "company_commitment_root", "supplier_count", "ubo_count"]
    assert (doc["supplier_count"], doc["ubo_count"]) == (20, 5)
    assert (doc["scheme"], doc["hash"], doc["salted"]) == ("merkle-v1", "blake3", False)
    assert doc["inputs"]["suppliers"]["blake3"] == b3(SUPPLIERS)
    assert doc["inputs"]["ubos"]["blake3"] == b3(UBOS)
    assert doc["inputs"]["ubos"]["bytes"] == UBOS.stat().st_size

    from capfast.commit import commit

    s, u = commit(SUPPLIERS), commit(UBOS)
    assert doc["supplier_root"] == s.root_hex and doc["ubo_root"] == u.root_hex
    company = blake3.blake3(b"\x01" + s.root + u.root).hexdigest()
    assert doc["company_commitment_root"] == "0x" + company
    for key in ("supplier_root", "ubo_root", "company_commitment_root"):
        assert doc[key] in r.stdout


@pytest.mark.parametrize(("hash_name", "ctor"), [("sha256", hashlib.sha256), ("sha3-256", hashlib.sha3_256)])
def test_prepare_other_hashes(cap, tmp_path: Path, hash_name: str, ctor) -> None:
    r = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--hash", hash_name, "--json")
    assert r.code == 0, r.stderr
    out = r.json()
    assert out["hash"] == hash_name
    from capfast.commit import commit

    s, u = commit(SUPPLIERS, hash=hash_name), commit(UBOS, hash=hash_name)
    assert out["supplier_root"] == s.root_hex
    assert out["company_commitment_root"] == "0x" + ctor(b"\x01" + s.root + u.root).hexdigest()
    assert (tmp_path / "build" / "commitments.json").exists()  # default output dir


def test_prepare_json_output_shape(cap, tmp_path: Path) -> None:
    r = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--output", tmp_path / "o", "--json")
    assert r.code == 0, r.stderr
    out = r.json()
    on_disk = json.loads((tmp_path / "o" / "commitments.json").read_text(encoding="utf-8"))
    for key, value in on_disk.items():
        assert out[key] == value
    assert out["ok"] is True
    assert out["commitments_file"] == str(tmp_path / "o" / "commitments.json")
    assert out["audit_log"] == str(tmp_path / "o" / "agent.audit.jsonl")
    entries = audit_entries(tmp_path / "o" / "agent.audit.jsonl")
    assert out["audit_seq"] == len(entries) == 7 and out["audit_tip"] == entries[-1]["digest"]


def test_cap_agent_scheme_reproduces_vectors(cap, tmp_path: Path) -> None:
    r = cap(
        "prepare", "--suppliers", CAP_AGENT_VECTORS / "suppliers.csv", "--ubos", CAP_AGENT_VECTORS / "ubos.csv",
        "--scheme", "cap-agent-v1", "--output", "out", "--json",
    )
    assert r.code == 0, r.stderr
    want = CAP_AGENT["prepare"]
    doc = json.loads((tmp_path / "out" / "commitments.json").read_text(encoding="utf-8"))
    for key in ("supplier_root", "ubo_root", "company_commitment_root", "supplier_count", "ubo_count"):
        assert doc[key] == want[key], key
    assert doc["scheme"] == "cap-agent-v1" and doc["hash"] == "blake3"
    entries = audit_entries(tmp_path / "out" / "agent.audit.jsonl")
    roots = {e["details"]["target"]: e["details"]["root"] for e in entries if e["event"] == "merkle_root_computed"}
    assert roots == {
        "suppliers": want["supplier_root"], "ubos": want["ubo_root"], "company": want["company_commitment_root"]
    }


def test_cap_agent_scheme_on_our_examples(cap, tmp_path: Path) -> None:
    r = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--scheme", "cap-agent-v1", "--json")
    assert r.code == 0, r.stderr
    from capfast.cap_agent import commit_cap_agent, company_root_cap_agent

    s, u = commit_cap_agent(SUPPLIERS), commit_cap_agent(UBOS)
    out = r.json()
    assert (out["supplier_root"], out["ubo_root"]) == (s.root_hex, u.root_hex)
    assert out["company_commitment_root"] == company_root_cap_agent(s.root_hex, u.root_hex)


def test_audit_log_events_and_continuation(cap, tmp_path: Path) -> None:
    for _ in range(2):
        assert cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS).code == 0
    entries = audit_entries(tmp_path / "build" / "agent.audit.jsonl")
    assert [e["event"] for e in entries] == EVENTS * 2
    assert [e["seq"] for e in entries] == list(range(1, 15))
    first = entries[:7]
    assert first[0]["details"] == {"suppliers_file": str(SUPPLIERS), "ubos_file": str(UBOS)}
    assert first[1]["details"] == {"type": "suppliers", "count": 20}
    assert first[2]["details"] == {"type": "ubos", "count": 5}
    assert [e["details"]["target"] for e in first[3:6]] == ["suppliers", "ubos", "company"]
    assert first[6]["details"] == {"path": str(Path("build") / "commitments.json")}
    doc = json.loads((tmp_path / "build" / "commitments.json").read_text(encoding="utf-8"))
    assert first[5]["details"]["root"] == doc["company_commitment_root"]
    v = cap("audit", "verify", "--json")
    assert v.code == 0 and v.json()["count"] == 14


@pytest.mark.parametrize(
    ("mutate", "problem", "line"),
    [
        (lambda ls: ls.__setitem__(2, ls[2].replace('"count":5', '"count":6')), "modified", 3),
        (lambda ls: ls.__setitem__(slice(1, 3), [ls[2], ls[1]]), "reordered", 2),
        (lambda ls: ls.__delitem__(3), "deleted", 4),
        (lambda ls: ls.__setitem__(4, ls[4][:-5]), "malformed", 5),
    ],
    ids=["modify", "reorder", "delete", "malform"],
)
def test_tampered_audit_log_is_pinpointed(cap, tmp_path: Path, mutate, problem: str, line: int) -> None:
    assert cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS).code == 0
    log = tmp_path / "build" / "agent.audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    mutate(lines)
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = cap("audit", "verify", "--file", log, "--json")
    assert r.code == 1, r.stdout + r.stderr
    out = r.json()
    assert (out["ok"], out["problem"], out["line"]) == (False, problem, line)
    human = cap("audit", "verify", "--file", log)
    assert human.code == 1 and problem in human.stdout


def test_salted_prepare(cap, tmp_path: Path) -> None:
    key = tmp_path / "salt.key"
    key.write_text("11" * 32 + "\n")
    key.chmod(0o600)
    r = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--salt-key-file", key, "--json")
    assert r.code == 0, r.stderr
    salted = r.json()
    assert salted["salted"] is True
    from capfast.commit import commit

    assert salted["supplier_root"] == commit(SUPPLIERS, salt_key=b"\x11" * 32).root_hex
    assert salted["supplier_root"] != commit(SUPPLIERS).root_hex
    raw = tmp_path / "raw.key"
    raw.write_bytes(b"\x11" * 32)
    raw.chmod(0o600)
    r2 = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--salt-key-file", raw, "--json", "--output", "b2")
    assert r2.code == 0 and r2.json()["supplier_root"] == salted["supplier_root"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_group_readable_salt_key_is_refused(cap, tmp_path: Path, one_line_error) -> None:
    key = tmp_path / "salt.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    line = one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--salt-key-file", key), 2)
    assert "chmod 600" in line
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("content", [b"short", b"zz" * 32, b"\x00" * 33])
def test_bad_salt_key_content(cap, tmp_path: Path, one_line_error, content: bytes) -> None:
    key = tmp_path / "salt.key"
    key.write_bytes(content)
    key.chmod(0o600)
    line = one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--salt-key-file", key), 2)
    assert "32 raw bytes or 64 hex" in line


def test_bad_ubo_file_leaves_no_commitments(cap, tmp_path: Path, one_line_error) -> None:
    bad = tmp_path / "ubos.csv"
    bad.write_text("name,birthdate,citizenship\nJane Doe,1985-11-22,US\nJohn,1970-01-01\n", encoding="utf-8")
    line = one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", bad, "--output", "out"), 2)
    assert "ubos.csv" in line and ":3:" in line
    assert not (tmp_path / "out" / "commitments.json").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    entries = audit_entries(tmp_path / "out" / "agent.audit.jsonl")
    assert [e["event"] for e in entries] == ["prepare_started", "data_loaded", "prepare_failed"]
    assert entries[-1]["details"]["stage"] == "ubos"


def test_failed_rerun_keeps_previous_commitments(cap, tmp_path: Path) -> None:
    assert cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS).code == 0
    before = (tmp_path / "build" / "commitments.json").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"name,birthdate,citizenship\n\xff\xfe,1,2\n")
    r = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", bad)
    assert r.code == 2 and "Traceback" not in r.stderr
    assert (tmp_path / "build" / "commitments.json").read_bytes() == before
    entries = audit_entries(tmp_path / "build" / "agent.audit.jsonl")
    assert [e["event"] for e in entries[7:]] == ["prepare_started", "data_loaded", "prepare_failed"]
    assert "invalid UTF-8" in entries[-1]["details"]["error"]


def test_bad_supplier_csv_json_error(cap, tmp_path: Path, one_line_error) -> None:
    bad = tmp_path / "s.csv"
    bad.write_text('name,jurisdiction,tier\n"unterminated,DE,1\n', encoding="utf-8")
    r = cap("prepare", "--suppliers", bad, "--ubos", UBOS, "--json")
    one_line_error(r, 2)
    out = r.json()
    assert out["ok"] is False and out["exit_code"] == 2 and "s.csv" in out["error"]


def test_cap_agent_bad_tier_is_bad_input(cap, tmp_path: Path, one_line_error) -> None:
    bad = tmp_path / "s.csv"
    bad.write_text("name,jurisdiction,tier\nA,DE,TIER_1\n", encoding="utf-8")
    line = one_line_error(cap("prepare", "--suppliers", bad, "--ubos", UBOS, "--scheme", "cap-agent-v1"), 2)
    assert "TIER_1" in line
    # the default scheme commits any text, like the reference CLI docs' example
    assert cap("prepare", "--suppliers", bad, "--ubos", UBOS).code == 0


def test_missing_input_is_io_error(cap, tmp_path: Path, one_line_error) -> None:
    line = one_line_error(cap("prepare", "--suppliers", tmp_path / "nope.csv", "--ubos", UBOS), 3)
    assert "nope.csv" in line
    assert not (tmp_path / "build").exists()


def test_scheme_option_conflicts(cap, tmp_path: Path, one_line_error) -> None:
    one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--scheme", "cap-agent-v1",
                       "--hash", "sha256"), 2)
    key = tmp_path / "k"
    key.write_bytes(b"\x01" * 32)
    key.chmod(0o600)
    one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--scheme", "cap-agent-v1",
                       "--salt-key-file", key), 2)
    one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--hash", "md5"), 2)


def test_company_option(cap, tmp_path: Path, one_line_error) -> None:
    r = cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--company", '{"name": "Beispiel AG"}', "--json")
    assert r.code == 0 and r.json()["company"] == {"name": "Beispiel AG"}
    one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--company", "[1]"), 2)


def test_output_is_a_file(cap, tmp_path: Path, one_line_error) -> None:
    (tmp_path / "f").write_text("x")
    one_line_error(cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--output", "f"), 3)


def test_forced_progress_goes_to_stderr(cap, tmp_path: Path) -> None:
    big = tmp_path / "s.csv"
    shutil.copy(SUPPLIERS, big)
    r = cap("prepare", "--suppliers", big, "--ubos", UBOS, "--progress", "--json")
    assert r.code == 0
    json.loads(r.stdout)  # stdout stays clean JSON
    assert "suppliers" in r.stderr and "100.0%" in r.stderr
