"""``dyndiet check``: run the property catalogue on designs and report counterexamples."""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from hypothesis import settings as hsettings

from dyndiet import patch_report
from dyndiet.designs import resolve_designs
from dyndiet.findings import findings_of
from dyndiet.generation import settle_constants
from dyndiet.options import (
    add_budget_options,
    add_target_options,
    check_corpus,
    positive_float,
    positive_int,
)
from dyndiet.pool import Pool, TaskFailed
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
from properties.catalogue import DesignRef, Property, Target, catalogue
from properties.footprint import measure
from properties.patch_check import check_patches
from properties.profiles import PROFILES, register_profiles
from properties.runner import (
    DEFAULT_PHASES,
    REPLAY_PHASES,
    SEARCH_PHASES,
    Budget,
    PropertyResult,
    explore_group,
    origin,
    run_property,
)
from properties.watchdog import DEFAULT_DEADLINE

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
                   help="also write report.{json,txt,md}, a pytest reproducer and a kernel-side "
                        "script per finding to DIR (rewritten as each design is checked)")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: one per CPU)")
    p.add_argument("--deadline", type=positive_float, default=DEFAULT_DEADLINE,
                   metavar="SECONDS",
                   help="design code using more CPU than this in one test case is a hang "
                        f"(a finding; default: {DEFAULT_DEADLINE:g})")
    p.add_argument("--job-timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="a worker still busy with one property after this is killed and "
                        "replaced (default: 300, or more for large budgets)")
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
    """The design's footprint against the baseline (:func:`properties.footprint.measure`)."""
    return dict(measure(design, target))


def budget_from(args: argparse.Namespace) -> tuple[Budget, str]:
    """The run's budget.  ``check`` is deterministic by default (the ``ci`` profile); under a
    random profile a seed is drawn here and printed, so the report's command replays it; the
    ``replay`` profile only replays what the example database holds (nothing new generated);
    ``nightly`` adds the ``target`` phase (:data:`~properties.runner.SEARCH_PHASES`)."""
    register_profiles()
    profile = args.profile or os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    if profile not in PROFILES:
        raise InputError(f"HYPOTHESIS_PROFILE={profile!r} is not one of {', '.join(PROFILES)}")
    base = hsettings.get_profile(profile)
    examples = args.max_examples or base.max_examples
    deadline = getattr(args, "deadline", DEFAULT_DEADLINE)
    if profile == "replay":
        return Budget(max_examples=examples, stateful_step_count=args.steps, seed=0,
                      database=base.database, derandomize=False, phases=REPLAY_PHASES,
                      deadline=deadline), profile
    seed = args.seed
    if seed is None and not base.derandomize:
        seed = random.SystemRandom().getrandbits(32)
    derandomize = seed is None
    phases = SEARCH_PHASES if profile == "nightly" else DEFAULT_PHASES
    return Budget(max_examples=examples, stateful_step_count=args.steps, seed=seed,
                  database=None if derandomize else base.database,
                  derandomize=derandomize, phases=phases, deadline=deadline), profile


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


@attrs.frozen
class _Task:
    """One job of a check: ``what`` is a property name, a group name, or ``footprint``."""

    design: int
    kind: str  # "property", "group" or "footprint"
    what: str


def _run_task(designs: Sequence[DesignRef], props: dict[str, Property], target: Target,
              budget: Budget, task: _Task) -> Any:
    design = designs[task.design]
    if task.kind == "group":
        members = [p for p in props.values() if p.group == task.what and p.applies(design)]
        return explore_group(task.what, members, design, target, budget)
    if task.kind == "footprint":
        try:
            return footprint(design, target)
        except InputError:
            raise
        except BaseException as exc:  # the design's own failure, reported, not fatal
            return {"error": origin(exc, design.source)}
    return run_property(props[task.what], design, target, budget)


def _error_result(prop: Property, design: DesignRef, target: Target,
                  reason: str) -> PropertyResult:
    return PropertyResult(prop.name, prop.kind, prop.claim, design.name, target, "error", 0,
                          0.0, error=reason)


