"""zsmalloc model speed: malloc+write+free cycles per second (both eras), and the pool state
machine's step rate as a ratio to an empty ``RuleBasedStateMachine`` measured in the same run."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from dyndiet.benchmarks import Figure, rate
from model.abi import get_abi
from model.context import GFP_KERNEL, KernelContext
from model.memory import AddressSpace
from model.zsmalloc import ERA_CURRENT, ERA_V58, ZsMapMode, zs_create_pool
from properties.zsmalloc_machine import machine_for

AREA = "zsmalloc"
SIZES = (24, 100, 300, 1000, 3000)


def cycles_per_second(era: str, seconds: float) -> float:
    """``zs_malloc`` + write (map WO/memcpy/unmap, or zs_obj_write) + ``zs_free``."""
    space = AddressSpace(get_abi("x86_64"))
    ctx = KernelContext()
    pool = zs_create_pool("bench", space, ctx, era=era)
    assert pool is not None
    # a resident population, so zspages are partly full as in real use
    keep = [pool.zs_malloc(s, GFP_KERNEL) for s in SIZES for _ in range(20)]
    data = {s: bytes(range(256)) * (s // 256) + bytes(s % 256) for s in SIZES}
    state = [0]
    wo = ZsMapMode.ZS_MM_WO
    write = space.write

    def cycle_v58() -> None:
        size = SIZES[state[0] % 5]
        state[0] += 1
        h = pool.zs_malloc(size, GFP_KERNEL)
        write(pool.zs_map_object(h, wo), data[size])
        pool.zs_unmap_object(h)
        pool.zs_free(h)

    def cycle_current() -> None:
        size = SIZES[state[0] % 5]
        state[0] += 1
        h = pool.zs_malloc(size, GFP_KERNEL)
        pool.zs_obj_write(h, data[size])
        pool.zs_free(h)

    def batch() -> None:
        fn = cycle_v58 if era == ERA_V58 else cycle_current
        for _ in range(100):
            fn()

    r = rate(batch, seconds=seconds) * 100
    assert len(keep) == 100
    return r


class EmptyMachine(RuleBasedStateMachine):
    """The baseline: one rule that does nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    @rule()
    def step(self) -> None:
        self.steps.append("step")


def steps_per_second(machine: type[RuleBasedStateMachine], examples: int) -> float:
    """Rule steps per second of ``machine`` under Hypothesis (generation, shrinking-free
    derandomized runs, invariants included).  ``machine`` records its steps in ``self.steps``."""
    runs: list[list[str]] = []

    class Counted(machine):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            runs.append(self.steps)

    s = settings(max_examples=examples, stateful_step_count=30, deadline=None,
                 derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))
    start = time.perf_counter()
    run_state_machine_as_test(Counted, settings=s)
    elapsed = time.perf_counter() - start
    return sum(len(r) for r in runs) / elapsed


def run(quick: bool) -> list[Figure]:
    """Both cycle rates, then the machines: each machine measured ``rounds`` times, interleaved
    with the empty machine, keeping the best of each (the machine is shared and noisy)."""
    seconds = 0.3 if quick else 1.5
    examples = 30 if quick else 100
    rounds = 1 if quick else 3
    figs = [Figure(AREA, f"malloc+write+free cycles ({era})", cycles_per_second(era, seconds),
                   "cycles/s", ">= 20,000") for era in (ERA_V58, ERA_CURRENT)]
    machines = {era: machine_for(era) for era in (ERA_V58, ERA_CURRENT)}
    best = {"empty": 0.0, ERA_V58: 0.0, ERA_CURRENT: 0.0}
    for _ in range(rounds):
        for era, m in machines.items():
            best["empty"] = max(best["empty"], steps_per_second(EmptyMachine, examples))
            best[era] = max(best[era], steps_per_second(m, examples))
    figs.append(Figure(AREA, "empty RuleBasedStateMachine", best["empty"], "steps/s"))
    for era in machines:
        figs.append(Figure(AREA, f"pool machine ({era})", best[era], "steps/s"))
        figs.append(Figure(AREA, f"pool machine / empty machine ({era})",
                           100.0 * best[era] / best["empty"], "%", ">= 50%"))
    return figs
