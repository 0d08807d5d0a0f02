"""``dyndiet tagging``: the scheme x domain table of the handle-tagging schemes.

Each cell says whether a tagging scheme (model/tagging.py) is safe over a value domain
(model/domains.py) on an ABI, or gives the smallest value of the domain that breaks it, with the
section, alignment and ABI it comes from.  The search is exact (model.tagging.
smallest_counterexample); ``--hypothesis`` re-finds every cell with Hypothesis and shows whether
the two engines agree.  ``--diff OLD NEW`` runs ``crosshair diffbehavior`` on two versions of a
tagging helper.  Exit status: 1 when a shown cell is unsafe (or the two helpers differ), else 0.
"""

from __future__ import annotations

import argparse
import json
import re

from dyndiet.crosshair import diffbehavior
from model.abi import ABI_NAMES, DEFAULT_ABI, Abi, get_abi
from model.domains import Domain, all_domains
from model.errors import InputError
from model.tagging import SCHEME_KEYS, Verdict, get_scheme, smallest_counterexample

HELP = "scheme x domain table of the handle-tagging schemes (safe, or the smallest breaking value)"

#: The 2020 finding: the odd tag over short string literals on the diet's target (x86_64 -O2).
FINDING_2020 = ("odd", "str-short")
EVIDENCE_2020 = (
    "section/alignment: model/sections.py string_section (GCC 12, re-measured by "
    "tests/test_sections.py); odd pointers in a linked image: tests/test_tagging_toolchain.py; "
    "kernel: Jim Cromie's Nov 2020 count, 54% of modname / 40% of filename / 27% of format "
    "pointers odd on x86_64 (dyndbg.md §4.1); cover letter 25 Jul 2020: '%2 ... works fine "
    "before unionization, falls over afterwards'")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--abi", default=DEFAULT_ABI,
                   help=f"target ABI or 'all' (default {DEFAULT_ABI}; known: "
                        f"{', '.join(ABI_NAMES)})")
    p.add_argument("--os", dest="optimize_size", action="store_true",
                   help="pointer alignments of a -Os (CONFIG_CC_OPTIMIZE_FOR_SIZE) build")
    p.add_argument("--scheme", action="append", default=None,
                   help=f"only this scheme (repeatable; known: {', '.join(SCHEME_KEYS)})")
    p.add_argument("--domain", action="append", default=None,
                   help="only this domain key (repeatable; e.g. str-short, z3fold-headless)")
    p.add_argument("--hypothesis", action="store_true",
                   help="also find each cell's counterexample with Hypothesis and compare")
    p.add_argument("--diff", nargs=2, metavar=("OLD", "NEW"),
                   help="crosshair diffbehavior on two helper versions (dotted names, e.g. "
                        "model.tagging_patches.untag_sub model.tagging_patches.untag_mask)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _abis(name: str) -> list[Abi]:
    if name == "all":
        return [get_abi(n) for n in ABI_NAMES]
    return [get_abi(name)]


def _select(abi: Abi, args: argparse.Namespace) -> tuple[list[str], tuple[Domain, ...]]:
    keys = list(args.scheme or SCHEME_KEYS)
    for k in keys:
        get_scheme(abi, k)                      # InputError on an unknown scheme
    domains = all_domains(abi, args.optimize_size)
    if args.domain:
        known = {d.key for d in domains}
        for k in args.domain:
            if k not in known:
                raise InputError(f"unknown domain {k!r} on {abi.name} "
                                 f"(known: {', '.join(d.key for d in domains)})")
        domains = tuple(d for d in domains if d.key in args.domain)
    return keys, domains


def _cells(abi: Abi, keys: list[str], domains: tuple[Domain, ...]) -> list[Verdict]:
    out: list[Verdict] = []
    for k in keys:
        s = get_scheme(abi, k)
        out.extend(Verdict(s, d, smallest_counterexample(s, d)) for d in domains)
    return out


def _hypothesis_agrees(v: Verdict) -> bool:
    from properties.tagging import find_counterexample

    found = find_counterexample(v.scheme, (v.domain,), max_examples=100)
    exact = v.counterexample
    return (found is None and exact is None) or (
        found is not None and exact is not None and found.word == exact.value)


def _domain_json(d: Domain) -> dict[str, object]:
    lo, hi = d.span
    return {"key": d.key, "title": d.title, "role": d.role, "abi": d.abi,
            "section": d.section, "align": d.align, "era": d.era, "source": d.source,
            "lo": f"{lo:#x}", "hi": f"{hi:#x}", "count": d.count}


def _cell_json(v: Verdict, agrees: bool | None) -> dict[str, object]:
    cell: dict[str, object] = {"scheme": v.scheme.key, "domain": v.domain.key, "safe": v.safe,
                               "why": v.why()}
    c = v.counterexample
    if c is not None:
        cell["counterexample"] = {"value": f"{c.value:#x}", "index": c.index,
                                  "section": c.section, "align": c.align, "abi": c.abi,
                                  "property": c.prop, "detail": c.detail}
    if agrees is not None:
        cell["hypothesis_agrees"] = agrees
    return cell


def _finding(cells: list[Verdict]) -> Verdict | None:
    for v in cells:
        if (v.scheme.key, v.domain.key) == FINDING_2020:
            return v
    return None


def _print_text(abi: Abi, keys: list[str], domains: tuple[Domain, ...], cells: list[Verdict],
                agree: dict[tuple[str, str], bool], optimize_size: bool) -> None:
    opt = "-Os" if optimize_size else "-O2"
    print(f"== {abi.name} (GCC 12 {opt}, PAGE_OFFSET {abi.page_offset:#x})")
    width = max(len(d.key) for d in domains)
    print(f"  {'domain':<{width}}  " + "  ".join(f"{k:<13}" for k in keys))
    index = {(v.scheme.key, v.domain.key): v for v in cells}
    for d in domains:
        row = []
        for k in keys:
            v = index[(k, d.key)]
            mark = "ok" if v.safe else "UNSAFE"
            if agree and not agree[(k, d.key)]:
                mark += "!"
            row.append(f"{mark:<13}")
        print(f"  {d.key:<{width}}  " + "  ".join(row))
    print()
    for k in keys:
        s = get_scheme(abi, k)
        print(f"  {s.key}: {s.title}")
        print(f"    kernel:  {s.kernel}")
        print(f"    assumes: {s.assumes}")
        for v in cells:
            if v.scheme.key != k:
                continue
            d = v.domain
            if v.safe:
                print(f"    {d.key:<{width}} safe   ({d.section}, align {d.align_text})")
            else:
                c = v.counterexample
                assert c is not None
                print(f"    {d.key:<{width}} UNSAFE {c.value:#x} [{c.section}, align {c.align}, "
                      f"{c.abi}] {c.prop}: {c.detail}")
        print()
    f = _finding(cells)
    if f is not None:
        verdict = "safe" if f.safe else "UNSAFE"
        print(f"  2020 finding (odd tag once string pointers share the word): {verdict}")
        print(f"    {f.why()}")
        print(f"    evidence: {EVIDENCE_2020}")
        print()


_INT = re.compile(r"-?\d+")


def _as_words(text: str) -> str:
    """CrossHair's Python ints as the ``unsigned long`` words the helpers read."""
    return _INT.sub(lambda m: f"{int(m.group()) & ((1 << 64) - 1):#x}", text)


def _run_diff(old: str, new: str, as_json: bool) -> int:
    result = diffbehavior(old, new)
    if as_json:
        print(json.dumps({"old": old, "new": new, "same": result.same, "differences": [
            {"given": d.given, "given_words": _as_words(d.given),
             "results": [{"function": f, "result": r} for f, r in d.results]}
            for d in result.differences]}, indent=2))
        return 0 if result.same else 1
    if result.same:
        print(f"{old} and {new}: no differences found (crosshair diffbehavior)")
        return 0
    for d in result.differences:
        print(f"given {d.given}  (as words: {_as_words(d.given)})")
        for fn, res in d.results:
            print(f"  {fn}: {res}  ({_as_words(res)})")
    return 1


def run(args: argparse.Namespace) -> int:
    if args.diff:
        return _run_diff(args.diff[0], args.diff[1], args.json)
    unsafe = False
    report = []
    for abi in _abis(args.abi):
        keys, domains = _select(abi, args)
        cells = _cells(abi, keys, domains)
        agree = ({(v.scheme.key, v.domain.key): _hypothesis_agrees(v) for v in cells}
                 if args.hypothesis else {})
        unsafe = unsafe or any(not v.safe for v in cells)
        if args.json:
            f = _finding(cells)
            report.append({
                "abi": abi.name, "optimize_size": args.optimize_size,
                "schemes": [{"key": s.key, "title": s.title, "kernel": s.kernel,
                             "assumes": s.assumes}
                            for s in (get_scheme(abi, k) for k in keys)],
                "domains": [_domain_json(d) for d in domains],
                "cells": [_cell_json(v, agree.get((v.scheme.key, v.domain.key)))
                          for v in cells],
                "finding_2020": None if f is None else {
                    "safe": f.safe, "why": f.why(), "evidence": EVIDENCE_2020},
            })
        else:
            _print_text(abi, keys, domains, cells, agree, args.optimize_size)
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if unsafe else 0
