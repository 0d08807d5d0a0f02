"""The ``dyndiet`` command line.

Each subcommand is a module ``dyndiet.commands.<name>`` with ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``.  Exit status: 0 all good, 1 a counterexample or finding, 2 bad input
(one line on stderr, never a traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from dyndiet import __version__
from model.errors import InputError

#: Subcommands in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "check", "fuzz", "fidelity", "report", "layout", "classes", "tagging", "analyze", "bench",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _command_module(name: str) -> ModuleType | None:
    modname = f"dyndiet.commands.{name}"
    if importlib.util.find_spec(modname) is None:
        return None
    return importlib.import_module(modname)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="dyndiet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dyndiet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        mod = _command_module(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args))
    except InputError as exc:
        print(f"dyndiet {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dyndiet {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
