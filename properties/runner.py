"""Run properties on a design and turn the outcomes into results a report can print.

:func:`run_property` asks Hypothesis for the verdict (``run_state_machine_as_test``) and reads
the shrunk counterexample from the exception the run ends with (the machine attaches what it did:
:func:`properties.tracing.failed_run`).  Exceptions are sorted: an ``AssertionError`` or a
:class:`~model.errors.KernelBug` (a hang of design code included) is a *failure* (a
counterexample); anything else the design raises, ``SystemExit`` and ``KeyboardInterrupt`` from
design code included, is an *error* of the design, reported with the file and line it came from.

After Hypothesis shrinks, :func:`normalise` removes each step (and each callsite of the modules a
step loads) while the run still fails the same way: a 7-step run whose 3-step core fails the same
way is reported as 3 steps.

:func:`check_design` runs a design's properties; properties of one *group* (see
:func:`properties.catalogue.groups`) are first explored together, once, checking every
observation and kernel rule at each step; only when that exploration fails are they run one by
one to tell which properties the failure breaks.
"""

from __future__ import annotations

import inspect
import re
import signal
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import attrs
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.database import ExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from model.dyndbg.callsite import ModuleSpec
from model.errors import InputError, KernelBug
from properties.catalogue import DesignRef, Property, Target, group_machine
from properties.tracing import FailedRun, Step, TracedMachine, failed_run
from properties.watchdog import DEFAULT_DEADLINE, DesignHang, Watchdog

Status = Literal["passed", "failed", "error"]

#: ``check``'s phases: every phase but ``explain`` (it costs more than half of a failing run and
#: adds nothing the report prints) and ``target`` (its hill-climbing on the kernel's size cost
#: 70% of a passing property's time and no thinko of the zoo needs it).
DEFAULT_PHASES: tuple[Phase, ...] = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
#: The long searches (``--profile nightly``, campaigns): ``target`` grows kernels past
#: capacities.
SEARCH_PHASES: tuple[Phase, ...] = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
                                    Phase.shrink)
#: The ``replay`` profile: what the database holds, shrunk, nothing new generated.
REPLAY_PHASES: tuple[Phase, ...] = (Phase.explicit, Phase.reuse, Phase.shrink)
#: Replays :func:`normalise` may spend on one counterexample.
NORMALISE_REPLAYS = 150


@attrs.frozen
class Budget:
    """How hard to look: test cases, steps per case, seed (``None``: the profile decides), the
    per-test-case deadline of design code, and whether to normalise counterexamples."""

    max_examples: int = 100
    stateful_step_count: int = 30
    seed: int | None = None
    database: ExampleDatabase | None = attrs.field(default=None, eq=False)
    derandomize: bool = True
    #: Hypothesis phases (:data:`DEFAULT_PHASES` unless told).
    phases: tuple[Any, ...] | None = DEFAULT_PHASES
    deadline: float | None = DEFAULT_DEADLINE
    normalise: bool = True


@attrs.frozen
class Difference:
    """What a user observes on the baseline and on the design, where they differ."""

    observation: str
    baseline: Any
    design: Any


@attrs.frozen
class Counterexample:
    """The shrunk failing run: what went wrong, the steps that lead there, the kernel action
    each step resolved to, the difference (for an equivalence failure) and the evidence."""

    message: str
    error_type: str
    steps: tuple[Step, ...]
    evidence: tuple[str, ...] = ()
    actions: tuple[tuple[int, str], ...] = ()
    difference: Difference | None = None
    #: The kernel source (or design file:line) a kernel failure names.
    site: str = ""
    #: Steps before :func:`normalise` (Hypothesis' own shrink).
    shrunk_steps: int = 0

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
    #: The group whose one exploration decided this verdict (``None``: a run of its own).
    explored_with: str | None = None


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


def is_failure(exc: BaseException) -> bool:
    """A counterexample (the property is broken), not an error of the design."""
    return isinstance(exc, AssertionError | KernelBug)


def origin(exc: BaseException, source: str) -> str:
    """``file:line: Type: message`` for an exception raised by a design, pointing into the
    design's own file when it came from there."""
    frames = traceback.extract_tb(exc.__traceback__)
    pick = next((f for f in reversed(frames) if f.filename == source), None)
    if pick is None:
        pick = next((f for f in reversed(frames) if "/model/designs/" in f.filename), None)
    if pick is None and frames:
        pick = frames[-1]
    where = f"{pick.filename}:{pick.lineno}: " if pick is not None else ""
    return f"{where}{type(exc).__name__}: {failure_message(exc)}"


