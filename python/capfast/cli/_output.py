"""Shared plumbing for every ``cap`` command: options, output, errors, exit codes and the progress bar.

Conventions (all commands):

* ``--json`` prints one JSON document on stdout instead of the human text (errors too:
  ``{"ok": false, "exit_code": N, "error": "...", "hint": "..."}``);
* errors are one line on stderr, ``cap: error: <what> (hint: <what to do>)``, never a traceback
  (``CAP_DEBUG=1`` adds the traceback of unexpected errors);
* exit codes: see :data:`EXIT_CODES`;
* a progress bar is drawn on stderr for inputs of at least :data:`LARGE_INPUT_BYTES` when stderr is a
  terminal, or always with ``--progress`` (``--no-progress`` turns it off).

Options and commands are declared with :mod:`capfast.cli._command`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

__all__ = [
    "EXIT_CODES",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_IO",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VERIFY_FAILED",
    "LARGE_INPUT_BYTES",
    "CapArgumentParser",
    "CliError",
    "Progress",
    "emit",
    "file_size",
    "make_progress",
    "one_line",
    "report_error",
]

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2
EXIT_IO = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

#: Exit codes, documented in ``cap --help``.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_VERIFY_FAILED: "verification failed (a proof, root or log did not check out)",
    EXIT_USAGE: "usage error or bad input (unknown option, malformed CSV, bad key or proof file)",
    EXIT_IO: "I/O error (file missing or unreadable, output not writable)",
    EXIT_INTERNAL: "internal error (a bug: please report it with CAP_DEBUG=1 output)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

#: Inputs at least this large get a progress bar when stderr is a terminal.
LARGE_INPUT_BYTES = 64 * 1024 * 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """``text`` squeezed onto one line, with control characters (newlines, escape sequences) made visible."""
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text).strip()


class CliError(Exception):
    """An expected failure: ``message`` (one line), exit ``code``, optional ``hint`` telling what to do."""

    def __init__(self, message: str, code: int = EXIT_USAGE, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint


class CapArgumentParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose usage errors raise :class:`CliError` (one line, exit 2, hint to ``--help``)."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message, EXIT_USAGE, f"see '{self.prog} --help'")


def emit(args: argparse.Namespace, data: dict[str, Any], human: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON when ``--json`` was given, else the human text (a string or a callable)."""
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        text = human() if callable(human) else human
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def report_error(message: str, code: int, hint: str | None, *, as_json: bool) -> None:
    """Write the one-line error to stderr (and the JSON error document to stdout with ``--json``)."""
    line = f"cap: error: {one_line(message)}"
    if hint:
        line += f" (hint: {one_line(hint)})"
    try:
        if as_json:
            doc = {"ok": False, "exit_code": code, "error": one_line(message), "hint": hint}
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
            sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class Progress:
    """A progress bar on stderr, usable as the ``progress(bytes_done, total_or_None)`` callback of
    ``capfast.commit``. Redraws at most 10 times a second; :meth:`close` ends the line."""

    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        self._done = 0
        self._total: int | None = None

    def __call__(self, done: int, total: int | None = None) -> None:
        self._done, self._total = done, total
        now = time.monotonic()
        if now - self._last_draw < 0.1 and not (total is not None and done >= total):
            return
        self._last_draw = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = f"{_human_bytes(self._done / elapsed)}/s"
        if self._total:
            frac = min(max(self._done / self._total, 0.0), 1.0)
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = (
                f"\r{self.label} [{bar}] {frac * 100:5.1f}% "
                f"{_human_bytes(self._done)}/{_human_bytes(self._total)} {rate}"
            )
        else:
            text = f"\r{self.label} {_human_bytes(self._done)} {rate}"
        try:
            self.stream.write(text + "\x1b[K" if self.stream.isatty() else text)
            self.stream.flush()
            self._drawn = True
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Draw the final state and end the line (only if anything was drawn)."""
        if self._drawn:
            self._draw(time.monotonic())
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


def make_progress(args: argparse.Namespace, label: str, total_bytes: int | None) -> Progress | None:
    """A :class:`Progress` if one should be shown for an input of ``total_bytes``, else ``None``."""
    choice = getattr(args, "progress", None)
    if choice is False:
        return None
    if choice is None:
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty or total_bytes is None or total_bytes < LARGE_INPUT_BYTES:
            return None
    return Progress(label)


def file_size(path: str | os.PathLike[str]) -> int | None:
    """Size of a regular file, ``None`` for pipes and the like."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    import stat as _stat

    return st.st_size if _stat.S_ISREG(st.st_mode) else None
