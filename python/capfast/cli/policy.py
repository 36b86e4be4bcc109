"""``cap policy validate|lint|compile`` (lksg.v1 and PolicyV2; see capfast.lksg.policy, policy_v2, lint)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capfast.cli._command import Commands
from capfast.cli._output import EXIT_VERIFY_FAILED, emit

__all__ = ["register"]


def register(cli: Commands) -> None:
    """Add ``cap policy ...``."""
    sub = cli.group("policy", help="validate, lint and compile policies",
                    description="Policies: lksg.v1 (cap-agent compatible) and PolicyV2 with IR.")
    p = sub.command("validate", run_validate, help="validate a policy and print its hash",
                    description="Validate an lksg.v1 or PolicyV2 file (YAML if .yml/.yaml, else JSON) and print "
                    "its hash. Exit 2 with every problem listed if it is invalid.")
    p.argument("policy_file", nargs="?", type=Path, help="policy file (or --policy)")
    p.option("--policy", hidden=("--file",), dest="policy_opt", type=Path, default=None, help="policy file")

    p = sub.command("lint", run_lint, help="lint a PolicyV2 (exit 1 on errors; with --strict also on warnings)",
                    description="Codes: E1001 missing field/unknown activation rule, E1002 legal_basis, W1002 "
                    "description, E1003 duplicate rule id, E2001 invalid op, E2003 undeclared input, E3001 type "
                    "mismatch, W3001 unused input, W4001 unreachable rule.")
    p.argument("policy_file", type=Path)
    p.argument("--strict", action="store_true", help="E1002 is an error, and any warning fails")

    p = sub.command("compile", run_compile, help="compile a PolicyV2 into IR v1 (strict lint first)")
    p.argument("policy_file", type=Path)
    p.output("IR output file", required=True)


def run_validate(args: argparse.Namespace) -> int:
    from capfast.cli._output import CliError
    from capfast.lksg.policies import load_any_policy

    path = args.policy_opt or args.policy_file
    if path is None:
        raise CliError("no policy file given", hint="cap policy validate --policy FILE")
    policy = load_any_policy(path)
    kind = "lksg.v1" if hasattr(policy, "constraints") or hasattr(policy, "supplier_count_max") else "PolicyV2"
    data = {"ok": True, "file": str(path), "kind": kind, "name": policy.name, "version": policy.version,
            "hash": policy.hash, "checks": [c.id for c in policy.checks()]}
    emit(args, data, f"Policy validation: OK\nPolicy hash: {policy.hash}")
    return 0


def run_lint(args: argparse.Namespace) -> int:
    from capfast.lksg.lint import lint_policy
    from capfast.lksg.policy import load_policy_document

    diags = lint_policy(load_policy_document(args.policy_file), strict=args.strict)
    errors = [d for d in diags if d.level == "error"]
    failed = bool(errors) or (args.strict and bool(diags))
    text = "\n".join(str(d) for d in diags) or "Policy is valid (no findings)"
    emit(args, {"ok": not failed, "lints": [d.to_dict() for d in diags], "strict": args.strict}, text)
    return EXIT_VERIFY_FAILED if failed else 0


def run_compile(args: argparse.Namespace) -> int:
    from capfast.lksg.policy import load_policy_document
    from capfast.lksg.policy_v2 import compile_policy, write_ir

    ir, text, diags = compile_policy(load_policy_document(args.policy_file))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_ir(args.output, text)
    emit(args, {"ok": True, "output": str(args.output), "policy_hash": ir["policy_hash"], "ir_hash": ir["ir_hash"],
                "lints": [d.to_dict() for d in diags]},
         f"compiled {args.policy_file} -> {args.output}\npolicy_hash {ir['policy_hash']}\nir_hash     {ir['ir_hash']}")
    return 0
