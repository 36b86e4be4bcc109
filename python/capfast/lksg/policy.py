"""Policy v1 (``lksg.v1``), compatible with cap-agent (reference notes §2.1).

File: YAML when the name ends in ``.yml``/``.yaml``, JSON otherwise (read with :mod:`capfast.lksg.serial`, so
``created_at`` timestamps and ``yes``/``no`` stay strings). Fields, in hash order::

    version (str, starts "lksg.v"), name (str, not blank), created_at (str containing "T"),
    constraints: {require_at_least_one_ubo (bool), supplier_count_max (u32 > 0),
                  ubo_count_min? (u32 > 0), require_statement_roots? (non-empty list of
                  "sanctions_root" | "jurisdiction_root")},
    notes (str, default "")

Unknown keys are ignored (as cap-agent does) and reported in :attr:`Policy.ignored_keys`.

**Policy hash** = ``"0x" + hex(SHA3-256(compact JSON in that field order))``; ``ubo_count_min`` and
``require_statement_roots`` are omitted when absent, ``notes`` is always present. cap-agent's example policy hashes
to ``0xd490be94f6f182bd6a00930c65f6f1f5fab70ddb29116235ae344f064f9b52b3``.

:meth:`Policy.checks` turns the constraints into the rules a proof evaluates (``range_min``, ``range_max``,
``non_membership``); see ``docs/lksg-proofs.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capfast import strict_json
from capfast._io import read_bounded
from capfast.errors import PolicyError
from capfast.lksg.serial import YamlInt, compact, load_yaml, sha3_hex

__all__ = [
    "DEFAULT_POLICY_YAML",
    "MAX_POLICY_BYTES",
    "STATEMENT_ROOTS",
    "Check",
    "Policy",
    "load_policy",
    "load_policy_document",
    "parse_policy",
]

MAX_POLICY_BYTES = 1 << 20
STATEMENT_ROOTS = ("sanctions_root", "jurisdiction_root")
_U32_MAX = 2**32 - 1

#: The policy ``cap project`` uses when the project has none (``input/policy.yml``).
DEFAULT_POLICY_YAML = """\
version: "lksg.v1"
name: "LkSG Default Policy"
created_at: "2025-01-01T00:00:00Z"
constraints:
  require_at_least_one_ubo: true
  supplier_count_max: 1000
