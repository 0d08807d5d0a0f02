"""Speed of the differential design machine (properties/dyndbg_machine.py): its rule steps per
second as a ratio to an empty ``RuleBasedStateMachine`` measured in the same run, and the time
Hypothesis needs to find the first counterexample for ``odd-tag-after`` (median over seeds)."""

from __future__ import annotations

import statistics
import time

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from dyndiet.benchmarks import Figure
from dyndiet.benchmarks.zsmalloc import EmptyMachine, steps_per_second
from model.designs import builtin_designs
from properties.catalogue import DesignRef, Target, get_property
from properties.dyndbg_machine import Check, dyndbg_machine
from properties.runner import Budget, run_property

AREA = "designs"


def machine_steps_per_second(design: str, examples: int) -> float:
    """Traced rule steps per second of the equivalence machine (both kernels) on ``design``."""
    ref = DesignRef(design, "built-in", builtin_designs()[design])
    cls = dyndbg_machine(ref, Target(), Check("equivalence", "print-decisions")).fresh_class(
        f"Bench_{design.replace('-', '_')}")
    s = settings(max_examples=examples, stateful_step_count=30, deadline=None,
                 derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    start = time.perf_counter()
    run_state_machine_as_test(cls, settings=s)
    elapsed = time.perf_counter() - start
    steps = sum(n for rule, n in cls.rule_counts.items() if ":" not in rule)  # not coverage
    return steps / elapsed


def time_to_counterexample(seed: int) -> float:
    """Seconds until the control-file property first fails on odd-tag-after (generation
    only: the shrink that follows is not part of "finding")."""
    ref = DesignRef("odd-tag-after", "built-in", builtin_designs()["odd-tag-after"])
    budget = Budget(max_examples=1000, stateful_step_count=30, seed=seed,
                    phases=(Phase.generate,))
    start = time.perf_counter()
    result = run_property(get_property("control-file"), ref, Target(), budget)
    elapsed = time.perf_counter() - start
    if result.status != "failed":
        return float("inf")
    return elapsed


def run(quick: bool) -> list[Figure]:
    examples = 20 if quick else 60
    rounds = 1 if quick else 3
    seeds = 5 if quick else 10
    best = {"empty": 0.0, "section": 0.0, "union-flag": 0.0}
    for _ in range(rounds):
        for design in ("section", "union-flag"):
            best["empty"] = max(best["empty"], steps_per_second(EmptyMachine, examples))
            best[design] = max(best[design], machine_steps_per_second(design, examples))
    figs = [Figure(AREA, "empty RuleBasedStateMachine", best["empty"], "steps/s")]
    for design in ("section", "union-flag"):
        figs.append(Figure(AREA, f"differential machine ({design} vs section)", best[design],
                           "steps/s"))
        figs.append(Figure(AREA, f"differential machine / empty machine ({design})",
                           100.0 * best[design] / best["empty"], "%", ">= 25%"))
    times = [time_to_counterexample(seed) for seed in range(seeds)]
    figs.append(Figure(AREA, f"odd-tag-after first counterexample (median of {seeds} seeds)",
                       statistics.median(times), "s", "< 2 s"))
    return figs
