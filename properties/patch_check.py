"""Check a posted patch series: apply, build, fuzz the patched kernel against its base.

:func:`check_patches` applies the series to an overlay of the kernel tree
(:mod:`kernel.patching`), builds the unpatched and the patched ``lib/dynamic_debug.c`` with the
real ``mm/zsmalloc.c`` linked in (with and without ``CONFIG_JUMP_LABEL``), runs each check of
:class:`properties.patch_machine.PatchMachine` under Hypothesis, and measures what the patch
costs or saves: ``sizeof(struct _ddebug)`` before and after, and what each kernel holds after
booting a fixed set of callsites and running the late initcalls (slab bytes, pool pages).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import attrs
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from kernel.build import Built, build
from kernel.dyndbg import RealDyndbg, dyndbg_area
from kernel.patching import Patch, apply_series
from kernel.process import KernelServer
from kernel.sources import KernelSource
from kernel.zsmalloc import zsmalloc_area
from model.abi import get_abi
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.errors import KernelBug
from model.linker import link_vmlinux
from model.memory import AddressSpace
from properties.fidelity import dyndbg_model_era, run_area
from properties.fidelity_dyndbg import Disagreement
from properties.patch_machine import CHECKS, PatchMachine, UnpatchedFailed, patch_machine
from properties.runner import Budget, hypothesis_settings
from properties.tracing import Step

#: The callsites of the footprint probe: 40 builtin modules of 25 callsites each.
PROBE_MODULES = 40
PROBE_SITES = 25


@attrs.frozen
class CheckResult:
    """One check's verdict: passed, or the shrunk failing run."""

    check: str
    status: str  # "passed", "failed", "error"
    test_cases: int
    steps_run: int
    seconds: float
    message: str = ""
    error_type: str = ""
    site: str = ""
    steps: tuple[Step, ...] = ()
    evidence: tuple[str, ...] = ()
    #: Step index -> the kernel action it resolved to (see PatchMachine.actions).
    actions: tuple[tuple[int, str], ...] = ()
    #: For a difference: what, and both sides (the base is the unpatched kernel, or the
    #: model for the zsmalloc check of a patch to mm/zsmalloc.c).
    what: str = ""
    base: str = ""
    patched: str = ""
    base_name: str = "unpatched"


@attrs.frozen
class Footprint:
    """What the patch changes in memory, measured on both builds (x86-64)."""

    sizeof_before: int
    sizeof_after: int
    callsites: int
    slab_bytes_before: int
    slab_bytes_after: int
    pool_pages_after: int
    page_size: int = 4096

    @property
    def resident_before(self) -> int:
        return self.sizeof_before * self.callsites + self.slab_bytes_before

    @property
    def resident_after(self) -> int:
        return (self.sizeof_after * self.callsites + self.slab_bytes_after
                + self.pool_pages_after * self.page_size)


@attrs.frozen
class PatchCheck:
    """Everything :func:`check_patches` found."""

    patches: tuple[Patch, ...]
    source: KernelSource
    era: str
    results: tuple[CheckResult, ...]
    footprint: Footprint | None
    build_seconds: float
    first_verdict_seconds: float


def builds(source: KernelSource, overlay: Path, *, sanitize: bool = False
           ) -> dict[tuple[str, bool], Built]:
    """The base and patched builds, with and without jump labels."""
    out: dict[tuple[str, bool], Built] = {}
    for jl in (False, True):
        area = dyndbg_area(source, jl).with_part(zsmalloc_area(source))
        out[("base", jl)] = build(area, source, sanitize=sanitize)
        out[("patched", jl)] = build(area, source, overlay=overlay, sanitize=sanitize)
    return out


def probe_modules() -> tuple[ModuleSpec, ...]:
    """The footprint probe's builtin modules (distinct names, files, functions, formats)."""
    mods = []
    for m in range(PROBE_MODULES):
        name = f"mod{m:02d}"
        sites = tuple(CallsiteSpec(name, f"{name}_fn{s % 7}", f"drivers/{name}/file{s % 3}.c",
                                   f"{name} event {s} value %d\n", 10 + s)
                      for s in range(PROBE_SITES))
        mods.append(ModuleSpec(name, sites, builtin=True))
    return tuple(mods)


