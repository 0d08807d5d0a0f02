"""``dyndiet check``: run the property catalogue on designs and report counterexamples."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import random
import sys
from pathlib import Path
from typing import Any

from hypothesis import settings as hsettings

from dyndiet import patch_report
from dyndiet.designs import resolve_designs
from dyndiet.options import add_budget_options, add_target_options, check_corpus
from dyndiet.report import (
    DesignRun,
    build_document,
    output_dir,
    render,
    tool_info,
    write_outputs,
)
from kernel.patching import read_series
from kernel.sources import DEFAULT_KERNEL, PACKAGED, kernel_source
from model.errors import InputError
from properties.catalogue import DesignRef, Target, catalogue
from properties.patch_check import check_patches
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
    patch = p.add_argument_group(
        "checking a posted patch", "fuzz the patched kernel code against its base (the real "
        "lib/dynamic_debug.c and mm/zsmalloc.c built in user space) instead of designs")
    patch.add_argument("--patch", action="append", default=[], metavar="FILE",
                       help="a git format-patch file, an mbox holding a series, or a plain "
                            "diff (repeatable: applied in order)")
    src = patch.add_mutually_exclusive_group()
    src.add_argument("--kernel", choices=PACKAGED, default=None,
                     help=f"the base: Debian's linux-source-VERSION (default: {DEFAULT_KERNEL})")
    src.add_argument("--kernel-tree", metavar="DIR",
                     help="the base: a kernel tree, read in place (never written to)")
    patch.add_argument("--sanitize", action="store_true",
                       help="build with -fsanitize=address,undefined")


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


def check_output_dir(path: str | None) -> None:
    """``--output`` is checked before any work: it must be a directory that can be made."""
    if path is not None:
        output_dir(path)


def run_patches(args: argparse.Namespace) -> int:
    """``dyndiet check --patch FILE...``: the patched kernel against its base."""
    if args.designs:
        raise InputError("give designs or --patch, not both")
    check_output_dir(args.output)
    source = kernel_source(args.kernel, args.kernel_tree)
    patches = tuple(p for path in args.patch for p in read_series(path))
    budget, _profile = budget_from(args)
    result = check_patches(source, patches, budget, sanitize=args.sanitize)
    command = ["dyndiet", "check", *(x for path in args.patch for x in ("--patch", path))]
    command += (["--kernel-tree", args.kernel_tree] if args.kernel_tree
                else ["--kernel", args.kernel or DEFAULT_KERNEL])
    command += ["--max-examples", str(budget.max_examples), "--steps", str(args.steps)]
    if budget.seed is not None:
        command += ["--seed", str(budget.seed)]
    doc = patch_report.build_document(
        result, command=command, patch_paths=[str(Path(p).resolve()) for p in args.patch],
        kernel=None if args.kernel_tree else (args.kernel or DEFAULT_KERNEL),
        tree=args.kernel_tree,
        budget={"max_examples": budget.max_examples, "steps": args.steps,
                "seed": budget.seed if budget.seed is not None else "derandomized"})
    if args.output:
        patch_report.write_outputs(doc, args.output)
    sys.stdout.write(patch_report.render(doc, args.format))
    if any(c["status"] == "error" for c in doc["checks"]):
        return 2
    return 1 if doc["findings"] else 0


def run(args: argparse.Namespace) -> int:
    if args.patch:
        return run_patches(args)
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
