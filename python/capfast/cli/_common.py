"""Helpers shared by the commitment commands: commit options, salt-key files, input hashing."""

from __future__ import annotations

import argparse
import os
import re
import stat
from pathlib import Path
from typing import Any

import blake3

from capfast.cli._command import Command
from capfast.cli._output import EXIT_IO, EXIT_USAGE, CliError, file_size, make_progress

__all__ = [
    "HASHES",
    "SCHEMES",
    "add_commit_options",
    "blake3_file",
    "check_input_file",
    "commit_file",
    "parse_columns",
    "read_salt_key",
]

HASHES = ("blake3", "sha3-256", "sha256")
SCHEMES = ("merkle-v1", "cap-agent-v1")
_HEX64 = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")
_MAX_KEY_FILE = 4096


def add_commit_options(parser: Command, *, columns: bool = True) -> None:
    """``--hash``, ``--scheme``, ``--salt-key-file`` (and ``--columns``) as used by commit/prove/prepare."""
    parser.argument(
        "--hash", choices=HASHES, default=None, help="hash function of the tree (default: blake3)"
    )
    parser.argument(
        "--scheme",
        choices=SCHEMES,
        default="merkle-v1",
        help="merkle-v1 (RFC 6962 tree over canonical CBOR rows, with proofs; default) or cap-agent-v1 "
        "(reproduces cap-agent's roots; BLAKE3 only, no salt, no proofs)",
    )
    parser.argument(
        "--salt-key-file",
        metavar="F",
        type=Path,
        default=None,
        help="32-byte secret (raw, or 64 hex characters) making the commitment hiding; the file must be "
        "private (chmod 600)",
    )
    if columns:
        parser.argument(
            "--columns",
            metavar="a,b",
            default=None,
            help="commit only these columns (comma-separated, exact header names)",
        )


def resolve_scheme_options(args: argparse.Namespace) -> tuple[str, str, bytes | None]:
    """``(scheme, hash, salt_key)`` after checking the combination; reads the salt key file."""
    scheme = args.scheme
    hash_name = args.hash or "blake3"
    if scheme == "cap-agent-v1":
        if hash_name != "blake3":
            raise CliError(
                f"--scheme cap-agent-v1 always uses BLAKE3, not {hash_name}", EXIT_USAGE, "drop --hash"
            )
        if args.salt_key_file is not None:
            raise CliError(
                "--scheme cap-agent-v1 cannot be salted (cap-agent's roots have no salt)",
                EXIT_USAGE,
                "drop --salt-key-file or use --scheme merkle-v1",
            )
    salt_key = read_salt_key(args.salt_key_file) if args.salt_key_file is not None else None
    return scheme, hash_name, salt_key


def parse_columns(text: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]`` (no trimming: names must match the header exactly)."""
    if text is None:
        return None
    names = text.split(",")
    if any(name == "" for name in names):
        raise CliError(f"--columns {text!r} has an empty column name", EXIT_USAGE, "use --columns name,tier")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CliError(f"--columns names {', '.join(dupes)} more than once", EXIT_USAGE, None)
    return names


def read_salt_key(path: Path) -> bytes:
    """The 32-byte salt key in ``path``: 32 raw bytes, or 64 hex characters (optional ``0x``, surrounding
    whitespace allowed). Refuses files readable or writable by group or others."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CliError(f"salt key file {path}: no such file", EXIT_IO, "check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise CliError(f"salt key file {path} is not a regular file", EXIT_USAGE, None)
    if os.name == "posix" and st.st_mode & 0o077:
        raise CliError(
            f"salt key file {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o})",
            EXIT_USAGE,
            f"chmod 600 {path}",
        )
    if st.st_size > _MAX_KEY_FILE:
        raise CliError(f"salt key file {path} is {st.st_size} bytes; expected 32 raw bytes or 64 hex", EXIT_USAGE)
    with open(path, "rb") as fh:
        data = fh.read(_MAX_KEY_FILE + 1)
    if len(data) == 32:
        return data
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""
    match = _HEX64.fullmatch(text)
    if match is None:
        raise CliError(
            f"salt key file {path} must hold 32 raw bytes or 64 hex characters (it has {len(data)} bytes)",
            EXIT_USAGE,
            "create one with: python3 -c 'import os; print(os.urandom(32).hex())' > KEY && chmod 600 KEY",
        )
    return bytes.fromhex(match.group(1))


def check_input_file(path: Path, what: str) -> None:
    """Fail early (exit 3) if ``path`` is missing, a directory or unreadable."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CliError(f"{what} file {path}: no such file", EXIT_IO, "check the path") from None
    except OSError as exc:
        raise CliError(f"{what} file {path}: {exc.strerror}", EXIT_IO) from None
    if stat.S_ISDIR(st.st_mode):
        raise CliError(f"{what} file {path} is a directory", EXIT_IO, "pass a CSV file")
    if not os.access(path, os.R_OK):
        raise CliError(f"{what} file {path}: permission denied", EXIT_IO)


def blake3_file(path: Path) -> tuple[str, int]:
    """``("0x" + BLAKE3 hex, size)`` of a file's raw bytes, streamed (multi-threaded for large files)."""
    h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
            size += len(chunk)
    return "0x" + h.hexdigest(), size


def commit_file(
    args: argparse.Namespace,
    path: Path,
    *,
    label: str,
    scheme: str,
    hash_name: str,
    salt_key: bytes | None,
    columns: list[str] | None = None,
    kind: str | None = None,
    retain_leaves: bool = False,
) -> Any:
    """Commit one CSV file with a progress bar when appropriate; returns the commitment object.

    ``kind`` (``"supplier"``/``"ubo"``) is only used by the cap-agent scheme, whose records need fixed columns.
    """
    progress = make_progress(args, label, file_size(path))
    try:
        if scheme == "cap-agent-v1":
            from capfast.cap_agent import commit_cap_agent

            return commit_cap_agent(path, columns=columns, kind=kind)  # type: ignore[arg-type]
        from capfast.commit import commit

        return commit(
            path,
            hash=hash_name,
            columns=columns,
            salt_key=salt_key,
            scheme=scheme,
            progress=progress,
            retain_leaves=retain_leaves,
        )
    finally:
        if progress is not None:
            progress.close()
