"""Scopes and roles: the grammar and the one matching rule (``docs/captoken.md`` §4).

Grammar::

    scope    = kind ":/" segment *( "/" segment ) [ "/*" ]  /  kind ":/*"
    kind     = a-z *( a-z / 0-9 / "-" )                     ; at most 32 characters
    segment  = 1*64( A-Z / a-z / 0-9 / "." / "_" / "~" / "-" ), not "." or ".."
                                                             ; a scope is at most 256 characters

Matching is by whole path segments: a granted scope covers a required one when both have the same kind and

* they are equal (``app:/vpn`` covers ``app:/vpn`` and nothing else — never ``app:/vpnx`` nor ``app:/vpn/x``), or
* the granted scope ends in ``/*`` and the required one continues its segments with at least one more
  (``net:/vpn/*`` covers ``net:/vpn/core``, ``net:/vpn/core/x`` and ``net:/vpn/x/*``, but **not** ``net:/vpn``).

So the scopes that cover a concrete scope ``k:/a/b/c`` are exactly ``k:/a/b/c``, ``k:/a/b/*``, ``k:/a/*`` and
``k:/*`` (:func:`covering`): a finite set, which is how the Biscuit form checks scopes in Datalog by plain
membership. Roles are dotted names; a role covers itself and the roles below it (``infra`` covers ``infra.user``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from capfast.captoken import valid_role, valid_scope
from capfast.errors import TokenFormatError

__all__ = [
    "covering",
    "covers",
    "covers_any",
    "intersect",
    "parse_scope",
    "role_covers",
    "valid_role",
    "valid_scope",
]


def parse_scope(text: str) -> tuple[str, tuple[str, ...], bool]:
    """``(kind, segments, wildcard)`` of a scope; a string outside the grammar is a
    :class:`~capfast.errors.TokenFormatError`."""
    if not isinstance(text, str) or not valid_scope(text):
        raise TokenFormatError(f"not a scope (kind:/path[/*]): {str(text)[:80]!r}")
    kind, path = text.split(":/", 1)
    segments = tuple(path.split("/"))
    if segments[-1] == "*":
        return kind, segments[:-1], True
    return kind, segments, False


def covers(granted: str, required: str) -> bool:
    """Whether the scope ``granted`` covers ``required`` (both must be in the grammar)."""
    gk, gs, gw = parse_scope(granted)
    rk, rs, rw = parse_scope(required)
    if gk != rk:
        return False
    if not gw:
        return not rw and gs == rs
    if rs[: len(gs)] != gs:
        return False
    # k:/a/* covers concrete scopes strictly below k:/a, and wildcards at or below k:/a/*.
    return len(rs) >= len(gs) if rw else len(rs) > len(gs)


def covering(required: str) -> list[str]:
    """Every scope that covers ``required``: itself and each ancestor wildcard, nearest first (module doc)."""
    return list(_covering(required))


@functools.lru_cache(maxsize=4096)
def _covering(required: str) -> tuple[str, ...]:
    kind, segments, _ = parse_scope(required)
    out = [required]
    for i in range(len(segments) - 1, -1, -1):
        out.append(f"{kind}:/" + "/".join(segments[:i] + ("*",)))
    return tuple(out)


def covers_any(granted: Iterable[str], required: str) -> bool:
    """Whether some scope of ``granted`` covers ``required``."""
    cover = _covering(required)
    return any(g in cover for g in granted)


def intersect(current: Iterable[str], narrowed: Iterable[str]) -> list[str]:
    """The scopes whose coverage is what both sets cover: attenuating ``current`` to ``narrowed`` never widens."""
    cur, new = list(current), list(narrowed)
    out: list[str] = []
    for a in new:
        if covers_any(cur, a) and a not in out:
            out.append(a)
    for s in cur:
        if covers_any(new, s) and s not in out:
            out.append(s)
    # Drop entries covered by another entry (keeps the list minimal and stable).
    return [s for s in out if not any(o != s and covers(o, s) for o in out)]


def role_covers(granted: str, required: str) -> bool:
    """Whether role ``granted`` covers ``required``: equal, or a dotted prefix (``infra`` covers ``infra.user``)."""
    if not valid_role(granted) or not valid_role(required):
        raise TokenFormatError(f"not a role name: {granted!r} / {required!r}")
    return required == granted or required.startswith(granted + ".")
