"""Meta-tests: every dyndbg property catches the thinko it exists for (a broken variant, or the
seed design that has it), finds it and shrinks it to a short counterexample; and it stays quiet
on the correct design the variant was made from."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase

from model.designs import builtin_designs
from properties.catalogue import DesignRef, Target, catalogue, get_property
from properties.dyndbg_properties import CLAIMS
from properties.runner import Budget, run_property
from tests import broken_designs as bd

PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
SEARCH = Budget(max_examples=200, stateful_step_count=20, phases=PHASES)
QUIET = Budget(max_examples=25, stateful_step_count=15, phases=PHASES)
TARGET = Target(era="v6.1", abi="x86_64")

#: property -> (design that has the thinko, the correct design it comes from, most steps).
THINKOS: dict[str, tuple[Any, str, int]] = {
    "control-file": (bd.LostFlagSplit, "split", 10),
    "query-results": (bd.SwappedFileSplit, "split", 6),
    "print-decisions": (bd.StuckKeySplit, "split", 8),
    "callsite-metadata": (bd.ShortLinenoSplit, "split", 3),
    "no-sleep-while-mapped": ("cache", "split", 4),
    "one-mapping-per-cpu": ("cache", "zpool-copy", 4),
    "no-map-in-interrupt": ("union-flag", "split", 4),
    "no-bad-handle": (bd.DoubleFreeZpool, "zpool-copy", 5),
    "no-oops": ("zpool-copy", "split", 5),
    "no-other-bug": (bd.StrayUnmapZpool, "zpool-copy", 3),
    "saves-what-it-claims": ("zpool-copy", "union-flag", 3),
}


def ref(design: Any) -> DesignRef:
    if isinstance(design, str):
        return DesignRef(design, "built-in", builtin_designs()[design])
    return DesignRef(design.name, "tests/broken_designs.py", design)


def test_every_property_has_a_thinko() -> None:
    names = {p.name for p in catalogue() if p.name in CLAIMS}
    assert names == set(THINKOS)


@pytest.mark.parametrize("prop", sorted(THINKOS))
def test_property_catches_its_thinko(prop: str) -> None:
    broken, _correct, most = THINKOS[prop]
    budget = SEARCH
    if prop == "control-file":  # needs late_init, a write with 't' and a read: rarer
        budget = Budget(max_examples=600, stateful_step_count=20, phases=PHASES)
    r = run_property(get_property(prop), ref(broken), TARGET, budget)
    assert r.status == "failed", (prop, r.error)
    cx = r.counterexample
    assert cx is not None
    assert cx.step_count <= most, [s.call_text() for s in cx.steps]
    assert cx.steps[0].rule == "boot"


@pytest.mark.parametrize("prop", sorted(THINKOS))
def test_property_is_quiet_on_the_correct_design(prop: str) -> None:
    _broken, correct, _most = THINKOS[prop]
    p = get_property(prop)
    assert p.applies(ref(correct))
    r = run_property(p, ref(correct), TARGET, QUIET)
    assert r.status == "passed", (prop, r.counterexample or r.error)
