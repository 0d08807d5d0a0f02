"""``dyndiet report FILE.json``: render a saved result again, in another format.

The file is checked before anything is rendered: at most :data:`MAX_REPORT_BYTES`, JSON, a
known ``schema``, and every field the renderers read present with its type
(:mod:`dyndiet.schema`); a problem is one line naming the JSON path, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from dyndiet.report import exit_status, load_document, render, write_outputs
from dyndiet.schema import validate_document
from model.errors import InputError

HELP = "render a saved report (report.json) as text, markdown or json"

#: Largest report read: a report of every design and property is some MiB.
MAX_REPORT_BYTES = 64 << 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--output", metavar="DIR", help="also write the report files and reproducers")


def read_report(path: str) -> dict[str, Any]:
    """The saved report at ``path``, validated against its schema's spec."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    if size > MAX_REPORT_BYTES:
        raise InputError(f"{size:,} bytes: larger than any report ({MAX_REPORT_BYTES >> 20} MiB)",
                         path=path)
    try:
        doc = load_document(path)
    except RecursionError:
        raise InputError("not a report: JSON nested too deeply", path=path) from None
    validate_document(doc, source=path)
    return doc


def run(args: argparse.Namespace) -> int:
    doc = read_report(args.file)
    if args.output:
        write_outputs(doc, args.output)
    sys.stdout.write(render(doc, args.format))
    return exit_status(doc)
