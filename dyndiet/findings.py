"""One finding per distinct bug: failed properties grouped by root cause, ordered by severity.

A design that breaks one thing usually breaks several properties with it (a string pointer read
as a zhandle fails the control file, the query results, ``no-bad-handle`` ...).  Failures whose
shrunk runs end the same way — the same kernel message (addresses blanked) at the same site, or
the same differing observation — are one :class:`Finding` that lists every property it breaks,
shown with its shortest counterexample.  Findings are ordered the way a reviewer reads: oopses and
``BUG``s first, then hangs, splats, differences from the baseline, and footprint claims; among
equals, those that need no injected allocation failure first, then the shorter.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from properties.runner import Counterexample, PropertyResult, failure_key

#: What a reviewer reads first.
SEVERITIES: tuple[str, ...] = ("oops", "bug", "hang", "splat", "difference", "footprint")

_OOPS = frozenset({"BadAccess", "BadHandle", "UseAfterFree", "DoubleFree", "KernelOops",
                   "KernelDied"})
_SPLAT = frozenset({"SleepingInInvalidContext", "KernelSplat"})
_HANG = frozenset({"DesignHang", "KernelHang"})
#: Rules whose steps are harness-made faults (a reviewer weighs them after the others).
_INJECTED = frozenset({"fail_alloc", "fail_allocs", "fail_page_allocs"})


@attrs.frozen
class Finding:
    """A distinct bug of one design: the properties it breaks and its shortest run."""

    id: str
    severity: str
    properties: tuple[str, ...]
    counterexample: Counterexample
    #: The property whose run is shown (its reproducer replays it).
    shown: str

    @property
    def headline(self) -> str:
        return headline(self.counterexample)

    @property
    def injected(self) -> bool:
        return any(s.rule in _INJECTED for s in self.counterexample.steps)


def severity_of(kind: str, cx: Counterexample) -> str:
    """Where ``cx`` sits in :data:`SEVERITIES` (``kind`` is the property's)."""
    if cx.difference is not None:
        return "difference"
    if kind == "footprint":
        return "footprint"
    t = cx.error_type
    if t in _HANG:
        return "hang"
    if t in _SPLAT:
        return "splat"
    if t in _OOPS or "unable to handle" in cx.message or "NULL pointer" in cx.message:
        return "oops"
    return "bug"


def _short(value: object, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def first_difference(baseline: object, design: object) -> str:
    """The first place two observations differ, in a few words."""
    if isinstance(baseline, str) and isinstance(design, str):
        a, b = baseline.splitlines(), design.splitlines()
        for n, (x, y) in enumerate(zip(a, b, strict=False), 1):
            if x != y:
                return f"line {n}: {_short(y)} where the baseline has {_short(x)}"
        return f"{len(b)} lines where the baseline has {len(a)}"
    if isinstance(baseline, dict) and isinstance(design, dict):
        for k in baseline:
            if baseline.get(k) != design.get(k):
                return f"{k} {_short(design.get(k))} where the baseline has " \
                       f"{_short(baseline.get(k))}"
    if isinstance(baseline, tuple) and isinstance(design, tuple) \
            and len(baseline) == len(design):
        for x, y in zip(baseline, design, strict=True):
            if x != y:
                return f"{_short(y)} where the baseline has {_short(x)}"
    return f"{_short(design)} where the baseline has {_short(baseline)}"


def headline(cx: Counterexample) -> str:
    """One line naming the bug."""
    if cx.difference is not None:
        d = cx.difference
        return f"{d.observation} differs: {first_difference(d.baseline, d.design)}"
    if cx.error_type == "DesignHang":
        return f"{cx.message.split(': ', 1)[-1].split(':')[0]} after {cx.step_count} steps"
    return cx.message


def group_key(cx: Counterexample) -> tuple[str, ...]:
    """Failures with equal keys are one bug."""
    observation = cx.difference.observation if cx.difference else None
    site = "" if cx.difference else cx.site
    return (*failure_key(cx.error_type, cx.message, observation), site)


def findings_of(results: Sequence[PropertyResult]) -> tuple[Finding, ...]:
    """The findings of one design's results (in catalogue order), numbered F1, F2, ... in the
    order a reviewer reads them."""
    groups: dict[tuple[str, ...], list[PropertyResult]] = {}
    for r in results:
        if r.status == "failed" and r.counterexample is not None:
            groups.setdefault(group_key(r.counterexample), []).append(r)
    drafts = []
    for members in groups.values():
        shown = min(members, key=lambda r: r.counterexample.step_count
                    if r.counterexample else 0)
        cx = shown.counterexample
        assert cx is not None
        drafts.append(Finding("", severity_of(shown.kind, cx),
                              tuple(r.property for r in members), cx, shown.property))
    drafts.sort(key=lambda f: (SEVERITIES.index(f.severity), f.injected,
                               f.counterexample.step_count, -len(f.properties)))
    return tuple(attrs.evolve(f, id=f"F{n}") for n, f in enumerate(drafts, 1))
