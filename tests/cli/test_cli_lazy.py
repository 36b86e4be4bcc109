"""``cap`` starts fast (issue 19, item 14): a command imports its own module group only, and signature-only
``cap verify`` pulls in neither the commitment engine, the LkSG pipeline, the server stack nor ``inspect``."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from capfast.cli import COMMAND_MODULES, COMMANDS
from capfast.cli._command import Commands
from capfast.cli._output import CapArgumentParser


def test_command_table_matches_what_the_modules_register() -> None:
    registered: dict[str, list[str]] = {}
    for name in COMMAND_MODULES:
        cli = Commands(CapArgumentParser(prog="cap"))
        importlib.import_module(f"capfast.cli.{name}").register(cli)
        sub = next(a for a in cli.parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
        for command in sub.choices:
            registered.setdefault(command, []).append(name)
    assert {c: tuple(m) for c, m in registered.items()} == COMMANDS


def test_partial_parser_equals_the_full_one_for_its_command() -> None:
    from capfast.cli import build_parser

    def shape(p: argparse.ArgumentParser, command: str) -> list[str]:
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
        return sorted(sub.choices[command].format_help().splitlines())

    full = build_parser()
    for command in COMMANDS:
        assert shape(build_parser(command), command) == shape(full, command), command


@pytest.mark.once  # the twin backend imports every pure-Python module (capfast._py) by design
def test_signature_only_verify_imports_little(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cap"))
    from caphelpers import RFC_PK, RFC_SK, make_app

    from capfast.cap.keys import key_json
    from capfast.cap.package import build

    pkg = build(make_app(tmp_path / "app"), RFC_SK, tmp_path / "a.cap").path
    pk = tmp_path / "pk.json"
    pk.write_text(key_json(RFC_PK))
    code = ("import sys, json\nfrom capfast.cli import main\n"
            f"rc = main(['verify', {str(pkg)!r}, '--pubkey', {str(pk)!r}, '--json'])\n"
            "print(json.dumps({'rc': rc, 'modules': sorted(sys.modules)}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["rc"] == 0, r.stdout + r.stderr
    heavy = [m for m in doc["modules"] if m in ("inspect", "dataclasses", "tomllib", "tempfile", "capfast.commit",
                                                "capfast.merkle", "capfast.lksg", "capfast.server", "starlette",
                                                "uvicorn", "httpx", "yaml", "capfast.cli.prepare", "capfast.cli.serve",
                                                "importlib.metadata")]
    assert heavy == [], heavy
