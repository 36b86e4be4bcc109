"""``cap project create|import|commit|policy|manifest|proof|export|verify|audit|status`` (capfast.lksg.project)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from capfast.cli._command import Command, Commands
from capfast.cli._output import EXIT_VERIFY_FAILED, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap project ...``."""
    sub = cli.group("project", help="the project workflow (input/, build/, export/)")

    def add(name: str, help_: str, func: Any, *extra: tuple[tuple[str, ...], dict[str, Any]]) -> Command:
        p = sub.command(name, func, help=help_)
        for flags, kw in extra:
            p.argument(*flags, **kw)
        return p

    proj = (("--project",), {"type": Path, "required": True, "help": "project directory"})
    add("create", "create WORKSPACE/NAME with input/, build/, export/", _create,
        (("--workspace",), {"type": Path, "required": True}), (("--name",), {"required": True}))
    add("import", "import a CSV (suppliers, ubos or sanctions)", _import, proj,
        (("--csv",), {"type": Path, "required": True}),
        (("--type",), {"required": True, "choices": ("suppliers", "ubos", "sanctions")}))
    add("commit", "build commitments from the imported CSVs", _commit, proj)
    add("policy", "load a policy (or the default policy)", _policy, proj,
        (("--file",), {"type": Path, "default": None}))
    add("manifest", "build the manifest", _manifest, proj)
    add("proof", "build the proof", _proof, proj,
        (("--backend",), {"default": "merkle-disclosure-v1", "choices": ("merkle-disclosure-v1", "mock")}))
    add("export", "export a ZIP bundle (and a copy in export/)", _export, proj).output("the bundle ZIP to write",
                                                                                      required=True)
    add("verify", "verify a bundle (exit 1 on failure)", _verify,
        (("--bundle",), {"type": Path, "required": True}))
    add("audit", "print the project's audit log", _audit, proj)
    add("status", "which steps are done", _status, proj)


def _show(args: argparse.Namespace, data: Any) -> int:
    import json

    emit(args, data if isinstance(data, dict) else {"entries": data}, json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def _create(a: argparse.Namespace) -> int:
    from capfast.lksg.project import create_project

    return _show(a, create_project(a.workspace, a.name))


def _import(a: argparse.Namespace) -> int:
    from capfast.lksg.project import import_csv

    return _show(a, import_csv(a.project, a.csv, a.type))


def _commit(a: argparse.Namespace) -> int:
    from capfast.lksg.project import build_commitments

    return _show(a, build_commitments(a.project))


def _policy(a: argparse.Namespace) -> int:
    from capfast.lksg.project import load_policy

    return _show(a, load_policy(a.project, a.file))


def _manifest(a: argparse.Namespace) -> int:
    from capfast.lksg.project import build_manifest

    return _show(a, build_manifest(a.project))


def _proof(a: argparse.Namespace) -> int:
    from capfast.lksg.project import build_proof

    return _show(a, build_proof(a.project, a.backend))


def _export(a: argparse.Namespace) -> int:
    from capfast.lksg.project import export_bundle

    return _show(a, export_bundle(a.project, a.output))


def _verify(a: argparse.Namespace) -> int:
    from capfast.lksg.project import verify_bundle

    res = verify_bundle(a.bundle)
    _show(a, res)
    return EXIT_VERIFY_FAILED if res["status"] == "fail" else 0


def _audit(a: argparse.Namespace) -> int:
    from capfast.lksg.project import read_audit_log

    return _show(a, read_audit_log(a.project))


def _status(a: argparse.Namespace) -> int:
    from capfast.lksg.project import get_project_status

    return _show(a, get_project_status(a.project))
