"""The one reader for untrusted JSON: every JSON document capfast did not just write itself goes through here.

Python's :func:`json.loads` accepts things that have no place in a signed or hashed document and that let two
parsers disagree about the same bytes: duplicate keys (the last one silently wins), ``NaN``/``Infinity``, numbers
that overflow to infinity, bytes in UTF-16/32 or invalid UTF-8, lone surrogate escapes that cannot be encoded back,
and unbounded size and nesting. :func:`loads` refuses all of them:

* **size**: more than ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`) is an error before anything is parsed;
* **encoding**: bytes must be strict UTF-8 (no BOM sniffing, no UTF-16/32); a ``str`` is taken as is; a string
  value or key holding a lone surrogate (``"\\ud800"``) is an error;
* **duplicate keys** in any object are an error (not "last one wins");
* ``NaN``, ``Infinity``, ``-Infinity`` and numbers that overflow a float are errors; integers longer than Python's
  int-parsing limit are errors;
* **nesting** deeper than ``max_depth`` (default :data:`MAX_DEPTH`) is an error.

Every failure raises ``error(message)`` -- the caller's exception class (e.g. :class:`~capfast.errors.KeyFileError`
for a key file, :class:`~capfast.errors.PolicyError` for a policy), so a CLI or API reports it like any other bad
input; ``message`` starts with ``what`` (e.g. ``"policy file p.json is not valid JSON: Expecting value at line 1
column 1"``). :func:`load_file` reads at most ``max_bytes + 1`` bytes of a file first (I/O errors such as
:class:`FileNotFoundError` propagate unchanged).

Usage::

    from capfast import strict_json
    doc = strict_json.loads(body, what="token claims", error=TokenError, max_bytes=64 << 10)
    cfg = strict_json.load_file(path, what=f"config {path}", error=InvalidArgumentError)

Writing JSON is not this module's job: callers that hash or sign JSON define their own canonical form
(e.g. :mod:`capfast.lksg.serial` for cap-agent's compact form).
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from capfast._io import read_limited
from capfast.errors import InvalidArgumentError

__all__ = ["DEFAULT_MAX_BYTES", "MAX_DEPTH", "load_file", "loads"]

#: Default bound on the size of one document (bytes, or characters for ``str`` input).
DEFAULT_MAX_BYTES = 16 << 20
#: Default bound on nesting (an object or array inside another counts one level).
MAX_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Reject(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Reject(f"duplicate key {k[:80]!r}")
        out[k] = v
    return out


def _constant(name: str) -> Any:
    raise _Reject(f"{name} is not allowed")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Reject(f"number {text[:40]} overflows")
    return value


def _check_text(s: str) -> None:
    if not s.isascii() and _SURROGATE.search(s):
        raise _Reject("a string holds a lone surrogate escape (not encodable as UTF-8)")


def _walk(value: Any, max_depth: int) -> None:
    """Depth and string checks, iteratively (a hostile document cannot exhaust the Python stack here)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            if item and level >= max_depth:
                raise _Reject(f"nesting deeper than {max_depth}")
            for k, v in item.items():
                _check_text(k)
                stack.append((v, level + 1))
        elif isinstance(item, list):
            if item and level >= max_depth:
                raise _Reject(f"nesting deeper than {max_depth}")
            stack.extend((v, level + 1) for v in item)


def loads(
    data: bytes | bytearray | memoryview | str,
    *,
    what: str = "JSON document",
    error: type[Exception] = InvalidArgumentError,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse one JSON document strictly (see the module docstring); any failure raises ``error(f"{what} …")``."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, (bytes, str)):
        raise TypeError(f"expected bytes or str, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise error(f"{what} is larger than the {max_bytes}-byte limit")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
        _walk(value, max_depth)
    except UnicodeDecodeError:
        raise error(f"{what} is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise error(f"{what}: nesting too deep") from None
    except _Reject as exc:
        raise error(f"{what}: {exc}") from None
    except ValueError as exc:  # e.g. an integer literal over Python's int-parsing limit
        raise error(f"{what} is not valid JSON: {exc}") from None
    return value


def load_file(
    path: str | os.PathLike[str],
    *,
    what: str | None = None,
    error: type[Exception] = InvalidArgumentError,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Read (at most ``max_bytes``) and parse a JSON file with :func:`loads`; ``what`` defaults to the path.

    A file larger than ``max_bytes`` or a directory raises ``error``; other I/O errors propagate unchanged.
    """
    label = what if what is not None else os.fspath(path)
    data = read_limited(path, max_bytes, label, error)
    return loads(data, what=label, error=error, max_bytes=max_bytes, max_depth=max_depth)