def _design_files(design: DesignRef) -> tuple[str, ...]:
    """The files of the design's own code (its file, the built-in designs it builds on)."""
    files: list[str] = [design.source] if design.source != "built-in" else []
    for klass in getattr(design.factory, "__mro__", ()):
        try:
            f = inspect.getsourcefile(klass)
        except TypeError:
            continue
        if f and f not in files and "/model/designs/" in f:
            files.append(f)
    return tuple(files)


def _key(name: str, design: DesignRef, target: Target) -> str:
    key = f"{name}|{design.name}|{target.era}|{target.abi}|{target.corpus or ''}"
    return "".join(c if c.isalnum() else "_" for c in key)


def _prepared(base: type[TracedMachine], key: str, design: DesignRef,
              budget: Budget) -> type[TracedMachine]:
    cls = base.fresh_class(f"Dyndiet_{key}")
    if budget.deadline is not None:
        cls.watchdog = Watchdog(budget.deadline, _design_files(design),
                                f"design {design.name}")
    if budget.seed is not None:
        seed(budget.seed)(cls)
    return cls


def machine_class(prop: Property, design: DesignRef, target: Target,
                  budget: Budget | None = None) -> type[TracedMachine]:
    """The property's machine for this design, under a name that keys the example database."""
    base = prop.machine(design, target)
    return _prepared(base, _key(prop.name, design, target), design, budget or Budget())


# ---- one run ------------------------------------------------------------------------------------

@attrs.frozen
class _Outcome:
    status: Status
    test_cases: int
    seconds: float
    counterexample: Counterexample | None
    error: str | None
    rule_counts: tuple[tuple[str, int], ...]
    rules: tuple[str, ...]
    guarded_rules: tuple[str, ...]


def _design_interrupt(exc: BaseException) -> bool:
    """A ``KeyboardInterrupt`` raised by design code, not by a user: in a worker process that
    ignores SIGINT (the ``check`` command's), nobody else raises it."""
    return (isinstance(exc, KeyboardInterrupt)
            and signal.getsignal(signal.SIGINT) is signal.SIG_IGN)


def _explore(cls: type[TracedMachine], design: DesignRef, budget: Budget) -> _Outcome:
    start = time.perf_counter()
    status: Status = "passed"
    counterexample: Counterexample | None = None
    error: str | None = None
    try:
        run_state_machine_as_test(cls, settings=hypothesis_settings(budget))
    except InputError:
        raise
    except HypothesisException as exc:
        status, error = "error", f"{type(exc).__name__}: {failure_message(exc)}"
    except KeyboardInterrupt as exc:
        if not _design_interrupt(exc):
            raise
        status, error = "error", origin(exc, design.source)
    except BaseException as exc:  # design code's SystemExit is its own error
        run = failed_run(exc) or _last_run(cls, exc)
        if is_failure(exc) and run is not None:
            status = "failed"
            counterexample = _counterexample(exc, run)
            if budget.normalise:
                counterexample = normalise(cls, counterexample)
        else:
            status, error = "error", origin(exc, design.source)
    finally:
        if cls.watchdog is not None:
            cls.watchdog.stop()
    counts: Counter[str] = cls.rule_counts
    return _Outcome(status, cls.test_cases, time.perf_counter() - start, counterexample, error,
                    tuple(sorted(counts.items())), cls.rule_names(), cls.guarded_rule_names())


def _last_run(cls: type[TracedMachine], exc: BaseException) -> FailedRun | None:
    """The run of an invariant not marked :func:`~properties.tracing.checked`: Hypothesis
    runs the shrunk failing case last, so the class's last machine holds its steps."""
    last = cls.last
    if last is None:
        return None
    return FailedRun(tuple(last.steps), tuple(sorted(last.actions.items())),
                     tuple(getattr(exc, "__notes__", ())))


_ABSENT = object()