notes: "capfast default policy: at least one UBO, at most 1000 suppliers"
"""


@dataclass(frozen=True)
class Check:
    """One rule a proof evaluates: ``op`` over a variable ``lhs`` and a literal or list name ``rhs``."""

    id: str
    op: str  # range_min | range_max | eq | non_membership
    lhs: str
    rhs: Any

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "lhs": self.lhs, "rhs": self.rhs}


@dataclass(frozen=True)
class Policy:
    """A validated lksg.v1 policy."""

    version: str
    name: str
    created_at: str
    require_at_least_one_ubo: bool
    supplier_count_max: int
    ubo_count_min: int | None = None
    require_statement_roots: tuple[str, ...] | None = None
    notes: str = ""
    ignored_keys: tuple[str, ...] = field(default=(), compare=False)

    def canonical(self) -> dict[str, Any]:
        """The struct-order dict that is hashed."""
        constraints: dict[str, Any] = {
            "require_at_least_one_ubo": self.require_at_least_one_ubo,
            "supplier_count_max": self.supplier_count_max,
        }
        if self.ubo_count_min is not None:
            constraints["ubo_count_min"] = self.ubo_count_min
        if self.require_statement_roots is not None:
            constraints["require_statement_roots"] = list(self.require_statement_roots)
        return {
            "version": self.version,
            "name": self.name,
            "created_at": self.created_at,
            "constraints": constraints,
            "notes": self.notes,
        }

    @property
    def hash(self) -> str:
        """``"0x"`` + SHA3-256 of the compact struct-order JSON (cap-agent compatible)."""
        return sha3_hex(compact(self.canonical()))

    @property
    def policy_id(self) -> str:
        return self.name

    def checks(self) -> list[Check]:
        """The constraints as rules, in a fixed order (cap-agent's check names first)."""
        out: list[Check] = []
        if self.require_at_least_one_ubo:
            out.append(Check("require_at_least_one_ubo", "range_min", "ubo_count", 1))
        out.append(Check(f"supplier_count_max_{self.supplier_count_max}", "range_max", "supplier_count",
                         self.supplier_count_max))
        if self.ubo_count_min is not None:
            out.append(Check(f"ubo_count_min_{self.ubo_count_min}", "range_min", "ubo_count", self.ubo_count_min))
        for root in self.require_statement_roots or ():
            lhs = "supplier_names" if root == "sanctions_root" else "supplier_jurisdictions"
            out.append(Check(f"{root.removesuffix('_root')}_non_membership", "non_membership", lhs, root))
        return out

    def constraint_names(self) -> list[str]:
        return [c.id for c in self.checks()]


def _text(doc: dict[str, Any], key: str, problems: list[str], where: str = "") -> str | None:
    if key not in doc or doc[key] is None:
        problems.append(f"missing required field {where}{key}")
        return None
    value = doc[key]
    if isinstance(value, YamlInt):
        return value.text
    if not isinstance(value, str):
        problems.append(f"{where}{key} must be a string, not {type(value).__name__}")
        return None
    return value


def _u32(c: dict[str, Any], key: str, problems: list[str], required: bool) -> int | None:
    if key not in c or c[key] is None:
        if required:
            problems.append(f"missing required field constraints.{key}")
        return None
    value = c[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32_MAX:
        problems.append(f"constraints.{key} must be an unsigned 32-bit integer, got {value!r}")
        return None
    if value == 0:
        problems.append(f"constraints.{key} must be greater than 0")
        return None
    return int(value)


def parse_policy(doc: Any) -> Policy:
    """Validate a parsed lksg.v1 document; every problem found is listed in one :class:`PolicyError`."""
    if not isinstance(doc, dict):
        raise PolicyError(f"a policy must be a mapping, not {type(doc).__name__}")
    problems: list[str] = []
    version = _text(doc, "version", problems)
    name = _text(doc, "name", problems)
    created_at = _text(doc, "created_at", problems)
    notes_raw = doc.get("notes")
    notes = "" if notes_raw is None else notes_raw
    if isinstance(notes, YamlInt):
        notes = notes.text
    if not isinstance(notes, str):
        problems.append("notes must be a string")
        notes = ""
    if version is not None and not version.startswith("lksg.v"):
        problems.append(f"version {version!r} must start with 'lksg.v'")
    if name is not None and not name.strip():
        problems.append("name must not be blank")
    if created_at is not None and "T" not in created_at:
        problems.append(f"created_at {created_at!r} must be an RFC 3339 timestamp (contain 'T'; quote it in YAML)")
    c = doc.get("constraints")
    req_ubo, count_max, ubo_min, roots = False, None, None, None
    if not isinstance(c, dict):
        problems.append("missing required field constraints" if c is None else "constraints must be a mapping")
    else:
        if "require_at_least_one_ubo" not in c:
            problems.append("missing required field constraints.require_at_least_one_ubo")
        elif not isinstance(c["require_at_least_one_ubo"], bool):
            problems.append(
                f"constraints.require_at_least_one_ubo must be true or false, got {c['require_at_least_one_ubo']!r}"
            )
        else:
            req_ubo = c["require_at_least_one_ubo"]
        count_max = _u32(c, "supplier_count_max", problems, True)
        ubo_min = _u32(c, "ubo_count_min", problems, False)
        if c.get("require_statement_roots") is not None:
            r = c["require_statement_roots"]
            if not isinstance(r, list) or not r:
                problems.append("constraints.require_statement_roots must be a non-empty list")
            else:
                bad = [x for x in r if x not in STATEMENT_ROOTS]
                if bad:
                    problems.append(
                        f"constraints.require_statement_roots: unknown root(s) {bad!r} "
                        f"(allowed: {', '.join(STATEMENT_ROOTS)})"
                    )
                else:
                    roots = tuple(r)
    if problems:
        raise PolicyError("invalid policy: " + "; ".join(problems))
    known = {"version", "name", "created_at", "constraints", "notes"}
    assert version is not None and name is not None and created_at is not None and count_max is not None
    return Policy(
        version, name, created_at, req_ubo, count_max, ubo_min, roots, notes,
        tuple(sorted(k for k in doc if k not in known)),
    )


def load_policy_document(path: str | os.PathLike[str], data: bytes | None = None) -> Any:
    """The parsed document of a policy file (YAML for ``.yml``/``.yaml``, JSON otherwise)."""
    p = Path(path)
    raw = read_bounded(p, MAX_POLICY_BYTES, "policy file", PolicyError) if data is None else data
    if p.suffix.lower() in (".yml", ".yaml"):
        return load_yaml(raw, f"policy file {p}", PolicyError)
    return strict_json.loads(raw, what=f"policy file {p}", error=PolicyError, max_bytes=max(len(raw), MAX_POLICY_BYTES))


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate an lksg.v1 policy file."""
    return parse_policy(load_policy_document(path))
