"""Run the fidelity machines: the model against the real kernel files, area by area.

:func:`run_fidelity` builds each area of the kernel source (cached), starts its fork server,
runs the area's machine under Hypothesis and returns what it saw: the test cases and steps run,
and the shrunk disagreement if there is one, with both sides' observations.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import attrs
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from kernel.build import build
from kernel.dyndbg import dyndbg_area
from kernel.process import KernelServer
from kernel.sources import KernelSource
from kernel.zsmalloc import zsmalloc_area
from model.zsmalloc import ERA_CURRENT, ERA_V58
from properties.fidelity_dyndbg import Disagreement, dyndbg_fidelity_machine
from properties.fidelity_zsmalloc import zsmalloc_fidelity_machine
from properties.runner import Budget, hypothesis_settings
from properties.tracing import Step, TracedMachine

AREAS: tuple[str, ...] = ("dyndbg", "zsmalloc")
Area = Literal["dyndbg", "zsmalloc"]


@attrs.frozen
class Finding:
    """One shrunk disagreement: what differs, both sides, the steps, and the kernel's lines."""

    what: str
    model: str
    kernel: str
    steps: tuple[Step, ...]
    evidence: tuple[str, ...] = ()


@attrs.frozen
class AreaResult:
    """One area's run: test cases, steps, and the disagreement found (or an error)."""

    area: str
    kernel: str
    model_era: str
    test_cases: int
    steps: int
    seconds: float
    disagreements: tuple[Finding, ...] = ()
    error: str | None = None


def start_servers(stack: ExitStack, area: str, source: KernelSource,
                  sanitize: bool = False, overlay: Path | None = None
                  ) -> dict[bool, KernelServer]:
    """The fork servers of ``area`` (dyndbg: one per ``CONFIG_JUMP_LABEL`` setting; with the
    patched files of ``overlay`` when given), closed with ``stack``."""
    if area == "dyndbg":
        return {jl: stack.enter_context(KernelServer(build(dyndbg_area(source, jl), source,
                                                           sanitize=sanitize,
                                                           overlay=overlay)))
                for jl in (False, True)}
    return {False: stack.enter_context(KernelServer(build(zsmalloc_area(source), source,
                                                          sanitize=sanitize,
                                                          overlay=overlay)))}


def dyndbg_model_era(source: KernelSource) -> str:
    """The model era whose behaviour the tree's lib/dynamic_debug.c has, read from its flags:
    ``d`` (``_DPRINTK_FLAGS_INCL_STACK``) is v6.19, ``s`` (``_DPRINTK_FLAGS_INCL_SOURCENAME``)
    v6.12, class maps (``ddebug_find_valid_class``) v6.1, none of them v5.8."""
    text = source.path("lib/dynamic_debug.c").read_text(errors="replace")
    if "_DPRINTK_FLAGS_INCL_STACK" in text:
        return "v6.19"
    if "_DPRINTK_FLAGS_INCL_SOURCENAME" in text:
        return "v6.12"
    if "ddebug_find_valid_class" in text:
        return "v6.1"
    return "v5.8"


def zsmalloc_model_era(source: KernelSource) -> str:
    """The zsmalloc model era of the tree's mm/zsmalloc.c, read from its text, not its version:
    without ``zs_map_object`` (removed in 6.15) the current model; with it and the
    fine-grained fullness groups (``ZS_INUSE_RATIO_0``, 6.3) v6.12; with it, the four groups
    and no ``HANDLE_PIN_BIT`` (gone in 5.17) v6.1; with the pin bit v5.8."""
    from model.zsmalloc_classes import ERA_V61, ERA_V612

    text = source.path("mm/zsmalloc.c").read_text(errors="replace")
    if "\nvoid *zs_map_object(" not in text:
        return ERA_CURRENT
    if "ZS_INUSE_RATIO_0" in text:
        return ERA_V612
    return ERA_V58 if "HANDLE_PIN_BIT" in text else ERA_V61


def fidelity_machine(area: str, source: KernelSource, servers: dict[bool, KernelServer], *,
                     with_kernel: bool = True) -> type[TracedMachine]:
    """The fidelity machine of ``area`` (the model's side alone when not ``with_kernel``)."""
    if area == "dyndbg":
        return dyndbg_fidelity_machine(dyndbg_model_era(source), servers,
                                       with_kernel=with_kernel)
    return zsmalloc_fidelity_machine(zsmalloc_model_era(source), servers[False],
                                     with_kernel=with_kernel)


def model_era_name(area: str, source: KernelSource) -> str:
    return dyndbg_model_era(source) if area == "dyndbg" else zsmalloc_model_era(source)


def run_area(area: str, source: KernelSource, budget: Budget, *,
             sanitize: bool = False, overlay: Path | None = None) -> AreaResult:
    """Build ``area`` of ``source`` (patched by ``overlay``), run its fidelity machine with
    ``budget``."""
    start = time.perf_counter()
    with ExitStack() as stack:
        servers = start_servers(stack, area, source, sanitize, overlay)
        cls = fidelity_machine(area, source, servers)
        if budget.seed is not None:
            cls._hypothesis_internal_use_seed = budget.seed
        found: list[Finding] = []
        error = None
        try:
            run_state_machine_as_test(cls, settings=hypothesis_settings(budget))
        except Disagreement as exc:
            last = cls.last
            found.append(Finding(exc.what, _text(exc.model), _text(exc.real),
                                 tuple(last.steps) if last else (),
                                 tuple(last.evidence) if last else ()))
        except HypothesisException as exc:
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return AreaResult(area, source.label, model_era_name(area, source), cls.test_cases,
                      sum(cls.rule_counts.values()), time.perf_counter() - start,
                      tuple(found), error)


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)