def _counterexample(exc: BaseException, run: FailedRun,
                    shrunk_steps: int | None = None) -> Counterexample:
    difference = None
    parts: list[Any] = [getattr(exc, a, _ABSENT) for a in ("observation", "baseline", "design")]
    if all(p is not _ABSENT for p in parts):  # an equivalence failure (ObservationDiffers)
        difference = Difference(*parts)
    site = exc.where if isinstance(exc, DesignHang) else (
        exc.site if isinstance(exc, KernelBug) else "")
    return Counterexample(
        message=failure_message(exc), error_type=type(exc).__name__, steps=run.steps,
        evidence=run.evidence, actions=run.actions, difference=difference, site=site,
        shrunk_steps=len(run.steps) if shrunk_steps is None else shrunk_steps)


def run_property(prop: Property, design: DesignRef, target: Target,
                 budget: Budget) -> PropertyResult:
    """Check ``prop`` on ``design``: passed, failed with a shrunk counterexample, or error."""
    start = time.perf_counter()
    common: dict[str, Any] = {"property": prop.name, "kind": prop.kind, "claim": prop.claim,
                              "design": design.name, "target": target}
    try:
        cls = machine_class(prop, design, target, budget)
    except InputError:
        raise  # bad input (a corpus that cannot be read): the command's one line, exit 2
    except BaseException as exc:  # the design failed to build: its own error
        if isinstance(exc, KeyboardInterrupt) and not _design_interrupt(exc):
            raise
        return PropertyResult(**common, status="error", test_cases=0,
                              seconds=time.perf_counter() - start,
                              error=origin(exc, design.source))
    out = _explore(cls, design, budget)
    return PropertyResult(
        **common, status=out.status, test_cases=out.test_cases, seconds=out.seconds,
        counterexample=out.counterexample, error=out.error, rule_counts=out.rule_counts,
        rules=out.rules, guarded_rules=out.guarded_rules)


def explore_group(group: str, members: Sequence[Property], design: DesignRef, target: Target,
                  budget: Budget) -> tuple[PropertyResult | None, ...]:
    """Explorations checking the members of ``group`` together, in ``members`` order.  Each one
    checks the members not decided yet.  When it passes, every one of them passed on its test
    cases.  When it fails, its shrunk run is replayed on each of them on its own machine: a
    member that fails there has that counterexample (normalised on its machine), and the next
    exploration goes on without the members so decided.  When the run fails none of them on
    its own machine (the halting rule hands the failure elsewhere), or the design does not
    build, the members left are ``None``: run them one by one."""
    quiet = attrs.evolve(budget, normalise=False)
    decided: dict[str, PropertyResult] = {}
    left = list(members)
    while left:
        names = frozenset(p.name for p in left)
        tag = group if len(left) == len(members) else f"{group}-{len(left)}"
        try:
            cls = _prepared(group_machine(group)(design, target, names),
                            _key(tag, design, target), design, quiet)
        except InputError:
            raise
        except Exception:
            break  # the design fails to build: each member reports it on its own
        out = _explore(cls, design, quiet)
        if out.status == "passed":
            decided.update((p.name, _verdict(p, design, target, out, group, None))
                           for p in left)
            break
        cx = out.counterexample
        if cx is None:
            break  # an error of the exploration: each member on its own says whose
        broke = [(p, r) for p in left if (r := _member_failure(p, cx, design, target, budget))]
        if not broke:
            break
        decided.update((p.name, _verdict(p, design, target, out, group, found))
                       for p, found in broke)
        left = [p for p in left if p.name not in decided]
    return tuple(decided.get(p.name) for p in members)


def _verdict(p: Property, design: DesignRef, target: Target, out: _Outcome, group: str,
             found: Counterexample | None) -> PropertyResult:
    """``p``'s verdict from a group's exploration ``out``: failed with ``found``, or passed."""
    return PropertyResult(p.name, p.kind, p.claim, design.name, target,
                          "passed" if found is None else "failed", out.test_cases, out.seconds,
                          counterexample=found, rule_counts=out.rule_counts, rules=out.rules,
                          guarded_rules=out.guarded_rules, explored_with=group)


def _member_failure(prop: Property, cx: Counterexample, design: DesignRef, target: Target,
                    budget: Budget) -> Counterexample | None:
    """``cx`` replayed on ``prop``'s own machine: its counterexample there, or ``None``."""
    mine = _prepared(prop.machine(design, target), _key(prop.name, design, target), design,
                     budget)
    exc = _replay(mine, cx.steps)
    run = failed_run(exc) if exc is not None else None
    if exc is None or run is None or not is_failure(exc):
        return None
    found = _counterexample(exc, run, shrunk_steps=cx.shrunk_steps)
    return normalise(mine, found) if budget.normalise else found


