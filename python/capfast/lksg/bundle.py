"""The cap-bundle.v1 container format (reference notes §5.1): write as a directory or ZIP, read safely.

This module is only the container: which files, their roles and ``_meta.json``. Assembling a bundle from a manifest
and a proof (``cap export``) is :mod:`capfast.lksg.export`; checking one is :mod:`capfast.lksg.verifier`.

Layout: ``_meta.json`` + ``manifest.json`` (role ``manifest``), ``proof.dat`` (``proof``), optional
``signature.json`` (``signature``: a detached signed manifest, ``cap sign manifest``), ``timestamp.tsr``
(``timestamp``), ``registry.json`` (``registry``), ``verification.report.json`` (``report``: the exporter's own
check of manifest and proof) and ``README.txt`` (``documentation``). ``_meta.json`` (pretty JSON, struct order):
``schema: "cap-bundle.v1"``, ``bundle_id``, ``created_at``, ``files`` (name → ``{role, hash: "0x"+SHA3-256,
size, content_type, optional}``, names sorted, every other file of the bundle listed) and ``proof_units``
(``[{id, manifest_file, proof_file, policy_id, policy_hash, backend, depends_on}]``).

Reading (:func:`read_bundle`) loads every file **once** into memory (later checks hash and parse the same
bytes), refuses symlinks, special files, names that could leave the bundle (absolute, ``..``, backslash, drive
letters, control characters), duplicate ZIP names, and enforces :class:`Limits` (per-file and total size, entry
count, ZIP compression ratio).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capfast._io import atomic_write, fsync_dir
from capfast.errors import BundleError
from capfast.lksg.serial import sha3_hex

__all__ = [
    "BUNDLE_SCHEMA",
    "FILE_ROLES",
    "META_FILE",
    "Limits",
    "check_name",
    "make_meta",
    "read_bundle",
    "write_bundle",
]

BUNDLE_SCHEMA = "cap-bundle.v1"
META_FILE = "_meta.json"
#: file name → (role, content_type, optional)
FILE_ROLES: dict[str, tuple[str, str | None, bool]] = {
    "manifest.json": ("manifest", "application/json", False),
    "proof.dat": ("proof", "application/octet-stream", False),
    "signature.json": ("signature", "application/json", True),
    "timestamp.tsr": ("timestamp", "application/timestamp-reply", True),
    "registry.json": ("registry", "application/json", True),
    "verification.report.json": ("report", "application/json", False),
    "README.txt": ("documentation", "text/plain", False),
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Limits:
    """Bounds for reading a bundle (hostile input)."""

    max_file_bytes: int = 64 << 20
    max_total_bytes: int = 512 << 20
    max_entries: int = 1000
    max_ratio: int = 100


def check_name(name: str) -> str:
    """``name`` if it is a safe relative bundle path, else :class:`BundleError` naming the problem."""
    if not isinstance(name, str) or not name or len(name) > 255:
        raise BundleError(f"unsafe file name {name!r}: empty or longer than 255 characters")
    if _CONTROL.search(name) or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f"unsafe file name {name!r}: absolute, drive, backslash or control character")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise BundleError(f"unsafe file name {name!r}: it would leave the bundle ('..', '.' or empty component)")
    return name


def _read_dir(root: Path, limits: Limits) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                raise BundleError(f"bundle contains a symlink {os.path.relpath(os.path.join(dirpath, d), root)!r}")
        for fn in filenames:
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                raise BundleError(f"bundle contains a symlink {rel!r}")
            if not stat.S_ISREG(st.st_mode):
                raise BundleError(f"bundle contains a special file {rel!r}")
            check_name(rel)
            if len(files) >= limits.max_entries:
                raise BundleError(f"bundle has more than {limits.max_entries} files")
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(limits.max_file_bytes + 1)
            if len(data) > limits.max_file_bytes:
                raise BundleError(f"file {rel!r} is larger than the {limits.max_file_bytes}-byte limit")
            total += len(data)
            if total > limits.max_total_bytes:
                raise BundleError(f"bundle is larger than the {limits.max_total_bytes}-byte limit")
            files[rel] = data
    return files


def _read_zip(path: Path, limits: Limits) -> dict[str, bytes]:
    size = path.stat().st_size
    if size > limits.max_total_bytes:
        raise BundleError(f"ZIP {path} is larger than the {limits.max_total_bytes}-byte limit")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path} is not a readable ZIP file: {exc}") from None
    files: dict[str, bytes] = {}
    total = 0
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise BundleError(f"ZIP has {len(infos)} entries, over the {limits.max_entries} limit")
        for info in infos:
            if info.is_dir():
                check_name(info.filename.rstrip("/"))
                continue
            name = check_name(info.filename)
            if name in files:
                raise BundleError(f"ZIP has the entry {name!r} twice")
            mode = (info.external_attr >> 16) & 0o170000
            if mode == stat.S_IFLNK:
                raise BundleError(f"ZIP entry {name!r} is a symlink")
            if info.file_size > limits.max_file_bytes:
                raise BundleError(f"file {name!r} is larger than the {limits.max_file_bytes}-byte limit")
            if info.compress_size and info.file_size // max(info.compress_size, 1) > limits.max_ratio:
                raise BundleError(f"ZIP entry {name!r} has a compression ratio over {limits.max_ratio} (zip bomb?)")
            total += info.file_size
            if total > limits.max_total_bytes:
                raise BundleError(f"ZIP content is larger than the {limits.max_total_bytes}-byte limit")
            try:
                with zf.open(info) as fh:
                    data = fh.read(limits.max_file_bytes + 1)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise BundleError(f"ZIP entry {name!r} cannot be read: {exc}") from None
            if len(data) != info.file_size:
                raise BundleError(f"ZIP entry {name!r} is not the size its header declares")
            files[name] = data
    return files


def read_bundle(path: str | os.PathLike[str], limits: Limits | None = None) -> tuple[str, dict[str, bytes]]:
    """``(kind, files)``: ``kind`` is ``"dir"`` or ``"zip"``; ``files`` maps each relative name to its bytes."""
    limits = limits or Limits()
    p = Path(path)
    if p.is_symlink():
        raise BundleError(f"package {p} is a symlink")
    if p.is_dir():
        return "dir", _read_dir(p, limits)
    if p.is_file():
        return "zip", _read_zip(p, limits)
    raise BundleError(f"package {p}: no such directory or ZIP file")


def make_meta(
    files: Mapping[str, bytes], units: list[dict[str, Any]], *, bundle_id: str, created_at: str
) -> dict[str, Any]:
    """The ``_meta.json`` object for ``files`` (every name must be in :data:`FILE_ROLES`)."""
    entries = {}
    for name in sorted(files):
        role, ctype, optional = FILE_ROLES[name]
        entries[name] = {
            "role": role,
            "hash": sha3_hex(files[name]),
            "size": len(files[name]),
            "content_type": ctype,
            "optional": optional,
        }
    return {
        "schema": BUNDLE_SCHEMA,
        "bundle_id": bundle_id,
        "created_at": created_at,
        "files": entries,
        "proof_units": units,
    }


def write_bundle(out: str | os.PathLike[str], files: Mapping[str, bytes], *, force: bool = False) -> Path:
    """Write ``files`` (including ``_meta.json``) as a directory, or a ZIP when ``out`` ends in ``.zip``.

    Nothing partial is left behind: a directory is assembled under a temporary name beside ``out`` and renamed
    into place; a ZIP is written with :func:`capfast._io.atomic_write`. An existing ``out`` is an error unless
    ``force``.
    """
    target = Path(out)
    if target.exists() or target.is_symlink():
        if not force:
            raise BundleError(f"output {target} exists (pass --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(files, key=lambda n: (n != META_FILE, n)):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100644 & 0xFFFF) << 16
                zf.writestr(info, files[name])
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        atomic_write(target, buf.getvalue())
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, data in files.items():
            atomic_write(tmp / name, data)
        old = None
        if target.exists() or target.is_symlink():
            old = target.parent / f".{target.name}.old.{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        tmp = Path()
        fsync_dir(target.parent)
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
    finally:
        if str(tmp) not in ("", ".") and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
