"""capfast's exception tree. Every error capfast raises on purpose derives from :class:`CapfastError`.

Both backends raise the same classes: the native core maps its single Rust error enum onto these.
"""

from __future__ import annotations

__all__ = [
    "CapfastError",
    "InvalidArgumentError",
    "CsvFormatError",
    "ProofError",
]


class CapfastError(Exception):
    """Root of every capfast error."""


class InvalidArgumentError(CapfastError, ValueError):
    """A value outside a function's contract: wrong length, unknown hash name, index out of range."""


class CsvFormatError(CapfastError, ValueError):
    """A CSV source that violates capfast's dialect (RFC 4180, UTF-8, header row, rectangular rows).

    ``line`` is 1-based and counts physical lines (the header is line 1); ``kind`` is a short slug such as
    ``"ragged row"``; ``file`` is the path when the source was a file.
    """

    def __init__(self, message: str, line: int | None = None, kind: str | None = None, file: str | None = None):
        self.message = message
        self.line = line
        self.kind = kind
        self.file = file
        super().__init__(message, line, kind, file)

    def with_file(self, file: str | None) -> CsvFormatError:
        """A copy naming ``file`` (the native core does not know the path it was given bytes from)."""
        return CsvFormatError(self.message, self.line, self.kind, file)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:"
        if self.line is not None:
            where += f"{self.line}:" if self.file is not None else f"line {self.line}:"
        kind = f" {self.kind}:" if self.kind else ""
        return f"{where}{kind} {self.message}".strip()


class ProofError(CapfastError, ValueError):
    """A malformed proof or compact range (wrong sizes, wrong hash lengths, non-adjacent ranges)."""
