"""zsmalloc model speed: malloc+write+free cycles per second (both eras), and the pool state
machine's step rate as a ratio to an empty ``RuleBasedStateMachine`` measured in the same run."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from dyndiet.benchmarks import Figure
from model.abi import get_abi
from model.context import GFP_KERNEL, KernelContext
from model.memory import AddressSpace
from model.zsmalloc import ERA_CURRENT, ERA_V58, ZsMapMode, zs_create_pool
from properties.zsmalloc_machine import ACCESS_HOW, MALLOC_HOW, machine_for

AREA = "zsmalloc"
SIZES = (24, 100, 300, 1000, 3000)


def cycles_per_second(era: str, seconds: float) -> float:
    """``zs_malloc`` + write (map WO/memcpy/unmap, or zs_obj_write) + ``zs_free`` per CPU
    second, sizes 24..3000 in turn, with 100 resident objects in the pool."""
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

    calls = 0
    start = time.process_time()
    while True:  # CPU time, like the machine figures: other processes do not skew it
        batch()
        calls += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds and calls >= 3:
            break
    assert len(keep) == 100
    return calls * 100 / elapsed


class EmptyMachine(RuleBasedStateMachine):
    """The baseline: one rule that does nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    @rule()
    def step(self) -> None:
        self.steps.append("step")


class ShapeMachine(RuleBasedStateMachine):
    """The pool machine's rules and argument strategies with empty bodies: the part of a step
    that is Hypothesis's own work (the ceiling for the pool machine's ratio)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    @rule(size=st.one_of(st.integers(1, 4096), st.sampled_from([0, 3257, 4097])),
          how=st.sampled_from(MALLOC_HOW))
    def malloc(self, size: int, how: object) -> None:
        self.steps.append("malloc")

    @rule(size=st.sampled_from([24, 200, 1000]), count=st.integers(1, 12),
          compact=st.booleans())
    def fragment(self, size: int, count: int, compact: bool) -> None:
        self.steps.append("fragment")

    @precondition(lambda self: bool(self.steps))
    @rule(i=st.integers(0, 1 << 16))
    def free(self, i: int) -> None:
        self.steps.append("free")

    @precondition(lambda self: bool(self.steps))
    @rule(i=st.integers(0, 1 << 16), how=st.sampled_from(ACCESS_HOW))
    def access(self, i: int, how: object) -> None:
        self.steps.append("access")

    @precondition(lambda self: bool(self.steps))
    @rule(i=st.integers(0, 1 << 16))
    def hold_or_release(self, i: int) -> None:
        self.steps.append("hold")

    @rule()
    def switch_cpu(self) -> None:
        self.steps.append("switch_cpu")

    @rule()
    def compact(self) -> None:
        self.steps.append("compact")

    @precondition(lambda self: bool(self.steps))
    @rule(i=st.integers(0, 1 << 16))
    def migrate(self, i: int) -> None:
        self.steps.append("migrate")

    @invariant()
    def invariants_hold(self) -> None:
        pass


def steps_per_second(machine: type[RuleBasedStateMachine], examples: int) -> float:
    """Rule steps per CPU second of ``machine`` under Hypothesis (generation, shrinking-free
    derandomized runs, invariants included).  CPU time, not wall time, so other processes on a
    shared machine do not skew the ratio.  ``machine`` records its steps in ``self.steps``."""
    runs: list[list[str]] = []

    class Counted(machine):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            runs.append(self.steps)

    s = settings(max_examples=examples, stateful_step_count=30, deadline=None,
                 derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))
    start = time.process_time()
    run_state_machine_as_test(Counted, settings=s)
    elapsed = time.process_time() - start
    return sum(len(r) for r in runs) / elapsed


def run(quick: bool) -> list[Figure]:
    """Both cycle rates, then the machines (steps per CPU second): each measured ``rounds``
    times, interleaved with the empty machine, keeping the best of each.  The "same rules with
    empty bodies" figure is the ceiling Hypothesis itself puts on the pool machine's ratio."""
    seconds = 0.3 if quick else 1.5
    examples = 30 if quick else 100
    rounds = 1 if quick else 3
    figs = [Figure(AREA, f"malloc+write+free cycles ({era})", cycles_per_second(era, seconds),
                   "cycles/s", ">= 20,000") for era in (ERA_V58, ERA_CURRENT)]
    machines: dict[str, type[RuleBasedStateMachine]] = {
        era: machine_for(era) for era in (ERA_V58, ERA_CURRENT)}
    machines["shape"] = ShapeMachine
    best = {"empty": 0.0, ERA_V58: 0.0, ERA_CURRENT: 0.0, "shape": 0.0}
    for _ in range(rounds):
        for key, m in machines.items():
            best["empty"] = max(best["empty"], steps_per_second(EmptyMachine, examples))
            best[key] = max(best[key], steps_per_second(m, examples))
    figs.append(Figure(AREA, "empty RuleBasedStateMachine", best["empty"], "steps/s"))
    figs.append(Figure(AREA, "same rules with empty bodies / empty machine",
                       100.0 * best["shape"] / best["empty"], "%"))
    for era in (ERA_V58, ERA_CURRENT):
        figs.append(Figure(AREA, f"pool machine ({era})", best[era], "steps/s"))
        figs.append(Figure(AREA, f"pool machine / empty machine ({era})",
                           100.0 * best[era] / best["empty"], "%", ">= 50%"))
    return figs
