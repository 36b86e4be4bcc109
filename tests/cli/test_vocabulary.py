"""The CLI vocabulary (capfast.cli._command): one spelling per flag, --json everywhere, old spellings hidden but working."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from capfast.cli import build_commands, main

COMMANDS = build_commands().walk()
NAMES = [name for name, _ in COMMANDS]

# Commands that write a file or directory: each takes -o/--output.
WRITERS = {
    "prepare", "prove", "build", "extract", "export", "audit tip", "keys generate", "keys attest", "sign manifest",
    "policy compile", "manifest build", "proof build", "verifier run", "project export",
}
# Commands that read a public key to verify or pin with: each takes --pubkey.
PUBKEY_READERS = {
    "verify", "inspect", "extract", "update", "keys attest", "trust pin", "trust rotate", "sign verify-manifest",
    "verifier run", "registry verify",
}
OLD_SPELLINGS = ("--out", "--pub-key", "--signing-key", "--new-pubkey", "--manifest-in", "--signed-in")


def test_the_commands_are_all_there() -> None:
    assert len(NAMES) == len(set(NAMES)) >= 45
    assert WRITERS <= set(NAMES) and PUBKEY_READERS <= set(NAMES)
    assert "keys keygen" not in NAMES and "trust attest" not in NAMES  # hidden aliases are not listed


@pytest.mark.parametrize("name", NAMES)
def test_every_command_speaks_the_vocabulary(name: str) -> None:
    cmd = dict(COMMANDS)[name]
    text = cmd.parser.format_help()
    assert "--json" in text, f"cap {name} has no --json"
    options = set(re.findall(r"(?<![\w-])(-{1,2}[a-z][\w-]*)", text))
    assert not options & set(OLD_SPELLINGS), f"cap {name} shows an old spelling: {options & set(OLD_SPELLINGS)}"
    if name in WRITERS:
        assert "-o" in options and "--output" in options, f"cap {name} writes but has no -o/--output"
    if name in PUBKEY_READERS:
        assert "--pubkey" in options, f"cap {name} reads a public key but has no --pubkey"


def _run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_old_spellings_parse_like_the_new_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`cap keys keygen --output` and `cap keys generate --owner -o` give the same kind of key; `--out` works for
    publisher keys; `cap trust attest --new-pubkey --out` is `cap keys attest --pubkey -o`."""
    code, out, _ = _run(capsys, "keys", "keygen", "--owner", "ACME", "--output", tmp_path / "old", "--json")
    assert code == 0 and json.loads(out)["owner"] == "ACME" and (tmp_path / "old.json").exists()
    code, out, _ = _run(capsys, "keys", "generate", "--owner", "ACME", "-o", tmp_path / "new", "--json")
    assert code == 0 and (tmp_path / "new.ed25519").exists()
    code, out, _ = _run(capsys, "keys", "generate", "--out", tmp_path / "pub1", "--json")
    assert code == 0 and Path(json.loads(out)["public_key"]).name == "publisher.ed25519.pk.json"
    code, _, _ = _run(capsys, "keys", "generate", "-o", tmp_path / "pub2")
    assert code == 0
    old_sk, new_pk = tmp_path / "pub1" / "publisher.ed25519.sk.json", tmp_path / "pub2" / "publisher.ed25519.pk.json"
    code, out, _ = _run(capsys, "trust", "attest", "org.example.app", "--key", old_sk, "--new-pubkey", new_pk,
                        "--out", tmp_path / "a.hex", "--json")
    assert code == 0
    legacy = (tmp_path / "a.hex").read_text()
    code, out, _ = _run(capsys, "keys", "attest", "org.example.app", "--key", old_sk, "--pubkey", new_pk,
                        "-o", tmp_path / "b.hex")
    assert code == 0 and (tmp_path / "b.hex").read_text() == legacy  # Ed25519 is deterministic: same bytes
    code, out, _ = _run(capsys, "keys", "attest", "--signer", tmp_path / "old.json", "--subject",
                        tmp_path / "new.json", "-o", tmp_path / "att.json", "--json")
    assert code == 0 and json.loads(out)["subject_kid"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["keys", "generate", "--owner", "X"], "needs -o/--output"),
        (["keys", "generate", "--format", "cap-key", "-o", "k"], "needs --owner"),
        (["keys", "generate", "--format", "publisher", "--owner", "X"], "--owner applies to cap-key"),
        (["keys", "attest", "app", "--signer", "a.json", "-o", "x"], "exclude each other"),
        (["keys", "attest", "--signer", "a.json", "-o", "x"], "needs --signer and --subject"),
        (["keys", "attest", "app", "--key", "k", "-o", "x"], "needs APP, --key"),
        (["export", "--manifest", "m", "--proof", "p", "-o", "a", "--out", "b"], "not allowed with"),
        (["export", "--manifest", "m", "--proof", "p"], "-o/--output is required"),
    ],
)
def test_usage_errors_name_the_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str],
                                   needle: str) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2 and needle in err and err.startswith("cap: error:"), err
