"""File I/O shared by every capfast module: crash-safe writes, bounded reads, and one cross-platform file lock.

* :func:`atomic_write` / :func:`atomic_writer` never leave a half-written target behind: they write a temporary file
  in the *same* directory (so the final rename cannot cross file systems), fsync it, rename it over the target and
  fsync the directory so the rename itself survives a power loss. Readers see either the old file or the new one.
* :func:`read_limited` / :func:`read_bounded` read a regular file of at most ``limit`` bytes (one bounded read, so a
  file that grows meanwhile cannot make capfast read more).
* :func:`locked` takes an exclusive advisory lock on an open file: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
  Windows (where ``fcntl`` does not exist), blocking or not.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:  # POSIX
    import fcntl as _fcntl
except ImportError:  # Windows
    _fcntl = None  # type: ignore[assignment]

__all__ = ["LockBusyError", "atomic_write", "atomic_writer", "fault_point", "fsync_dir", "locked", "read_bounded",
           "read_limited", "remove_stale_temps"]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (a rename or a new file inside it) to disk. No-op where unsupported."""
    flags = os.O_RDONLY
    if hasattr(os, "O_DIRECTORY"):
        flags |= os.O_DIRECTORY
    try:
        fd = os.open(os.fspath(directory), flags)
    except OSError:  # e.g. Windows, where directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories; the rename is still atomic
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[IO[bytes]]:
    """Context manager yielding a binary file whose content replaces ``path`` atomically on success.

    ``mode`` (e.g. ``0o600`` for private keys) is applied to the temporary file *before* any byte is written,
    so the content is never readable with wider permissions. Without ``mode`` a new file gets ``0o666 & ~umask``
    and an existing file keeps its permission bits. If the block raises, the target is untouched and the
    temporary file is removed.
    """
    import tempfile

    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if mode is None:
        try:
            final_mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            final_mode = 0o666 & ~umask
    else:
        final_mode = mode
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, final_mode) if hasattr(os, "fchmod") else os.chmod(tmp_name, final_mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
        tmp_name = ""
        fsync_dir(directory)
    finally:
        if fd != -1:
            os.close(fd)
        if tmp_name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)


def atomic_write(
    path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None, encoding: str = "utf-8"
) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same dir, fsync, rename, fsync dir).

    ``str`` data is encoded with ``encoding``; ``mode`` as in :func:`atomic_writer`.
    """
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    with atomic_writer(path, mode=mode) as fh:
        fh.write(payload)


def read_limited(path: str | os.PathLike[str], limit: int, what: str, error: type[Exception]) -> bytes:
    """The bytes of the file ``path`` if it holds at most ``limit`` bytes, else ``error``; a directory is ``error``
    too. Other I/O errors (e.g. :class:`FileNotFoundError`) propagate unchanged."""
    p = Path(path)
    if p.is_dir():
        raise error(f"{what} {p} is a directory")
    with open(p, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} {p} is larger than the {limit}-byte limit")
    return data


def read_bounded(path: str | os.PathLike[str], limit: int, what: str, error: type[Exception]) -> bytes:
    """:func:`read_limited`, with a missing file reported as ``error`` (``"<what> <path>: no such file"``) too."""
    try:
        return read_limited(path, limit, what, error)
    except FileNotFoundError:
        raise error(f"{what} {Path(path)}: no such file") from None


class LockBusyError(OSError):
    """:func:`locked` with ``blocking=False`` found the file locked by another process (or thread)."""


#: Windows locks a byte range; capfast locks one byte far past any real content, so readers are never blocked.
_WIN_LOCK_OFFSET = 1 << 62


@contextlib.contextmanager
def locked(fh: IO[bytes], *, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the open file ``fh`` for the ``with`` block.

    POSIX: ``flock`` (whole file, released when the block ends or the process dies). Windows: ``msvcrt.locking`` of
    one byte at a fixed offset far beyond the data (a mandatory byte-range lock that no reader ever touches), polled
    every 50 ms while ``blocking``. With ``blocking=False`` a lock held elsewhere raises :class:`LockBusyError` at
    once. The lock is advisory between capfast processes: every writer of a file must take it.
    """
    if _fcntl is not None:
        flags = _fcntl.LOCK_EX if blocking else _fcntl.LOCK_EX | _fcntl.LOCK_NB
        try:
            _fcntl.flock(fh.fileno(), flags)
        except BlockingIOError:
            raise LockBusyError(f"{getattr(fh, 'name', 'file')} is locked by another process") from None
        try:
            yield
        finally:
            _fcntl.flock(fh.fileno(), _fcntl.LOCK_UN)
        return
    import errno
    import msvcrt  # Windows only

    def _at_lock_offset(op: int) -> None:
        pos = fh.tell()
        try:
            fh.seek(_WIN_LOCK_OFFSET)
            msvcrt.locking(fh.fileno(), op, 1)
        finally:
            fh.seek(pos)

    # msvcrt reports a range locked by someone else as EACCES or EDEADLOCK; anything else is a real error.
    busy = {errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK), errno.EDEADLK}
    while True:
        try:
            _at_lock_offset(msvcrt.LK_NBLCK)
            break
        except OSError as exc:
            if exc.errno not in busy:
                raise
            if not blocking:
                raise LockBusyError(f"{getattr(fh, 'name', 'file')} is locked by another process") from None
            time.sleep(0.05)
    try:
        yield
    finally:
        _at_lock_offset(msvcrt.LK_UNLCK)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temps(directory: str | os.PathLike[str], prefix: str, suffix: str = "") -> list[str]:
    """Remove what crashed writers left behind: entries of ``directory`` named ``<prefix><pid>-…<suffix>`` whose
    process no longer exists (files or whole staging directories). A writer creates its temp name with its own pid
    after ``prefix``, so a live writer's temp file is never touched. Returns the names removed."""
    import shutil

    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix) or not name.endswith(suffix):
            continue
        pid_text = name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(name)
        except OSError:
            pass
    return removed


def fault_point(point: str) -> None:
    """Crash tests only: ``CAPFAST_FAULT=<point>`` kills this process with SIGKILL when it reaches ``point``."""
    if os.environ.get("CAPFAST_FAULT") == point:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
