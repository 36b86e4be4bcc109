"""Policies of either kind, read through one door: lksg.v1 (:mod:`capfast.lksg.policy`) or PolicyV2
(:mod:`capfast.lksg.policy_v2`, which must also pass the linter's error checks)."""

from __future__ import annotations

import os
from typing import Any

from capfast.errors import PolicyError
from capfast.lksg.lint import lint_policy
from capfast.lksg.policy import load_policy_document, parse_policy
from capfast.lksg.policy_v2 import is_policy_v2, parse_policy_v2

__all__ = ["load_any_policy", "policy_from_document"]


def policy_from_document(doc: Any) -> Any:
    """An lksg.v1 :class:`Policy` or a :class:`~capfast.lksg.policy_v2.PolicyV2`, by the document's shape."""
    if is_policy_v2(doc):
        p2 = parse_policy_v2(doc)
        errors = [d for d in lint_policy(doc, strict=False) if d.level == "error"]
        if errors:
            raise PolicyError("policy has lint errors: " + "; ".join(f"{d.code} {d.message}" for d in errors))
        return p2
    return parse_policy(doc)


def load_any_policy(path: str | os.PathLike[str]) -> Any:
    """Read a policy file of either kind (see :func:`policy_from_document`)."""
    return policy_from_document(load_policy_document(path))