def measure(servers: dict[tuple[str, bool], KernelServer], era: str) -> Footprint | None:
    """Boot both builds (jump labels on) over the probe, run the late initcalls, and read what
    each holds."""
    mods = probe_modules()
    held: dict[str, tuple[int, int, int]] = {}
    sizes: dict[str, int] = {}
    for side in ("base", "patched"):
        space = AddressSpace(get_abi("x86_64"))
        image = link_vmlinux(space, era, True, mods)
        kernel = servers[(side, True)].new_kernel()
        try:
            d = RealDyndbg(kernel)
            d.boot(image, space, True, "")
            d.late_init()
            held[side] = d.resident().value
            sizes[side] = d.layout()[0]
        except KernelBug:
            return None
        finally:
            kernel.close()
    return Footprint(sizes["base"], sizes["patched"], PROBE_MODULES * PROBE_SITES,
                     held["base"][1], held["patched"][1], held["patched"][2])


def run_check(check: str, servers: dict[tuple[str, bool], KernelServer], era: str,
              budget: Budget) -> CheckResult:
    """One check of the patch machine under Hypothesis."""
    start = time.perf_counter()
    cls = patch_machine(check, servers, era)
    if budget.seed is not None:
        cls._hypothesis_internal_use_seed = budget.seed
    try:
        run_state_machine_as_test(cls, settings=hypothesis_settings(budget))
    except (KernelBug, Disagreement) as exc:
        last = cls.last
        steps = tuple(last.steps) if last else ()
        evidence = tuple(last.evidence) if last else ()
        actions = tuple(sorted(last.actions.items())) if isinstance(last, PatchMachine) else ()
        failed = CheckResult(check, "failed", cls.test_cases, sum(cls.rule_counts.values()),
                             time.perf_counter() - start, error_type=type(exc).__name__,
                             steps=steps, evidence=evidence, actions=actions)
        if isinstance(exc, Disagreement):
            return attrs.evolve(failed, what=exc.what, base=_text(exc.model),
                                patched=_text(exc.real),
                                message=f"{exc.what} differs from the unpatched kernel")
        return attrs.evolve(failed, message=exc.message, site=exc.site)
    except (UnpatchedFailed, HypothesisException) as exc:
        return CheckResult(check, "error", cls.test_cases, sum(cls.rule_counts.values()),
                           time.perf_counter() - start,
                           message=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return CheckResult(check, "passed", cls.test_cases, sum(cls.rule_counts.values()),
                       time.perf_counter() - start)


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def check_patches(source: KernelSource, patches: Sequence[Patch], budget: Budget, *,
                  sanitize: bool = False, checks: Sequence[str] = CHECKS) -> PatchCheck:
    """Apply ``patches`` to ``source``, build, run every check, measure the footprint."""
    start = time.perf_counter()
    overlay = apply_series(source, patches)
    built = builds(source, overlay, sanitize=sanitize)
    build_seconds = time.perf_counter() - start
    era = dyndbg_model_era(source)
    results: list[CheckResult] = []
    first = 0.0
    with ExitStack() as stack:
        servers = {key: stack.enter_context(KernelServer(b)) for key, b in built.items()}
        for check in checks:
            results.append(run_check(check, servers, era, budget))
            if not first:
                first = time.perf_counter() - start
        footprint = measure(servers, era)
    if any("mm/zsmalloc.c" in p.files for p in patches):
        results.append(zsmalloc_check(source, overlay, budget, sanitize))
    return PatchCheck(tuple(patches), source, era, tuple(results), footprint, build_seconds,
                      first)


def zsmalloc_check(source: KernelSource, overlay: Path, budget: Budget,
                   sanitize: bool) -> CheckResult:
    """A patch to mm/zsmalloc.c: the patched allocator against the model's zsmalloc (the
    fidelity machine), which loses, moves or corrupts nothing the unpatched one does not."""
    area = run_area("zsmalloc", source, budget, sanitize=sanitize, overlay=overlay)
    common = ("zsmalloc-model", "failed" if area.disagreements else
              ("error" if area.error else "passed"), area.test_cases, area.steps, area.seconds)
    if area.error:
        return CheckResult(*common, message=area.error)
    if not area.disagreements:
        return CheckResult(*common)
    d = area.disagreements[0]
    return CheckResult(*common, message=f"{d.what} differs from the model's zsmalloc",
                       error_type="Disagreement", steps=d.steps, evidence=d.evidence,
                       what=d.what, base=d.model, patched=d.kernel, base_name="model")


def replay(source: KernelSource, patches: Sequence[Patch], check: str,
           steps: Sequence[tuple[str, dict[str, object]]]) -> None:
    """Run ``steps`` once on the base and patched kernels, as the shrunk run did (the pytest
    reproducers of a patch report call this); it raises what the run raised."""
    built = builds(source, apply_series(source, patches))
    with ExitStack() as stack:
        servers = {key: stack.enter_context(KernelServer(b)) for key, b in built.items()}
        patch_machine(check, servers, dyndbg_model_era(source)).replay(steps)
