"""The zsmalloc state machine: quiet on the model, and each invariant catches its thinko (a pool
class overriding one kernel function, through zs_create_pool's documented ``pool_class``),
shrunk to at most four steps (the shortest possible runs are one to four steps long)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from model.abi import get_abi
from model.context import KernelContext
from model.gfp import GFP_KERNEL
from model.memory import AddressSpace
from model.zsmalloc import ZSMALLOC_ERA_NAMES, zs_create_pool
from properties.tracing import failed_run
from properties.zsmalloc_machine import INVARIANTS, MUTANTS, check_pool, machine_for

#: The CI budget of the clean runs (every era).
CLEAN = settings(max_examples=100, stateful_step_count=30, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def meta_settings() -> settings:
    return settings(max_examples=300, stateful_step_count=30, deadline=None, derandomize=True,
                    database=None, report_multiple_bugs=False, print_blob=False,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("era", ZSMALLOC_ERA_NAMES)
def test_machine_runs_clean(era: str) -> None:
    machine = machine_for(era)
    run_state_machine_as_test(machine, settings=CLEAN)
    # every rule ran: none is dead behind its precondition or an empty bundle
    assert {r for r, n in machine.rule_counts.items() if n} >= set(machine.rule_names()) - {
        "malloc_while_mapped", "map_in_hardirq", "nested_map"}


#: mutant -> the era whose run the meta-test uses (both are exercised across the set).
META = {
    "freelist_forgets_object": "v5.8",
    "compaction_drops_handle_update": "current",
    "class_table_off_by_one": "current",
    "pages_never_given_back": "v5.8",
    "handle_reused": "v5.8",
}


def test_every_invariant_has_a_mutant() -> None:
    assert {inv for _cls, inv in MUTANTS.values()} == set(INVARIANTS)
    assert set(META) == set(MUTANTS)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_invariant_catches_its_mutant_with_a_short_run(mutant: str) -> None:
    pool_class, invariant = MUTANTS[mutant]
    machine = machine_for(META[mutant], pool_class, (invariant,))
    with pytest.raises(AssertionError) as exc:
        run_state_machine_as_test(machine, settings=meta_settings())
    assert f"invariant {invariant}:" in str(exc.value)
    run = failed_run(exc.value)
    assert run is not None
    assert 1 <= len(run.steps) <= 4, [s.call_text() for s in run.steps]


@pytest.mark.parametrize("mutant", ["compaction_drops_handle_update"])
def test_other_era_catches_it_too(mutant: str) -> None:
    pool_class, invariant = MUTANTS[mutant]
    other = "v5.8" if META[mutant] == "current" else "current"
    with pytest.raises(AssertionError, match=f"invariant {invariant}:"):
        run_state_machine_as_test(machine_for(other, pool_class, (invariant,)),
                                  settings=meta_settings())


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_only_its_invariant_is_needed(mutant: str) -> None:
    """The invariant that catches a mutant stays quiet on the correct pool (no alarm)."""
    _cls, invariant = MUTANTS[mutant]
    run_state_machine_as_test(machine_for(META[mutant], None, (invariant,)),
                              settings=settings(meta_settings(), max_examples=50))


def test_check_pool_reports_a_broken_pool() -> None:
    """check_pool (every invariant on every class) names the problem of a pool a test drove by
    hand, and says None for a correct one."""
    for pool_class, want in ((None, None), (MUTANTS["freelist_forgets_object"][0], "freelists")):
        space = AddressSpace(get_abi("x86_64"))
        pool = zs_create_pool("t", space, KernelContext(), pool_class=pool_class)
        assert pool is not None
        hs = [pool.zs_malloc(100, GFP_KERNEL) for _ in range(3)]
        pool.zs_free(hs[1])
        oracle = {h: pool.read_payload(h, 100) for h in (hs[0], hs[2])}
        problem = check_pool(pool, oracle)
        assert (problem.split(":")[0] if problem else None) == want, problem
