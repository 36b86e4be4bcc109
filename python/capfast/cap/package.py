"""Build, open, verify and extract CAP 1.0 packages (``.cap``).

Layout (cap-format.md §1): ``_cap/manifest.cbor``, ``_cap/index.cbor``, ``_cap/root.sha256`` (lowercase hex + LF),
``_cap/signature.ed25519`` (Ed25519 over the 32 raw root bytes), ``_cap/publisher.ed25519.pk`` (convenience only),
then ``blobs/<sha256>.zst`` sorted by hash. Every entry is STORED with fixed timestamps and attributes, so a build is
byte-for-byte reproducible; manifest bytes, index bytes, root and signature equal the reference tool's.

Opening a package checks everything that does not need a key: the strict ZIP structure, the entry names (only the
five ``_cap/`` files and referenced ``blobs/<hash>.zst``), the canonical CBOR, manifest validation, safe and
collision-free index paths, and the root. :meth:`Package.verify` then needs a **given or pinned** publisher key (the
embedded key is only reported); ``full=True`` decompresses every blob and checks its size and SHA-256.
:meth:`Package.extract` verifies fully first, writes into a fresh staging directory beside the target and renames it
into place, so nothing is ever written outside the target and a failure leaves nothing behind. Before anything is
decompressed it plans the write from the index: the number of paths, the total bytes to write (one blob listed
under many paths is written many times, so caps on unique blobs do not bound it) and the free space of the target's
file system are checked against :class:`Limits`; every file written is bounded by and checked against its
declared size.

The index fields ``size``, ``compressed_size``, ``compression`` and ``mime`` are **not** covered by the signed root
(spec §7.2 hashes paths and content hashes only): sizes are enforced when a blob is decompressed (``verify --full``,
``extract``), and ``mime`` is advisory metadata that a tamperer may change without breaking the signature.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any, NamedTuple

from capfast import ed25519
from capfast._backend import core
from capfast._io import fault_point, fsync_dir, remove_stale_temps
from capfast.cap.index import FileEntry, Index, guess_mime
from capfast.cap.manifest import Manifest
from capfast.cap.paths import check_vpath
from capfast.errors import (
    BlobMismatchError,
    DecompressionBombError,
    InvalidArgumentError,
    ManifestError,
    MissingEntryError,
    SignatureError,
    TrustError,
    UnexpectedEntryError,
    UnsafePathError,
    ZipFormatError,
)

__all__ = ["Limits", "Package", "BuildResult", "VerifyResult", "build", "collect_app_files", "DEFAULT_LEVEL",
           "UNSIGNED_INDEX_FIELDS_NOTE"]

DEFAULT_LEVEL = 10
MANIFEST, INDEX, ROOT, SIGNATURE, PUBKEY = (
    "_cap/manifest.cbor", "_cap/index.cbor", "_cap/root.sha256", "_cap/signature.ed25519", "_cap/publisher.ed25519.pk"
)
_REQUIRED = (MANIFEST, INDEX, ROOT, SIGNATURE)
_BLOB_NAME = re.compile(r"blobs/([0-9a-f]{64})\.zst")
_HEX64_LINES = re.compile(r"(?:[0-9a-f]{64}\n)*[0-9a-f]{64}")
_META_NAMES = frozenset((*_REQUIRED, PUBKEY))
_MAX_APP_FILES = 60_000
UNSIGNED_INDEX_FIELDS_NOTE = (
    "size, compressed_size and mime are not covered by the signature: sizes are enforced when blobs are "
    "decompressed (verify --full, extract), mime is advisory"
)


# NamedTuples, not dataclasses: ``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``),
# which a signature check -- a whole ``cap verify`` process -- would pay for on every run.
class Limits(NamedTuple):
    """Caps applied to untrusted packages (all sizes in bytes); ``limits._replace(max_total=...)`` for others."""

    max_entries: int = 65_535
    max_manifest: int = 1 << 20
    max_index: int = 256 << 20
    max_blob: int = 1 << 30
    max_total: int = 4 << 30
    max_ratio: int = 10_000
    window_log_max: int = 25
    #: extract: total bytes written (every path counts, also paths sharing one blob) and number of files
    max_extract_bytes: int = 4 << 30
    max_extract_files: int = 100_000
    #: extract: free space left on the target's file system after the write
    min_free_after_extract: int = 64 << 20

    def blob_kwargs(self) -> dict[str, int]:
        return {"max_blob": self.max_blob, "max_total": self.max_total, "max_ratio": self.max_ratio,
                "window_log_max": self.window_log_max}


class BuildResult:
    """What :func:`build` wrote."""

    __slots__ = ("path", "root", "manifest", "index", "size")

    def __init__(self, path: Path, root: bytes, manifest: Manifest, index: Index, size: int) -> None:
        self.path, self.root, self.manifest, self.index, self.size = path, root, manifest, index, size

    def __repr__(self) -> str:
        return f"BuildResult(path={self.path!r}, root={self.root.hex()}, files={len(self.index)}, size={self.size})"


class VerifyResult(NamedTuple):
    """What was verified and with which key. ``key_source`` is ``"provided"`` or ``"pinned"``."""

    root: bytes
    public_key: bytes
    key_source: str
    full: bool
    embedded_key: bytes | None
    embedded_key_matches: bool | None
    files: int
    blobs: int
    warnings: list[str] = []  # never mutated: verify builds a fresh list

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True, "root": self.root.hex(), "public_key": self.public_key.hex(), "key_source": self.key_source,
            "full": self.full, "embedded_key": self.embedded_key.hex() if self.embedded_key else None,
            "embedded_key_matches": self.embedded_key_matches, "files": self.files, "blobs": self.blobs,
            "warnings": self.warnings,
        }


# -- build ---------------------------------------------------------------------------------------------------------

def collect_app_files(base: Path, manifest: Manifest) -> list[tuple[str, Path]]:
    """The files the reference builder packs: everything under the directory of ``entrypoints.ui`` (recursive,
    hidden files included) plus ``core_wasm``; virtual paths are relative to ``base`` (the ``Cap.toml`` folder).

    Refused (the reference packs them silently): symlinks, non-UTF-8 or unsafe names, and secret key files."""
    base = base.resolve()
    ui_dir = (base / manifest.ui).parent
    files: dict[str, Path] = {}
    prefix = len(str(base).rstrip(os.sep)) + 1

    def rel_of(fs_path: str) -> str:
        rel = fs_path[prefix:]
        return rel if os.sep == "/" else rel.replace(os.sep, "/")

    def add(fs_path: Path, rel: str | None = None) -> None:
        rel = fs_path.relative_to(base).as_posix() if rel is None else rel
        check_vpath(rel)
        if rel.endswith(".sk.json"):
            raise UnsafePathError(f"refusing to pack {rel!r}: it looks like a secret key file")
        files[rel] = fs_path

    if not ui_dir.is_dir():
        raise ManifestError(f"entrypoints.ui: directory {ui_dir} does not exist")
    stack = [str(ui_dir)]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for entry in it:
                if entry.is_symlink():
                    raise UnsafePathError(f"refusing to pack symlink {rel_of(entry.path)!r}")
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    add(Path(entry.path), rel_of(entry.path))
                else:
                    raise UnsafePathError(f"refusing to pack special file {rel_of(entry.path)!r}")
                if len(files) > _MAX_APP_FILES:
                    raise ManifestError(f"app folder has more than {_MAX_APP_FILES} files")
    if manifest.core_wasm is not None:
        core_path = base / manifest.core_wasm
        if core_path.is_symlink():
            raise UnsafePathError(f"refusing to pack symlink {manifest.core_wasm!r}")
        if not core_path.is_file():
            raise ManifestError(f"entrypoints.core_wasm: {manifest.core_wasm!r} not found")
        add(core_path)
    for key, vpath in (("ui", manifest.ui), ("core_wasm", manifest.core_wasm)):
        if vpath is not None and vpath not in files:
            raise ManifestError(f"entrypoints.{key}: {vpath!r} is not among the packed files")
    return sorted(files.items(), key=lambda kv: kv[0].encode())


def build(cap_toml: str | os.PathLike[str], secret_key: bytes, out: str | os.PathLike[str], *,
          level: int = DEFAULT_LEVEL, embed_public_key: bool = True) -> BuildResult:
    """Build a signed ``.cap`` from ``Cap.toml`` (written atomically to ``out``). The same input always gives
    the same bytes."""
    toml_path = Path(cap_toml)
    manifest = Manifest.from_toml(toml_path)
    files = collect_app_files(toml_path.parent, manifest)
    packed = core.cap_pack_files([str(p) for _, p in files], level)
    entries: dict[str, FileEntry] = {}
    blobs: dict[str, bytes] = {}
    for (vpath, _), (hash_hex, size, blob) in zip(files, packed):
        entries[vpath] = FileEntry(hash_hex, size, len(blob), "zstd", guess_mime(vpath))
        blobs[hash_hex] = blob
    index = Index(entries)
    manifest_bytes = manifest.to_cbor()
    root = core.cap_root(hashlib.sha256(manifest_bytes).digest(), index.paths, index.hashes)
    signature = ed25519.sign(secret_key, root)
    zip_entries: list[tuple[str, bytes]] = [
        (MANIFEST, manifest_bytes), (INDEX, index.to_cbor()), (ROOT, root.hex().encode() + b"\n"),
        (SIGNATURE, signature),
    ]
    if embed_public_key:
        zip_entries.append((PUBKEY, ed25519.public_key(secret_key)))
    zip_entries.extend((f"blobs/{h}.zst", blobs[h]) for h in sorted(blobs))
    target = Path(out)
    directory = target.parent if str(target.parent) else Path(".")
    # A build killed earlier (even SIGKILL) left its temp file: remove those whose process is gone.
    remove_stale_temps(directory, f".{target.name}.build-", suffix=".tmp")
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.build-{os.getpid()}-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        size = core.zip_write(tmp, zip_entries)
        fault_point("build_before_rename")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        tmp = ""
        fsync_dir(directory)
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return BuildResult(target, root, manifest, index, size)


# -- open / verify / extract -----------------------------------------------------------------------------------------

def _unexpected(name: str) -> None:
    check_vpath(name)  # a blob name is always safe; anything else must be before it is even named
    raise UnexpectedEntryError(f"unexpected entry {name!r} (only _cap/ metadata and blobs/<sha256>.zst)")


class Package:
    """An opened, structurally checked ``.cap`` (no key involved yet). Use :meth:`open`."""

    def __init__(self) -> None:
        self.path: Path = Path()
        self.limits = Limits()
        self.manifest_bytes = b""
        self.manifest: Manifest
        self.root = b""
        self.signature = b""
        self.embedded_key: bytes | None = None
        self.warnings: list[str] = []
        # After the one-pass native scan (see ``open``), the index, the blob table and the blob entries are built
        # only when something asks for them (inspect, verify --full, extract), not for a signature check.
        self._entries: dict[str, tuple[int, int, int]] | None = {}
        self._index: Index | None = None
        self._index_bytes = b""
        self._unique_cache: dict[str, FileEntry] | None = {}
        self._counts: tuple[int, int] | None = None  # (files, blobs) from the scan, before the index is built

    @property
    def entries(self) -> dict[str, tuple[int, int, int]]:
        """Archive entry name → ``(data_offset, size, crc32)``."""
        if self._entries is None:
            self._entries = {n: (o, sz, c) for n, o, sz, c in core.zip_entries(str(self.path), self.limits.max_entries)}
        return self._entries

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = Index.from_cbor(self._index_bytes)
        return self._index

    @property
    def _unique(self) -> dict[str, FileEntry]:
        if self._unique_cache is None:
            self._unique_cache = self.index.unique_blobs()
        return self._unique_cache

    @classmethod
    def open(cls, path: str | os.PathLike[str], limits: Limits | None = None) -> Package:
        """Parse and check everything that needs no key (see the module docstring).

        A clean package takes one native pass (``cap_scan``: strict ZIP, metadata, canonical index, safe paths,
        collisions, blob table, root); anything it is not sure of goes the general way below, which names the
        problem."""
        pkg = cls()
        pkg.path = Path(path)
        pkg.limits = limits or Limits()
        lim = pkg.limits
        scanned = core.cap_scan(str(pkg.path), lim.max_entries, lim.max_manifest, lim.max_index)
        if scanned is not None:
            meta, pkg.manifest_bytes, pkg._index_bytes, _root_text, pkg.signature, key, pkg.root, paths, n_blobs = \
                scanned
            pkg._counts = (len(paths), n_blobs)
            pkg._entries = {n: (o, sz, c) for n, o, sz, c in meta}
            pkg.manifest = Manifest.from_cbor(pkg.manifest_bytes)
            pkg.embedded_key = key
            pkg._unique_cache = None
            if pkg.manifest.ui not in paths or (pkg.manifest.core_wasm is not None and
                                               pkg.manifest.core_wasm not in paths):
                pkg._entries, pkg._index = {}, None  # the general path below names the missing entry point
            else:
                pkg._entries = None  # blob entries: read again if ever needed
                return pkg
        raw_entries = core.zip_entries(str(pkg.path), pkg.limits.max_entries)
        entries, blob_names = pkg.entries, {}
        for name, offset, size, crc in raw_entries:
            entries[name] = (offset, size, crc)
            if len(name) == 74 and name.startswith("blobs/") and name.endswith(".zst"):
                blob_names[name[6:70]] = name  # the 64 characters are checked below, all at once
            elif name not in _META_NAMES:
                _unexpected(name)
        if blob_names and not _HEX64_LINES.fullmatch("\n".join(blob_names)):
            _unexpected(next(n for n in blob_names.values() if not _BLOB_NAME.fullmatch(n)))
        for name in _REQUIRED:
            if name not in pkg.entries:
                raise MissingEntryError(f"missing required entry {name}")
        pkg.manifest_bytes = pkg._read(MANIFEST, pkg.limits.max_manifest)
        pkg.manifest = Manifest.from_cbor(pkg.manifest_bytes)
        pkg._index_bytes = pkg._read(INDEX, pkg.limits.max_index)
        pkg._index = Index.from_cbor(pkg._index_bytes)
        root_text = pkg._read(ROOT, 65)
        if not re.fullmatch(rb"[0-9a-f]{64}\n", root_text):
            raise SignatureError("_cap/root.sha256 is not 64 lowercase hex digits and a newline")
        pkg.signature = pkg._read(SIGNATURE, 64)
        if len(pkg.signature) != 64:
            raise SignatureError(f"_cap/signature.ed25519 is {len(pkg.signature)} bytes, not 64")
        if PUBKEY in pkg.entries:
            key = pkg._read(PUBKEY, 32)
            if len(key) == 32:
                pkg.embedded_key = key
            else:
                pkg.warnings.append(f"embedded public key ignored: {len(key)} bytes, not 32")
        for key, vpath in (("ui", pkg.manifest.ui), ("core_wasm", pkg.manifest.core_wasm)):
            if vpath is not None and vpath not in pkg.index.files:
                raise MissingEntryError(f"entrypoints.{key} {vpath!r} is not in the index (a package without its "
                                        "entry point cannot run)")
        pkg.root = core.cap_root(hashlib.sha256(pkg.manifest_bytes).digest(), pkg.index.paths, pkg.index.hashes)
        if pkg.root.hex().encode() + b"\n" != root_text:
            raise SignatureError(f"root mismatch: _cap/root.sha256 says {root_text[:64].decode()}, the manifest and "
                                 f"index give {pkg.root.hex()}")
        pkg._unique_cache = pkg.index.unique_blobs()
        for h, entry in pkg._unique.items():
            name = blob_names.pop(h, None)
            if name is None:
                raise MissingEntryError(f"blob {h} (for {pkg._paths_of(h)}) is missing from the archive")
            if pkg.entries[name][1] != entry.compressed_size:
                raise BlobMismatchError(f"blob {h}: {pkg.entries[name][1]} bytes in the archive, index says "
                                        f"{entry.compressed_size}")
        if blob_names:
            extra = sorted(blob_names.values())[0]
            raise UnexpectedEntryError(f"{extra} is not referenced by the index ({len(blob_names)} unreferenced blobs)")
        return pkg

    def _paths_of(self, h: str) -> str:
        return next((p for p, e in self.index.files.items() if e.hash == h), "?")

    def _read(self, name: str, cap: int) -> bytes:
        import zlib

        offset, size, crc = self.entries[name]
        if size > cap:
            raise ZipFormatError(f"{name}: {size} bytes, more than the {cap}-byte limit")
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(size)
        if len(data) != size:
            raise ZipFormatError(f"{name}: truncated")
        if zlib.crc32(data) & 0xFFFFFFFF != crc:
            raise ZipFormatError(f"{name}: CRC-32 mismatch")
        return data

    def _blob_refs(self) -> list[tuple[str, int, int, int, int]]:
        refs = []
        for h, entry in self._unique.items():
            offset, csize, crc = self.entries[f"blobs/{h}.zst"]
            refs.append((h, offset, csize, crc, entry.size))
        return refs

    @property
    def app_id(self) -> str:
        return self.manifest.app_id

    def select_key(self, public_key: bytes | None = None, trust_store: Any = None) -> tuple[bytes, str]:
        """The verification key and where it came from: the given one, else the one pinned for this app id."""
        if public_key is not None:
            if len(public_key) != 32:
                raise SignatureError(f"public key must be 32 bytes, got {len(public_key)}")
            return bytes(public_key), "provided"
        pinned = trust_store.get(self.app_id) if trust_store is not None else None
        if pinned is not None:
            return pinned, "pinned"
        embedded = f" (the package embeds {self.embedded_key.hex()}, which alone proves nothing)" \
            if self.embedded_key else ""
        raise TrustError(f"no trusted publisher key for {self.app_id}: pass --pubkey or pin one with "
                         f"'cap trust pin'{embedded}")

    def verify(self, public_key: bytes | None = None, *, trust_store: Any = None, full: bool = False) -> VerifyResult:
        """Check the signature over the root with a given or pinned key; with ``full``, every blob too."""
        key, source = self.select_key(public_key, trust_store)
        try:
            ok = ed25519.verify(key, self.root, self.signature)
        except InvalidArgumentError as exc:
            raise SignatureError(str(exc)) from None
        if not ok:
            raise SignatureError(f"signature does not verify with the {source} key {key.hex()} "
                                 "(wrong key, tampered root, non-canonical signature or small-order key)")
        if full:
            self.verify_blobs()
        matches = None if self.embedded_key is None else self.embedded_key == key
        warnings = list(self.warnings)
        if matches is False:
            warnings.append("the embedded public key differs from the verification key")
        files, blobs = self._counts if self._index is None and self._counts else (len(self.index), len(self._unique))
        return VerifyResult(self.root, key, source, full, self.embedded_key, matches, files, blobs, warnings)

    def verify_blobs(self) -> None:
        """Decompress every blob with bounded memory; check size and SHA-256; stop at the first violation."""
        core.cap_verify_blobs(str(self.path), self._blob_refs(), **self.limits.blob_kwargs())

    def read_file(self, vpath: str) -> bytes:
        """The checked content of one virtual file."""
        entry = self.index.files.get(vpath)
        if entry is None:
            raise MissingEntryError(f"no such path {vpath!r} in the package")
        offset, csize, crc = self.entries[f"blobs/{entry.hash}.zst"]
        return core.cap_read_blob(str(self.path), (entry.hash, offset, csize, crc, entry.size),
                                  **self.limits.blob_kwargs())

    def plan_extract(self, directory: str | os.PathLike[str] = ".") -> tuple[int, int]:
        """``(files, bytes)`` an extraction would write, refused (before anything is decompressed) when over
        :attr:`Limits.max_extract_files` / :attr:`Limits.max_extract_bytes` (:class:`DecompressionBombError`) or
        when ``directory``'s file system would keep less than :attr:`Limits.min_free_after_extract` free
        (``OSError`` ENOSPC). Sizes are the declared ones; the writes are held to them."""
        lim = self.limits
        files = len(self.index.files)
        if files > lim.max_extract_files:
            raise DecompressionBombError(f"extracting would create {files} files, over the cap of "
                                         f"{lim.max_extract_files} (--max-files)")
        total = sum(e.size for e in self.index.files.values())
        if total > lim.max_extract_bytes:
            unique = sum(e.size for e in self._unique.values())
            raise DecompressionBombError(
                f"extracting would write {total} bytes ({files} files from {unique} bytes of unique content), over "
                f"the cap of {lim.max_extract_bytes} bytes (--max-bytes)")
        import shutil

        free = shutil.disk_usage(directory).free
        if total + lim.min_free_after_extract > free:
            raise OSError(errno.ENOSPC, f"not enough free space in {directory}: extracting needs {total} bytes and "
                          f"leaves at least {lim.min_free_after_extract} free, {free} bytes are available")
        return files, total

    def extract(self, out_dir: str | os.PathLike[str], public_key: bytes | None = None, *,
                trust_store: Any = None) -> VerifyResult:
        """Check the write plan (:meth:`plan_extract`), verify fully, then materialise every virtual file under
        ``out_dir`` (which must not exist or be empty)."""
        target = Path(out_dir)
        if target.is_symlink():
            raise UnsafePathError(f"{target} is a symlink")
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise FileExistsError(f"{target} exists and is not an empty directory")
        parent = target.parent if str(target.parent) else Path(".")
        parent.mkdir(parents=True, exist_ok=True)
        self.plan_extract(parent)
        result = self.verify(public_key, trust_store=trust_store, full=True)
        remove_stale_temps(parent, f".{target.name}.extract-")
        import shutil
        import tempfile

        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-{os.getpid()}-", dir=parent))
        try:
            by_hash: dict[str, list[str]] = {}
            for vpath, entry in self.index.files.items():
                by_hash.setdefault(entry.hash, []).append(vpath)
            for vpaths in by_hash.values():
                data = self.read_file(vpaths[0])
                declared = self.index.files[vpaths[0]].size
                if len(data) != declared:  # the core bounds decoding by the declared size; check it was met
                    raise BlobMismatchError(f"{vpaths[0]}: {len(data)} bytes, the index declares {declared}")
                for vpath in vpaths:
                    _write_new(staging, vpath, data)
            fsync_dir(staging)
            if target.exists():
                target.rmdir()
            os.rename(staging, target)
            fsync_dir(parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return result


def _write_new(root: Path, vpath: str, data: bytes) -> None:
    """Create ``root/vpath`` (fresh; never following or replacing anything) with ``data``."""
    check_vpath(vpath)
    parts = vpath.split("/")
    d = root
    for comp in parts[:-1]:
        d = d / comp
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(d).st_mode):
                raise UnsafePathError(f"{vpath!r}: {comp!r} is both a file and a directory") from None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(d / parts[-1], flags, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
