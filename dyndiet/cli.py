"""The ``dyndiet`` command line.

Each subcommand is a module ``dyndiet.commands.<name>`` with ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``.  Exit status:

* 0: all good;
* 1: a counterexample or finding (and nothing else);
* 2: bad input: one line on stderr naming it, never a traceback;
* 3: an internal error of dyndiet itself (any exception a command lets out, RecursionError and
  MemoryError included): one line ``dyndiet CMD: internal error: TYPE: message (traceback in
  PATH)`` on stderr, the traceback in a log file under ``$DYNDIET_CACHE/logs`` (else
  ``$XDG_CACHE_HOME/dyndiet/logs``, ``~/.cache/dyndiet/logs``);
* 130: interrupted (SIGINT).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from dyndiet import __version__
from model.errors import InputError

#: Subcommands in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "check", "fuzz", "fidelity", "report", "layout", "classes", "tagging", "analyze", "bench",
)

#: Exit statuses (see the module docstring).
EXIT_OK, EXIT_FINDING, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _command_module(name: str) -> ModuleType | None:
    modname = f"dyndiet.commands.{name}"
    if importlib.util.find_spec(modname) is None:
        return None
    return importlib.import_module(modname)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (``only``) just the one command about to run: its module
    alone is imported, so ``dyndiet classes`` does not pay for Hypothesis."""
    parser = OneLineParser(prog="dyndiet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dyndiet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        mod = _command_module(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def log_dir() -> Path:
    """Where internal errors' tracebacks go: ``$DYNDIET_CACHE/logs``, else
    ``$XDG_CACHE_HOME/dyndiet/logs``, else ``~/.cache/dyndiet/logs``."""
    env = os.environ.get("DYNDIET_CACHE")
    if env:
        return Path(env) / "logs"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dyndiet" / "logs"


def internal_error(command: str, exc: BaseException, argv: Sequence[str]) -> str:
    """The one line for an internal error of dyndiet; its traceback is written to a log."""
    text = "".join(traceback.format_exception(exc))
    try:
        d = log_dir()
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{command or 'dyndiet'}.log"
        path.write_text(f"dyndiet {' '.join(argv)}\n\n{text}")
        where = f"traceback in {path}"
    except OSError as err:
        where = f"traceback not saved: {err.strerror or err}"
    message = " ".join(str(exc).split())
    if len(message) > 200:
        message = message[:197] + "..."
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{_prog(command)}: internal error: {detail} ({where})"


def _prog(command: str) -> str:
    return f"dyndiet {command}" if command else "dyndiet"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = ""
    try:
        first = next((a for a in argv if not a.startswith("-")), None)
        parser = build_parser(first if first in COMMANDS else None)
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            raise InputError(f"no command given (one of: {', '.join(COMMANDS)}; "
                             "dyndiet --help says what each does)")
        command = args.command
        return int(args._run(args))
    except InputError as exc:
        print(f"{_prog(command)}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"{_prog(command)}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal error (RecursionError, MemoryError included)
        print(internal_error(command, exc, argv), file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
