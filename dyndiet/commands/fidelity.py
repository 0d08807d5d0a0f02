"""``dyndiet fidelity``: hold the model against the real kernel files, built in user space."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from dyndiet.generation import settle_constants
from dyndiet.options import positive_int
from kernel.sources import DEFAULT_KERNEL, PACKAGED, kernel_source
from properties.profiles import register_profiles
from properties.runner import Budget

if TYPE_CHECKING:
    from properties.fidelity import AreaResult

#: The areas ``--area`` names (properties.fidelity.AREAS; the kernel layer loads only when the
#: command runs, so ``dyndiet --help`` does not pay for it).
AREAS: tuple[str, ...] = ("dyndbg", "zsmalloc")

HELP = ("hold the model against the kernel's own lib/dynamic_debug.c and mm/zsmalloc.c "
        "built in user space")


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--kernel", choices=PACKAGED, default=None,
                     help=f"Debian's linux-source-VERSION (default: {DEFAULT_KERNEL})")
    src.add_argument("--kernel-tree", metavar="DIR",
                     help="a kernel tree (git checkout or unpacked tarball), read in place")
    p.add_argument("--area", action="append", choices=AREAS, default=[],
                   help="dyndbg or zsmalloc (repeatable; default: both)")
    p.add_argument("--max-examples", type=positive_int, default=100,
                   help="test cases per area (default: 100)")
    p.add_argument("--steps", type=positive_int, default=30,
                   help="steps per test case (default: 30)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: derandomized, the same run every time)")
    p.add_argument("--sanitize", action="store_true",
                   help="build with -fsanitize=address,undefined (KASAN-like reports)")
    p.add_argument("--format", choices=("text", "json"), default="text")


def _command(args: argparse.Namespace, area: str) -> str:
    cmd = ["dyndiet", "fidelity"]
    if args.kernel_tree:
        cmd += ["--kernel-tree", args.kernel_tree]
    else:
        cmd += ["--kernel", args.kernel or DEFAULT_KERNEL]
    cmd += ["--area", area, "--max-examples", str(args.max_examples), "--steps", str(args.steps)]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    return shlex.join(cmd)


def render_text(results: list[AreaResult], args: argparse.Namespace) -> str:
    out: list[str] = []
    for r in results:
        out.append(f"{r.area}: {r.kernel} against the model's {r.model_era}: "
                   f"{r.test_cases} test cases, {r.steps} steps, {r.seconds:.1f}s")
        if r.error:
            out.append(f"  error: {r.error}")
        for d in r.disagreements:
            out.append(f"  DISAGREEMENT: {d.what}")
            for side, value in (("model ", d.model), ("kernel", d.kernel)):
                lines = value.splitlines() or [""]
                out.append(f"    {side}: {lines[0]}")
                out.extend(f"            {ln}" for ln in lines[1:])
            out.append(f"  after {len(d.steps)} steps:")
            for i, s in enumerate(d.steps, 1):
                out.extend(textwrap.wrap(s.call_text("state"), 96, initial_indent=f"    {i}. ",
                                         subsequent_indent="       "))
            if d.evidence:
                out.append("  the kernel printed:")
                out.extend(f"    {e}" for e in d.evidence)
            out.append(f"  reproduce: {_command(args, r.area)}")
    steps = sum(r.steps for r in results)
    found = sum(len(r.disagreements) for r in results)
    out.append(f"fidelity: {steps} steps, {found} disagreements")
    return "\n".join(out) + "\n"


def as_json(results: list[AreaResult], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "schema": "dyndiet.fidelity/1",
        "areas": [{
            "area": r.area, "kernel": r.kernel, "model_era": r.model_era,
            "test_cases": r.test_cases, "steps": r.steps, "seconds": round(r.seconds, 3),
            "error": r.error,
            "disagreements": [{"what": d.what, "model": d.model, "kernel": d.kernel,
                               "steps": [s.as_json() for s in d.steps],
                               "evidence": list(d.evidence),
                               "reproduce": _command(args, r.area)} for d in r.disagreements],
        } for r in results],
        "steps": sum(r.steps for r in results),
        "disagreements": sum(len(r.disagreements) for r in results),
    }


def run(args: argparse.Namespace) -> int:
    from properties.fidelity import run_area

    settle_constants()
    register_profiles()
    source = kernel_source(args.kernel, args.kernel_tree)
    budget = Budget(max_examples=args.max_examples, stateful_step_count=args.steps,
                    seed=args.seed, derandomize=args.seed is None)
    results: list[AreaResult] = []
    for area in args.area or list(AREAS):
        results.append(run_area(area, source, budget, sanitize=args.sanitize))
    if args.format == "json":
        sys.stdout.write(json.dumps(as_json(results, args), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(results, args))
    if any(r.error for r in results):
        return 2
    return 1 if any(r.disagreements for r in results) else 0
