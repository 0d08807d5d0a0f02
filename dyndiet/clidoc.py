"""Write the command-line reference page (``docs/tool/cli.md``) from the parsers themselves.

``python -m dyndiet.clidoc > docs/tool/cli.md``; ``tests/test_clidoc.py`` checks that the page
is what this prints, so the reference stays true to the code.
"""

from __future__ import annotations

import argparse
import os

HEADER = """# Command-line reference

Every command prints one line on stderr and exits 2 on bad input (an unknown option, a bad
duration, a file that cannot be read); 0 means everything held, 1 a counterexample or finding
(and nothing else), 3 an internal error of dyndiet (one line; the traceback goes to a log under
`$DYNDIET_CACHE/logs` or `~/.cache/dyndiet/logs`, named in that line), 130 interrupted. This
page is generated from the parsers: `python -m dyndiet.clidoc`.
"""


def render() -> str:
    os.environ["COLUMNS"] = "88"
    from dyndiet.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    choices: dict[str, argparse.ArgumentParser] = sub.choices
    out = [HEADER]
    for name in COMMANDS:
        if name in choices:
            out.append(f"## dyndiet {name}\n\n```\n{choices[name].format_help().rstrip()}\n```\n")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
