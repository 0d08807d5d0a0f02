"""The property runner: verdicts, shrunk counterexamples, replay, errors of the design."""

from __future__ import annotations

import pytest
from hypothesis.stateful import precondition, rule

from model.errors import SleepingInInvalidContext
from properties.catalogue import Target
from properties.runner import Budget, Counterexample, normalise, run_property
from properties.tracing import Step, StepNotApplicable, TracedMachine, traced
from tests.toy_designs import (
    TOY_PROPERTY,
    BrokenStack,
    GoodStack,
    LossyStack,
    SleepyStack,
    ref,
    stack_machine,
)

BUDGET = Budget(max_examples=200, stateful_step_count=10)


def test_correct_design_passes() -> None:
    result = run_property(TOY_PROPERTY, ref(GoodStack), Target(), BUDGET)
    assert result.status == "passed"
    assert result.counterexample is None
    assert result.test_cases >= 100
    assert dict(result.rule_counts)["push"] > 0


def test_planted_bug_found_and_shrunk() -> None:
    result = run_property(TOY_PROPERTY, ref(LossyStack), Target(), BUDGET)
    assert result.status == "failed"
    cx = result.counterexample
    assert cx is not None
    assert cx.step_count == 4  # three pushes fill the stack, the fourth is lost
    assert [s.rule for s in cx.steps] == ["push"] * 4
    assert all(dict(s.args)["v"] == 0 for s in cx.steps)  # shrunk to the simplest values
    assert cx.message.startswith("stack holds [0, 0, 0]")


def test_kernel_bug_message_is_the_kernels() -> None:
    result = run_property(TOY_PROPERTY, ref(SleepyStack), Target(), BUDGET)
    assert result.status == "failed"
    cx = result.counterexample
    assert cx is not None and cx.error_type == "SleepingInInvalidContext"
    assert cx.message == "BUG: sleeping function called from invalid context at mm/slab.h:567"
    assert cx.step_count == 1 and dict(cx.steps[0].args)["v"] == 101


def test_counterexample_replays() -> None:
    result = run_property(TOY_PROPERTY, ref(SleepyStack), Target(), BUDGET)
    assert result.counterexample is not None
    cls = stack_machine(ref(SleepyStack), Target())
    with pytest.raises(SleepingInInvalidContext):
        cls.replay(result.counterexample.steps)
    cls_good = stack_machine(ref(GoodStack), Target())
    cls_good.replay(result.counterexample.steps)  # the same steps pass on the correct design


def test_design_error_is_an_error_not_a_counterexample() -> None:
    result = run_property(TOY_PROPERTY, ref(BrokenStack), Target(), BUDGET)
    assert result.status == "error"
    assert result.error is not None and "TypeError: push() got confused" in result.error
    assert "toy_designs.py:" in result.error


def test_seeded_runs_repeat() -> None:
    a = run_property(TOY_PROPERTY, ref(LossyStack), Target(), Budget(20, 10, seed=7))
    b = run_property(TOY_PROPERTY, ref(LossyStack), Target(), Budget(20, 10, seed=7))
    assert a.counterexample == b.counterexample and a.test_cases == b.test_cases


class _Gated(TracedMachine):
    """``fire`` may run only once ``arm`` has: the failure needs both steps."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    @rule()
    @traced
    def arm(self) -> None:
        self.armed = True

    @precondition(lambda self: self.armed)
    @rule()
    @traced
    def fire(self) -> None:
        raise AssertionError("fired")


def test_replay_refuses_a_step_whose_precondition_fails() -> None:
    with pytest.raises(StepNotApplicable):
        _Gated.replay([Step("fire")])


def test_normalise_keeps_the_steps_a_precondition_needs() -> None:
    """Removing ``arm`` leaves a run Hypothesis could never produce: normalise keeps it (and
    drops the no-op second ``arm``)."""
    cx = Counterexample(message="fired", error_type="AssertionError",
                        steps=(Step("arm"), Step("arm"), Step("fire")))
    got = normalise(_Gated, cx)
    assert [s.rule for s in got.steps] == ["arm", "fire"]
