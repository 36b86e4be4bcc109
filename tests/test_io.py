"""capfast._io: atomic writes (temp file in the same directory, fsync, rename) with optional private mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from capfast._io import atomic_write, atomic_writer


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    atomic_write(target, "Müller\n")
    assert target.read_bytes() == "Müller\n".encode()
    atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_private_mode_and_kept_mode(tmp_path: Path) -> None:
    key = tmp_path / "k"
    atomic_write(key, b"secret", mode=0o600)
    assert key.stat().st_mode & 0o777 == 0o600
    other = tmp_path / "o"
    other.write_text("x")
    other.chmod(0o640)
    atomic_write(other, "y")
    assert other.stat().st_mode & 0o777 == 0o640


def test_failure_leaves_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nope" / "c.json", "x")
