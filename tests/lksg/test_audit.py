"""The v1.0 hash-chained audit log (cap-agent.md §6.1): vectors, appends, and tamper pinpointing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capfast.errors import AuditLogError
from capfast.lksg.audit import GENESIS_DIGEST, AuditLog, compute_digest, verify_audit_log

# Backend-independent (the audit log: hashlib and file I/O, no capfast backend code): runs in the native pass only.
pytestmark = pytest.mark.once

VEC = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "cap-agent" / "expected.json").read_text(encoding="utf-8")
)["audit_v1"]


def independent_verify(path: Path) -> list[dict]:
    """The §6.1 algorithm written out separately from capfast.lksg.audit (used as the oracle)."""
    prev = "0x" + "0" * 64
    entries = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        e = json.loads(line)
        assert list(e) == ["seq", "ts", "event", "details", "prev_digest", "digest"]
        details = json.dumps(e["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        material = f"{e['seq']}{e['ts']}{e['event']}{details}{e['prev_digest']}".encode()
        assert e["prev_digest"] == prev
        assert e["digest"] == "0x" + hashlib.sha3_256(material).hexdigest()
        prev = e["digest"]
        entries.append(e)
    return entries


def test_vector_digests() -> None:
    prev = VEC["genesis"]
    assert GENESIS_DIGEST == prev
    for e in VEC["entries"]:
        assert compute_digest(e["seq"], e["ts"], e["event"], e["details"], prev) == e["digest"]
        prev = e["digest"]


def test_writer_reproduces_vector_lines(tmp_path: Path) -> None:
    path = tmp_path / "agent.audit.jsonl"
    log = AuditLog(path)
    for e in VEC["entries"]:
        written = log.append(e["event"], e["details"], ts=e["ts"])
        assert (written.seq, written.digest) == (e["seq"], e["digest"])
    lines = path.read_text(encoding="utf-8").splitlines()
    e1 = VEC["entries"][0]
    assert lines[0] == (
        '{"seq":1,"ts":"2025-10-25T10:00:00+00:00","event":"prepare_started",'
        '"details":{"suppliers_file":"suppliers.csv","ubos_file":"ubos.csv"},'
        f'"prev_digest":"{VEC["genesis"]}","digest":"{e1["digest"]}"}}'
    )
    assert len(independent_verify(path)) == 2
    report = verify_audit_log(path)
    assert report.ok and report.count == 2 and report.last_seq == 2 and report.tip == VEC["entries"][1]["digest"]


def test_continues_existing_log_and_sorts_details(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    for e in VEC["entries"]:
        AuditLog(path).append(e["event"], e["details"], ts=e["ts"])
    entry = AuditLog(path).append("merkle_root_computed", {"target": "suppliers", "root": "0x00", "a": [3, {"z": 1, "b": 2}]})
    assert entry.seq == 3 and entry.prev_digest == VEC["entries"][1]["digest"]
    last = path.read_text(encoding="utf-8").splitlines()[-1]
    assert '"details":{"a":[3,{"b":2,"z":1}],"root":"0x00","target":"suppliers"}' in last
    assert AuditLog(path).tip() == (3, entry.digest)
    assert len(independent_verify(path)) == 3


def test_default_timestamp_is_rfc3339_utc(tmp_path: Path) -> None:
    entry = AuditLog(tmp_path / "a.jsonl").append("x", {"ü": "Müller"})
    parsed = dt.datetime.fromisoformat(entry.ts)
    assert parsed.utcoffset() == dt.timedelta(0)
    assert entry.ts.endswith("+00:00") and "T" in entry.ts
    text = (tmp_path / "a.jsonl").read_text(encoding="utf-8")
    assert "Müller" in text  # raw UTF-8, like serde_json


def test_empty_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"")
    r = verify_audit_log(path)
    assert r.ok and r.count == 0 and r.tip == GENESIS_DIGEST
    log = AuditLog(path)
    log.append("a", {})
    with open(path, "ab") as fh:
        fh.write(b"\n  \n")
    log.append("b", {})
    r = verify_audit_log(path)
    assert r.ok and r.count == 2
    assert len(independent_verify(path)) == 2


def _log(tmp_path: Path, n: int = 6) -> tuple[Path, list[bytes]]:
    path = tmp_path / "agent.audit.jsonl"
    log = AuditLog(path)
    for i in range(n):
        log.append("data_loaded", {"type": "suppliers", "count": i}, ts=f"2025-10-25T10:00:0{i}+00:00")
    return path, path.read_bytes().splitlines(keepends=True)


def test_modified_entry_is_pinpointed(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    lines[2] = lines[2].replace(b'"count":2', b'"count":7')
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "modified" and r.line == 3 and r.seq == 3
    assert r.count == 2 and r.last_seq == 2


def test_reordered_entries_are_pinpointed(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    lines[3], lines[4] = lines[4], lines[3]
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "reordered" and r.line == 4 and r.seq == 5
    assert "line 5" in (r.message or "")


def test_deleted_entry_is_pinpointed(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    del lines[2]
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "deleted" and r.line == 3 and r.seq == 4
    assert "seq 3" in (r.message or "")


def test_deleted_first_entry(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    path.write_bytes(b"".join(lines[1:]))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "deleted" and r.line == 1


def test_duplicated_entry(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    lines.insert(3, lines[1])
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "reordered" and r.line == 4


def test_rehashed_modification_breaks_the_next_link(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    e = json.loads(lines[2])
    e["details"]["count"] = 99
    e["digest"] = compute_digest(e["seq"], e["ts"], e["event"], e["details"], e["prev_digest"])
    lines[2] = (json.dumps(e, separators=(",", ":")) + "\n").encode()
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "broken link" and r.line == 4


def test_rewritten_seq_is_caught_even_though_cap_agent_ignores_it(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    e = json.loads(lines[5])
    e["seq"] = 9
    e["digest"] = compute_digest(e["seq"], e["ts"], e["event"], e["details"], e["prev_digest"])
    lines[5] = (json.dumps(e, separators=(",", ":")) + "\n").encode()
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "seq" and r.line == 6


@pytest.mark.parametrize(
    "bad",
    [b"{not json\n", b"[1,2]\n", b'{"seq":1}\n', b"\xff\xfe\n"],
    ids=["json", "array", "fields", "utf8"],
)
def test_malformed_line(tmp_path: Path, bad: bytes) -> None:
    path, lines = _log(tmp_path)
    lines.insert(2, bad)
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "malformed" and r.line == 3


def test_extra_field_and_bad_types_are_malformed(tmp_path: Path) -> None:
    path, lines = _log(tmp_path, 2)
    e = json.loads(lines[1])
    e["extra"] = 1
    path.write_bytes(lines[0] + (json.dumps(e) + "\n").encode())
    assert verify_audit_log(path).problem == "malformed"
    e = json.loads(lines[1])
    e["seq"] = "2"
    path.write_bytes(lines[0] + (json.dumps(e) + "\n").encode())
    assert verify_audit_log(path).problem == "malformed"


def test_truncated_last_line(tmp_path: Path) -> None:
    path, lines = _log(tmp_path, 3)
    path.write_bytes(b"".join(lines[:2]) + lines[2][:40])
    r = verify_audit_log(path)
    assert not r.ok and r.problem == "incomplete tail" and r.line == 3 and r.count == 2
    with pytest.raises(AuditLogError, match="incomplete"):
        AuditLog(path).append("x", {})


def test_removing_the_tail_needs_an_anchor(tmp_path: Path) -> None:
    path, lines = _log(tmp_path)
    tip = verify_audit_log(path).tip
    path.write_bytes(b"".join(lines[:4]))
    assert verify_audit_log(path).ok  # undetectable from the file alone (as in cap-agent)
    r = verify_audit_log(path, expected_tip=tip)
    assert not r.ok and r.problem == "tip mismatch"
    r = verify_audit_log(path, expected_count=6)
    assert not r.ok and r.problem == "tip mismatch"


def test_refuses_to_extend_a_tampered_tail(tmp_path: Path) -> None:
    path, lines = _log(tmp_path, 3)
    lines[2] = lines[2].replace(b'"count":2', b'"count":3')
    path.write_bytes(b"".join(lines))
    with pytest.raises(AuditLogError, match="digest"):
        AuditLog(path).append("x", {})
    assert path.read_bytes() == b"".join(lines)


def test_bad_event_and_details(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    with pytest.raises(AuditLogError):
        log.append("", {})
    with pytest.raises(AuditLogError):
        log.append("a\nb", {})
    with pytest.raises(AuditLogError):
        log.append("x", {"v": float("nan")})
    with pytest.raises(AuditLogError):
        log.append("x", {"v": object()})
    assert not (tmp_path / "a.jsonl").exists()


def test_concurrent_appenders_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"

    def work(k: int) -> None:
        log = AuditLog(path)
        for i in range(20):
            log.append("e", {"worker": k, "i": i})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = verify_audit_log(path)
    assert r.ok and r.count == 80 and r.last_seq == 80
    assert len(independent_verify(path)) == 80


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        verify_audit_log(tmp_path / "nope.jsonl")
    assert AuditLog(tmp_path / "nope.jsonl").tip() == (0, GENESIS_DIGEST)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, 7), offset=st.integers(0, 400), byte=st.integers(0x21, 0x7E))
def test_random_single_byte_edit_is_pinpointed(tmp_path: Path, position: int, offset: int, byte: int) -> None:
    path = tmp_path / "h.jsonl"
    path.unlink(missing_ok=True)
    log = AuditLog(path)
    for i in range(8):
        log.append("merkle_root_computed", {"target": "suppliers", "root": f"0x{i:064x}"}, ts=f"2025-01-01T00:00:0{i}Z")
    lines = path.read_bytes().splitlines(keepends=True)
    line = bytearray(lines[position])
    at = offset % (len(line) - 1)  # never the newline
    if line[at] == byte:
        return
    line[at] = byte
    lines[position] = bytes(line)
    path.write_bytes(b"".join(lines))
    r = verify_audit_log(path)
    assert not r.ok
    # every field feeds the digest, so an unre-hashed edit is always reported on the edited line itself
    assert r.line == position + 1, (r.problem, r.line, position, r.message)
    assert r.problem in ("modified", "malformed", "deleted", "reordered", "broken link", "seq")
