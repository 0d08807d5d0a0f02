"""``dyndiet fuzz``: a campaign with a time budget, parallel workers and a kept database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dyndiet.campaign import Campaign, Job, progress_printer
from dyndiet.designs import resolve_designs
from dyndiet.options import add_target_options, check_corpus, duration, positive_int
from dyndiet.report import exit_status, render
from model.errors import InputError
from properties.catalogue import Target, catalogue

HELP = "run a fuzz campaign for a time budget, keeping what it finds in an example database"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("designs", nargs="*", metavar="DESIGN",
                   help="a built-in design, 'seed', 'all' (default) or a design file path")
    p.add_argument("--budget", type=duration, required=True, metavar="DURATION",
                   help="wall time for the whole campaign, e.g. 90s, 10m, 8h")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="worker processes (default: 2)")
    p.add_argument("--db", metavar="PATH|redis://HOST:PORT",
                   help="example database (default: OUTPUT/db)")
    p.add_argument("--output", metavar="DIR", default="dyndiet-campaign",
                   help="where campaign.json, reports and reproducers go")
    p.add_argument("--steps", type=positive_int, default=30, help="rule steps per test case")
    p.add_argument("--property", action="append", default=[], metavar="NAME",
                   help="fuzz only this property (repeatable)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    add_target_options(p)


def run(args: argparse.Namespace) -> int:
    designs = resolve_designs(args.designs)
    props = catalogue(unlisted=bool(args.property))
    if args.property:
        names = {p.name for p in props}
        unknown = [n for n in args.property if n not in names]
        if unknown:
            raise InputError(f"unknown property {unknown[0]!r}")
        props = tuple(p for p in props if p.name in args.property)
    check_corpus(args.corpus)
    target = Target(era=args.era, abi=args.abi, corpus=args.corpus)
    jobs = [Job(p.name, d, target) for d in designs for p in props if p.applies(d)]
    if not jobs:
        raise InputError("nothing to fuzz: no property applies to these designs")
    out = Path(args.output)
    command = ["dyndiet", "fuzz", *args.designs, "--budget", f"{args.budget:g}s",
               "--workers", str(args.workers), "--output", str(out)]
    campaign = Campaign(jobs=jobs, budget_seconds=args.budget, workers=args.workers,
                        db_spec=args.db or str(out / "db"), outdir=out, steps=args.steps,
                        command=command)
    doc = campaign.run(progress_printer())
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    sys.stdout.write(render(doc, args.format))
    c = doc["campaign"]
    print(f"dyndiet fuzz: {c['jobs_done']}/{c['jobs']} jobs, "
          f"{len(c['counterexamples'])} distinct counterexample(s), "
          f"{'interrupted, ' if c['interrupted'] else ''}saved in {out / 'campaign.json'}",
          file=sys.stderr)
    status = exit_status(doc)
    if status == 0 and c["interrupted"]:
        return 130
    return status
