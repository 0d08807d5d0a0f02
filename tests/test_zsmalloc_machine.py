"""The zsmalloc state machine: quiet on the model, and each invariant catches its thinko,
shrunk to at most four steps (the shortest possible runs are one to four steps long)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from properties.zsmalloc_machine import INVARIANTS, MUTANTS, machine_for

#: The CI budget of the clean runs (every era).
CLEAN = settings(max_examples=100, stateful_step_count=30, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def meta_settings() -> settings:
    return settings(max_examples=300, stateful_step_count=30, deadline=None, derandomize=True,
                    database=None, report_multiple_bugs=False, print_blob=False,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.12", "current"])
def test_machine_runs_clean(era: str) -> None:
    run_state_machine_as_test(machine_for(era), settings=CLEAN)


#: mutant -> the era whose run the meta-test uses (both are exercised across the set).
META = {
    "freelist_forgets_object": "v5.8",
    "compaction_drops_handle_update": "current",
    "class_table_off_by_one": "current",
    "pages_never_given_back": "v5.8",
    "handle_reused": "v5.8",
}


def test_every_invariant_has_a_mutant() -> None:
    assert {inv for _f, inv in MUTANTS.values()} == set(INVARIANTS)
    assert set(META) == set(MUTANTS)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_invariant_catches_its_mutant_with_a_short_run(mutant: str) -> None:
    factory, invariant = MUTANTS[mutant]
    machine = machine_for(META[mutant], factory, (invariant,))
    with pytest.raises(AssertionError) as exc:
        run_state_machine_as_test(machine, settings=meta_settings())
    assert f"invariant {invariant}:" in str(exc.value)
    steps = machine.last_steps
    assert 1 <= len(steps) <= 4, steps


@pytest.mark.parametrize("mutant", ["compaction_drops_handle_update"])
def test_other_era_catches_it_too(mutant: str) -> None:
    factory, invariant = MUTANTS[mutant]
    other = "v5.8" if META[mutant] == "current" else "current"
    with pytest.raises(AssertionError, match=f"invariant {invariant}:"):
        run_state_machine_as_test(machine_for(other, factory, (invariant,)),
                                  settings=meta_settings())
