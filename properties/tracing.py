"""State machines that record what they did, so a counterexample replays from explicit steps.

A rule decorated with :func:`traced` (under ``@rule``) appends a :class:`Step` before it runs.
Hypothesis runs the shrunk failing test case last, so the last machine a class built holds the
minimal counterexample's steps.  :meth:`TracedMachine.replay` runs steps again outside Hypothesis,
checking the invariants after each as Hypothesis does; the reproducer files call it.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import attrs
from hypothesis.stateful import RuleBasedStateMachine

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class Step:
    """One rule call: the rule's name and its arguments (plain values, replayable by ``repr``)."""

    rule: str
    args: tuple[tuple[str, Any], ...] = ()

    def call_text(self, var: str = "state") -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args)
        return f"{var}.{self.rule}({inner})"

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "args": {k: _jsonable(v) for k, v in self.args}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if attrs.has(type(value)):
        return {"__type__": type(value).__name__,
                **{k: _jsonable(v) for k, v in attrs.asdict(value, recurse=False).items()}}
    if hasattr(value, "name") and hasattr(value, "value"):  # enum
        return f"{type(value).__name__}.{value.name}"
    return repr(value)


def traced(fn: F) -> F:
    """Record each call of the rule ``fn`` as a :class:`Step` on ``self.steps``."""

    @functools.wraps(fn)
    def wrapper(self: TracedMachine, **kwargs: Any) -> Any:
        self.steps.append(Step(fn.__name__, tuple(kwargs.items())))
        type(self).rule_counts[fn.__name__] += 1
        return fn(self, **kwargs)

    return wrapper  # type: ignore[return-value]


class TracedMachine(RuleBasedStateMachine):
    """Base of every dyndiet state machine: step trace, last instance, test-case count."""

    #: Set per subclass by :meth:`fresh_class`: how many test cases ran, the last machine built,
    #: and how often each rule ran (for campaign coverage).
    test_cases: ClassVar[int] = 0
    last: ClassVar[TracedMachine | None] = None
    rule_counts: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Step] = []
        #: Lines a failing check may attach: the bytes involved, kernel-style, for the report.
        self.evidence: list[str] = []
        cls = type(self)
        cls.test_cases += 1
        cls.last = self

    @classmethod
    def fresh_class(cls, name: str, **attributes: Any) -> type[TracedMachine]:
        """A subclass with its own counters, named ``name`` (its example-database key)."""
        return type(name, (cls,), {"test_cases": 0, "last": None, "rule_counts": Counter(),
                                   "__module__": cls.__module__, "__qualname__": name,
                                   **attributes})

    @classmethod
    def rule_names(cls) -> tuple[str, ...]:
        """Every rule and initialize rule of the machine."""
        state = cls.setup_state()
        return tuple(sorted(r.function.__name__ for r in [*state.rules, *state.initializers]))

    @classmethod
    def guarded_rule_names(cls) -> tuple[str, ...]:
        """Rules that carry a precondition."""
        return tuple(sorted(r.function.__name__ for r in cls.setup_state().rules
                            if r.preconditions))

    def check_all_invariants(self) -> None:
        """Run every invariant whose preconditions hold, as Hypothesis does after each step."""
        for invar in self.invariants:
            if all(pre(self) for pre in invar.preconditions):
                invar.function(self)

    @classmethod
    def replay(cls, steps: Iterable[Step] | Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Run ``steps`` on a fresh machine, checking invariants after each, then tear down."""
        machine = cls()
        try:
            machine.check_all_invariants()
            for step in steps:
                if isinstance(step, Step):
                    rule, args = step.rule, dict(step.args)
                else:
                    rule, args = step[0], dict(step[1])
                getattr(machine, rule)(**args)
                machine.check_all_invariants()
        finally:
            machine.teardown()
