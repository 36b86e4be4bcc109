"""``cap commit``, ``cap prove``, ``cap verify-inclusion`` and the generic CLI conventions, via the real script."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples"
SUPPLIERS = EXAMPLES / "suppliers.csv"
UBOS = EXAMPLES / "ubos.csv"


def test_help_version_and_exit_codes(cap) -> None:
    r = cap("--help")
    assert r.code == 0
    for text in ("prepare", "commit", "prove", "verify-inclusion", "exit codes", "130"):
        assert text in r.stdout
    v = cap("--version")
    assert v.code == 0 and "capfast" in v.stdout
    for sub in ("prepare", "commit", "prove", "verify-inclusion"):
        h = cap(sub, "--help")
        assert h.code == 0 and "--json" in h.stdout


@pytest.mark.parametrize(
    "args",
    [(), ("frobnicate",), ("prepare",), ("prepare", "--suppliers", "x.csv"), ("commit",), ("prove", "x.csv"),
     ("commit", "x.csv", "--hash", "md5"), ("prove", "x.csv", "--row", "one")],
)
def test_usage_errors_are_one_line(cap, one_line_error, args) -> None:
    line = one_line_error(cap(*args), 2)
    assert "hint:" in line


def test_commit(cap, tmp_path: Path) -> None:
    r = cap("commit", SUPPLIERS, "--json")
    assert r.code == 0, r.stderr
    out = r.json()
    from capfast.commit import commit

    c = commit(SUPPLIERS)
    assert out["root"] == c.root_hex and out["count"] == 20 == c.count
    assert (out["hash"], out["scheme"], out["salted"], out["ok"]) == ("blake3", "merkle-v1", False, True)
    human = cap("commit", SUPPLIERS)
    assert human.code == 0 and c.root_hex in human.stdout and "20 rows" in human.stdout


def test_commit_columns_and_hash(cap) -> None:
    r = cap("commit", SUPPLIERS, "--columns", "name,tier", "--hash", "sha256", "--json")
    assert r.code == 0, r.stderr
    from capfast.commit import commit

    c = commit(SUPPLIERS, columns=["name", "tier"], hash="sha256")
    assert r.json()["root"] == c.root_hex and r.json()["columns"] == ["name", "tier"]
    assert c.root_hex != commit(SUPPLIERS, hash="sha256").root_hex


def test_commit_unknown_column(cap, one_line_error) -> None:
    line = one_line_error(cap("commit", SUPPLIERS, "--columns", "name,nope"), 2)
    assert "nope" in line


def test_commit_cap_agent_scheme(cap) -> None:
    r = cap("commit", UBOS, "--scheme", "cap-agent-v1", "--json")
    assert r.code == 0, r.stderr
    from capfast.cap_agent import commit_cap_agent

    assert r.json()["root"] == commit_cap_agent(UBOS).root_hex and r.json()["kind"] == "ubo"


def test_prove_and_verify_roundtrip(cap, tmp_path: Path) -> None:
    assert cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS).code == 0
    doc = json.loads((tmp_path / "build" / "commitments.json").read_text(encoding="utf-8"))
    for row in (0, 6, 19):  # 6 = '"Global Supply, Inc."' (quoted comma)
        proof = tmp_path / f"p{row}.json"
        r = cap("prove", SUPPLIERS, "--row", row, "--output", proof)
        assert r.code == 0, r.stderr
        data = json.loads(proof.read_text(encoding="utf-8"))
        assert data["root_hex"] == doc["supplier_root"]
        v = cap("verify-inclusion", "--proof", proof, "--root", doc["supplier_root"])
        assert v.code == 0, v.stdout + v.stderr
        v = cap("verify-inclusion", "--proof", proof, "--commitments", "build/commitments.json", "--which", "supplier",
                "--json")
        assert v.code == 0 and v.json()["ok"] is True
        # the same proof against the other list's root fails
        w = cap("verify-inclusion", "--proof", proof, "--commitments", "build/commitments.json", "--which", "ubo")
        assert w.code == 1 and "FAILED" in w.stdout


def test_prove_to_stdout_is_json(cap) -> None:
    r = cap("prove", UBOS, "--row", "1")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["root_hex"].startswith("0x")


def _flip_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _tamper_candidates(doc: dict) -> list[tuple[str, dict]]:
    """Variants of a proof document that must not verify: every hex string and every row field changed."""
    out = []

    def walk(node, path, setter):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + [k], lambda nv, node=node, k=k: node.__setitem__(k, nv))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [i], lambda nv, node=node, i=i: node.__setitem__(i, nv))
        elif isinstance(node, str) and path[-1] not in ("root_hex", "hash", "scheme", "version", "type"):
            out.append((".".join(map(str, path)), setter, node))

    walk(doc, [], None)
    variants = []
    for name, setter, value in out:
        setter(_flip_hex(value) if value.startswith("0x") or all(c in "0123456789abcdef" for c in value) else value + "x")
        variants.append((name, json.loads(json.dumps(doc))))
        setter(value)
    return variants


def test_tampered_proof_fails_with_exit_1(cap, tmp_path: Path) -> None:
    r = cap("commit", SUPPLIERS, "--json")
    root = r.json()["root"]
    proof = tmp_path / "p.json"
    assert cap("prove", SUPPLIERS, "--row", "3", "--output", proof).code == 0
    doc = json.loads(proof.read_text(encoding="utf-8"))
    variants = _tamper_candidates(doc)
    assert variants, doc
    for name, bad in variants:
        proof.write_text(json.dumps(bad), encoding="utf-8")
        v = cap("verify-inclusion", "--proof", proof, "--root", root)
        assert v.code == 1, (name, v.code, v.stdout, v.stderr)
        assert "Traceback" not in v.stderr
    # a well-formed proof against a different root: exit 1 exactly
    proof.write_text(json.dumps(doc), encoding="utf-8")
    v = cap("verify-inclusion", "--proof", proof, "--root", _flip_hex(root), "--json")
    assert v.code == 1 and v.json()["ok"] is False


def test_tampered_sibling_is_exit_1(cap, tmp_path: Path) -> None:
    root = cap("commit", SUPPLIERS, "--json").json()["root"]
    proof = tmp_path / "p.json"
    assert cap("prove", SUPPLIERS, "--row", "5", "--output", proof).code == 0
    text = proof.read_text(encoding="utf-8")
    doc = json.loads(text)
    siblings = [v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], str)]
    assert siblings, doc
    siblings[0][0] = _flip_hex(siblings[0][0])
    proof.write_text(json.dumps(doc), encoding="utf-8")
    v = cap("verify-inclusion", "--proof", proof, "--root", root)
    assert v.code == 1, v.stdout + v.stderr


def test_salted_prove_and_verify(cap, tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    root = cap("commit", SUPPLIERS, "--salt-key-file", key, "--json").json()["root"]
    proof = tmp_path / "p.json"
    assert cap("prove", SUPPLIERS, "--row", "2", "--salt-key-file", key, "--output", proof).code == 0
    if os.name == "posix":
        assert proof.stat().st_mode & 0o777 == 0o600
    assert cap("verify-inclusion", "--proof", proof, "--root", root).code == 0
    unsalted = cap("commit", SUPPLIERS, "--json").json()["root"]
    assert cap("verify-inclusion", "--proof", proof, "--root", unsalted).code == 1


def test_prove_errors(cap, tmp_path: Path, one_line_error) -> None:
    line = one_line_error(cap("prove", SUPPLIERS, "--row", "20"), 2)
    assert "20 data rows" in line
    one_line_error(cap("prove", SUPPLIERS, "--row", "-1"), 2)
    line = one_line_error(cap("prove", SUPPLIERS, "--row", "0", "--scheme", "cap-agent-v1"), 2)
    assert "not Merkle" in line
    one_line_error(cap("prove", tmp_path / "missing.csv", "--row", "0"), 3)


def test_verify_inclusion_errors(cap, tmp_path: Path, one_line_error) -> None:
    proof = tmp_path / "p.json"
    assert cap("prove", UBOS, "--row", "0", "--output", proof).code == 0
    one_line_error(cap("verify-inclusion", "--proof", proof), 2)  # no trusted root
    one_line_error(cap("verify-inclusion", "--proof", proof, "--root", "0x1234"), 2)
    one_line_error(cap("verify-inclusion", "--proof", proof, "--commitments", "c.json"), 2)  # no --which
    one_line_error(cap("verify-inclusion", "--proof", tmp_path / "none.json", "--root", "0x" + "0" * 64), 3)
    (tmp_path / "garbage.json").write_text("{nope", encoding="utf-8")
    one_line_error(cap("verify-inclusion", "--proof", tmp_path / "garbage.json", "--root", "0x" + "0" * 64), 2)
    (tmp_path / "empty.json").write_text("{}", encoding="utf-8")
    one_line_error(cap("verify-inclusion", "--proof", tmp_path / "empty.json", "--root", "0x" + "0" * 64), 2)
    assert cap("prepare", "--suppliers", SUPPLIERS, "--ubos", UBOS, "--scheme", "cap-agent-v1").code == 0
    line = one_line_error(
        cap("verify-inclusion", "--proof", proof, "--commitments", "build/commitments.json", "--which", "ubo"), 2
    )
    assert "cap-agent-v1" in line


def test_bad_csv_one_line_error(cap, tmp_path: Path, one_line_error) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    line = one_line_error(cap("commit", bad), 2)
    assert "bad.csv" in line and "3" in line
    r = cap("commit", bad, "--json")
    assert r.code == 2 and json.loads(r.stdout)["ok"] is False


def test_no_progress_without_tty_and_forced_progress(cap) -> None:
    quiet = cap("commit", SUPPLIERS)
    assert quiet.code == 0 and quiet.stderr == ""
    loud = cap("commit", SUPPLIERS, "--progress")
    assert loud.code == 0 and "%" in loud.stderr and loud.stderr.endswith("\n")
    off = cap("commit", SUPPLIERS, "--no-progress")
    assert off.code == 0 and off.stderr == ""
