"""Safety rules for every path that names something inside a CAP package (security.md §3.1).

A virtual path is a relative POSIX path of safe components: no empty, ``.`` or ``..`` component, no leading ``/``,
no backslash, no ``:`` (drive letters, NTFS streams), no NUL or control characters, no Windows reserved device names,
no trailing dot or space, NFC-normalised, at most 255 bytes per component and 1024 bytes in all. Two paths that are
equal after case folding collide (they would overwrite each other on case-insensitive file systems).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from capfast.errors import DuplicateEntryError, UnsafePathError

__all__ = ["check_vpath", "check_vpaths", "vpaths_look_safe", "check_collisions", "MAX_PATH_BYTES"]

MAX_PATH_BYTES = 1024
_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?")


def check_vpath(path: str) -> str:
    """Return ``path`` if it is a safe virtual path, else raise :class:`UnsafePathError` naming the problem."""
    if not isinstance(path, str):
        raise UnsafePathError(f"path must be text, got {type(path).__name__}")
    shown = repr(path)[:200]
    if not path:
        raise UnsafePathError("empty path")
    raw = path.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PATH_BYTES:
        raise UnsafePathError(f"path {shown} longer than {MAX_PATH_BYTES} bytes")
    for ch in path:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0 or 0xD800 <= o < 0xE000:
            raise UnsafePathError(f"path {shown} contains a NUL, control or surrogate character (U+{o:04X})")
    if "\\" in path:
        raise UnsafePathError(f"path {shown} contains a backslash")
    if path.startswith("/"):
        raise UnsafePathError(f"path {shown} is absolute")
    if ":" in path:
        raise UnsafePathError(f"path {shown} contains ':' (drive letter or stream name)")
    import unicodedata  # only reached for paths the ASCII screen could not clear

    if not path.isascii() and unicodedata.normalize("NFC", path) != path:
        raise UnsafePathError(f"path {shown} is not NFC-normalised")
    for comp in path.split("/"):
        if comp in ("", ".", ".."):
            raise UnsafePathError(f"path {shown} has an empty, '.' or '..' component")
        if len(comp.encode("utf-8")) > 255:
            raise UnsafePathError(f"path {shown} has a component longer than 255 bytes")
        if comp[-1] in ". ":
            raise UnsafePathError(f"path {shown} has a component ending in a dot or space")
        if _RESERVED.fullmatch(comp):
            raise UnsafePathError(f"path {shown} uses the reserved device name {comp!r}")
    return path


# Batch screen (see vpaths_look_safe): any character outside printable ASCII, a backslash or a colon; a reserved
# device name as a whole component (components are newline-delimited there).
_NOT_PLAIN = re.compile(r"[^\x20-\x39\x3b-\x5b\x5d-\x7e\n]")
_RESERVED_COMPONENT = re.compile(r"(?i)\n(?:con|prn|aux|nul|com[0-9]|lpt[0-9])[.\n]")


def vpaths_look_safe(paths: Iterable[str]) -> bool:
    """True only if :func:`check_vpath` accepts every path (False means: check them one by one).

    Screens all paths in a few passes over their newline-joined text: a path that passes is printable ASCII (so
    NFC, without control characters, backslashes or colons), non-empty, relative, made of non-empty components other
    than ``.`` and ``..``, none ending in a dot or space or naming a reserved device, within the length limits."""
    paths = list(paths)
    if not paths:
        return True
    try:
        blob = "\n".join(paths)
    except TypeError:
        return False
    if blob.count("\n") != len(paths) - 1 or _NOT_PLAIN.search(blob):
        return False
    comps = "\n" + blob.replace("/", "\n") + "\n"
    if "\n\n" in comps or "\n.\n" in comps or "\n..\n" in comps or ".\n" in comps or " \n" in comps:
        return False
    if _RESERVED_COMPONENT.search(comps):
        return False
    return max(map(len, paths)) <= MAX_PATH_BYTES and max(map(len, comps.split("\n"))) <= 255


def check_vpaths(paths: Iterable[str]) -> None:
    """:func:`check_vpath` on every path (same errors, same order), screening the common case in a few regex passes."""
    paths = list(paths)
    if not vpaths_look_safe(paths):
        for path in paths:
            check_vpath(path)


def check_collisions(paths: Iterable[str]) -> None:
    """Raise :class:`DuplicateEntryError` if two paths are equal after case folding (both are named)."""
    paths = list(paths)
    if len({p.casefold() for p in paths}) == len(paths):
        return
    seen: dict[str, str] = {}
    for p in paths:
        key = p.casefold()
        other = seen.get(key)
        if other is not None:
            raise DuplicateEntryError(f"paths {other!r} and {p!r} collide (equal when case is ignored)")
        seen[key] = p
