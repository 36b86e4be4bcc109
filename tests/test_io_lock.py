"""capfast._io.locked: one exclusive file lock for every writer (flock on POSIX, msvcrt byte-range lock on Windows)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from capfast import _io
from capfast._io import LockBusyError, locked

# Backend-independent (file locking, no capfast backend code): runs in the native pass only.
pytestmark = pytest.mark.once

posix_only = pytest.mark.skipif(_io._fcntl is None, reason="flock exists on POSIX only")


@posix_only
def test_second_holder_is_refused_or_waits(tmp_path: Path) -> None:
    path = tmp_path / "f.lock"
    with open(path, "a+b") as a, open(path, "a+b") as b:
        with locked(a):
            with pytest.raises(LockBusyError), locked(b, blocking=False):
                pass
            released = threading.Event()
            got: list[float] = []

            def waiter() -> None:
                with locked(b):
                    got.append(time.monotonic())
                released.set()

            t = threading.Thread(target=waiter)
            t.start()
            time.sleep(0.2)
            assert not got  # still waiting for `a`
            freed_at = time.monotonic()
        assert released.wait(10) and got[0] >= freed_at
        t.join()
        with locked(b, blocking=False):
            pass


def test_windows_path_raises_real_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only "locked by someone else" is retried; any other OS error surfaces at once (no endless wait)."""
    fake = FakeMsvcrt()

    def broken(fd: int, mode: int, nbytes: int) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    fake.locking = broken  # type: ignore[method-assign]
    monkeypatch.setattr(_io, "_fcntl", None)
    monkeypatch.setattr(_io, "_WIN_LOCK_OFFSET", 1 << 20)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    with open(tmp_path / "f", "a+b") as fh, pytest.raises(OSError, match="Bad file descriptor"), locked(fh):
        pass


@posix_only
def test_lock_dies_with_its_process(tmp_path: Path) -> None:
    """A holder killed with SIGKILL leaves no stale lock behind (flock is released by the kernel)."""
    path = tmp_path / "f.lock"
    code = (
        "import sys, time\nfrom capfast._io import locked\n"
        f"fh = open({str(path)!r}, 'a+b')\nctx = locked(fh)\nctx.__enter__()\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
            with open(path, "a+b") as fh:
                with pytest.raises(LockBusyError), locked(fh, blocking=False):
                    pass
                proc.kill()
                proc.wait(10)
                with locked(fh, blocking=False):
                    pass
        finally:
            if proc.poll() is None:
                proc.kill()


class FakeMsvcrt(types.ModuleType):
    """Windows' msvcrt.locking as a byte-range lock table (Windows cannot run here; the lock logic can)."""

    LK_NBLCK, LK_UNLCK = 2, 0

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.held: dict[tuple[int, int], int] = {}
        self.calls: list[tuple[int, int, int]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        key = (os.fstat(fd).st_ino, pos)
        self.calls.append((mode, pos, nbytes))
        if mode == self.LK_NBLCK:
            if key in self.held and self.held[key] != fd:
                raise OSError(errno.EDEADLK, "Resource deadlock avoided")
            self.held[key] = fd
        elif mode == self.LK_UNLCK:
            assert self.held.pop(key) == fd


def test_windows_path_locks_one_byte_past_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMsvcrt()
    monkeypatch.setattr(_io, "_fcntl", None)
    # Windows seeks past any real data (1 << 62); a Linux file system refuses such a seek, so the test uses 1 MiB.
    monkeypatch.setattr(_io, "_WIN_LOCK_OFFSET", 1 << 20)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"line\n")
    with open(path, "r+b") as a, open(path, "r+b") as b:
        a.seek(3)
        with locked(a):
            assert a.tell() == 3  # the caller's position is kept
            assert fake.calls[-1] == (fake.LK_NBLCK, 1 << 20, 1)
            with pytest.raises(LockBusyError), locked(b, blocking=False):
                pass
            assert path.read_bytes() == b"line\n"  # readers are not blocked: the locked byte is far past the data
        assert fake.calls[-1] == (fake.LK_UNLCK, 1 << 20, 1) and not fake.held
        with locked(b, blocking=False):
            pass
