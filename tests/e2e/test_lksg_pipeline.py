"""End to end: the real ``cap`` console script through the LkSG pipeline, then tampering and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
EX = REPO / "examples"
CAP = Path(sys.executable).parent / ("cap.exe" if os.name == "nt" else "cap")


def cap(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if not CAP.exists():
        pytest.fail(f"{CAP} not found: install the package into this venv (make develop)")
    return subprocess.run([str(CAP), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def ok(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    r = cap(*args, cwd=cwd)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def pipeline(root: Path, backend: str, suppliers: Path = EX / "suppliers.csv") -> dict[str, Path]:
    b = root / "build"
    ok("prepare", "--suppliers", suppliers, "--ubos", EX / "ubos.csv", "--output", b)
    ok("manifest", "build", "--commitments", b / "commitments.json", "--policy", EX / "policy.lksg.v1.yml",
       "--sanctions", EX / "sanctions.csv", "--time-anchor", "ticket-1", "--output", b / "manifest.json")
    ok("proof", "build", "--manifest", b / "manifest.json", "--policy", EX / "policy.lksg.v1.yml",
       "--sanctions", EX / "sanctions.csv", "--backend", backend, "--output", b / "proof.dat")
    ok("keys", "keygen", "--owner", "ACME", "--output", root / "keys" / "company")
    ok("sign", "manifest", "--manifest", b / "manifest.json", "--key", root / "keys" / "company.ed25519",
       "--output", b / "signature.json")
    ok("export", "--manifest", b / "manifest.json", "--proof", b / "proof.dat", "--signature", b / "signature.json",
       "--output", root / "bundle")
    ok("export", "--manifest", b / "manifest.json", "--proof", b / "proof.dat", "--signature", b / "signature.json",
       "--output", root / "bundle.zip")
    return {"build": b, "bundle": root / "bundle", "zip": root / "bundle.zip", "pub": root / "keys" / "company.pub"}


@pytest.fixture(scope="module", params=["merkle-disclosure-v1", "mock"])
def run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param.replace("-", "_"))
    paths = pipeline(root, request.param)
    paths["root"] = root
    paths["backend"] = request.param  # type: ignore[assignment]
    return paths


def verify(run, package: Path, *extra: object) -> subprocess.CompletedProcess[str]:
    return cap("verifier", "run", "--package", package, "--pub-key", run["pub"], "--sanctions", EX / "sanctions.csv",
               "--out", run["root"] / "report.json", "--json", *extra)


def test_pipeline_verifies(run):
    for pkg in (run["bundle"], run["zip"]):
        r = verify(run, pkg)
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        want = "ok" if run["backend"] == "merkle-disclosure-v1" else "warn"
        assert rep["status"] == want
        assert rep["units"][0]["signature_valid"] is True
        assert json.loads((run["root"] / "report.json").read_text())["status"] == want
    ok("audit", "verify", "--file", run["build"] / "agent.audit.jsonl")
    ok("proof", "verify", "--manifest", run["build"] / "manifest.json", "--proof", run["build"] / "proof.dat")


def _copy(run, tmp_path: Path) -> Path:
    dst = tmp_path / "b"
    shutil.copytree(run["bundle"], dst)
    return dst


@pytest.mark.parametrize("name", ["_meta.json", "manifest.json", "proof.dat", "signature.json",
                                  "verification.report.json", "README.txt"])
def test_each_file_tampered_is_caught(run, tmp_path, name):
    b = _copy(run, tmp_path)
    data = bytearray((b / name).read_bytes())
    i = len(data) // 2
    data[i] = data[i] ^ 0x01 if data[i] not in (0x22, 0x5C) else 0x20
    (b / name).write_bytes(bytes(data))
    r = verify(run, b)
    assert r.returncode == 1, r.stdout
    assert json.loads(r.stdout)["status"] == "fail"


def _rewrite_meta(b: Path, fn) -> None:
    meta = json.loads((b / "_meta.json").read_text())
    fn(meta)
    (b / "_meta.json").write_text(json.dumps(meta, indent=2))


def _rehash(b: Path, name: str) -> None:
    import hashlib

    def fix(meta):
        data = (b / name).read_bytes()
        meta["files"][name]["hash"] = "0x" + hashlib.sha3_256(data).hexdigest()
        meta["files"][name]["size"] = len(data)

    _rewrite_meta(b, fix)


@pytest.mark.parametrize("case,needle", [
    ("missing", "is missing"),
    ("extra", "not listed"),
    ("escape", "leave the bundle"),
    ("cycle", "cycle"),
    ("bad_sig", "does not verify"),
])
def test_bundle_attacks(run, tmp_path, case, needle):
    b = _copy(run, tmp_path)
    if case == "missing":
        (b / "verification.report.json").unlink()
    elif case == "extra":
        (b / "notes.txt").write_text("hello")
    elif case == "escape":
        _rewrite_meta(b, lambda m: m["files"].update({"../outside.txt": dict(m["files"]["README.txt"])}))
    elif case == "cycle":
        def cyc(m):
            m["proof_units"][0]["depends_on"] = ["second"]
            m["proof_units"].append({**m["proof_units"][0], "id": "second", "depends_on": ["main"]})
        _rewrite_meta(b, cyc)
    elif case == "bad_sig":
        doc = json.loads((b / "signature.json").read_text())
        sig = doc["signature"]["sig_hex"]
        doc["signature"]["sig_hex"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
        (b / "signature.json").write_text(json.dumps(doc, indent=2))
        _rehash(b, "signature.json")
    r = verify(run, b)
    assert r.returncode == 1
    assert needle in r.stdout, r.stdout


def test_wrong_key_is_caught(run, tmp_path):
    ok("keys", "keygen", "--owner", "Other", "--output", tmp_path / "other")
    r = cap("verifier", "run", "--package", run["bundle"], "--pub-key", tmp_path / "other.pub",
            "--out", tmp_path / "r.json", "--json")
    assert r.returncode == 1 and "not a trusted key" in r.stdout


def test_zip_path_escape_is_caught(run, tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(run["zip"]) as src, zipfile.ZipFile(z, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("../../evil.txt", b"x")
    r = verify(run, z)
    assert r.returncode == 1 and "leave the bundle" in r.stdout


def test_tampered_data_is_caught(run, tmp_path):
    """Change the underlying supplier data: the proof cannot be rebuilt, and a bundle re-made from a re-committed
    manifest no longer matches the pinned signature."""
    if run["backend"] != "merkle-disclosure-v1":
        pytest.skip("the mock backend never reads the data (documented)")
    bad = tmp_path / "suppliers.csv"
    bad.write_text((EX / "suppliers.csv").read_text(encoding="utf-8").replace("ACME GmbH", "Falken Export OOO"),
                   encoding="utf-8")
    r = cap("proof", "build", "--manifest", run["build"] / "manifest.json", "--policy", EX / "policy.lksg.v1.yml",
            "--sanctions", EX / "sanctions.csv", "--suppliers", bad, "--output", tmp_path / "p.dat")
    assert r.returncode == 2 and "does not match" in r.stderr
    assert not (tmp_path / "p.dat").exists()
    # re-commit the tampered data: the proof now shows the sanctioned supplier and the old signature breaks
    other = tmp_path / "re"
    b = other / "build"
    ok("prepare", "--suppliers", bad, "--ubos", EX / "ubos.csv", "--output", b)
    ok("manifest", "build", "--commitments", b / "commitments.json", "--policy", EX / "policy.lksg.v1.yml",
       "--sanctions", EX / "sanctions.csv", "--output", b / "manifest.json")
    r = ok("proof", "build", "--manifest", b / "manifest.json", "--policy", EX / "policy.lksg.v1.yml",
           "--sanctions", EX / "sanctions.csv", "--output", b / "proof.dat", "--json")
    assert json.loads(r.stdout)["status"] == "failed"
    r = cap("export", "--manifest", b / "manifest.json", "--proof", b / "proof.dat", "--output", tmp_path / "x")
    assert r.returncode == 2 and "policy not satisfied" in r.stderr and not (tmp_path / "x").exists()
    pkg = _copy(run, tmp_path)
    for name in ("manifest.json", "proof.dat"):
        shutil.copyfile(b / name, pkg / name)
        _rehash(pkg, name)
    r = verify(run, pkg)
    assert r.returncode == 1
    assert "sanctions_non_membership" in r.stdout and "different manifest" in r.stdout


def test_legacy_bundle(run, tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    shutil.copyfile(run["bundle"] / "manifest.json", legacy / "manifest.json")
    shutil.copyfile(run["bundle"] / "proof.dat", legacy / "proof.dat")
    shutil.copyfile(run["bundle"] / "signature.json", legacy / "signature.json")
    r = verify(run, legacy)
    assert r.returncode == 0 and json.loads(r.stdout)["format"] == "legacy"
    m = json.loads((legacy / "manifest.json").read_text())
    m["audit"]["events_count"] += 1
    (legacy / "manifest.json").write_text(json.dumps(m, indent=2))
    assert verify(run, legacy).returncode == 1


def test_bad_input_named_errors_and_no_output(tmp_path):
    bad_csv = tmp_path / "s.csv"
    bad_csv.write_text('name,jurisdiction,tier\n"unclosed,DE,1\n')
    r = cap("prepare", "--suppliers", bad_csv, "--ubos", EX / "ubos.csv", "--output", tmp_path / "b")
    assert r.returncode == 2 and "malformed quoting" in r.stderr
    assert not (tmp_path / "b" / "commitments.json").exists()
    ok("prepare", "--suppliers", EX / "suppliers.csv", "--ubos", EX / "ubos.csv", "--output", tmp_path / "b")
    for text, needle in (("version: [x\n", "not valid YAML"), ('version: "x"\nname: n\n', "invalid policy")):
        pol = tmp_path / "p.yml"
        pol.write_text(text)
        r = cap("manifest", "build", "--commitments", tmp_path / "b" / "commitments.json", "--policy", pol,
                "--output", tmp_path / "m.json")
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "m.json").exists()
    (tmp_path / "bad.json").write_text('{"supplier_root": 1,')
    r = cap("manifest", "build", "--commitments", tmp_path / "bad.json", "--policy", EX / "policy.lksg.v1.yml",
            "--output", tmp_path / "m.json")
    assert r.returncode == 2 and "not valid JSON" in r.stderr and not (tmp_path / "m.json").exists()
    r = cap("manifest", "build", "--commitments", tmp_path / "b" / "commitments.json", "--policy",
            EX / "policy.lksg.v1.yml", "--output", tmp_path / "m.json")
    assert r.returncode == 2 and "--sanctions" in r.stderr
    r = cap("verifier", "run", "--package", tmp_path / "nope", "--out", tmp_path / "r.json")
    assert r.returncode == 1


def test_export_refuses_existing_output(run, tmp_path):
    b = run["build"]
    out = tmp_path / "o"
    out.mkdir()
    r = cap("export", "--manifest", b / "manifest.json", "--proof", b / "proof.dat", "--output", out)
    assert r.returncode == 2 and "exists" in r.stderr


def test_oversized_file_is_refused(run, tmp_path):
    from capfast.lksg.bundle import Limits
    from capfast.lksg.verifier import verify_package

    rep = verify_package(run["bundle"], limits=Limits(max_file_bytes=200))
    assert rep["status"] == "fail" and "limit" in rep["errors"][0]
    rep = verify_package(run["bundle"], limits=Limits(max_entries=2))
    assert rep["status"] == "fail" and "more than 2 files" in rep["errors"][0]


def test_policy_and_audit_commands(tmp_path):
    vec = REPO / "tests" / "vectors" / "cap-agent"
    r = ok("policy", "validate", "--policy", vec / "policy.lksg.v1.yml")
    assert "0xd490be94f6f182bd6a00930c65f6f1f5fab70ddb29116235ae344f064f9b52b3" in r.stdout
    ok("policy", "compile", vec / "lksg_v1.policy.yml", "-o", tmp_path / "ir.json")
    assert (tmp_path / "ir.json").read_bytes() == (vec / "lksg_v1.ir.json").read_bytes()
    r = cap("policy", "lint", vec / "policy.lksg.v2.yml", "--strict", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["lints"][0]["code"] == "W3001"
    assert cap("policy", "lint", vec / "policy.lksg.v2.yml").returncode == 0


def test_registry(run, tmp_path):
    b = run["build"]
    for reg in (tmp_path / "r.sqlite", tmp_path / "r.json"):
        ok("registry", "add", "--manifest", b / "manifest.json", "--proof", b / "proof.dat", "--registry", reg,
           "--signing-key", run["root"] / "keys" / "company.ed25519")
        ok("registry", "verify", "--manifest", b / "manifest.json", "--proof", b / "proof.dat", "--registry", reg,
           "--pub-key", run["pub"])
        r = ok("registry", "list", "--registry", reg, "--json")
        e = json.loads(r.stdout)["entries"][0]
        ok("registry", "find", "--registry", reg, "--manifest-hash", e["manifest_hash"])
        assert cap("registry", "find", "--registry", reg, "--manifest-hash", "0x" + "0" * 64).returncode == 1
    ok("keys", "keygen", "--owner", "X", "--output", tmp_path / "x")
    r = cap("registry", "verify", "--manifest", b / "manifest.json", "--proof", b / "proof.dat", "--registry",
            tmp_path / "r.json", "--pub-key", tmp_path / "x.pub")
    assert r.returncode == 1


def test_project_workflow(tmp_path):
    from capfast.lksg import project

    info = project.create_project(tmp_path, "demo")
    p = Path(info["path"])
    assert project.get_project_status(p)["currentStep"] == "import"
    assert project.import_csv(p, EX / "suppliers.csv", "suppliers")["rowCount"] == 20
    project.import_csv(p, EX / "ubos.csv", "ubos")
    project.import_csv(p, EX / "sanctions.csv", "sanctions")
    project.build_commitments(p)
    assert project.load_policy(p)["name"] == "LkSG Default Policy"
    project.load_policy(p, EX / "policy.lksg.v1.yml")
    project.build_manifest(p)
    assert project.build_proof(p)["status"] == "ok"
    res = project.export_bundle(p, tmp_path / "out.zip")
    assert len(list((p / "export").glob("cap-bundle-*.zip"))) == 1
    assert project.verify_bundle(res["bundlePath"])["status"] == "warn"  # unsigned
    events = [e["event"] for e in project.read_audit_log(p)]
    assert events[0] == "project_created" and events[-1] == "bundle_exported"
    assert {"csv_imported", "commitments_created", "policy_loaded", "manifest_built", "proof_built"} <= set(events)
    assert project.get_project_status(p)["currentStep"] == "export"
