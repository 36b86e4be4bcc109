"""Declaring ``cap`` commands: the one way to add a command group, its commands and their options.

Every command module (``cli/<name>.py``, listed in :data:`capfast.cli.COMMAND_MODULES`) has ``register(cli)``, where
``cli`` is a :class:`Commands` set. A new group, e.g. ``cap token``::

    from capfast.cli._command import Commands

    def register(cli: Commands) -> None:
        token = cli.group("token", help="capability tokens: issue, verify, revoke",
                          description="Longer text shown by 'cap token --help'.")
        cmd = token.command("verify", run_verify, help="verify a token (exit 1 if it does not verify)")
        cmd.argument("token", help="the token, or - for stdin")
        cmd.pubkey("trusted issuer key", required=True)   # --pubkey
        cmd.output("write the verified claims here")       # -o/--output

    def run_verify(args: argparse.Namespace) -> int:
        ...                                    # return the exit code, or raise CliError

A top-level command (``cap prepare``) is ``cli.command(name, handler, ...)``. ``handler(args) -> int`` returns the
exit code or raises :class:`~capfast.cli._output.CliError` (see :mod:`capfast.cli._output` for output, errors and
exit codes).

The shared vocabulary (one spelling per flag across all commands):

* ``--json`` -- every command has it (added by :meth:`Group.command`; print with :func:`~capfast.cli._output.emit`);
* ``--progress`` / ``--no-progress`` -- shown where ``progress=True`` (long work); accepted and hidden elsewhere;
* ``-o/--output`` -- :meth:`Command.output`, on every command that writes a file or directory (``args.output``);
* ``--pubkey`` -- :meth:`Command.pubkey`, on every command that reads a public key (``args.pubkey``; a list with
  ``multiple=True``);
* ``--key`` -- :meth:`Command.secret_key`, on every command that reads a private key (``args.key``).

Old spellings stay accepted as **hidden aliases** (``hidden=("--out",)`` on any option, ``aliases=("keygen",)`` on
a command): they parse exactly like the new spelling but do not appear in ``--help``, so a user sees one way.
Passing both an option and its alias is a usage error. Nothing here reaches into argparse internals: hidden option
aliases are separate options in a mutually exclusive group with ``help=SUPPRESS``; hidden commands are sub-parsers
added without ``help`` (argparse lists only sub-parsers that have one); required options with aliases are required
groups.

The rest of the API: :meth:`Command.argument` (positionals, plain options), :meth:`Command.option` (an option with
hidden old spellings), :meth:`Command.one_of` (options that exclude each other), :meth:`Group.alias` (a hidden name,
possibly in another group, for an existing command: ``cap trust attest`` is ``cap keys attest``), and
:meth:`Group.walk` (every visible command, used by the tests).

Checklist for a new command: declare it here; give it ``-o``/``--pubkey``/``--key`` through the methods above, never
with hand-written flags; list it in ``WRITERS``/``PUBKEY_READERS`` of ``tests/cli/test_vocabulary.py`` when it writes
or reads a public key (that test checks every command for ``--json`` and the one spelling); document it in the
README's command list.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from capfast.cli._output import LARGE_INPUT_BYTES, CapArgumentParser

__all__ = ["Command", "Commands", "Group", "Handler"]

Handler = Callable[[argparse.Namespace], int]


class Command:
    """One command: its parser plus the parsers of its hidden aliases; every option is added to all of them."""

    def __init__(self, parsers: list[argparse.ArgumentParser], progress: bool) -> None:
        self._parsers: list[argparse.ArgumentParser] = []
        self._steps: list[Callable[[argparse.ArgumentParser], None]] = []
        self.progress = progress
        self.handler: Handler | None = None
        self.defaults: dict[str, Any] = {}
        self.prog = ""
        for p in parsers:
            self._attach(p)

    @property
    def parser(self) -> argparse.ArgumentParser:
        """The command's visible parser (its hidden aliases parse the same options)."""
        return self._parsers[0]

    def _attach(self, p: argparse.ArgumentParser) -> None:
        """Give ``p`` (a new hidden alias) the common options and every option declared so far."""
        self._parsers.append(p)
        self._common(p)
        for step in self._steps:
            step(p)

    def _apply(self, step: Callable[[argparse.ArgumentParser], None]) -> Command:
        self._steps.append(step)
        for p in self._parsers:
            step(p)
        return self

    def _common(self, p: argparse.ArgumentParser) -> None:
        """``--json`` and ``--progress``/``--no-progress`` (shown only where the command has long work)."""
        out = p.add_argument_group("output")
        out.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of text")
        progress_help = (
            f"progress bar on stderr (default: only for inputs of {LARGE_INPUT_BYTES >> 20} MiB or more when stderr "
            "is a terminal)"
        )
        out.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help=progress_help if self.progress else argparse.SUPPRESS)

    def argument(self, *flags: str, **kwargs: Any) -> Command:
        """``add_argument`` on the command (and its aliases): a positional or an option without hidden aliases."""
        def step(p: argparse.ArgumentParser) -> None:
            p.add_argument(*flags, **kwargs)

        return self._apply(step)

    def one_of(self, *options: tuple[tuple[str, ...], dict[str, Any]], required: bool = False) -> Command:
        """Options that exclude each other (``((flags...), add_argument_kwargs)`` each); ``required``: one of them
        must be given."""
        def step(p: argparse.ArgumentParser) -> None:
            group = p.add_mutually_exclusive_group(required=required)
            for flags, kwargs in options:
                group.add_argument(*flags, **kwargs)

        return self._apply(step)

    def option(self, *flags: str, hidden: Sequence[str] = (), **kwargs: Any) -> Command:
        """An option whose old spellings ``hidden`` still parse (same ``dest``) but are not shown in ``--help``."""
        if not hidden:
            return self.argument(*flags, **kwargs)
        required = bool(kwargs.pop("required", False))
        dest = kwargs.get("dest") or next(f for f in flags if f.startswith("--")).lstrip("-").replace("-", "_")
        kwargs["dest"] = dest
        alias_kwargs = {k: v for k, v in kwargs.items() if k in ("action", "type", "nargs", "choices", "const",
                                                                 "metavar", "dest")}
        def step(p: argparse.ArgumentParser) -> None:
            group = p.add_mutually_exclusive_group(required=required)
            group.add_argument(*flags, **kwargs)
            for alias in hidden:
                group.add_argument(alias, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **alias_kwargs)

        return self._apply(step)

    def output(
        self,
        help: str,
        *,
        required: bool = False,
        default: Any = None,
        metavar: str = "PATH",
        hidden: Sequence[str] = ("--out",),
        type: Callable[[str], Any] | None = None,
    ) -> Command:
        """``-o/--output``: where the command writes (``args.output``)."""
        from pathlib import Path

        return self.option("-o", "--output", hidden=hidden, required=required, default=default, metavar=metavar,
                           type=type or Path, help=help)

    def pubkey(
        self, help: str, *, required: bool = False, multiple: bool = False, hidden: Sequence[str] = ("--pub-key",),
    ) -> Command:
        """``--pubkey``: a public key file to verify with (``args.pubkey``; a list, repeatable, with ``multiple``)."""
        from pathlib import Path

        if multiple:
            return self.option("--pubkey", hidden=hidden, action="append", type=Path, default=[], required=required,
                               metavar="KEY", help=help + " (repeatable)")
        return self.option("--pubkey", hidden=hidden, type=Path, default=None, required=required, metavar="KEY",
                           help=help)

    def secret_key(self, help: str, *, required: bool = True, hidden: Sequence[str] = ()) -> Command:
        """``--key``: a private key file to sign with (``args.key``)."""
        from pathlib import Path

        return self.option("--key", hidden=hidden, type=Path, default=None, required=required, metavar="KEY",
                           help=help)


