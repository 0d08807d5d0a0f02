"""State machines that record what they did, so a counterexample replays from explicit steps.

A rule decorated with :func:`traced` (under ``@rule``) appends a :class:`Step` before it runs.
When a rule (or an invariant decorated with :func:`checked`) raises, the machine attaches what it
did to the exception as a :class:`FailedRun`: the steps, the kernel actions they resolved to, and
the evidence lines (the exception's ``__notes__`` as the machine left them).  Hypothesis re-raises
the shrunk failing test case's exception last, so :func:`failed_run` of the exception a run ends
with is the minimal counterexample: one channel, the exception.  :meth:`TracedMachine.replay` runs
steps again outside Hypothesis, checking the invariants after each as Hypothesis does; the
reproducer files call it.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import attrs
from hypothesis.stateful import RuleBasedStateMachine

from properties.watchdog import Watchdog

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


@attrs.frozen
class FailedRun:
    """What a machine did up to a failure: the steps, the kernel action each resolved to (when
    the rule knew more than its arguments say: which callsite ``which=3`` picked), and the
    evidence lines the exception carried when it left the machine."""

    steps: tuple[Step, ...]
    actions: tuple[tuple[int, str], ...] = ()
    evidence: tuple[str, ...] = ()


class StepNotApplicable(Exception):
    """A replayed step whose rule's preconditions do not hold on the machine (Hypothesis would
    never have run it there): the replay stops, and it is no counterexample."""

    def __init__(self, step: Step) -> None:
        super().__init__(f"{step.rule}: a precondition does not hold")
        self.step = step


def failed_run(exc: BaseException) -> FailedRun | None:
    """The run a machine attached to ``exc`` (``None`` when no machine saw it)."""
    run = getattr(exc, "dyndiet_run", None)
    return run if isinstance(run, FailedRun) else None


def _attach(machine: TracedMachine, exc: BaseException) -> None:
    if failed_run(exc) is None:
        with contextlib.suppress(AttributeError):  # an exception type without a __dict__
            exc.dyndiet_run = FailedRun(  # type: ignore[attr-defined]
                tuple(machine.steps), tuple(sorted(machine.actions.items())),
                tuple(getattr(exc, "__notes__", ())))


def traced(fn: F) -> F:
    """Record each call of the rule ``fn`` as a :class:`Step` on ``self.steps``; a failure
    leaving the rule carries the run (:class:`FailedRun`)."""

    @functools.wraps(fn)
    def wrapper(self: TracedMachine, **kwargs: Any) -> Any:
        self.steps.append(Step(fn.__name__, tuple(kwargs.items())))
        type(self).rule_counts[fn.__name__] += 1
        try:
            return fn(self, **kwargs)
        except BaseException as exc:
            _attach(self, exc)
            raise

    return wrapper  # type: ignore[return-value]


def checked(fn: F) -> F:
    """An invariant whose failure carries the run (:class:`FailedRun`), as a traced rule's
    does (put it under ``@invariant()``)."""

    @functools.wraps(fn)
    def wrapper(self: TracedMachine) -> Any:
        try:
            return fn(self)
        except BaseException as exc:
            _attach(self, exc)
            raise

    return wrapper  # type: ignore[return-value]


class TracedMachine(RuleBasedStateMachine):
    """Base of every dyndiet state machine: step trace, last instance, test-case count."""

    #: Set per subclass by :meth:`fresh_class`: how many test cases ran, the last machine built,
    #: and how often each rule ran (for campaign coverage).
    test_cases: ClassVar[int] = 0
    last: ClassVar[TracedMachine | None] = None
    rule_counts: ClassVar[Counter[str]] = Counter()
    #: The per-test-case deadline of design code (``None``: no deadline), set by the runner.
    watchdog: ClassVar[Watchdog | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Step] = []
        #: Step index -> the kernel action it resolved to (see :meth:`resolve`).
        self.actions: dict[int, str] = {}
        #: Lines a failing check may attach: the bytes involved, kernel-style, for the report.
        self.evidence: list[str] = []
        cls = type(self)
        cls.test_cases += 1
        cls.last = self
        if cls.watchdog is not None:
            cls.watchdog.start()

    def resolve(self, action: str) -> None:
        """Say what the current step did in kernel terms (``pr_debug at foo:a.c:1 ...``)."""
        if self.steps:
            self.actions[len(self.steps) - 1] = action

    def teardown(self) -> None:
        if type(self).watchdog is not None:
            type(self).watchdog.stop()  # type: ignore[union-attr]

    @classmethod
    def fresh_class(cls, name: str, **attributes: Any) -> type[TracedMachine]:
        """A subclass with its own counters, named ``name`` (its example-database key)."""
        return type(name, (cls,), {"test_cases": 0, "last": None, "rule_counts": Counter(),
                                   "watchdog": None, "__module__": cls.__module__,
                                   "__qualname__": name, **attributes})

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
        """Run ``steps`` on a fresh machine, checking invariants after each, then tear down.
        A failure carries the replayed run (:func:`failed_run`); a step whose rule's
        preconditions do not hold raises :class:`StepNotApplicable`, as Hypothesis would never
        have run it (a normalised counterexample must be one Hypothesis could have produced)."""
        preconditions = {r.function.__name__: r.preconditions
                         for r in cls.setup_state().rules}
        machine = cls()
        try:
            try:
                machine.check_all_invariants()
                for step in steps:
                    if isinstance(step, Step):
                        rule, args = step.rule, dict(step.args)
                    else:
                        rule, args = step[0], dict(step[1])
                    if not all(pre(machine) for pre in preconditions.get(rule, ())):
                        raise StepNotApplicable(Step(rule, tuple(args.items())))
                    getattr(machine, rule)(**args)
                    machine.check_all_invariants()
            except BaseException as exc:
                _attach(machine, exc)
                raise
        finally:
            machine.teardown()
