"""``dyndiet report FILE.json``: render a saved result again, in another format."""

from __future__ import annotations

import argparse
import sys

from dyndiet.report import exit_status, load_document, render, write_outputs

HELP = "render a saved report (report.json) as text, markdown or json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--output", metavar="DIR", help="also write the report files and reproducers")


def run(args: argparse.Namespace) -> int:
    doc = load_document(args.file)
    if args.output:
        write_outputs(doc, args.output)
    sys.stdout.write(render(doc, args.format))
    return exit_status(doc)
