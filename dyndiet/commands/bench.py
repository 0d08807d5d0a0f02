"""``dyndiet bench``: the speed figures, as rates and as ratios measured in one run."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil

import dyndiet.benchmarks as benchmarks
from dyndiet.benchmarks import Figure
from dyndiet.generation import settle_constants
from model.errors import InputError

HELP = "measure the model's and the state machines' speed (ratios measured in one run)"


def areas() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("area", nargs="*", help=f"which areas (default: all of {', '.join(areas())})")
    p.add_argument("--quick", action="store_true", help="shorter runs, rougher figures")
    p.add_argument("--json", action="store_true", help="print a JSON list of figures")


def run(args: argparse.Namespace) -> int:
    settle_constants()
    known = areas()
    for a in args.area:
        if a not in known:
            raise InputError(f"unknown benchmark area {a!r} (known: {', '.join(known)})")
    figures: list[Figure] = []
    for name in args.area or known:
        mod = importlib.import_module(f"dyndiet.benchmarks.{name}")
        figures.extend(mod.run(quick=args.quick))
    if args.json:
        print(json.dumps([f.as_json() for f in figures], indent=2))
        return 0
    for f in figures:
        aim = f"  (aim: {f.aim})" if f.aim else ""
        print(f"{f.area:<10} {f.name:<48} {f.value:>12,.2f} {f.unit}{aim}")
    return 0
