"""Policies (lksg.v1, PolicyV2/IR) against cap-agent vectors, the YAML loader, and every lint code."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from capfast.errors import PolicyError
from capfast.lksg.lint import lint_policy
from capfast.lksg.policy import load_policy, load_policy_document, parse_policy
from capfast.lksg.policy_v2 import compile_ir, compile_policy, parse_policy_v2
from capfast.lksg.serial import load_yaml

# Backend-independent (policies, linting, IR: pure Python (hashlib, YAML), no capfast backend code): runs in the native pass only.
pytestmark = pytest.mark.once

VEC = Path(__file__).resolve().parent.parent / "vectors" / "cap-agent"


def test_policy_v1_hash_vector():
    # cap-agent.md §2.1 / §11.3 #2 (✔)
    assert load_policy(VEC / "policy.lksg.v1.yml").hash == "0xd490be94f6f182bd6a00930c65f6f1f5fab70ddb29116235ae344f064f9b52b3"


def test_policy_v1_json_gives_same_hash(tmp_path):
    doc = {"version": "lksg.v1", "name": "LkSG Demo Policy", "created_at": "2025-10-25T09:00:00Z",
           "constraints": {"supplier_count_max": 10, "require_at_least_one_ubo": True},
           "notes": "Demo policy for testing Tag 3 proof system", "unknown": 1}
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    pol = load_policy(p)
    assert pol.hash == "0xd490be94f6f182bd6a00930c65f6f1f5fab70ddb29116235ae344f064f9b52b3"
    assert pol.ignored_keys == ("unknown",)


def test_golden_ir_byte_for_byte():
    # cap-agent.md §2.2 (✔): agent/examples/lksg_v1.policy.yml -> lksg_v1.ir.json
    ir, text, diags = compile_policy(load_policy_document(VEC / "lksg_v1.policy.yml"))
    assert text.encode("utf-8") == (VEC / "lksg_v1.ir.json").read_bytes()
    assert ir["policy_hash"] == "sha3-256:b98c3db55f874476dc749ea32b70bdf5369a0d7bc5364f236e034f1ddcd94638"
    assert diags == []


def test_policy_v2_demo_hashes():
    # cap-agent.md §2.2 (◇) for agent/examples/policy.lksg.v2.yml (contains '§' and a literal 1)
    p = parse_policy_v2(load_policy_document(VEC / "policy.lksg.v2.yml"))
    assert p.hash == "sha3-256:16ad34c3ee21844274f1c792975ca56cbd8e9420f0f7e4d00191a1f255a6cf2f"
    assert compile_ir(p)["ir_hash"] == "sha3-256:358817334192887133b3a7949f98b4685eeda102d826f42281e507b2beb8b888"


def test_yaml_keeps_strings():
    doc = load_yaml(b"a: yes\nb: no\nc: on\nd: 2025-01-01T00:00:00Z\ne: 1.0\nf: 2025-01-01\ng: true\nh: 01\n", "x",
                    PolicyError)
    assert doc == {"a": "yes", "b": "no", "c": "on", "d": "2025-01-01T00:00:00Z", "e": "1.0", "f": "2025-01-01",
                   "g": True, "h": 1}
    assert doc["h"].text == "01"


def test_yaml_version_number_stays_text(tmp_path):
    p = tmp_path / "p.yml"
    p.write_text('version: lksg.v1\nname: 1.10\ncreated_at: 2025-10-25T09:00:00Z\nconstraints:\n'
                 '  require_at_least_one_ubo: true\n  supplier_count_max: 10\n')
    pol = load_policy(p)
    assert pol.name == "1.10" and pol.created_at == "2025-10-25T09:00:00Z"


@pytest.mark.parametrize("text", [b'{"a":1,"a":2}', b'{"a":NaN}', b"[" * 100 + b"]" * 100])
def test_policy_json_is_read_strictly(tmp_path, text):
    p = tmp_path / "p.json"
    p.write_bytes(text)
    with pytest.raises(PolicyError):
        load_policy(p)


GOOD_V1 = {"version": "lksg.v1", "name": "P", "created_at": "2025-01-01T00:00:00Z",
           "constraints": {"require_at_least_one_ubo": True, "supplier_count_max": 5}}


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d.pop("name"), "missing required field name"),
        (lambda d: d.update(version="v1"), "must start with 'lksg.v'"),
        (lambda d: d.update(name="  "), "blank"),
        (lambda d: d.update(created_at="2025-01-01"), "contain 'T'"),
        (lambda d: d["constraints"].update(supplier_count_max=0), "greater than 0"),
        (lambda d: d["constraints"].update(ubo_count_min=0), "greater than 0"),
        (lambda d: d["constraints"].update(require_statement_roots=[]), "non-empty"),
        (lambda d: d["constraints"].update(require_statement_roots=["x_root"]), "unknown root"),
        (lambda d: d["constraints"].update(require_at_least_one_ubo="yes"), "true or false"),
    ],
)
def test_policy_v1_validation(mutate, needle):
    doc = copy.deepcopy(GOOD_V1)
    mutate(doc)
    with pytest.raises(PolicyError, match=needle):
        parse_policy(doc)
    parse_policy(GOOD_V1)


def test_malformed_yaml_is_policy_error(tmp_path):
    p = tmp_path / "p.yml"
    p.write_text("version: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(p)
    p.write_text("a: 1\na: 2\n")
    with pytest.raises(PolicyError, match="duplicate key"):
        load_policy(p)


BASE = {
    "id": "p", "version": "1.0", "legal_basis": [{"directive": "LkSG"}], "description": "d",
    "inputs": {"supplier_count": {"type": "integer"}, "supplier_hashes": {"type": "array"},
               "sanctions_root": {"type": "hex"}},
    "rules": [
        {"id": "r1", "op": "range_min", "lhs": {"var": "supplier_count"}, "rhs": 1},
        {"id": "r2", "op": "non_membership", "lhs": "supplier_hashes", "rhs": "sanctions_root"},
    ],
}


def _codes(doc, strict=False):
    return [(d.code, d.level, d.rule_id) for d in lint_policy(doc, strict=strict)]


def test_clean_policy_has_no_findings():
    assert lint_policy(BASE, strict=True) == []


def _with(**changes):
    doc = copy.deepcopy(BASE)
    for k, v in changes.items():
        if v is None:
            doc.pop(k)
        else:
            doc[k] = v
    return doc


@pytest.mark.parametrize(
    "doc,code",
    [
        (_with(id=None), "E1001"),
        (_with(rules=[{"id": "r1", "op": "eq", "lhs": {"var": "supplier_count"}}]), "E1001"),
        (_with(adaptivity={"predicates": [{"id": "p1", "expr": "x"}],
                           "activations": [{"when": "p1", "rules": ["nope"]}]}), "E1001"),
        (_with(legal_basis=[]), "E1002"),
        (_with(description=""), "W1002"),
        (_with(rules=[*BASE["rules"], {"id": "r1", "op": "range_min", "lhs": {"var": "supplier_count"}, "rhs": 2}]),
         "E1003"),
        (_with(rules=[{"id": "r1", "op": ">=", "lhs": {"var": "supplier_count"}, "rhs": 1}, BASE["rules"][1]]),
         "E2001"),
        (_with(rules=[{"id": "r1", "op": "range_min", "lhs": {"var": "sanctions_root"}, "rhs": 1},
                      BASE["rules"][1]]), "E3001"),
        (_with(rules=[BASE["rules"][0], {"id": "r2", "op": "non_membership", "lhs": "supplier_count",
                                          "rhs": "sanctions_root"}]), "E3001"),
        (_with(rules=[*BASE["rules"], {"id": "r3", "op": "eq", "lhs": "supplier_count", "rhs": "sanctions_root"}]),
         "E3001"),
        (_with(inputs={**BASE["inputs"], "extra": {"type": "string"}}), "W3001"),
        (_with(rules=[*BASE["rules"], {"id": "r3", "op": "range_min", "lhs": {"var": "supplier_count"}, "rhs": 1}]),
         "W4001"),
        (_with(adaptivity={"predicates": [], "activations": [{"when": "undeclared", "rules": ["r1"]}]}), "W4001"),
        (_with(rules=[*BASE["rules"], {"id": "r3", "op": "eq", "lhs": "ghost", "rhs": 1}]), "E2003"),
    ],
)
def test_each_code_triggers(doc, code):
    found = [c for c, _, _ in _codes(doc)]
    assert code in found
    assert code not in [c for c, _, _ in _codes(BASE)]


def test_diagnostic_fields_and_modes():
    doc = _with(legal_basis=[], rules=[{"id": "bad", "op": "<", "lhs": "supplier_count", "rhs": 1},
                                       BASE["rules"][1]])
    relaxed = {d.code: d for d in lint_policy(doc)}
    strict = {d.code: d for d in lint_policy(doc, strict=True)}
    assert relaxed["E1002"].level == "warning" and strict["E1002"].level == "error"
    e = relaxed["E2001"]
    assert e.to_dict() == {"code": "E2001", "level": "error", "rule_id": "bad",
                           "message": "invalid op '<' (allowed: non_membership, eq, range_min)"}


def test_compile_refuses_lint_errors():
    with pytest.raises(PolicyError, match="E2001"):
        compile_policy(_with(rules=[{"id": "r1", "op": ">=", "lhs": "supplier_count", "rhs": 1}]))
    with pytest.raises(PolicyError, match="E1002"):  # strict: legal_basis is an error
        compile_policy(_with(legal_basis=[]))
