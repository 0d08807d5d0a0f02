"""``dyndiet fuzz``: a campaign with a time budget on a Dask cluster, resumable, with a page."""

from __future__ import annotations

import argparse
import sys

from dyndiet.campaign import (
    Campaign,
    Job,
    campaign_text,
    check_scheduler,
    progress_printer,
)
from dyndiet.campaign_engine import open_database
from dyndiet.designs import resolve_designs
from dyndiet.generation import settle_constants
from dyndiet.options import (
    add_target_options,
    check_corpus,
    duration,
    positive_float,
    positive_int,
)
from dyndiet.report import exit_status, output_dir, render
from model.errors import InputError
from properties.catalogue import Target, catalogue

HELP = ("run a fuzz campaign for a time budget (resumable, on a Dask cluster), keeping what it "
        "finds in an example database")


def _non_negative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("designs", nargs="*", metavar="DESIGN",
                   help="a built-in design, 'seed', 'all' (default) or a design file path")
    p.add_argument("--budget", type=duration, required=True, metavar="DURATION",
                   help="wall time for this run, e.g. 90s, 10m, 8h")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="worker processes of the local cluster (default: 2)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the chunks on this Dask scheduler's workers instead of a local "
                        "cluster")
    p.add_argument("--db", metavar="PATH|redis://HOST:PORT",
                   help="example database (default: OUTPUT/db)")
    p.add_argument("--output", metavar="DIR", default="dyndiet-campaign",
                   help="the campaign: its state, campaign.json, campaign.html, reports and "
                        "reproducers; a second run on it continues the campaign")
    p.add_argument("--steps", type=positive_int, default=30, help="rule steps per test case")
    p.add_argument("--property", action="append", default=[], metavar="NAME",
                   help="fuzz only this property (repeatable)")
    p.add_argument("--seed", type=int, default=None,
                   help="a new campaign's seed (default: random; a campaign keeps its own)")
    p.add_argument("--trace-every", type=_non_negative_int, default=4, metavar="N",
                   help="record branch coverage on every Nth chunk of a job (0: never; "
                        "default 4; a traced chunk runs about 2x slower)")
    p.add_argument("--hang-after", type=positive_float, default=5.0, metavar="SECONDS",
                   help="a design making no progress this long hangs (default: 5)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    add_target_options(p)


def run(args: argparse.Namespace) -> int:
    settle_constants()
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
    out = output_dir(args.output)
    db_spec = args.db or str(out / "db")
    open_database(db_spec)  # one line, exit 2, before any work
    if args.scheduler:
        check_scheduler(args.scheduler)
    command = ["dyndiet", "fuzz", *args.designs, "--budget", f"{args.budget:g}s",
               "--output", str(out)]
    command += ["--scheduler", args.scheduler] if args.scheduler else [
        "--workers", str(args.workers)]
    campaign = Campaign(jobs=jobs, budget_seconds=args.budget, workers=args.workers,
                        db_spec=db_spec, outdir=out, steps=args.steps, command=command,
                        scheduler=args.scheduler, seed=args.seed,
                        trace_every=args.trace_every, hang_after=args.hang_after)
    doc = campaign.run(progress_printer())
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    text = render(doc, args.format)
    if args.format == "text":
        text += campaign_text(doc)
    sys.stdout.write(text)
    c = doc["campaign"]
    never = len(c["never_reached"])
    print(f"dyndiet fuzz: {c['jobs_reached']}/{c['jobs']} jobs reached"
          + (f" ({never} never reached)" if never else " (every job got a chunk)")
          + f", {c['test_cases']:,} test cases, "
          f"{len(c['counterexamples'])} distinct counterexample(s), "
          f"{'interrupted, ' if c['interrupted'] else ''}saved in {out / 'campaign.json'} "
          f"and {out / 'campaign.html'}",
          file=sys.stderr)
    status = exit_status(doc)
    if status == 0 and c["interrupted"]:
        return 130
    return status