def check_design(design: DesignRef, props: Sequence[Property], target: Target,
                 budget: Budget) -> tuple[PropertyResult, ...]:
    """Every property of ``props`` that applies to ``design``, in ``props`` order: groups
    explored together first, then one by one where that did not decide."""
    todo = [p for p in props if p.applies(design)]
    done: dict[str, PropertyResult] = {}
    for group, members in _groups(todo).items():
        if len(members) > 1:
            for r in explore_group(group, members, design, target, budget):
                if r is not None:
                    done[r.property] = r
    for p in todo:
        if p.name not in done:
            done[p.name] = run_property(p, design, target, budget)
    return tuple(done[p.name] for p in todo)


def _groups(props: Sequence[Property]) -> dict[str, list[Property]]:
    out: dict[str, list[Property]] = {}
    for p in props:
        if p.group is not None:
            out.setdefault(p.group, []).append(p)
    return out


# ---- normalising a counterexample ---------------------------------------------------------------

_HEXNUM = re.compile(r"0x[0-9a-fA-F]+")


def failure_key(error_type: str, message: str, observation: str | None) -> tuple[str, str, str]:
    """What makes two failures the same: the type, the message with addresses blanked, and the
    observation that differs."""
    return (error_type, _HEXNUM.sub("0x…", message), observation or "")


def _key_of(cx: Counterexample) -> tuple[str, str, str]:
    return failure_key(cx.error_type, cx.message,
                       cx.difference.observation if cx.difference else None)


def _replay(cls: type[TracedMachine], steps: Sequence[Step]) -> BaseException | None:
    try:
        cls.replay(steps)
    except KeyboardInterrupt as exc:
        if not _design_interrupt(exc):
            raise
        return exc
    except BaseException as exc:  # a replayed design may raise anything
        return exc
    return None


def _smaller_args(step: Step) -> list[Step]:
    """Versions of ``step`` loading fewer callsites or modules (one removed each)."""
    out: list[Step] = []
    for i, (name, value) in enumerate(step.args):
        variants: list[Any] = []
        if isinstance(value, ModuleSpec) and len(value.callsites) > 1:
            variants = [attrs.evolve(value, callsites=value.callsites[:j] + value.callsites[j + 1:])
                        for j in range(len(value.callsites))]
        elif (isinstance(value, tuple) and value
              and all(isinstance(m, ModuleSpec) for m in value)):
            if len(value) > 1:
                variants += [value[:j] + value[j + 1:] for j in range(len(value))]
            for j, m in enumerate(value):
                if len(m.callsites) > 1:
                    variants += [(*value[:j], attrs.evolve(m, callsites=m.callsites[:c] + m.callsites[c + 1:]), *value[j + 1:])
                        for c in range(len(m.callsites))]
        for v in variants:
            out.append(Step(step.rule, (*step.args[:i], (name, v), *step.args[i + 1:])))
    return out


def normalise(cls: type[TracedMachine], cx: Counterexample,
              replays: int = NORMALISE_REPLAYS) -> Counterexample:
    """Remove each step, then each loaded callsite, while the run still fails the same way
    (:func:`failure_key`); the result is the last failing replay's counterexample."""
    want = _key_of(cx)
    steps = list(cx.steps)
    best: Counterexample | None = None
    spent = 0

    def fails_same(candidate: list[Step]) -> Counterexample | None:
        nonlocal spent
        spent += 1
        exc = _replay(cls, candidate)
        run = (failed_run(exc) or _last_run(cls, exc)) if exc is not None else None
        if exc is None or run is None or not is_failure(exc):
            return None
        got = _counterexample(exc, run, shrunk_steps=len(cx.steps))
        return got if _key_of(got) == want else None

    changed = True
    while changed and spent < replays:
        changed = False
        for i in reversed(range(len(steps))):
            if spent >= replays:
                break
            got = fails_same(steps[:i] + steps[i + 1:])
            if got is not None:
                steps, best, changed = list(got.steps), got, True
        for i in range(len(steps)):
            for smaller in _smaller_args(steps[i]):
                if spent >= replays:
                    break
                got = fails_same([*steps[:i], smaller, *steps[i + 1:]])
                if got is not None:
                    steps, best, changed = list(got.steps), got, True
                    break
    if best is None:  # nothing removed: replay once for the resolved actions
        best = fails_same(steps) or cx
    return best
