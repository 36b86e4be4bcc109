"""``cap commit``, ``cap prove`` and ``cap verify-inclusion``: one CSV's root, one row's proof, its check.

``cap prove`` recomputes the commitment with the same options as ``cap commit`` (``--hash``, ``--columns``,
``--salt-key-file``) and writes the proof of one data row (``--row N``, 0-based: the first row after the header
is row 0) as JSON; the proof carries ``root_hex``, the root it was made for. ``cap verify-inclusion`` checks a
proof against a root given explicitly (``--root``) or taken from ``commitments.json`` (``--commitments F
--which supplier|ubo``) -- never against the root inside the proof itself -- and exits 1 when it does not verify.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from capfast import strict_json
from capfast.cli._command import Commands
from capfast.cli._common import (
    add_commit_options,
    check_input_file,
    commit_file,
    parse_columns,
    resolve_scheme_options,
)
from capfast.cli._output import (
    EXIT_IO,
    EXIT_USAGE,
    EXIT_VERIFY_FAILED,
    CliError,
    emit,
)

__all__ = ["register"]

_ROOT = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")
_MAX_JSON = 64 * 1024 * 1024


def register(cli: Commands) -> None:
    """Add ``cap commit``, ``cap prove`` and ``cap verify-inclusion``."""
    p = cli.command(
        "commit", run_commit,
        help="print the commitment root of a CSV file",
        description="Commit a CSV file (one leaf per data row) and print its root and row count.",
        progress=True,
    )
    p.argument("file", type=Path, metavar="FILE.csv")
    add_commit_options(p)

    p = cli.command(
        "prove", run_prove,
        help="write the inclusion proof of one row",
        description="Recompute FILE.csv's commitment (same options as 'cap commit') and write the inclusion "
        "proof of data row N (0-based; the header is not a row) as JSON.",
        progress=True,
    )
    p.argument("file", type=Path, metavar="FILE.csv")
    p.argument("--row", type=int, required=True, metavar="N", help="0-based data row index")
    p.output("write here (default stdout)", metavar="proof.json")
    add_commit_options(p)

    p = cli.command(
        "verify-inclusion", run_verify_inclusion,
        help="check a row proof against a root (exit 1 if it does not verify)",
        description="Check an inclusion proof (from 'cap prove') against a trusted root. Exit 0 if it "
        "verifies, 1 if it does not, 2 if the proof or root is malformed.",
    )
    p.argument("--proof", type=Path, required=True, metavar="proof.json")
    p.one_of(
        (("--root",), {"default": None, "metavar": "0x...", "help": "the trusted root (0x + 64 hex)"}),
        (("--commitments",), {"type": Path, "default": None, "metavar": "F",
                              "help": "take the root from this commitments.json"}),
    )
    p.argument(
        "--which", choices=("supplier", "ubo"), default=None, help="which root of --commitments (required with it)"
    )


def run_commit(args: argparse.Namespace) -> int:
    """Handler of ``cap commit``."""
    scheme, hash_name, salt_key = resolve_scheme_options(args)
    columns = parse_columns(args.columns)
    check_input_file(args.file, "input")
    c = commit_file(
        args, args.file, label=args.file.name, scheme=scheme, hash_name=hash_name, salt_key=salt_key,
        columns=columns,
    )
    data = {
        "ok": True,
        "file": str(args.file),
        "root": c.root_hex,
        "count": c.count,
        "hash": c.hash,
        "scheme": c.scheme,
        "columns": list(c.columns) if getattr(c, "columns", None) is not None else None,
        "salted": bool(getattr(c, "salted", salt_key is not None)),
    }
    if scheme == "cap-agent-v1":
        data["kind"] = c.kind
    emit(args, data, lambda: f"{c.root_hex}  {c.count} rows  ({c.scheme}, {c.hash})")
    return 0


def run_prove(args: argparse.Namespace) -> int:
    """Handler of ``cap prove``."""
    scheme, hash_name, salt_key = resolve_scheme_options(args)
    if scheme == "cap-agent-v1":
        raise CliError(
            "cap-agent-v1 roots are not Merkle trees: no row can be proven against them",
            EXIT_USAGE,
            "use --scheme merkle-v1 (the default)",
        )
    columns = parse_columns(args.columns)
    if args.row < 0:
        raise CliError(f"--row must be 0 or more, not {args.row}", EXIT_USAGE, "rows are 0-based")
    check_input_file(args.file, "input")
    c = commit_file(
        args, args.file, label=args.file.name, scheme=scheme, hash_name=hash_name, salt_key=salt_key,
        columns=columns, retain_leaves=True,
    )
    if args.row >= c.count:
        raise CliError(
            f"--row {args.row} is out of range: {args.file} has {c.count} data rows (0 … {c.count - 1})",
            EXIT_USAGE,
            "rows are 0-based and the header is not a row",
        )
    proof = c.prove(args.row)
    doc = dict(proof.to_dict())
    doc.setdefault("root_hex", c.root_hex)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if args.output is not None:
        from capfast._io import atomic_write

        # A salted proof discloses the row's salt: keep the file private like other secrets-adjacent output.
        atomic_write(args.output, text, mode=0o600 if salt_key is not None else None)
        emit(
            args,
            {"ok": True, "file": str(args.file), "row": args.row, "root": c.root_hex, "output": str(args.output)},
            f"wrote the proof of row {args.row} of {args.file} to {args.output} (root {c.root_hex})",
        )
    else:
        emit(args, doc, text)
    return 0


def _parse_root(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise CliError(f"{what} is not a string", EXIT_USAGE)
    m = _ROOT.fullmatch(text.strip())
    if m is None:
        raise CliError(f"{what} {text[:80]!r} is not a 32-byte hex root", EXIT_USAGE, "expected 0x + 64 hex digits")
    return bytes.fromhex(m.group(1))


def _read_json(path: Path, what: str) -> Any:
    if path.is_dir():
        raise CliError(f"{what} {path} is a directory", EXIT_IO)
    try:
        return strict_json.load_file(path, what=f"{what} {path}", error=ValueError, max_bytes=_MAX_JSON)
    except FileNotFoundError:
        raise CliError(f"{what} {path}: no such file", EXIT_IO, "check the path") from None
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def run_verify_inclusion(args: argparse.Namespace) -> int:
    """Handler of ``cap verify-inclusion``."""
    if args.root is None and args.commitments is None:
        raise CliError(
            "no trusted root given",
            EXIT_USAGE,
            "pass --root 0x... or --commitments build/commitments.json --which supplier|ubo",
        )
    if args.commitments is not None and args.which is None:
        raise CliError("--commitments needs --which supplier|ubo", EXIT_USAGE, "e.g. --which supplier")
    if args.which is not None and args.commitments is None:
        raise CliError("--which only applies with --commitments", EXIT_USAGE, None)
    if args.root is not None:
        root = _parse_root(args.root, "--root")
        source = "--root"
    else:
        doc = _read_json(args.commitments, "commitments file")
        if not isinstance(doc, dict):
            raise CliError(f"commitments file {args.commitments} is not a JSON object", EXIT_USAGE)
        if doc.get("scheme") == "cap-agent-v1":
            raise CliError(
                f"{args.commitments} holds cap-agent-v1 roots, which are not Merkle trees and have no proofs",
                EXIT_USAGE,
                "re-run 'cap prepare' with --scheme merkle-v1",
            )
        key = f"{args.which}_root"
        if key not in doc:
            raise CliError(f"commitments file {args.commitments} has no {key}", EXIT_USAGE)
        root = _parse_root(doc[key], f"{key} in {args.commitments}")
        source = f"{args.commitments}:{key}"
    proof_doc = _read_json(args.proof, "proof file")
    if not isinstance(proof_doc, dict):
        raise CliError(f"proof file {args.proof} is not a JSON object", EXIT_USAGE)

    from capfast.commit import RowProof, verify_row
    from capfast.errors import CapfastError

    try:
        proof = RowProof.from_dict(proof_doc)
    except (CapfastError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"proof file {args.proof} is malformed: {exc}", EXIT_USAGE) from None
    ok = bool(verify_row(root, proof))
    root_hex = "0x" + root.hex()
    claimed = proof_doc.get("root_hex")
    row = proof_doc.get("index", proof_doc.get("row"))
    data = {"ok": ok, "root": root_hex, "root_source": source, "proof": str(args.proof), "row": row}
    if ok:
        emit(args, data, f"ok: the proof of row {row} verifies against {root_hex}")
        return 0
    note = ""
    if isinstance(claimed, str) and claimed.lower() != root_hex:
        note = f" (the proof was made for root {claimed})"
        data["proof_root"] = claimed
    emit(args, data, f"FAILED: the proof of row {row} does not verify against {root_hex}{note}")
    return EXIT_VERIFY_FAILED