class Group:
    """A set of sub-commands under one parser (the root ``cap`` parser, or a group such as ``cap keys``)."""

    def __init__(self, parser: argparse.ArgumentParser, dest: str, metavar: str) -> None:
        self.parser = parser
        self._sub = parser.add_subparsers(dest=dest, metavar=metavar, parser_class=CapArgumentParser)
        self._groups: dict[str, Group] = {}
        #: The visible commands of this group by name (hidden aliases are not listed).
        self.commands: dict[str, Command] = {}

    def command(
        self,
        name: str,
        handler: Handler,
        *,
        help: str,
        description: str | None = None,
        aliases: Sequence[str] = (),
        alias_defaults: dict[str, Any] | None = None,
        progress: bool = False,
        **defaults: Any,
    ) -> Command:
        """A command ``name`` running ``handler``; ``aliases`` are hidden names that parse the same options (with
        ``alias_defaults`` applied, e.g. a different default format for an old command name)."""
        desc = description or (help[:1].upper() + help[1:] + ".")
        main = self._sub.add_parser(name, help=help, description=desc)
        main.set_defaults(func=handler, **defaults)
        cmd = Command([main], progress)
        cmd.handler, cmd.defaults, cmd.prog = handler, dict(defaults), main.prog
        self.commands[name] = cmd
        for alias in aliases:
            self.alias(alias, cmd, **(alias_defaults or {}))
        return cmd

    def alias(self, name: str, command: Command, **defaults: Any) -> None:
        """A hidden command ``name`` in this group that parses exactly like ``command`` (which may belong to another
        group) and runs its handler, with ``defaults`` on top of the command's own."""
        note = f"Old name of '{command.prog}' (same options; see '{command.prog} --help')."
        p = self._sub.add_parser(name, description=note)
        p.set_defaults(func=command.handler, **{**command.defaults, **defaults})
        command._attach(p)

    def walk(self) -> list[tuple[str, Command]]:
        """Every visible command below this group as ``("keys generate", command)``, in declaration order."""
        out = [(name, cmd) for name, cmd in self.commands.items()]
        for gname, group in self._groups.items():
            out += [(f"{gname} {name}", cmd) for name, cmd in group.walk()]
        return out

    def group(self, name: str, *, help: str, description: str | None = None) -> Group:
        """The command group ``name`` (created on first use; later calls return the same group)."""
        if name not in self._groups:
            parser = self._sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:])
            group = Group(parser, dest=f"{name.replace('-', '_')}_command", metavar="SUBCOMMAND")
            group._sub.required = True
            self._groups[name] = group
        return self._groups[name]


class Commands(Group):
    """The root ``cap`` command set handed to every ``register(cli)``."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser, dest="command", metavar="COMMAND")