class _Check:
    """The jobs of one ``check``: groups explored together first, properties one by one
    where a group found something, footprints; results gathered per design in catalogue
    order whatever order the workers finish in."""

    def __init__(self, designs: Sequence[DesignRef], props: Sequence[Property],
                 target: Target, budget: Budget, workers: int, job_limit: float) -> None:
        self.designs, self.props, self.target, self.budget = designs, props, target, budget
        self.by_name = {p.name: p for p in props}
        self.pool = Pool(workers, lambda t: _run_task(designs, self.by_name, target, budget, t),
                         lambda t: job_limit)
        self.results: list[dict[str, PropertyResult]] = [{} for _ in designs]
        self.footprints: list[dict[str, Any] | None] = [None for _ in designs]
        self.pending = [0 for _ in designs]
        for i, design in enumerate(designs):
            applies = [p for p in props if p.applies(design)]
            groups: dict[str, list[Property]] = {}
            for p in applies:
                if p.group is not None:
                    groups.setdefault(p.group, []).append(p)
            for p in applies:
                members = groups.get(p.group or "", [])
                if len(members) > 1:
                    if p is members[0]:
                        self._submit(_Task(i, "group", p.group or ""))
                else:
                    self._submit(_Task(i, "property", p.name))
            self._submit(_Task(i, "footprint", ""))

    def _submit(self, task: _Task, first: bool = False) -> None:
        self.pending[task.design] += 1
        self.pool.submit(task, first=first)

    def _take(self, task: _Task, result: Any) -> None:
        design = self.designs[task.design]
        got = self.results[task.design]
        if task.kind == "footprint":
            self.footprints[task.design] = (result if isinstance(result, dict) else
                                            {"error": getattr(result, "reason", str(result))})
        elif task.kind == "group":
            members = [p for p in self.props if p.group == task.what and p.applies(design)]
            decided = result if isinstance(result, tuple) else tuple(None for _ in members)
            for p, r in zip(members, decided, strict=True):
                if r is not None:
                    got[p.name] = r
                else:  # not decided by the group's run: on its own
                    self._submit(_Task(task.design, "property", p.name), first=True)
        elif isinstance(result, TaskFailed):
            got[task.what] = _error_result(self.by_name[task.what], design, self.target,
                                           result.reason)
        else:
            got[task.what] = result

    def run(self, done: Callable[[int, DesignRun], None]) -> None:
        """Run every job; ``done(i, run)`` as each design is complete, in design order."""
        reported = 0
        for task, result in self.pool.results():
            self.pending[task.design] -= 1
            self._take(task, result)
            while reported < len(self.designs) and self.pending[reported] == 0:
                done(reported, self.design_run(reported))
                reported += 1

    def design_run(self, i: int) -> DesignRun:
        got = self.results[i]
        ordered = tuple(got[p.name] for p in self.props if p.name in got)
        return DesignRun(self.designs[i], self.target, ordered, self.footprints[i] or {})


def _command(args: argparse.Namespace, budget: Budget, profile: str) -> list[str]:
    command = ["dyndiet", "check", *(args.designs or []), "--era", args.era, "--abi", args.abi,
               "--max-examples", str(budget.max_examples), "--steps", str(args.steps)]
    if budget.seed is not None and profile != "replay":
        command += ["--seed", str(budget.seed)]
    if profile != "ci":
        command += ["--profile", profile]
    for name in args.property:
        command += ["--property", name]
    if args.corpus:
        command += ["--corpus", args.corpus]
    return command


def run(args: argparse.Namespace) -> int:
    settle_constants()
    if args.patch:
        return run_patches(args)
    check_output_dir(args.output)
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
    tool = tool_info(command=_command(args, budget, profile), profile=profile,
                     max_examples=budget.max_examples, steps=args.steps,
                     seed=None if profile == "replay" else budget.seed)
    limit = args.job_timeout or max(300.0, budget.max_examples * (budget.deadline or 5.0))
    runs: list[DesignRun] = []

    def done(i: int, run_: DesignRun) -> None:
        runs.append(run_)
        found = findings_of(run_.results)
        errors = [r for r in run_.results if r.status == "error"]
        where: dict[str, list[str]] = {}
        for r in errors:
            where.setdefault(r.error or "", []).append(r.property)
        if "error" in run_.footprint:
            where.setdefault(str(run_.footprint["error"]), []).append("footprint")
        for message, places in where.items():  # one line per distinct error of the design
            bad.append(f"{run_.design.name}: {message} (in {', '.join(places)})")
            print(f"dyndiet check: {bad[-1]}", file=sys.stderr, flush=True)
        verdict = (f"{len(found)} finding{'s' if len(found) != 1 else ''}" if found
                   else "every property holds")
        if errors:
            verdict += f", {len(errors)} error{'s' if len(errors) != 1 else ''} of the design"
        if sys.stderr.isatty():  # progress for a person watching; a script gets the report
            print(f"dyndiet check: {run_.design.name}: {verdict}", file=sys.stderr, flush=True)
        if args.output:  # what is found is saved as it is found
            write_outputs(build_document(runs, tool), args.output)

    job = _Check(designs, props, target, budget, args.jobs or os.cpu_count() or 1, limit)
    interrupted: list[str] = []
    try:
        job.run(done)
    except KeyboardInterrupt:
        interrupted = [d.name for d in designs[len(runs):]]
    finally:
        job.pool.close()
    doc = build_document(runs, tool, interrupted)
    if args.output:
        write_outputs(doc, args.output)
    sys.stdout.write(render(doc, args.format))
    if interrupted:
        print(f"dyndiet check: interrupted; not checked: {', '.join(interrupted)}",
              file=sys.stderr)
        return 130
    if any(d["findings"] for d in doc["designs"]):
        return 1
    return 2 if bad else 0
