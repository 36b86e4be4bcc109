"""``cap audit verify|tip`` against hostile logs and anchors (issue 19, item 9), through the real CLI.

Deep ``details`` used to crash both commands (exit 4, RecursionError); duplicate keys and CRLF lines were accepted,
so two parsers could read one log differently; an unanchored "ok" did not say what it cannot see; and the anchor a
manifest records could not be checked once the log had legitimately grown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capfast.lksg.audit import AuditLog, compute_digest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _log(path: Path, n: int = 3) -> list[str]:
    log = AuditLog(path)
    for i in range(n):
        log.append(f"event_{i}", {"i": i}, ts=f"2025-01-01T00:00:0{i}Z")
    return path.read_text().splitlines()


def _line(seq: int, details_json: str, prev: str, digest: str | None = None) -> str:
    details = json.loads(details_json) if digest is None else None
    digest = digest or compute_digest(seq, "t", "e", details, prev)
    return f'{{"seq":{seq},"ts":"t","event":"e","details":{details_json},"prev_digest":"{prev}","digest":"{digest}"}}'


@pytest.mark.once
@pytest.mark.parametrize("command", ["verify", "tip"])
def test_deeply_nested_details_are_malformed_not_a_crash(cap, tmp_path: Path, command: str) -> None:
    path = tmp_path / "agent.audit.jsonl"
    lines = _log(path, 1)
    prev = json.loads(lines[0])["digest"]
    with open(path, "a") as fh:
        fh.write(_line(2, "[" * 5000 + "]" * 5000, prev, "0x" + "0" * 64) + "\n")
    r = cap("audit", command, "--file", path, "--json")
    assert r.code == 1 and "Traceback" not in r.stderr, (r.code, r.stderr)
    doc = r.json()
    assert (doc["ok"], doc["problem"], doc["line"]) == (False, "malformed", 2)
    assert "nest" in doc["message"]


def _check_malformed(cap, path: Path, line: int, why: str) -> None:
    r = cap("audit", "verify", "--file", path, "--json")
    assert r.code == 1, (r.code, r.stdout, r.stderr)
    doc = r.json()
    assert (doc["problem"], doc["line"]) == ("malformed", line) and why in doc["message"], doc


@pytest.mark.once
def test_duplicate_keys_are_refused(cap, tmp_path: Path) -> None:
    # The digest matches the *last* "details" (what Python's json keeps); a first-wins parser would read {"i": 0}.
    path = tmp_path / "agent.audit.jsonl"
    lines = _log(path, 2)
    second = json.loads(lines[1])
    forged = lines[1].replace('"details":{"i":1}', '"details":{"i":0},"details":{"i":1}')
    assert json.loads(forged) == second
    path.write_text(lines[0] + "\n" + forged + "\n")
    _check_malformed(cap, path, 2, "duplicate key 'details'")
    path.write_text(lines[0] + "\n" + lines[1].replace('{"i":1}', '{"i":1,"i":1}') + "\n")
    _check_malformed(cap, path, 2, "duplicate key 'i'")


@pytest.mark.once
def test_crlf_lines_are_refused(cap, tmp_path: Path) -> None:
    path = tmp_path / "agent.audit.jsonl"
    lines = _log(path, 3)
    path.write_bytes(("\n".join(lines[:2]) + "\r\n" + lines[2] + "\n").encode())
    _check_malformed(cap, path, 2, "carriage return")
    r = cap("audit", "tip", "--file", path)
    assert r.code == 1 and "carriage return" in r.stdout
    path.write_bytes(("\n".join(lines) + "\r\n").encode())  # only the last line
    _check_malformed(cap, path, 3, "carriage return")


@pytest.mark.once
def test_lone_surrogate_is_malformed(cap, tmp_path: Path) -> None:
    path = tmp_path / "agent.audit.jsonl"
    lines = _log(path, 1)
    prev = json.loads(lines[0])["digest"]
    path.write_text(lines[0] + "\n" + _line(2, '{"a":"\\ud800"}', prev, "0x" + "1" * 64) + "\n")
    _check_malformed(cap, path, 2, "surrogate")


@pytest.mark.once
def test_unanchored_ok_says_what_it_cannot_detect(cap, tmp_path: Path) -> None:
    path = tmp_path / "agent.audit.jsonl"
    lines = _log(path, 3)
    r = cap("audit", "verify", "--file", path)
    assert r.code == 0 and "not anchored" in r.stdout and "removed from the end" in r.stdout
    assert cap("audit", "verify", "--file", path, "--json").json()["anchored"] is False
    # Truncated: still a valid chain, so still "ok" -- and still saying so.
    path.write_text("\n".join(lines[:2]) + "\n")
    r = cap("audit", "verify", "--file", path)
    assert r.code == 0 and "not anchored" in r.stdout
    tip = json.loads(lines[2])["digest"]
    r = cap("audit", "verify", "--file", path, "--expect-tip", tip, "--json")
    assert r.code == 1 and r.json()["problem"] == "tip mismatch"


@pytest.mark.once
def test_manifest_anchor_checks_a_grown_log_as_a_prefix(cap, tmp_path: Path) -> None:
    build = tmp_path / "build"
    assert cap("prepare", "--suppliers", EXAMPLES / "suppliers.csv", "--ubos", EXAMPLES / "ubos.csv",
               "--output", build).code == 0
    r = cap("manifest", "build", "--commitments", build / "commitments.json", "--policy",
            EXAMPLES / "policy.lksg.v1.yml", "--sanctions", EXAMPLES / "sanctions.csv", "--output",
            build / "manifest.json")
    assert r.code == 0, r.stderr
    log = build / "agent.audit.jsonl"
    manifest = json.loads((build / "manifest.json").read_text())
    anchored = manifest["audit"]["events_count"]
    AuditLog(log).append("later_event", {"n": 1})  # the log legitimately grows after the manifest was built
    assert len(log.read_text().splitlines()) > anchored + 1

    r = cap("audit", "verify", "--file", log, "--manifest", build / "manifest.json", "--json")
    assert r.code == 0, r.stdout
    assert r.json()["anchored"] is True
    r = cap("audit", "verify", "--file", log, "--manifest", build / "manifest.json")
    assert r.code == 0 and f"anchor matches at entry {anchored}" in r.stdout
    # the exact-end check alone would refuse the grown log
    r = cap("audit", "verify", "--file", log, "--expect-tip", manifest["audit"]["tail_digest"],
            "--expect-count", str(anchored))
    assert r.code == 1

    # truncated below the anchor
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[: anchored - 1]) + "\n")
    r = cap("audit", "verify", "--file", log, "--manifest", build / "manifest.json", "--json")
    assert r.code == 1 and r.json()["problem"] == "tip mismatch"

    # rewritten as a whole (re-hashed, so the chain itself is valid) after the anchor was taken
    log.unlink()
    for i, raw in enumerate(lines):
        entry = json.loads(raw)
        AuditLog(log).append(entry["event"], {**entry["details"], "rewritten": True} if i == 0 else entry["details"],
                             ts=entry["ts"])
    assert cap("audit", "verify", "--file", log).code == 0
    r = cap("audit", "verify", "--file", log, "--manifest", build / "manifest.json", "--json")
    assert r.code == 1 and r.json()["problem"] == "tip mismatch" and "rewritten" in r.json()["message"]
