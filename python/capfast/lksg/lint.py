"""The PolicyV2 linter: every code of the seed's API reference, plus cap-agent's implemented ones.

Each :class:`Diagnostic` has ``code``, ``level`` (``"error"``/``"warning"``), ``message`` and ``rule_id`` (or
``None``). Codes, in emission order:

======  =========  ===========================================================================================
code    level      trigger
======  =========  ===========================================================================================
E1001   error      a required field is missing (``id``, ``version``, ``inputs``, ``rules``, a rule's ``id``/``op``/
                   ``lhs``/``rhs``), or an activation names a rule id that does not exist
E1002   error*     ``legal_basis`` missing or empty (*a warning in relaxed mode; the code stays E1002)
W1002   warning    ``description`` missing or empty
E1003   error      a rule id seen before (one diagnostic per repeat)
E2001   error      ``op`` not one of ``non_membership``, ``eq``, ``range_min`` (e.g. ``>=``)
E2003   error      a rule references a variable that is not declared in ``inputs``
E3001   error      type mismatch between a rule and its declared inputs: ``range_min`` needs a number/integer or
                   an array (its length) on the left and a number on the right; ``non_membership`` needs an array
                   (or string/hex item) on the left and a hex/string root or an array on the right; ``eq`` needs
                   both sides of the same type; an input with an unknown ``type`` is also E3001
W3001   warning    an input that no rule (and no adaptivity predicate) uses
W4001   warning    a potentially unreachable rule: with ``adaptivity``, a rule listed only under activations whose
                   ``when`` is not a declared predicate; or a rule identical (op, lhs, rhs) to an earlier one,
                   which can never decide the outcome
======  =========  ===========================================================================================

Strict mode differs from relaxed only in E1002's level; ``cap policy lint --strict`` additionally fails on
warnings. An lksg.v1 document is checked with the v1 validator and its problems reported as E1001 (missing
field) or E3001 (wrong type/value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capfast.errors import PolicyError
from capfast.lksg.serial import YamlInt

__all__ = ["CODES", "Diagnostic", "lint_policy"]

CODES = ("E1001", "E1002", "W1002", "E1003", "E2001", "E2003", "E3001", "W3001", "W4001")
_OPS = ("non_membership", "eq", "range_min")
_TYPES = ("hex", "array", "string", "number", "integer", "boolean")
_NUMERIC = ("number", "integer")


@dataclass(frozen=True)
class Diagnostic:
    """One lint finding."""

    code: str
    level: str
    message: str
    rule_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "message": self.message, "rule_id": self.rule_id}

    def __str__(self) -> str:
        where = f"{self.rule_id}: " if self.rule_id else ""
        return f"[{self.level.upper()}] {self.code} {where}{self.message}"


def _var(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"var"} and isinstance(value["var"], str):
        return value["var"]
    return None


def _literal_type(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"const"}:
        value = value["const"]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, YamlInt)):
        return "number"
    if isinstance(value, list):
        return "array"
    return None


def _lint_v1(doc: dict[str, Any]) -> list[Diagnostic]:
    from capfast.lksg.policy import parse_policy

    try:
        parse_policy(doc)
    except PolicyError as exc:
        text = str(exc).removeprefix("invalid policy: ")
        return [
            Diagnostic("E1001" if p.startswith("missing required field") else "E3001", "error", p)
            for p in text.split("; ")
        ]
    return []


def lint_policy(doc: Any, *, strict: bool = False) -> list[Diagnostic]:
    """Lint a parsed policy document (PolicyV2; an lksg.v1 document gets the v1 validation)."""
    if not isinstance(doc, dict):
        return [Diagnostic("E1001", "error", "a policy must be a mapping with the required fields")]
    if "constraints" in doc and "rules" not in doc:
        return _lint_v1(doc)
    out: list[Diagnostic] = []
    for key in ("id", "version", "inputs", "rules"):
        if doc.get(key) is None:
            out.append(Diagnostic("E1001", "error", f"missing required field: policy.{key}"))
    lb = doc.get("legal_basis")
    if not isinstance(lb, list) or not lb:
        out.append(Diagnostic("E1002", "error" if strict else "warning", "missing `legal_basis`"))
    desc = doc.get("description")
    if not isinstance(desc, str) or not desc.strip():
        out.append(Diagnostic("W1002", "warning", "description missing"))
    inputs: dict[str, Any] = doc["inputs"] if isinstance(doc.get("inputs"), dict) else {}
    types: dict[str, str] = {}
    for name, spec in inputs.items():
        t = spec.get("type") if isinstance(spec, dict) else None
        if t not in _TYPES:
            allowed = ", ".join(_TYPES)
            out.append(Diagnostic("E3001", "error", f"input '{name}' has unknown type {t!r} (allowed: {allowed})"))
        else:
            types[name] = t
    rules: list[Any] = doc["rules"] if isinstance(doc.get("rules"), list) else []
    seen: set[str] = set()
    ids: list[str] = []
    used: set[str] = set()
    signatures: dict[tuple[str, str, str], str] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            out.append(Diagnostic("E1001", "error", f"rules[{i}] must be a mapping with id, op, lhs, rhs"))
            continue
        rid = rule.get("id")
        rid_s = rid if isinstance(rid, str) else None
        missing = [k for k in ("id", "op", "lhs", "rhs") if k not in rule]
        if missing:
            out.append(Diagnostic("E1001", "error", f"missing required field: rules[{i}].{', '.join(missing)}", rid_s))
        if rid_s is not None:
            if rid_s in seen:
                out.append(Diagnostic("E1003", "error", f"duplicate rule ID '{rid_s}'", rid_s))
            seen.add(rid_s)
            ids.append(rid_s)
        op = rule.get("op")
        if "op" in rule and op not in _OPS:
            msg = f"invalid op '{op}' (allowed: non_membership, eq, range_min)"
            out.append(Diagnostic("E2001", "error", msg, rid_s))
        lhs, rhs = rule.get("lhs"), rule.get("rhs")
        lt = rt = None
        for side, value in (("lhs", lhs), ("rhs", rhs)):
            vname = _var(value)
            if vname is None:
                continue
            used.add(vname)
            if vname not in inputs:
                out.append(Diagnostic("E2003", "error", f"{side} references undeclared input '{vname}'", rid_s))
        ln, rn = _var(lhs), _var(rhs)
        lt = types.get(ln) if ln is not None else _literal_type(lhs)
        rt = types.get(rn) if rn is not None else _literal_type(rhs)
        if op in _OPS and not missing:
            problem = _type_problem(op, lt, rt, ln is not None, rn is not None)
            if problem:
                out.append(Diagnostic("E3001", "error", problem, rid_s))
            sig = (str(op), repr(lhs), repr(rhs))
            if sig in signatures and rid_s is not None:
                out.append(
                    Diagnostic(
                        "W4001", "warning",
                        f"rule '{rid_s}' repeats rule '{signatures[sig]}' (same op, lhs, rhs) and can never decide "
                        "the outcome", rid_s,
                    )
                )
            elif rid_s is not None:
                signatures[sig] = rid_s
    adaptivity = doc.get("adaptivity")
    if isinstance(adaptivity, dict):
        preds = {p.get("id") for p in adaptivity.get("predicates") or [] if isinstance(p, dict)}
        for p in adaptivity.get("predicates") or []:
            expr = p.get("expr") if isinstance(p, dict) else None
            if isinstance(expr, str):
                used.update(name for name in inputs if name in expr)
        reachable: set[str] = set()
        listed: set[str] = set()
        for act in adaptivity.get("activations") or []:
            if not isinstance(act, dict):
                continue
            when = act.get("when")
            for r in act.get("rules") or []:
                if r not in ids:
                    out.append(Diagnostic("E1001", "error", f"unknown rule id '{r}' in activation '{when}'"))
                listed.add(r)
                if when in preds:
                    reachable.add(r)
        for r in ids:
            if r in listed and r not in reachable:
                out.append(
                    Diagnostic(
                        "W4001", "warning",
                        f"rule '{r}' is only activated by undeclared predicates and is unreachable", r,
                    )
                )
    for name in inputs:
        if name not in used:
            out.append(Diagnostic("W3001", "warning", f"input '{name}' is declared but never used"))
    return out


def _type_problem(op: str, lt: str | None, rt: str | None, lvar: bool, rvar: bool) -> str | None:
    """A message when ``op`` cannot apply to these operand types (``None`` for unknown/undeclared types)."""
    if op == "range_min":
        if lt is not None and lt not in _NUMERIC and lt != "array":
            return f"range_min needs a number or an array on the left, got {lt}"
        if rt is not None and rt not in _NUMERIC:
            return f"range_min needs a number on the right, got {rt}"
        if not rvar and rt is None:
            return "range_min needs a number on the right"
    elif op == "non_membership":
        if lt is not None and lt not in ("array", "string", "hex"):
            return f"non_membership needs an array on the left, got {lt}"
        if rt is not None and rt not in ("hex", "string", "array"):
            return f"non_membership needs a hex/string root or an array on the right, got {rt}"
    elif op == "eq":
        if lt is not None and rt is not None:
            norm = {"integer": "number", "hex": "string"}
            if norm.get(lt, lt) != norm.get(rt, rt):
                return f"eq compares {lt} with {rt}"
    return None
