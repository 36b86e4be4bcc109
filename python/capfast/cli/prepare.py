"""``cap prepare``: commit a supplier list and a UBO list, write ``commitments.json``, log to the audit trail.

Compatible with cap-agent's ``prepare``: the same output names (``OUT/commitments.json``, whose first five keys
are cap-agent's, and ``OUT/agent.audit.jsonl`` in its §6.1 hash-chain format, with its events
``prepare_started``, ``data_loaded`` ×2, ``merkle_root_computed`` ×3, ``commitments_saved``). With
``--scheme cap-agent-v1`` the roots are cap-agent's own; with the default ``merkle-v1`` they are RFC 6962 roots
and ``company_commitment_root = H(0x01 ‖ supplier_root ‖ ubo_root)``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from capfast import strict_json
from capfast.cli._command import Commands
from capfast.cli._common import (
    add_commit_options,
    blake3_file,
    check_input_file,
    commit_file,
    resolve_scheme_options,
)
from capfast.cli._output import EXIT_IO, EXIT_USAGE, CliError, emit

__all__ = ["register", "run"]

COMMITMENTS_FILE = "commitments.json"
AUDIT_FILE = "agent.audit.jsonl"


def register(cli: Commands) -> None:
    """Add ``cap prepare``."""
    p = cli.command(
        "prepare", run,
        help="commit suppliers and UBOs, write commitments.json and the audit log",
        description="Commit a supplier CSV and a UBO CSV; write OUT/commitments.json (atomically) and append "
        "the events to the hash-chained audit log OUT/agent.audit.jsonl (cap-agent's v1.0 format).",
        progress=True,
    )
    p.argument("--suppliers", required=True, type=Path, metavar="S.csv", help="supplier list (CSV)")
    p.argument("--ubos", required=True, type=Path, metavar="U.csv", help="ultimate beneficial owners (CSV)")
    p.output("output directory (build/)", default=Path("build"), metavar="DIR", hidden=("--out",))
    p.argument(
        "--company",
        metavar="JSON",
        default=None,
        help="company data as a JSON object; recorded verbatim in commitments.json, not part of any root",
    )
    add_commit_options(p, columns=False)


def _company_root(scheme: str, hash_name: str, supplier: Any, ubo: Any) -> str:
    if scheme == "cap-agent-v1":
        from capfast.cap_agent import company_root_cap_agent

        return company_root_cap_agent(supplier.root_hex, ubo.root_hex)
    from capfast.lksg import company_commitment_root

    return "0x" + company_commitment_root(supplier.root, ubo.root, hash=hash_name).hex()


def run(args: argparse.Namespace) -> int:
    """Handler of ``cap prepare``."""
    from capfast.lksg.audit import AuditLog

    scheme, hash_name, salt_key = resolve_scheme_options(args)
    company = None
    if args.company is not None:
        try:
            company = strict_json.loads(args.company, what="--company", error=ValueError, max_bytes=1 << 20)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE, "pass a JSON object") from None
        if not isinstance(company, dict):
            raise CliError("--company must be a JSON object", EXIT_USAGE, "e.g. --company '{\"name\": \"ACME\"}'")
    check_input_file(args.suppliers, "suppliers")
    check_input_file(args.ubos, "ubos")
    out: Path = args.output
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CliError(f"output {out} exists and is not a directory", EXIT_IO, "pass a directory") from None
    except OSError as exc:
        raise CliError(f"cannot create output directory {out}: {exc.strerror}", EXIT_IO) from None
    commitments_path = out / COMMITMENTS_FILE
    log = AuditLog(out / AUDIT_FILE)
    log.append("prepare_started", {"suppliers_file": str(args.suppliers), "ubos_file": str(args.ubos)})

    stage = "suppliers"
    try:
        supplier_hash, supplier_size = blake3_file(args.suppliers)
        supplier = commit_file(
            args, args.suppliers, label="suppliers", scheme=scheme, hash_name=hash_name, salt_key=salt_key,
            kind="supplier",
        )
        log.append("data_loaded", {"type": "suppliers", "count": supplier.count})
        stage = "ubos"
        ubo_hash, ubo_size = blake3_file(args.ubos)
        ubo = commit_file(
            args, args.ubos, label="ubos", scheme=scheme, hash_name=hash_name, salt_key=salt_key, kind="ubo"
        )
        log.append("data_loaded", {"type": "ubos", "count": ubo.count})
        stage = "roots"
        company_root = _company_root(scheme, hash_name, supplier, ubo)
        log.append("merkle_root_computed", {"target": "suppliers", "root": supplier.root_hex})
        log.append("merkle_root_computed", {"target": "ubos", "root": ubo.root_hex})
        log.append("merkle_root_computed", {"target": "company", "root": company_root})
        doc: dict[str, Any] = {
            "supplier_root": supplier.root_hex,
            "ubo_root": ubo.root_hex,
            "company_commitment_root": company_root,
            "supplier_count": supplier.count,
            "ubo_count": ubo.count,
            "scheme": scheme,
            "hash": hash_name,
            "salted": salt_key is not None,
            "inputs": {
                "suppliers": {"file": str(args.suppliers), "blake3": supplier_hash, "bytes": supplier_size},
                "ubos": {"file": str(args.ubos), "blake3": ubo_hash, "bytes": ubo_size},
            },
        }
        if company is not None:
            doc["company"] = company
        stage = "write"
        from capfast._io import atomic_write

        atomic_write(commitments_path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except (Exception, KeyboardInterrupt) as exc:
        # Record the failure in the trail (best effort), then let main() report it.
        try:
            log.append("prepare_failed", {"stage": stage, "error": f"{type(exc).__name__}: {exc}"[:1000]})
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise
    entry = log.append("commitments_saved", {"path": str(commitments_path)})

    def human() -> str:
        salt = "salted" if doc["salted"] else "unsalted"
        return (
            f"supplier_root            {doc['supplier_root']}  ({doc['supplier_count']} rows)\n"
            f"ubo_root                 {doc['ubo_root']}  ({doc['ubo_count']} rows)\n"
            f"company_commitment_root  {doc['company_commitment_root']}\n"
            f"scheme {scheme}, hash {hash_name}, {salt}\n"
            f"wrote {commitments_path}; audit log {log.path} (seq {entry.seq}, tip {entry.digest})"
        )

    emit(
        args,
        {
            "ok": True,
            **doc,
            "commitments_file": os.fspath(commitments_path),
            "audit_log": os.fspath(log.path),
            "audit_seq": entry.seq,
            "audit_tip": entry.digest,
        },
        human,
    )
    return 0
