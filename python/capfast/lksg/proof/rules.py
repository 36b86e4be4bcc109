"""The rule vocabulary of compliance proofs: variables (counts, tables, roots, lists), evaluation of the simple
operators, which tables a policy makes a proof disclose, and :class:`ProofResult`, what verification reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from capfast.errors import ComplianceProofError
from capfast.lksg.policy import Check
from capfast.lksg.proof.lists import LIST_COLUMNS

__all__ = [
    "COUNT_VARS",
    "ROOT_VARS",
    "TABLES",
    "TABLE_VARS",
    "ProofResult",
    "disclosed_tables",
    "evaluate_simple",
    "rhs_list",
    "table_of",
]


#: variable → (table, column compared by non_membership; None = the default ``name``)
TABLE_VARS: dict[str, tuple[str, str]] = {
    "suppliers": ("suppliers", "name"),
    "supplier_hashes": ("suppliers", "name"),
    "supplier_names": ("suppliers", "name"),
    "supplier_jurisdictions": ("suppliers", "jurisdiction"),
    "ubos": ("ubos", "name"),
    "ubo_hashes": ("ubos", "name"),
    "ubo_names": ("ubos", "name"),
    "ubo_citizenships": ("ubos", "citizenship"),
}


COUNT_VARS = {"supplier_count": "suppliers", "ubo_count": "ubos"}


ROOT_VARS = ("supplier_root", "ubo_root", "company_commitment_root")


TABLES = ("suppliers", "ubos")


def table_of(var: Any) -> tuple[str, str] | None:
    return TABLE_VARS.get(var) if isinstance(var, str) else None


def _value(var: Any, counts: Mapping[str, int], manifest: Mapping[str, Any]) -> Any:
    """The value of an operand: a count, a table length, a manifest root, or a literal."""
    if isinstance(var, dict) and set(var) == {"var"}:
        var = var["var"]
    if isinstance(var, str):
        if var in COUNT_VARS:
            return counts[COUNT_VARS[var]]
        if var in TABLE_VARS:
            return counts[TABLE_VARS[var][0]]
        if var in ROOT_VARS or var in LIST_COLUMNS:
            return manifest.get(var)
        known = ", ".join([*COUNT_VARS, *TABLE_VARS, *ROOT_VARS, *LIST_COLUMNS])
        raise ComplianceProofError(f"unknown variable {var!r} (known: {known})")
    return var


def rhs_list(check: Check) -> str:
    rhs = check.rhs["var"] if isinstance(check.rhs, dict) and "var" in check.rhs else check.rhs
    if rhs not in LIST_COLUMNS:
        raise ComplianceProofError(
            f"rule {check.id}: non_membership needs a list on the right ({', '.join(LIST_COLUMNS)}), got {rhs!r}"
        )
    return str(rhs)


def _number(value: Any, check: Check) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ComplianceProofError(f"rule {check.id}: {check.op} needs numbers, got {value!r}")
    return int(value)


def evaluate_simple(check: Check, counts: Mapping[str, int], manifest: Mapping[str, Any]) -> tuple[bool, Any]:
    lhs = _value(check.lhs, counts, manifest)
    rhs = _value(check.rhs, counts, manifest)
    if check.op == "range_min":
        return _number(lhs, check) >= _number(rhs, check), lhs
    if check.op == "range_max":
        return _number(lhs, check) <= _number(rhs, check), lhs
    if check.op == "eq":
        return lhs == rhs, lhs
    raise ComplianceProofError(f"rule {check.id}: unsupported op {check.op!r}")


def disclosed_tables(checks: Sequence[Check]) -> set[str]:
    out = set()
    for c in checks:
        if c.op == "non_membership":
            t = table_of(c.lhs)
            if t is None:
                raise ComplianceProofError(
                    f"rule {c.id}: non_membership needs a table variable on the left "
                    f"({', '.join(TABLE_VARS)}), got {c.lhs!r}"
                )
            out.add(t[0])
    return out


@dataclass
class ProofResult:
    """Outcome of :func:`verify_proof`: ``status`` ``"ok"`` | ``"warn"`` (mock: bindings only) | ``"fail"``."""

    status: str
    backend: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    disclosed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "backend": self.backend,
            "errors": self.errors,
            "warnings": self.warnings,
            "checks": self.checks,
            "disclosed": self.disclosed,
        }
