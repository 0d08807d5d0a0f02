"""Run one property on one design and turn the outcome into a result a report can print.

The runner asks Hypothesis for the verdict (``run_state_machine_as_test``), then reads the
shrunk counterexample from the last machine the property's class built (see
:mod:`properties.tracing`).  Exceptions are sorted: an ``AssertionError`` or a
:class:`~model.errors.KernelBug` is a *failure* (a counterexample); anything else raised by the
design is an *error* of the design, reported with the file and line it came from.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from typing import Any, Literal

import attrs
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import ExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from model.errors import InputError, KernelBug
from properties.catalogue import DesignRef, Property, Target
from properties.tracing import Step, TracedMachine

Status = Literal["passed", "failed", "error"]

DEFAULT_PHASES: tuple[Phase, ...] = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
                                     Phase.shrink)


@attrs.frozen
class Budget:
    """How hard to look: test cases, steps per case, seed (``None``: the profile decides)."""

    max_examples: int = 100
    stateful_step_count: int = 30
    seed: int | None = None
    database: ExampleDatabase | None = attrs.field(default=None, eq=False)
    derandomize: bool = True
    #: Hypothesis phases; by default every phase but ``explain``, which costs more than half
    #: of a failing run and adds nothing the report prints.
    phases: tuple[Any, ...] | None = DEFAULT_PHASES


@attrs.frozen
class Counterexample:
    """The shrunk failing run: what the kernel would print, and the steps that lead there."""

    message: str
    error_type: str
    steps: tuple[Step, ...]
    evidence: tuple[str, ...] = ()

    @property
    def step_count(self) -> int:
        return len(self.steps)


@attrs.frozen
class PropertyResult:
    """A property's verdict on one design and target."""

    property: str
    kind: str
    claim: str
    design: str
    target: Target
    status: Status
    test_cases: int
    seconds: float
    counterexample: Counterexample | None = None
    error: str | None = None
    rule_counts: tuple[tuple[str, int], ...] = ()
    rules: tuple[str, ...] = ()
    guarded_rules: tuple[str, ...] = ()


def hypothesis_settings(budget: Budget) -> settings:
    """Settings for one run, on top of the loaded profile."""
    kw: dict[str, Any] = {
        "max_examples": budget.max_examples,
        "stateful_step_count": budget.stateful_step_count,
        "deadline": None,
        "report_multiple_bugs": False,
        "suppress_health_check": list(HealthCheck),
        "print_blob": False,
    }
    if budget.seed is not None or not budget.derandomize:
        kw["derandomize"] = False
        kw["database"] = budget.database
    else:
        kw["derandomize"] = True
        kw["database"] = None
    if budget.phases is not None:
        kw["phases"] = budget.phases
    return settings(**kw)


def failure_message(exc: BaseException) -> str:
    """The first line the kernel (or the property) would print for ``exc``."""
    if isinstance(exc, KernelBug):
        return exc.message
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _is_failure(exc: BaseException) -> bool:
    return isinstance(exc, AssertionError | KernelBug)


def _origin(exc: BaseException, source: str) -> str:
    """``file:line: Type: message`` for an exception raised by a design, pointing into the
    design's own file when it came from there."""
    frames = traceback.extract_tb(exc.__traceback__)
    pick = next((f for f in reversed(frames) if f.filename == source), None)
    if pick is None and frames:
        pick = frames[-1]
    where = f"{pick.filename}:{pick.lineno}: " if pick is not None else ""
    return f"{where}{type(exc).__name__}: {failure_message(exc)}"


def machine_class(prop: Property, design: DesignRef, target: Target) -> type[TracedMachine]:
    """The property's machine for this design, under a name that keys the example database."""
    base = prop.machine(design, target)
    key = f"{prop.name}|{design.name}|{target.era}|{target.abi}|{target.corpus or ''}"
    safe = "".join(c if c.isalnum() else "_" for c in key)
    return base.fresh_class(f"Dyndiet_{safe}")


def run_property(prop: Property, design: DesignRef, target: Target,
                 budget: Budget) -> PropertyResult:
    """Check ``prop`` on ``design``: passed, failed with a shrunk counterexample, or error."""
    start = time.perf_counter()
    common = {"property": prop.name, "kind": prop.kind, "claim": prop.claim,
              "design": design.name, "target": target}
    try:
        cls = machine_class(prop, design, target)
    except InputError:
        raise  # bad input (a corpus that cannot be read): the command's one line, exit 2
    except Exception as exc:  # the design failed to build: its own error
        return PropertyResult(**common, status="error", test_cases=0,
                              seconds=time.perf_counter() - start,
                              error=_origin(exc, design.source))
    if budget.seed is not None:
        cls._hypothesis_internal_use_seed = budget.seed  # type: ignore[attr-defined]
    status: Status = "passed"
    counterexample: Counterexample | None = None
    error: str | None = None
    try:
        run_state_machine_as_test(cls, settings=hypothesis_settings(budget))
    except InputError:
        raise
    except HypothesisException as exc:
        status, error = "error", f"{type(exc).__name__}: {failure_message(exc)}"
    except Exception as exc:
        last = cls.last
        if _is_failure(exc) and last is not None:
            status = "failed"
            evidence = tuple(getattr(exc, "evidence", ()) or last.evidence)
            counterexample = Counterexample(
                message=failure_message(exc), error_type=type(exc).__name__,
                steps=tuple(last.steps), evidence=evidence)
        else:
            status, error = "error", _origin(exc, design.source)
    counts: Counter[str] = cls.rule_counts
    return PropertyResult(
        **common, status=status, test_cases=cls.test_cases,
        seconds=time.perf_counter() - start, counterexample=counterexample, error=error,
        rule_counts=tuple(sorted(counts.items())), rules=cls.rule_names(),
        guarded_rules=cls.guarded_rule_names())
