"""Rows of a CSV source, below both commitment schemes (:mod:`capfast.commit` and :mod:`capfast.cap_agent`).

:func:`iter_rows` yields the rows of a CSV path, bytes-like object or binary file as dicts, in capfast's one CSV
dialect (see :mod:`capfast.commit`): same errors (:class:`~capfast.errors.CsvFormatError` with ``kind``, ``line`` and
``file``), streamed chunk by chunk. The native core hashes rows but has no row iterator, so both backends read rows
with the twin's exact byte-level reader (``capfast._py.commit``), which the suite checks against the native core's
errors and leaves byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from capfast._py.commit import iter_csv_rows
from capfast.errors import CsvFormatError, InvalidArgumentError

__all__ = ["is_buffer", "iter_rows"]


def is_buffer(obj: object) -> bool:
    """Whether ``obj`` is bytes-like (supports the buffer protocol) and not a ``str``."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return True
    if isinstance(obj, str):
        return False
    try:
        memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def iter_rows(
    source: Any, columns: Sequence[str] | None = None, *, _limits: tuple[int, int] = (0, 0)
) -> Iterator[dict[str, str]]:
    """The rows of a CSV source (path, bytes-like or binary file) as dicts of the selected columns.

    Same dialect and errors as :func:`capfast.commit.commit` (streamed chunk by chunk). Keys follow header order.
    """
    path = None
    if isinstance(source, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(source))
        source = path
    elif not (is_buffer(source) or hasattr(source, "read")):
        raise InvalidArgumentError(
            "iter_rows needs a CSV path, bytes or a binary file object, not " + type(source).__name__
        )
    try:
        yield from iter_csv_rows(source, columns, *_limits)
    except CsvFormatError as e:
        if path is not None and e.file is None:
            raise e.with_file(path) from None
        raise
