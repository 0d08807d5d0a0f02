"""``dyndiet check``: run the property catalogue on designs and report counterexamples."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import random
import sys
from typing import Any

from hypothesis import settings as hsettings

from dyndiet.designs import resolve_designs
from dyndiet.options import add_budget_options, add_target_options, check_corpus
from dyndiet.report import DesignRun, build_document, render, tool_info, write_outputs
from model.errors import InputError
from properties.catalogue import DesignRef, Target, catalogue
from properties.profiles import register_profiles
from properties.runner import Budget, PropertyResult, run_property

HELP = "check designs (built-in names, 'seed', or design files) against every property"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("designs", nargs="*", metavar="DESIGN",
                   help="a built-in design, 'seed', 'all' (default) or a design file path")
    add_target_options(p)
    add_budget_options(p)
    p.add_argument("--property", action="append", default=[], metavar="NAME",
                   help="check only this property (repeatable)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--output", metavar="DIR",
                   help="also write report.{json,txt,md} and reproducer files to DIR")


def footprint(design: DesignRef, target: Target) -> dict[str, Any]:
    """The design's footprint against the baseline, if the footprint probe is available."""
    if importlib.util.find_spec("properties.footprint") is None:
        return {}
    probe = importlib.import_module("properties.footprint")
    result: dict[str, Any] = probe.measure(design, target)
    return result


def budget_from(args: argparse.Namespace) -> tuple[Budget, str]:
    """The run's budget.  ``check`` is deterministic by default (the ``ci`` profile); under a
    random profile a seed is drawn here and printed, so the report's command replays it."""
    register_profiles()
    profile = args.profile or os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    base = hsettings.get_profile(profile)
    examples = args.max_examples or base.max_examples
    seed = args.seed
    if seed is None and not base.derandomize:
        seed = random.SystemRandom().getrandbits(32)
    derandomize = seed is None
    return Budget(max_examples=examples, stateful_step_count=args.steps, seed=seed,
                  database=None if derandomize else base.database,
                  derandomize=derandomize), profile


def run(args: argparse.Namespace) -> int:
    bad: list[str] = []
    designs: list[DesignRef] = []
    for arg in args.designs or ["all"]:
        try:
            designs.extend(resolve_designs([arg]))
        except InputError as exc:
            bad.append(str(exc))
            print(f"dyndiet check: {exc}", file=sys.stderr)
    props = catalogue(unlisted=bool(args.property))
    if args.property:
        names = {p.name for p in props}
        for n in args.property:
            if n not in names:
                raise InputError(f"unknown property {n!r} (known: {', '.join(sorted(names))})")
        props = tuple(p for p in props if p.name in args.property)
    check_corpus(args.corpus)
    budget, profile = budget_from(args)
    target = Target(era=args.era, abi=args.abi, corpus=args.corpus)
    runs = []
    for design in designs:
        results: list[PropertyResult] = []
        for prop in props:
            if not prop.applies(design):
                continue
            result = run_property(prop, design, target, budget)
            results.append(result)
            if result.status == "error":
                bad.append(f"{design.name}: {prop.name}: {result.error}")
                print(f"dyndiet check: {design.name}: {prop.name}: {result.error}",
                      file=sys.stderr)
        try:
            fp = footprint(design, target)
        except Exception as exc:  # the design's own failure, reported, not fatal
            fp = {"error": f"{type(exc).__name__}: {exc}"}
        runs.append(DesignRun(design, target, tuple(results), fp))
    command = ["dyndiet", "check", *(args.designs or []), "--era", args.era, "--abi", args.abi,
               "--max-examples", str(budget.max_examples), "--steps", str(args.steps)]
    if budget.seed is not None:
        command += ["--seed", str(budget.seed)]
    for name in args.property:
        command += ["--property", name]
    if args.corpus:
        command += ["--corpus", args.corpus]
    doc = build_document(runs, tool_info(command=command, profile=profile,
                                         max_examples=budget.max_examples,
                                         steps=args.steps, seed=budget.seed))
    if args.output:
        write_outputs(doc, args.output)
    sys.stdout.write(render(doc, args.format))
    if bad:
        return 2
    failed = any(r.status == "failed" for run_ in runs for r in run_.results)
    return 1 if failed else 0
