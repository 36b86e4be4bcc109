"""Crash-safe file writes shared by every capfast module that writes files.

:func:`atomic_write` never leaves a half-written target behind: it writes a temporary file in the *same*
directory (so the final rename cannot cross file systems), fsyncs it, renames it over the target and fsyncs the
directory so the rename itself survives a power loss. Readers see either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_writer", "fsync_dir"]


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
