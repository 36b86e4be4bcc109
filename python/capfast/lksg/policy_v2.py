"""PolicyV2 and its IR v1 (reference notes §2.2), byte-compatible with cap-agent's ``policy compile``.

PolicyV2 fields, in hash order: ``id``, ``version``, ``legal_basis`` (list of ``{directive?, article?}``),
``description`` (default ``""``, always hashed), ``inputs`` (name → ``{type, items?}``, names sorted), ``rules``
(list of ``{id, op, lhs, rhs}``; ``lhs``/``rhs`` any JSON, objects inside with sorted keys), ``adaptivity?``
(``{predicates: [{id, expr}], activations: [{when, rules: [ids]}]}``).

* ``policy_hash = "sha3-256:" + hex(SHA3-256(compact JSON of that struct))``;
* IR: ``{ir_version: "1.0", policy_id, policy_hash, rules (sorted by id; a string lhs/rhs becomes
  {"var": s}), adaptivity?, ir_hash}`` with ``ir_hash = "sha3-256:" + hex(SHA3-256(compact IR with
  "ir_hash": ""))``, written pretty without a trailing newline.

:func:`compile_policy` lints strictly first (:mod:`capfast.lksg.lint`) and refuses a policy with errors.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capfast.errors import PolicyError
from capfast.lksg.policy import Check, load_policy_document
from capfast.lksg.serial import YamlInt, compact, plain, pretty

__all__ = [
    "ALLOWED_OPS",
    "INPUT_TYPES",
    "PolicyV2",
    "compile_ir",
    "compile_policy",
    "is_policy_v2",
    "load_policy_v2",
    "parse_policy_v2",
]

ALLOWED_OPS = ("non_membership", "eq", "range_min")
INPUT_TYPES = ("hex", "array", "string", "number", "integer", "boolean")


def _sorted_json(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, dict):
        return {k: _sorted_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(v) for v in value]
    return value


def _sha3_prefixed(text: str) -> str:
    return "sha3-256:" + hashlib.sha3_256(text.encode("utf-8")).hexdigest()


def is_policy_v2(doc: Any) -> bool:
    """Whether a parsed policy document is PolicyV2 (has ``id`` and ``rules``) rather than lksg.v1."""
    return isinstance(doc, dict) and "rules" in doc and "id" in doc and "constraints" not in doc


@dataclass(frozen=True)
class PolicyV2:
    """A structurally valid PolicyV2 (lint it for semantic problems)."""

    id: str
    version: str
    legal_basis: list[dict[str, str]]
    description: str
    inputs: dict[str, dict[str, Any]]
    rules: list[dict[str, Any]]
    adaptivity: dict[str, Any] | None = None

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "version": self.version,
            "legal_basis": self.legal_basis,
            "description": self.description,
            "inputs": {k: self.inputs[k] for k in sorted(self.inputs)},
            "rules": self.rules,
        }
        if self.adaptivity is not None:
            out["adaptivity"] = self.adaptivity
        return out

    @property
    def hash(self) -> str:
        """``"sha3-256:"`` + SHA3-256 of the compact struct-order JSON."""
        return _sha3_prefixed(compact(self.canonical()))

    @property
    def name(self) -> str:
        return self.id

    @property
    def policy_id(self) -> str:
        return self.id

    def checks(self) -> list[Check]:
        """The rules as :class:`~capfast.lksg.policy.Check` objects (variables unwrapped from ``{"var": x}``)."""
        out = []
        for r in self.rules:
            out.append(Check(r["id"], r["op"], _var_name(r["lhs"]) or r["lhs"], _unwrap(r["rhs"])))
        return out


def _var_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"var"} and isinstance(value["var"], str):
        return value["var"]
    return None


def _unwrap(value: Any) -> Any:
    name = _var_name(value)
    if name is not None:
        return {"var": name}
    if isinstance(value, dict) and set(value) == {"const"}:
        return value["const"]
    return value


def _s(value: Any, where: str) -> str:
    if isinstance(value, YamlInt):
        return value.text
    if not isinstance(value, str):
        raise PolicyError(f"{where} must be a string")
    return value


def parse_policy_v2(doc: Any) -> PolicyV2:
    """Structural parse (types and required fields); unknown keys are ignored, as cap-agent does."""
    if not isinstance(doc, dict):
        raise PolicyError("a PolicyV2 document must be a mapping")
    for key in ("id", "version", "legal_basis", "inputs", "rules"):
        if key not in doc or doc[key] is None:
            raise PolicyError(f"invalid policy: missing required field {key}")
    lb = doc["legal_basis"]
    if not isinstance(lb, list):
        raise PolicyError("legal_basis must be a list")
    legal = []
    for i, item in enumerate(lb):
        if not isinstance(item, dict):
            raise PolicyError(f"legal_basis[{i}] must be a mapping")
        entry = {k: _s(item[k], f"legal_basis[{i}].{k}") for k in ("directive", "article") if item.get(k) is not None}
        legal.append(entry)
    desc = doc.get("description")
    description = "" if desc is None else _s(desc, "description")
    inputs_raw = doc["inputs"]
    if not isinstance(inputs_raw, dict):
        raise PolicyError("inputs must be a mapping of name to {type, items?}")
    inputs: dict[str, dict[str, Any]] = {}
    for name, spec in inputs_raw.items():
        if not isinstance(spec, dict) or "type" not in spec:
            raise PolicyError(f"inputs.{name} must be a mapping with a 'type'")
        entry = {"type": _s(spec["type"], f"inputs.{name}.type")}
        if spec.get("items") is not None:
            entry["items"] = _s(spec["items"], f"inputs.{name}.items")
        inputs[name] = entry
    rules_raw = doc["rules"]
    if not isinstance(rules_raw, list):
        raise PolicyError("rules must be a list")
    rules = []
    for i, r in enumerate(rules_raw):
        if not isinstance(r, dict):
            raise PolicyError(f"rules[{i}] must be a mapping")
        for key in ("id", "op", "lhs", "rhs"):
            if key not in r:
                raise PolicyError(f"invalid policy: rules[{i}] lacks {key}")
        rules.append(
            {
                "id": _s(r["id"], f"rules[{i}].id"),
                "op": _s(r["op"], f"rules[{i}].op"),
                "lhs": _sorted_json(r["lhs"]),
                "rhs": _sorted_json(r["rhs"]),
            }
        )
    adaptivity = None
    if doc.get("adaptivity") is not None:
        a = doc["adaptivity"]
        if not isinstance(a, dict):
            raise PolicyError("adaptivity must be a mapping")
        preds = a.get("predicates") or []
        acts = a.get("activations") or []
        if not isinstance(preds, list) or not isinstance(acts, list):
            raise PolicyError("adaptivity.predicates and adaptivity.activations must be lists")
        adaptivity = {
            "predicates": [
                {"id": _s(p.get("id"), "predicate id"), "expr": _s(p.get("expr"), "predicate expr")}
                for p in preds
                if isinstance(p, dict)
            ],
            "activations": [
                {
                    "when": _s(x.get("when"), "activation when"),
                    "rules": [_s(r, "activation rule") for r in (x.get("rules") or [])],
                }
                for x in acts
                if isinstance(x, dict)
            ],
        }
    return PolicyV2(
        _s(doc["id"], "id"), _s(doc["version"], "version"), legal, description, inputs, rules, adaptivity
    )


def load_policy_v2(path: str | os.PathLike[str]) -> PolicyV2:
    """Read a PolicyV2 file (YAML for ``.yml``/``.yaml``, JSON otherwise)."""
    return parse_policy_v2(load_policy_document(path))


def compile_ir(policy: PolicyV2) -> dict[str, Any]:
    """The IR v1 object (struct order, ``ir_hash`` filled)."""
    rules = []
    for r in sorted(policy.rules, key=lambda r: r["id"].encode("utf-8")):
        lhs = {"var": r["lhs"]} if isinstance(r["lhs"], str) else r["lhs"]
        rhs = {"var": r["rhs"]} if isinstance(r["rhs"], str) else r["rhs"]
        rules.append({"id": r["id"], "op": r["op"], "lhs": lhs, "rhs": rhs})
    ir: dict[str, Any] = {
        "ir_version": "1.0",
        "policy_id": policy.id,
        "policy_hash": policy.hash,
        "rules": rules,
    }
    if policy.adaptivity is not None:
        ir["adaptivity"] = policy.adaptivity
    ir["ir_hash"] = ""
    ir["ir_hash"] = _sha3_prefixed(compact(ir))
    return ir


def compile_policy(doc: Any) -> tuple[dict[str, Any], str, list[Any]]:
    """Lint strictly, then compile: ``(ir, ir_text, diagnostics)``; lint errors raise :class:`PolicyError`."""
    from capfast.lksg.lint import lint_policy

    diags = lint_policy(doc, strict=True)
    errors = [d for d in diags if d.level == "error"]
    if errors:
        raise PolicyError("policy has lint errors: " + "; ".join(f"{d.code} {d.message}" for d in errors))
    ir = compile_ir(parse_policy_v2(doc))
    return ir, pretty(ir), diags


def write_ir(path: str | os.PathLike[str], ir_text: str) -> None:
    """Write the IR text atomically (pretty, no trailing newline, like cap-agent)."""
    from capfast._io import atomic_write

    atomic_write(Path(path), ir_text)
