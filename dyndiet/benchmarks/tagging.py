"""Speed of the tagging checks: the exact scheme x domain search, Hypothesis on one cell (both
backends), and ``crosshair check`` on the safety claims.  The per-cell figure is also given as a
ratio of the exact search's rate to Hypothesis' on the same safe cell, measured in one run."""

from __future__ import annotations

import time
from pathlib import Path

from dyndiet.benchmarks import Figure, rate
from model.abi import ABI_NAMES, get_abi
from model.domains import all_domains, value_domains, zsmalloc_handles
from model.tagging import get_scheme, smallest_counterexample, verdicts
from properties.tagging import find_counterexample

AREA = "tagging"


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def run(quick: bool) -> list[Figure]:
    seconds = 0.3 if quick else 1.0
    x86 = get_abi("x86_64")
    abis = [get_abi(n) for n in ABI_NAMES]
    cells = sum(6 * len(all_domains(a)) for a in abis)

    def table() -> None:
        for a in abis:
            verdicts(a, all_domains(a))

    odd = get_scheme(x86, "odd")
    zs = zsmalloc_handles(x86)

    def exact_cell() -> None:
        smallest_counterexample(odd, zs)

    def hypothesis_cell() -> None:
        find_counterexample(odd, (zs,), max_examples=100)

    table_rate = rate(table, seconds=seconds)
    exact_rate = rate(exact_cell, seconds=seconds)
    hyp_rate = rate(hypothesis_cell, seconds=seconds)
    figures = [
        Figure(AREA, "exact table, all ABIs (cells/s)", table_rate * cells, "cells/s"),
        Figure(AREA, "exact search, one safe cell", exact_rate, "cells/s"),
        Figure(AREA, "hypothesis, one safe cell (100 cases)", hyp_rate, "cells/s"),
        Figure(AREA, "exact / hypothesis per safe cell", exact_rate / hyp_rate, "x"),
    ]
    domains = value_domains(x86)
    for backend in ("hypothesis", "crosshair"):
        t = _timed(lambda b=backend: find_counterexample(odd, domains, max_examples=100,
                                                         backend=b))
        figures.append(Figure(AREA, f"2020 finding, shrunk, {backend} backend", t, "s"))
    if not quick:
        from dyndiet.crosshair import check

        claims = str(Path(__file__).resolve().parents[2] / "model" / "tagging_claims.py")
        t = _timed(lambda: check([claims], per_condition_timeout=2.0))
        figures.append(Figure(AREA, "crosshair check tagging_claims.py (2 s/condition)", t, "s"))
    return figures
