"""Hostile YAML policies through the real ``cap policy`` commands (issue 19, item 6): refused fast, exit 2, one line.

A 500-byte "billion laughs" document (ten levels of ten aliases) used to keep ``validate``, ``lint`` and ``compile``
busy for minutes; deep nesting used to reach Python's recursion limit."""

from __future__ import annotations

from pathlib import Path

import pytest


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return "id: bomb\nversion: '1'\nlegal_basis: []\ninputs:\n  " + "\n  ".join(lines) + "\nrules: []\n"


HOSTILE = {
    "alias-bomb": (_alias_bomb(), "anchors and aliases are not allowed (&a0)"),
    "anchor": ("id: x\nversion: '1'\nbase: &b {k: 1}\nother: 2\n", "anchors and aliases are not allowed (&b)"),
    "deep": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nesting deeper than 64"),
    "deep-block": ("".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "v: 1\n", "nesting deeper than 64"),
}


@pytest.mark.once
@pytest.mark.parametrize("command", ["validate", "lint", "compile"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_refused(cap, one_line_error, tmp_path: Path, command: str, case: str) -> None:
    text, why = HOSTILE[case]
    policy = tmp_path / "policy.yml"
    policy.write_text(text)
    args = ["policy", command, policy] + (["-o", tmp_path / "ir.json"] if command == "compile" else [])
    line = one_line_error(cap(*args, timeout=60), 2)  # a hang is a TimeoutExpired failure
    assert why in line and "policy.yml" in line
    assert not (tmp_path / "ir.json").exists()


@pytest.mark.once
def test_oversized_yaml_refused_before_parsing(cap, one_line_error, tmp_path: Path) -> None:
    policy = tmp_path / "big.yml"
    policy.write_bytes(b"a: '" + b"x" * (1 << 20) + b"'\n")
    assert "limit" in one_line_error(cap("policy", "validate", policy), 2)
