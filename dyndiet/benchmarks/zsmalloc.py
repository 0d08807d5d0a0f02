"""zsmalloc model speed: malloc+write+free cycles per second (both eras), and the pool state
machine's step rate as a ratio to an empty ``RuleBasedStateMachine`` measured in the same run."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from dyndiet.benchmarks import Figure
from model.abi import get_abi
from model.context import KernelContext
from model.gfp import GFP_KERNEL
from model.memory import AddressSpace
from model.zsmalloc import ERA_CURRENT, ERA_V58, ZsMapMode, zs_create_pool
from properties.zsmalloc_machine import ACCESS_HOW, EDGE_SIZES, GFPS, REFUSED_SIZES, machine_for

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
    """The pool machine's rules, bundle and argument strategies with empty bodies: the part of
    a step that is Hypothesis's own work (the ceiling for the pool machine's ratio)."""

    objects = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    @rule(target=objects, size=st.integers(1, 4096) | st.sampled_from(EDGE_SIZES),
          gfp=st.sampled_from(GFPS))
    def malloc(self, size: int, gfp: int) -> int:
        self.steps.append("malloc")
        return len(self.steps)

    @rule(size=st.sampled_from(REFUSED_SIZES))
    def malloc_refused(self, size: int) -> None:
        self.steps.append("malloc_refused")

    @rule(size=st.integers(1, 4096))
    def malloc_fails(self, size: int) -> None:
        self.steps.append("malloc_fails")

    @rule(target=objects, size=st.integers(1, 4096))
    def malloc_in_hardirq(self, size: int) -> int:
        self.steps.append("malloc_in_hardirq")
        return len(self.steps)

    @rule(handle=objects)
    def map_in_hardirq(self, handle: int) -> None:
        self.steps.append("map_in_hardirq")

    @rule(target=objects, handle=consumes(objects))
    def free(self, handle: int) -> object:
        self.steps.append("free")
        return multiple()

    @rule(handle=objects, how=st.sampled_from(ACCESS_HOW))
    def access(self, handle: int, how: object) -> None:
        self.steps.append("access")

    @rule(handle=objects)
    def hold(self, handle: int) -> None:
        self.steps.append("hold")

    @rule()
    def release(self) -> None:
        self.steps.append("release")

    @rule()
    def switch_cpu(self) -> None:
        self.steps.append("switch_cpu")

    @rule()
    def compact(self) -> None:
        self.steps.append("compact")

    @rule(handle=objects)
    def migrate(self, handle: int) -> None:
        self.steps.append("migrate")

    @rule(target=objects, size=st.sampled_from((24, 200, 1000, 2000, 3000, 3600, 4096)),
          count=st.integers(1, 12), compact=st.booleans())
    def fragment(self, size: int, count: int, compact: bool) -> object:
        self.steps.append("fragment")
        return multiple(*range(count))

    @invariant()
    def no_overlap(self) -> None:
        pass

    @invariant()
    def contents(self) -> None:
        pass

    @invariant()
    def handles(self) -> None:
        pass

    @invariant()
    def accounting(self) -> None:
        pass

    @invariant()
    def freelists(self) -> None:
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
