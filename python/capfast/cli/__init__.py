"""The ``cap`` command line (console script ``cap = capfast.cli:main``).

Each command group is a module of this package exposing ``register(cli)``, which declares its commands with
:mod:`capfast.cli._command` (groups, commands, the shared flags ``--json``/``-o``/``--pubkey``/``--key``/
``--progress``, hidden aliases for old spellings); ``handler(args) -> int`` returns the exit code or raises
:class:`~capfast.cli._output.CliError`. To add a group, write ``cli/<name>.py`` and add its name to
:data:`COMMAND_MODULES` -- one line. Output, error and exit-code conventions live in :mod:`capfast.cli._output`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from capfast.cli._command import Commands
from capfast.cli._output import (
    EXIT_CODES,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_USAGE,
    CapArgumentParser,
    CliError,
    report_error,
)

__all__ = ["COMMANDS", "COMMAND_MODULES", "build_commands", "build_parser", "main"]

#: Command-group modules, in ``cap --help`` order. Add one line per new ``cli/<name>.py``.
COMMAND_MODULES: tuple[str, ...] = (
    "prepare",
    "commit",
    "audit",
    "keys",
    "sign",
    "pkg",
    "policy",
    "manifest",
    "proof",
    "export",
    "verifier",
    "registry",
    "project",
    "serve",
    "update",
    "token",
    "qr",
)


#: The modules that register each top-level command. ``cap CMD ...`` imports and registers only these, so a command
#: does not pay for every other command's parser and imports; ``tests/cli/test_cli_lazy.py`` keeps this table equal
#: to what the modules register. A command missing here still works (the full parser is built).
COMMANDS: dict[str, tuple[str, ...]] = {
    "prepare": ("prepare",), "commit": ("commit",), "prove": ("commit",), "verify-inclusion": ("commit",),
    "audit": ("audit",), "keys": ("keys",), "trust": ("keys", "pkg"), "sign": ("sign",), "build": ("pkg",),
    "verify": ("pkg",), "inspect": ("pkg",), "extract": ("pkg",), "diff": ("pkg",), "caps": ("pkg",),
    "policy": ("policy",), "manifest": ("manifest",), "proof": ("proof",), "export": ("export",),
    "verifier": ("verifier",), "registry": ("registry",), "project": ("project",), "serve": ("serve",),
    "update": ("update",), "rollback": ("update",), "publish": ("update",), "token": ("token",), "qr": ("qr",),
}


class _Version(argparse.Action):
    """``--version``, reading the package metadata only when asked (``importlib.metadata`` is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str = "show the version and exit") -> None:
        super().__init__(option_strings, dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from capfast import __version__

        sys.stdout.write(f"cap (capfast) {__version__}\n")  # on stdout, as argparse's own version action
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``cap`` parser: every command, or only the modules that register ``command`` when it is known."""
    return build_commands(command).parser


def build_commands(command: str | None = None) -> Commands:
    """The ``cap`` commands declared by the modules of :data:`COMMAND_MODULES` (all of them, or those that register
    ``command``; ``.parser`` is the root parser)."""
    codes = "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES.items())
    parser = CapArgumentParser(
        prog="cap",
        description="capfast: verifiable commitments over supplier lists, proofs of single rows, audit trails.",
        epilog=f"exit codes:\n{codes}\n\nRun 'cap COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version)
    cli = Commands(parser)
    wanted = COMMANDS.get(command or "", COMMAND_MODULES)
    for name in COMMAND_MODULES:
        if name in wanted:
            module = importlib.import_module(f"capfast.cli.{name}")
            module.register(cli)
    return cli


def _classify(exc: BaseException) -> tuple[int, str, str | None]:
    """Exit code, message and hint for an exception that escaped a command handler."""
    from capfast.errors import AuditLogError, CapfastError, CsvFormatError

    if isinstance(exc, CsvFormatError):
        return EXIT_USAGE, str(exc), "fix the CSV (RFC 4180, UTF-8, a header row, the same number of fields per row)"
    if isinstance(exc, AuditLogError):
        return EXIT_USAGE, f"audit log: {exc}", None
    if isinstance(exc, CapfastError):
        return EXIT_USAGE, str(exc), None
    if isinstance(exc, FileNotFoundError):
        return EXIT_IO, f"{exc.filename or ''}: no such file or directory".lstrip(": "), "check the path"
    if isinstance(exc, PermissionError):
        return EXIT_IO, f"{exc.filename or ''}: permission denied".lstrip(": "), None
    if isinstance(exc, IsADirectoryError):
        return EXIT_IO, f"{exc.filename or ''}: is a directory".lstrip(": "), "pass a file"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT_IO, f"{where}{exc.strerror or exc}", None
    if isinstance(exc, UnicodeDecodeError):
        return EXIT_USAGE, f"input is not valid UTF-8: {exc}", None
    return EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc}", "rerun with CAP_DEBUG=1 and report it"


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C, so temp files and staging directories are removed


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cap`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    if argv is None:  # the console script (not an in-process call): SIGTERM cleans up like Ctrl-C
        import signal

        signal.signal(signal.SIGTERM, _terminate)
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
        args = parser.parse_args(argv)
        as_json = bool(getattr(args, "json", False))
        func = getattr(args, "func", None)
        if func is None:
            raise CliError("no command given", EXIT_USAGE, "run 'cap --help' for the list of commands")
        return int(func(args) or 0)
    except CliError as exc:
        report_error(exc.message, exc.code, exc.hint, as_json=as_json)
        return exc.code
    except KeyboardInterrupt:
        report_error("interrupted", EXIT_INTERRUPTED, None, as_json=False)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (``cap ... | head``): not an error worth a message.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except Exception as exc:  # noqa: BLE001 - the one place that turns every failure into one line
        code, message, hint = _classify(exc)
        if code == EXIT_INTERNAL and os.environ.get("CAP_DEBUG"):
            import traceback

            traceback.print_exc()
        report_error(message, code, hint, as_json=as_json)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
