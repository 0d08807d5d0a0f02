"""The differential state machine: a design's kernel and the ``section`` baseline, step by step.

One :class:`DyndbgMachine` boots two model kernels (:class:`model.designs.harness.DyndbgKernel`)
from the same module specs, same era and ABI: one runs the design under test, the other the
``section`` baseline.  Every rule does the same thing to both and compares what a user would
see.  Rules: boot (builtin tables), boot-time queries (``dyndbg=`` on the command line, before
late init, naming callsites or modules not loaded yet), late init, insmod / rmmod at any time
(modules loaded by the initramfs before late init too), a bulk load of a dozen modules, the same
module loaded again, control-file writes (from a fixed pool, and built from the callsites the
kernel holds) and reads, ``pr_debug`` hits in process, softirq or hardirq context on a CPU, a
look at one callsite's metadata, the shrinker, and a failed allocation.  Control-file access
waits for late init, as user space does.  Modules and builtin tables are realistic
(:mod:`properties.callsites`): distinct names, files and formats, sizes at capacity edges.

**Swarm.**  Each test case's ``boot`` draws the rules it switches off (each with probability
1/4; fault injection with 1/2), so runs that never fail an allocation and runs that fail
several occur, and runs without rmmod reach larger kernels.  ``rule_counts`` of a run carries,
besides each rule's calls, ``swarm:RULE`` (test cases that had the rule on) and ``reach:WHAT``
(test cases that got there: late init, a module loaded during boot, a reload, a failed
allocation, 17 tables, 100 and 256 callsites).

**What one run checks** is a :class:`Check`: the property's kind and name.

* ``equivalence`` (``control-file``, ``query-results``, ``print-decisions``,
  ``callsite-metadata``): the named observation must equal the baseline's after every step.
* ``kernel-rules`` (``no-sleep-while-mapped``, ``one-mapping-per-cpu``, ``no-map-in-interrupt``,
  ``no-bad-handle``, ``no-oops``, ``no-other-bug``): the design must not raise the
  :class:`~model.errors.KernelBug` of that rule (:func:`rule_of` sorts them).
* ``footprint`` (``saves-what-it-claims``): after late init the design keeps fewer resident bytes
  than the design it claims to beat (``saves_against``), both driven by the same steps.

**How a broken kernel rule meets an equivalence check (the halting rule).**  The model kernel
behaves as the real one does after each kind of violation:

* "BUG: sleeping function called from invalid context" is a splat; the kernel prints it and goes
  on.  The design's context (:class:`SurvivingContext`) records it and returns, so the run goes
  on and keeps comparing; only ``no-sleep-while-mapped`` runs with the strict context, where
  the splat is the failure.
* A violated mapping rule (``BUG_ON(in_interrupt())``, a second mapping on a CPU, a pin-tag
  deadlock) kills the kernel.  Outside its own property the run *halts*: the violation is
  recorded as evidence and every later step does nothing, because a dead kernel shows nothing
  to compare.  So a design that breaks only a kernel rule (union-flag mapping in hardirq) gets
  an honest equivalence verdict on everything it did while the kernel lived.
* A fault from wrong data (a handle the pool never returned, a load from freed or unmapped
  memory, any other KernelBug) is an equivalence failure too: where the baseline showed the
  control file, the design showed an oops.  That is how the odd tag shows up: a string pointer
  read as a zhandle.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

import attrs
from hypothesis import currently_in_test_context, target
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from model.abi import get_abi
from model.context import KernelContext
from model.corpus import Corpus, load_corpus_cached, module_image, vmlinux_image
from model.designs.harness import CONTEXTS, DyndbgKernel, measure_resident
from model.dyndbg import core
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.dyndbg.era import ddebug_describe_flags
from model.errors import (
    BadAccess,
    BadHandle,
    BugOn,
    KernelBug,
    MapInInterrupt,
    NestedMapping,
    SleepingInInvalidContext,
)
from model.linker import ModuleImage, link_vmlinux
from model.memory import AddressSpace
from model.zsmalloc import BUG_MAP_IN_INTERRUPT, PinDeadlock
from properties import callsites as realistic
from properties.catalogue import DesignRef, Target
from properties.evidence import bad_value, value_origin
from properties.tracing import TracedMachine, checked, traced

__all__ = [
    "CONTEXT_RULES",
    "EQUIVALENCE",
    "KERNEL_RULES",
    "Check",
    "DyndbgMachine",
    "SurvivingContext",
    "dyndbg_machine",
    "group_check",
    "module_specs",
    "queries",
    "rule_of",
    "saves_against_class",
]

EQUIVALENCE: tuple[str, ...] = ("control-file", "query-results", "print-decisions",
                                "callsite-metadata")
KERNEL_RULES: tuple[str, ...] = ("no-sleep-while-mapped", "one-mapping-per-cpu",
                                 "no-map-in-interrupt", "no-bad-handle", "no-oops",
                                 "no-other-bug")
#: Violations of these stop the kernel (or, for sleeping, are survived): not equivalence faults.
CONTEXT_RULES: frozenset[str] = frozenset(
    {"no-sleep-while-mapped", "one-mapping-per-cpu", "no-map-in-interrupt"})


def rule_of(exc: KernelBug) -> str:
    """The kernel rule a :class:`KernelBug` breaks (the kernel-rules property that owns it)."""
    if isinstance(exc, SleepingInInvalidContext):
        return "no-sleep-while-mapped"
    if isinstance(exc, MapInInterrupt) or (isinstance(exc, BugOn)
                                           and exc.site == BUG_MAP_IN_INTERRUPT):
        return "no-map-in-interrupt"
    if isinstance(exc, PinDeadlock | NestedMapping):
        return "one-mapping-per-cpu"
    if isinstance(exc, BadHandle):
        return "no-bad-handle"
    if isinstance(exc, BadAccess):
        return "no-oops"
    return "no-other-bug"


@attrs.frozen
class Check:
    """What a run checks: ``kind`` ("equivalence", "kernel-rules", "footprint") and ``name``.

    ``Check("all", "*")`` is one exploration for several equivalence and kernel-rules properties
    at once, ``members`` (by default every one; :func:`group_check` names fewer): each member's
    observation is compared and each member's kernel rule fails the run; a rule no member owns
    halts the run as it would halt every member's own run (a fault from wrong data still fails
    it when a member is an equivalence property).  So the group never halts where a member's
    own run goes on: when it passes, each member holds on the test cases it ran; when it fails,
    the runner replays its shrunk run on each member's own machine (the halting rule decides
    which ones the failure breaks) and explores again without them."""

    kind: str
    name: str
    members: frozenset[str] = frozenset(EQUIVALENCE + KERNEL_RULES)

    def names(self) -> frozenset[str]:
        """The properties this run checks."""
        return self.members if self.kind == "all" else frozenset({self.name})

    def compares(self, what: str) -> bool:
        """Whether observation ``what`` must equal the baseline's."""
        return bool(what) and what in EQUIVALENCE and what in self.names()

    def fails_on(self, broken: str) -> bool:
        """Whether a violation of kernel rule ``broken`` fails the run (else it halts it)."""
        names = self.names()
        data_fault = broken not in CONTEXT_RULES and not names.isdisjoint(EQUIVALENCE)
        return broken in names or data_fault

    @property
    def strict(self) -> bool:
        """Whether a sleeping-in-atomic splat fails the run (else it is survived)."""
        return "no-sleep-while-mapped" in self.names()

    @property
    def compares_any(self) -> bool:
        """Whether the run has a baseline to compare with."""
        return not self.names().isdisjoint(EQUIVALENCE)


ALL = Check("all", "*")


def group_check(members: frozenset[str] | set[str]) -> Check:
    """One exploration checking ``members`` (equivalence and kernel-rules properties)."""
    unknown = set(members) - set(EQUIVALENCE + KERNEL_RULES)
    if unknown or not members:
        raise ValueError(f"not a group of dyndbg properties: {sorted(members)}")
    return Check("all", "*", frozenset(members))


class ObservationDiffers(AssertionError):
    """What a user observes on the design differs from the baseline: the observation's name
    and both sides (plain values: text, tuples, numbers)."""

    def __init__(self, observation: str, baseline: Any, design: Any) -> None:
        self.observation = observation
        self.baseline = baseline
        self.design = design
        super().__init__(f"{observation} differs from the section baseline")


@attrs.define(slots=True, eq=False)
class SurvivingContext(KernelContext):
    """A :class:`KernelContext` whose ``might_sleep`` splats are printed and survived, as the
    kernel survives them (``___might_sleep`` warns and returns); ``strict`` raises them."""

    strict: bool = True
    splats: list[SleepingInInvalidContext] = attrs.field(factory=list)

    def might_sleep(self, site: str) -> None:
        try:
            KernelContext.might_sleep(self, site)
        except SleepingInInvalidContext as exc:
            if self.strict:
                raise
            self.splats.append(exc)


# --- strategies ---------------------------------------------------------------------------------

BUILTIN_NAMES = ("foo", "bar", "kvm", "usb", "i2c", "tg3", "ext4")
MODULE_NAMES = ("m", "ab", "xfs", "snd", "nvme", "e1000e")
FUNCS = ("f", "ab", "probe", "init", "do_read", "foo_probe", "usb_submit_urb_retry")
FILES = ("a.c", "x.c", "drivers/foo.c", "fs/ext4/super.c", "net/core/dev.c", "lib/zz.c")
FORMATS = ("ok\n", "x", "probe %d\n", "read\tdone\n", 'say "hi"\n', "bar %d-%d\n",
           "a long format string that is longer than 31 bytes: %s\n")


_FILE_CHOICES = (*FILES, "%s.c")
_FLAG_CHOICES = (0, 0, 0, 1)
_MAX_LINE = 3000


def _callsite_parts(n: int) -> tuple[str, str, str, int, int]:
    """Callsite ``n`` of a fixed enumeration (one draw per callsite; 0 is the simplest):
    function, file, format, line, default flags."""
    n, fn = divmod(n, len(FUNCS))
    n, fi = divmod(n, len(_FILE_CHOICES))
    n, fo = divmod(n, len(FORMATS))
    n, fl = divmod(n, len(_FLAG_CHOICES))
    return (FUNCS[fn], _FILE_CHOICES[fi], FORMATS[fo], 1 + n % _MAX_LINE, _FLAG_CHOICES[fl])


_CALLSITE_PARTS = st.integers(
    0, len(FUNCS) * len(_FILE_CHOICES) * len(FORMATS) * len(_FLAG_CHOICES) * _MAX_LINE - 1
).map(_callsite_parts)


def _module(name: str, parts: list[tuple[str, str, str, int, int]], builtin: bool) -> ModuleSpec:
    sites = tuple(CallsiteSpec(name, fn, file.replace("%s", name), fmt, line, flags=flags)
                  for fn, file, fmt, line, flags in parts)
    return ModuleSpec(name, sites, builtin=builtin)


def module_specs(builtin: bool) -> st.SearchStrategy[ModuleSpec]:
    """A module: a short name (short ``KBUILD_MODNAME`` literals are odd half the time), 1-4
    callsites with short and long function names, files and formats."""
    names = BUILTIN_NAMES if builtin else MODULE_NAMES
    return st.builds(lambda n, ps: _module(n, ps, builtin), st.sampled_from(names),
                     st.lists(_CALLSITE_PARTS, min_size=1, max_size=4))


def builtin_tables() -> st.SearchStrategy[tuple[ModuleSpec, ...]]:
    """1-3 builtin modules, one table each (a repeated name keeps its first draw)."""
    return st.lists(module_specs(True), min_size=1, max_size=3).map(
        lambda ms: tuple({m.name: m for m in reversed(ms)}.values())[::-1])


_FLAGSPECS = ("+p", "-p", "=p", "=pmf", "+pmflt", "=_", "+m", "-pm", "+t", "+pf", "+pl")
_MALFORMED = ("+q", "module", "frobnicate foo +p", "module foo", "line x-y +p", "func +p",
              "=", "module foo bar baz +p", "class NOPE +p", "file a.c:10-20 -p +p",
              "line 20-10 +p", "format \"unterminated +p")
_SEED = ("module foo +p", "func probe =pmf", "file x.c:10-20 -p", "module ab +p",
         "module m =pmflt", "+p", "file a.c:1-3000 +pmf")


def _query_pool() -> tuple[str, ...]:
    """Every query the machine writes, simplest first (shrinking moves toward the start): the
    seed's typical ones, each match keyword with each flag spec, line and file ranges, format
    matches, wildcards, malformed ones (each kernel error), several at once and comments."""
    out: list[str] = list(_SEED)
    mods = (*BUILTIN_NAMES, *MODULE_NAMES, "*", "k*")
    for flags in _FLAGSPECS:
        out.append(flags)
        out.extend(f"module {m} {flags}" for m in mods)
        out.extend(f"func {f} {flags}" for f in (*FUNCS, "*probe*"))
        out.extend(f"file {f} {flags}" for f in (*FILES, "*.c"))
        out.extend(f"format \"{t}\" {flags}" for t in ("probe", "done", "%d", "hi", "ok"))
    for a, b in ((1, 100), (10, 20), (100, 3000), (2000, 3000), (1, 1)):
        out.append(f"line {a}-{b} +p")
        out.extend(f"file {f}:{a}-{b} =pmf" for f in FILES)
        out.append(f"module foo line {a}-{b} -p")
    out.extend(_MALFORMED)
    out.extend(f"{a}; {b}" for a, b in zip(_SEED, reversed(out[:40]), strict=False))
    out.extend(f"# enable\n{q}\n" for q in _SEED)
    out.extend(f"{q}\n{r}" for q, r in zip(_MALFORMED, _SEED, strict=False))
    return tuple(dict.fromkeys(out))


QUERY_POOL: tuple[str, ...] = _query_pool()


def queries() -> st.SearchStrategy[str]:
    """Control queries drawn from :data:`QUERY_POOL` (one draw each: the machine stays fast)."""
    return st.sampled_from(QUERY_POOL)


#: Flag specs of the queries built from callsites (``s`` and ``d`` are flags from 6.4 / 6.19:
#: an error before, as in the kernel).
ABOUT_FLAGS: tuple[str, ...] = ("+p", "-p", "=p", "+pt", "=pmflt", "+pmf", "=_", "+m", "-pm",
                                "+pl", "=pf", "+ps", "=pd")
#: The forms of a query about a callsite (see :func:`query_about`): 1-8 name one of its fields,
#: 0 and 9 a module of the pool, loaded or not.
ABOUT_FORMS = 10


def _word(fmt: str) -> str:
    """A fragment of a format a ``format`` match can name: its longest alphanumeric word."""
    words = "".join(c if c.isalnum() or c == "_" else " " for c in fmt).split()
    return max(words, key=len) if words else "ok"


def query_about(spec: CallsiteSpec | None, form: int, flags: str, module: str) -> str:
    """A query aimed at callsite ``spec`` (its module, function, file, line or format), or at
    ``module`` when ``spec`` is None or the form names a module by itself: matches as a user
    types them, so the control file can tell callsites apart."""
    if spec is None or not 1 <= form <= 8:
        return f"module {module} {flags}"
    base = spec.filename.rsplit("/", 1)[-1]
    lo = max(1, spec.lineno - form)
    return (
        f"module {spec.modname} {flags}",
        f"func {spec.function} {flags}",
        f"file {spec.filename} {flags}",
        f"file {base}:{lo}-{spec.lineno} {flags}",
        f"format \"{_word(spec.format)}\" {flags}",
        f"module {spec.modname} line {lo}-{spec.lineno + 3} {flags}",
        f"func {spec.function[:max(1, len(spec.function) // 2)]}* {flags}",
        f"module {spec.modname} file {base} line {spec.lineno} {flags}",
    )[form - 1]


#: Rules each test case may switch off (swarm testing); ``late_init`` and ``hit`` stay on.
SWARM_RULES: tuple[str, ...] = ("boot_query", "boot_query_about", "insmod", "insmod_many",
                                "rmmod", "reload", "control_write", "control_write_about",
                                "control_read", "inspect", "compact", "fail_alloc")
#: Failed allocations a test case may inject at most.
MAX_FAILURES = 4
#: Callsites ``hit`` remembers as lately named.
HOT_SITES = 8
#: Steps a boot lasts at most: after them only late init, hits, looks and failures remain
#: until late init (otherwise a dozen boot-time rules would push late init past most runs).
BOOT_STEPS = 6


def swarm_off() -> st.SearchStrategy[frozenset[str]]:
    """The rules a test case switches off: each with probability 1/4 (a draw of 0-3 per rule,
    3 is off), fault injection with 1/2 more; every draw shrinks toward every rule on."""
    n = len(SWARM_RULES)

    def decode(draws: tuple[int, ...]) -> frozenset[str]:
        off = {r for r, d in zip(SWARM_RULES, draws, strict=False) if d == 3}
        if draws[n] == 1:
            off.add("fail_alloc")
        return frozenset(off)
    return st.tuples(*[st.integers(0, 3)] * n, st.integers(0, 1)).map(decode)


def swarm(name: str) -> Callable[[DyndbgMachine], bool]:
    """The precondition of a swarm rule: on in this test case."""
    def on(machine: DyndbgMachine) -> bool:
        return name not in machine.off
    on.__name__ = f"swarm_{name}"
    return on


def _corpus(path: str) -> Corpus:
    return load_corpus_cached(path)


_HALTED = object()


def _plain(value: Any) -> Any:
    """An observation as plain data for a report: text stays text; attrs values become dicts;
    tuples stay tuples."""
    if isinstance(value, str | int | bool | float) or value is None:
        return value
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    return repr(value)

#: (context, cpu) a ``pr_debug`` can run in: one draw per hit.
PLACES: tuple[tuple[str, int], ...] = tuple((c, cpu) for c in CONTEXTS for cpu in (0, 1))

_Regions = tuple[tuple[int, str, bool, bytes], ...]


@lru_cache(maxsize=256)
def _linked_vmlinux(abi_name: str, era: str, jump_label: bool, optimize_size: bool,
                    builtin: tuple[ModuleSpec, ...]) -> tuple[_Regions, ModuleImage]:
    """vmlinux linked once per set of builtin specs: the regions it maps and its image.  Both
    kernels of a run, and the replays of the shrinker, copy the regions instead of linking
    again (the linker model is deterministic, so the bytes are the same)."""
    space = AddressSpace(get_abi(abi_name))
    image = link_vmlinux(space, era, jump_label, builtin, optimize_size=optimize_size)
    regions = tuple((r.base, r.name, r.writable, bytes(r.data)) for r in space.regions())
    return regions, image


def before_late_init(machine: DyndbgMachine) -> bool:
    return not machine.late


def after_late_init(machine: DyndbgMachine) -> bool:
    return machine.late


def booting(machine: DyndbgMachine) -> bool:
    """Boot-time work (queries, loads and unloads before late init) fits in :data:`BOOT_STEPS`
    steps; after late init, loads and unloads are user space's."""
    return machine.late or len(machine.steps) <= BOOT_STEPS


def modules_loaded(machine: DyndbgMachine) -> bool:
    return machine.kd is not None and bool(machine.kd.modules) and booting(machine)


def modules_reloadable(machine: DyndbgMachine) -> bool:
    """A module was removed, or one is loaded (and may be removed and loaded again)."""
    return (bool(machine.unloaded) or modules_loaded(machine)) and booting(machine)


def may_fail(machine: DyndbgMachine) -> bool:
    return machine.failures < MAX_FAILURES


class DyndbgMachine(TracedMachine):
    """The differential machine (module docstring); :func:`dyndbg_machine` makes one per
    design, target and check."""

    design_cls: ClassVar[Any] = None
    baseline_cls: ClassVar[Any] = None
    check: ClassVar[Check] = Check("equivalence", "control-file")
    era: ClassVar[str] = "v6.1"
    abi_name: ClassVar[str] = "x86_64"
    corpus_path: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.kd: DyndbgKernel | None = None
        self.kb: DyndbgKernel | None = None
        self.late = False
        self.halted: str | None = None
        self.builtin_names: frozenset[str] = frozenset()
        #: The baseline's control file at its last read, until a step may have changed it
        #: (the baseline is the section design: reading its records changes nothing).
        self.kb_control: str | None = None
        #: Why the run halted (a kernel rule another property owns), for a later failure.
        self.halt_notes: list[str] = []
        #: Rules this test case switched off (swarm testing: :func:`swarm_off`).
        self.off: frozenset[str] = frozenset()
        #: The specs of the loaded modules, and of those unloaded since (for ``reload``).
        self.loaded: dict[str, ModuleSpec] = {}
        self.unloaded: dict[str, ModuleSpec] = {}
        #: Failed allocations injected so far.
        self.failures = 0
        #: Callsites a query or a load named lately (``hit`` prefers them).
        self.hot: list[tuple[str, int]] = []
        #: What the test case reached (``reach:`` coverage, and ``target()``).
        self.reached: set[str] = set()
        self.peak_callsites = 0
        self.peak_tables = 0

    # --- running one step on both kernels -----------------------------------------------------

    def _ctx(self, strict: bool) -> SurvivingContext:
        abi = get_abi(self.abi_name)
        space = AddressSpace(abi)
        ctx = SurvivingContext(nr_cpus=2, space=space, strict=strict)
        return ctx

    def _design(self, fn: Callable[[DyndbgKernel], Any]) -> Any:
        """Run ``fn`` on the design's kernel, applying the halting rule."""
        kd = self.kd
        assert kd is not None
        return self._guard(lambda: fn(kd))

    def _guard(self, thunk: Callable[[], Any]) -> Any:
        try:
            return thunk()
        except KernelBug as exc:
            broken = rule_of(exc)
            if self.check.kind != "footprint" and self.check.fails_on(broken):
                self._add_evidence(exc)
                raise
            self.halted = f"{broken}: {exc.message}"
            self.halt_notes.append(f"run halted: the design broke {broken} ({exc.message}); "
                                   "that verdict belongs to the kernel-rules properties")
            return _HALTED

    def _add_evidence(self, exc: BaseException) -> None:
        """The one channel: notes on the failure.  Where a bad value came from (derived from
        the model for any design), splats survived and halts before it."""
        lines: list[str] = []
        value = bad_value(exc) if isinstance(exc, BadHandle | BadAccess) else None
        if value is not None and self.kd is not None:
            images = [self.kd.vmlinux, *self.kd.modules.values()]
            lines += value_origin(self.kd.space, images, value, "the value it was handed",
                                  era=self.era, jump_label=self.kd.jump_label)
        splats = getattr(self.kd.ctx, "splats", []) if self.kd is not None else []
        if splats:
            lines.append(f"{len(splats)} sleeping-in-atomic splat(s) survived before "
                         f"(first: {splats[0].message})")
        lines += self.halt_notes
        for line in lines:
            exc.add_note(line)

    def _both(self, fn: Callable[[DyndbgKernel], Any], what: str,
              reads_only: bool = False) -> None:
        """Run ``fn`` on the design's kernel, then the baseline's, and compare what ``what``
        names.  A step that is not ``reads_only`` may change the baseline's control file, so it
        forgets the baseline's last rendering (``kb_control``)."""
        if not reads_only:
            self.kb_control = None
        if self.halted is not None or self.kd is None:
            return  # the design's kernel died: nothing more to observe
        got = self._design(fn)
        if got is _HALTED or self.kb is None:
            return
        want = fn(self.kb)
        if self.check.compares(what) and got != want:
            exc = ObservationDiffers(what, baseline=_plain(want), design=_plain(got))
            self._add_evidence(exc)
            raise exc

    def _site_text(self, image: str, k: int) -> str:
        """``module:file:line`` of callsite ``k`` of ``image``, as the linker placed it."""
        assert self.kd is not None
        spec = self.kd.image(image).callsites[k].spec
        return f"{spec.modname}:{spec.filename}:{spec.lineno}"

    @property
    def live(self) -> bool:
        return self.halted is None

    # --- rules ---------------------------------------------------------------------------------

    def _boot(self, builtin: tuple[ModuleSpec, ...], jump_label: bool,
              optimize_size: bool, off: frozenset[str] = frozenset()) -> None:
        """early_initcall: link vmlinux (or place the corpus's) and run ``dynamic_debug_init``
        on both kernels; ``off`` are the rules this test case switches off."""
        self.off = off
        counts = type(self).rule_counts
        for name in SWARM_RULES:
            if name not in off:
                counts[f"swarm:{name}"] += 1
        strict = self.check.strict
        abi = get_abi(self.abi_name)
        corpus = _corpus(self.corpus_path) if self.corpus_path is not None else None
        self.builtin_names = frozenset(m.name for m in builtin)

        def make(cls: Any, c: SurvivingContext) -> DyndbgKernel:
            assert c.space is not None
            if corpus is not None:
                img = vmlinux_image(corpus, c.space, self.era, jump_label)
            else:
                regions, img = _linked_vmlinux(self.abi_name, self.era, jump_label,
                                               optimize_size, builtin)
                for base, name, writable, data in regions:
                    c.space.map(base, len(data), name, writable=writable, data=data)
            return DyndbgKernel.boot(cls, abi, self.era, jump_label, builtin, ctx=c,
                                     optimize_size=optimize_size, vmlinux=img)

        ctx = self._ctx(strict)
        got = self._guard(lambda: make(self.design_cls, ctx))
        if got is _HALTED:
            return
        self.kd = got
        if self.baseline_cls is not None:
            self.kb = make(self.baseline_cls, self._ctx(False))
        self._note_size()

    def _note_size(self) -> None:
        """Keep the largest kernel the test case reached (callsites, tables)."""
        if self.kd is None or self.halted is not None:
            return
        sites = len(self.kd.callsites())
        tables = len(self.builtin_names) + len(self.kd.modules)
        self.peak_callsites = max(self.peak_callsites, sites)
        self.peak_tables = max(self.peak_tables, tables)

    def _record_reach(self) -> None:
        """At teardown: count what this test case reached (``reach:``) and give Hypothesis'
        ``target()`` the kernel's size, so the target phase grows kernels past capacities."""
        counts = type(self).rule_counts
        if self.late:
            self.reached.add("late-init")
        if self.peak_tables >= 17:
            self.reached.add("17-tables")
        for n in (100, 256):
            if self.peak_callsites >= n:
                self.reached.add(f"{n}-callsites")
        for what in self.reached:
            counts[f"reach:{what}"] += 1
        if currently_in_test_context():
            target(float(self.peak_callsites), label="callsites")
            target(float(self.peak_tables), label="tables")

    @precondition(swarm("boot_query"))
    @precondition(booting)
    @precondition(before_late_init)
    @rule(text=queries())
    @traced
    def boot_query(self, text: str) -> None:
        """``dyndbg="..."`` on the kernel command line: ``ddebug_exec_queries`` at early init."""
        self._both(lambda k: k.exec_queries(text), "query-results")

    def _hot(self, which: int) -> tuple[str, int] | None:
        """For an odd ``which``: a callsite a query or a load named lately, still loaded."""
        if not which & 1 or not self.hot or self.kd is None:
            return None
        image, k = self.hot[(which >> 1) % len(self.hot)]
        if image != "vmlinux" and image not in self.kd.modules:
            return None
        return (image, k) if k < self.kd.image(image).count else None

    def _named(self, image: str, k: int) -> None:
        self.hot = [*self.hot[-(HOT_SITES - 1):], (image, k)]

    def _about(self, which: int, form: int, flags: str) -> str:
        """The text of a query about callsite ``which`` of the design's kernel (a module of the
        pool, loaded or not, for some forms)."""
        assert self.kd is not None
        sites = self.kd.callsites()
        spec = None
        if sites:
            image, k = sites[which % len(sites)]
            spec = self.kd.image(image).callsites[k].spec
            self._named(image, k)
        pool = realistic.MODULE_POOL
        return query_about(spec, form, flags, pool[which % len(pool)])

    @precondition(swarm("boot_query_about"))
    @precondition(booting)
    @precondition(before_late_init)
    @rule(which=st.integers(0, 1 << 16), form=st.integers(0, ABOUT_FORMS - 1),
          flags=st.sampled_from(ABOUT_FLAGS))
    @traced
    def boot_query_about(self, which: int, form: int, flags: str) -> None:
        """``dyndbg="QUERY"`` naming a callsite the kernel holds (its function, file, lines,
        format) or a module, loaded during boot or not loaded yet."""
        if self.kd is None:
            return
        text = self._about(which, form, flags)
        self.resolve(f'dyndbg="{text}" on the kernel command line')
        self._both(lambda k: k.exec_queries(text), "query-results")

    @precondition(before_late_init)
    @rule()
    @traced
    def late_init(self) -> None:
        """``late_initcall``: the 2020 designs copy into the pool and reclaim the section."""
        self.late = True
        self._both(lambda k: k.late_init(), "")
        self._note_size()

    @precondition(swarm("rmmod"))
    @precondition(modules_loaded)
    @rule(which=st.integers(0, 7))
    @traced
    def rmmod(self, which: int) -> None:
        """Unload a loaded module, during boot too (``ddebug_remove_module``, then its memory
        is freed); its callsites may be enabled."""
        if self.kd is None or not self.kd.modules:
            return
        names = sorted(self.kd.modules)
        name = names[which % len(names)]
        self.resolve(f"rmmod {name}")
        self._rmmod(name)

    def _rmmod(self, name: str) -> None:
        spec = self.loaded.pop(name, None)
        if spec is not None:
            self.unloaded[name] = spec

        def unload(k: DyndbgKernel) -> int:
            k.ctx.switch_cpu(0)
            return k.rmmod(name)
        self._both(unload, "")

    @precondition(swarm("control_write"))
    @precondition(after_late_init)
    @rule(text=queries())
    @traced
    def control_write(self, text: str) -> None:
        """``echo TEXT > <debugfs>/dynamic_debug/control`` from a task on CPU 0."""
        def write(k: DyndbgKernel) -> Any:
            k.ctx.switch_cpu(0)
            return k.control_write(text)
        self._both(write, "query-results")

    @precondition(swarm("control_write_about"))
    @precondition(after_late_init)
    @rule(which=st.integers(0, 1 << 16), form=st.integers(0, ABOUT_FORMS - 1),
          flags=st.sampled_from(ABOUT_FLAGS))
    @traced
    def control_write_about(self, which: int, form: int, flags: str) -> None:
        """``echo QUERY > control`` naming a callsite the kernel holds (its module, function,
        file, line range or format) or a module of the pool."""
        if self.kd is None:
            return
        text = self._about(which, form, flags)
        self.resolve(f"echo '{text}' > control")

        def write(k: DyndbgKernel) -> Any:
            k.ctx.switch_cpu(0)
            return k.control_write(text)
        self._both(write, "query-results")

    @precondition(swarm("control_read"))
    @precondition(after_late_init)
    @rule()
    @traced
    def control_read(self) -> None:
        """``cat <debugfs>/dynamic_debug/control`` from a task on CPU 0."""
        def read(k: DyndbgKernel) -> str:
            k.ctx.switch_cpu(0)
            memo = k is self.kb and self.check.compares_any  # the baseline
            if memo and self.kb_control is not None:
                # the baseline shows what it showed at its last read: nothing changed since
                k.ctx.mutex_lock(core.SITE_PROC_START)
                return self.kb_control
            text = k.control_read()
            if memo:
                self.kb_control = text
            return text
        self._both(read, "control-file", reads_only=True)

    @rule(which=st.integers(0, 1 << 16), where=st.sampled_from(PLACES))
    @traced
    def hit(self, which: int, where: tuple[str, int]) -> None:
        """A ``pr_debug`` runs ``where``: in a context (process, softirq, hardirq) on a CPU.
        (The place is a draw of its own: folded into ``which`` it would follow the integer
        draw's bias toward small values, and hardirq hits would be rarer.)  An odd ``which``
        hits a callsite a query or a load named lately, which is likely enabled: among
        hundreds of callsites a uniform pick would seldom print."""
        context, cpu = where
        assert self.kd is not None
        sites = self.kd.callsites()
        if not sites:
            return
        image, k = self._hot(which) or sites[which % len(sites)]
        self.resolve(f"pr_debug at {self._site_text(image, k)} in {context} context on CPU{cpu}")
        self._both(lambda kern: kern.hit(image, k, context, cpu), "print-decisions",
                   reads_only=True)

    @precondition(swarm("inspect"))
    @rule(which=st.integers(0, 1 << 16))
    @traced
    def inspect(self, which: int) -> None:
        """Read one callsite's metadata through ``get_site``/``put_site`` (process context):
        what a user can observe of it, the flags as the control file shows them (a bit the
        design reserves for itself counts only through its effects)."""
        assert self.kd is not None
        sites = self.kd.callsites()
        if not sites:
            return
        image, k = sites[which % len(sites)]
        self.resolve(f"read the metadata of {self._site_text(image, k)} (get_site/put_site)")

        def look(kern: DyndbgKernel) -> Any:
            kern.ctx.switch_cpu(0)
            d = kern.design
            found = core.find_callsite(d, kern.image(image).record_addr(k))
            if found is None:
                return None
            dt, i = found
            dp = d.get_site(dt, i)
            try:
                return (core.cstr(d, dp.modname), core.cstr(d, dp.function),
                        core.cstr(d, dp.filename), core.cstr(d, dp.format), dp.lineno,
                        dp.class_id, ddebug_describe_flags(d.era, d.get_flags(dt, i)))
            finally:
                d.put_site(dt, i)
        self._both(look, "callsite-metadata", reads_only=True)

    # --- the protocol's hooks: the shrinker and fault injection ---------------------------------

    @precondition(swarm("compact"))
    @precondition(after_late_init)
    @rule(cpu=st.sampled_from((0, 1)))
    @traced
    def compact(self, cpu: int) -> None:
        """The shrinker: the design's ``compact()`` (``zs_compact`` of a pool, nothing for a
        design without one), from kswapd on ``cpu``.  (A rule without arguments comes first
        among the rules Hypothesis picks from, and is picked most: that place is
        ``control_read``'s, the observation most thinkos show in.)"""
        def run(k: DyndbgKernel) -> int:
            k.ctx.switch_cpu(cpu)
            return k.compact()
        self._both(run, "")

    @precondition(swarm("fail_alloc"))
    @precondition(may_fail)
    @rule()
    @traced
    def fail_alloc(self) -> None:
        """The design's next allocation fails, through the hook the protocol declares
        (``inject_alloc_failure``: the kernel's next page or slab allocation by default, a
        pool design's next ``zs_malloc``).  Every design has it; at most
        :data:`MAX_FAILURES` a test case.  Only the design under test fails: the baseline, or
        the design a footprint claim is held against, is the reference."""
        self.failures += 1
        self.reached.add("failed-alloc")
        if self.halted is None and self.kd is not None:
            self._design(lambda k: k.inject_alloc_failure(1))

    def teardown(self) -> None:
        super().teardown()



class LinkerModules(DyndbgMachine):
    """Builtin tables and modules the linker model lays out (the default): realistic modules
    (:mod:`properties.callsites`), loaded one at a time, a dozen at once, or again."""

    @initialize(builtin=realistic.builtin_tables(), jump_label=st.booleans(),
                optimize_size=st.booleans(), off=swarm_off())
    @traced
    def boot(self, builtin: tuple[ModuleSpec, ...], jump_label: bool,
             optimize_size: bool, off: frozenset[str] = frozenset()) -> None:
        """early_initcall with the builtin tables linked into vmlinux (``-Os`` when
        ``optimize_size``); ``off``: the rules this test case switches off."""
        self._boot(builtin, jump_label, optimize_size, off)

    def _insmod(self, module: ModuleSpec, param: str | None) -> None:
        if self.kd is None or module.name in self.kd.modules:
            return
        if not self.late:
            self.reached.add("boot-insmod")
        if module.name in self.unloaded:
            self.reached.add("reload")
        self.unloaded.pop(module.name, None)
        self.loaded[module.name] = module

        def load(k: DyndbgKernel) -> int:
            return k.insmod(module, param, with_param=param is not None)
        self._both(load, "")
        self._note_size()
        if param is not None and module.callsites:
            self._named(module.name, 0)

    @precondition(swarm("insmod"))
    @precondition(booting)
    @rule(module=realistic.module_specs(), param=st.sampled_from((None, "+p", "=pmf", "+q")))
    @traced
    def insmod(self, module: ModuleSpec, param: str | None) -> None:
        """Load a module (``$mod.dyndbg=param`` when given), during boot too (a module of the
        initramfs loaded before late init)."""
        self._insmod(module, param)

    @precondition(swarm("insmod_many"))
    @precondition(booting)
    @rule(modules=realistic.module_batches(2, 24))
    @traced
    def insmod_many(self, modules: tuple[ModuleSpec, ...]) -> None:
        """Load several modules in one step (udev at boot): dozens of tables quickly."""
        for module in modules:
            if self.halted is not None:
                return
            self._insmod(module, None)

    @precondition(swarm("reload"))
    @precondition(modules_reloadable)
    @rule(which=st.integers(0, 15), param=st.sampled_from((None, "+p")))
    @traced
    def reload(self, which: int, param: str | None) -> None:
        """The same module loaded again: one that was removed before (an even ``which``), or
        a loaded one removed and loaded again in one step (``modprobe -r m; modprobe m``, an
        odd ``which``); its callsites may be enabled when it goes."""
        assert self.kd is not None
        if which & 1 and self.kd.modules:
            name = sorted(self.kd.modules)[(which >> 1) % len(self.kd.modules)]
            self.resolve(f"rmmod {name}; insmod {name}")
            self._rmmod(name)
        elif self.unloaded:
            name = sorted(self.unloaded)[(which >> 1) % len(self.unloaded)]
            self.resolve(f"insmod {name} (loaded and removed before)")
        else:
            return
        if self.halted is None and name in self.unloaded:
            self._insmod(self.unloaded[name], param)

    def teardown(self) -> None:
        self._record_reach()
        super().teardown()


class CorpusModules(DyndbgMachine):
    """The corpus's real records: its vmlinux tables at boot, its modules at insmod."""

    @initialize(jump_label=st.booleans(), off=swarm_off())
    @traced
    def boot(self, jump_label: bool, off: frozenset[str] = frozenset()) -> None:
        """early_initcall with the corpus's builtin tables (an empty vmlinux for a corpus of
        modules only)."""
        self._boot((), jump_label, False, off)

    @precondition(swarm("insmod"))
    @precondition(booting)
    @rule(which=st.integers(0, 1 << 16), param=st.sampled_from((None, "+p")))
    @traced
    def insmod_corpus(self, which: int, param: str | None) -> None:
        """Load a real module of the corpus (its records at their real offsets), during boot
        too; a module removed before loads again."""
        corpus = _corpus(self.corpus_path or "")
        if not corpus.loadable or self.kd is None:
            return
        name = corpus.loadable[which % len(corpus.loadable)].spec.name
        if name in self.kd.modules:
            return
        if not self.late:
            self.reached.add("boot-insmod")

        def load(k: DyndbgKernel) -> int:
            img = module_image(corpus, which, k.space, self.era, k.jump_label)
            assert img is not None
            return k.insmod_image(img, param, with_param=param is not None)
        self._both(load, "")
        self._note_size()

    def teardown(self) -> None:
        self._record_reach()
        super().teardown()


class PoolRules(DyndbgMachine):
    """Kept for machines built by name: every machine now has the pool's rules (``compact``,
    ``fail_alloc``), which reach a design through the hooks the protocol declares."""


class FootprintRule(DyndbgMachine):
    """The footprint claim as an invariant, in footprint machines only (an invariant is checked
    after every step: the other checks do not pay for it)."""

    @invariant()
    @checked
    def footprint_claim(self) -> None:
        """After late init: what the design's own ``footprint()`` says is what its allocators
        and sections hold (:func:`~model.designs.harness.measure_resident`), and that measured
        figure is below the measured figure of the design it claims to beat."""
        if (self.check.kind != "footprint" or not self.late or not self.live
                or self.kd is None or self.kb is None):
            return
        fd, fb = self.kd.design.footprint(), self.kb.design.footprint()
        md, mb = measure_resident(self.kd), measure_resident(self.kb)
        name, base = self.kd.design.name, self.kb.design.name
        if fd.resident_bytes != md.resident_bytes:
            exc = AssertionError(
                f"{name}'s footprint() says {fd.resident_bytes} bytes resident, its allocators "
                f"and sections hold {md.resident_bytes}: the footprint is not what it keeps")
        elif md.resident_bytes > mb.resident_bytes or (
                md.resident_bytes == mb.resident_bytes and self.kd.callsites()):
            # (a kernel without callsites has nothing to save: equal is no claim broken)
            exc = AssertionError(
                f"{name} keeps {md.resident_bytes} bytes resident, {base} "
                f"{mb.resident_bytes}: it does not save what it claims")
        else:
            return
        for line in [*footprint_lines(name, fd, base, fb), *md.lines()]:
            exc.add_note(line)
        raise exc


def footprint_lines(name: str, fd: Any, base: str, fb: Any) -> list[str]:
    rows = ("section_bytes", "reclaimed_bytes", "pool_bytes", "handle_bytes", "table_bytes",
            "other_bytes", "resident_bytes")
    out = [f"{'':18}{name:>16}{base:>16}"]
    out += [f"{r:18}{getattr(fd, r):>16}{getattr(fb, r):>16}" for r in rows]
    return out


def _design_modules(design: DesignRef) -> list[Any]:
    """The module of the design file ``design`` came from (the loader imported it), and the
    module its class was written in."""
    out = []
    if design.source != "built-in":
        path = os.path.realpath(design.source)
        out = [m for m in list(sys.modules.values())
               if os.path.realpath(str(getattr(m, "__file__", None) or "")) == path]
    own = sys.modules.get(getattr(design.factory, "__module__", ""))
    return [*out, own] if own is not None else out


def saves_against_class(design: DesignRef) -> Any:
    """The design ``design`` claims to beat (its ``saves_against``): a class, or the name of a
    design in the same file (its ``DESIGNS``) or of a built-in design, in that order."""
    from model.designs import builtin_designs

    against = getattr(design.factory, "saves_against", None)
    if against is None:
        raise ValueError(f"design {design.name} claims no saving")
    if isinstance(against, type):
        return against
    for module in _design_modules(design):
        for cls in getattr(module, "DESIGNS", None) or ():
            if getattr(cls, "name", None) == against:
                return cls
    builtin = builtin_designs()
    if against in builtin:
        return builtin[against]
    raise ValueError(f"design {design.name} claims to beat {against!r}, which is neither a "
                     "design of its file nor a built-in one")


def dyndbg_machine(design: DesignRef, target: Target, check: Check) -> type[DyndbgMachine]:
    """The machine checking ``check`` on ``design`` for ``target``."""
    from model.designs import builtin_designs

    baseline: Any = None
    if check.kind != "footprint" and check.compares_any:
        baseline = builtin_designs()["section"]
    elif check.kind == "footprint":
        baseline = saves_against_class(design)
    get_abi(target.abi)  # a bad ABI name fails here, as an error of the run
    attrs_: dict[str, Any] = {
        "design_cls": design.factory, "baseline_cls": baseline, "check": check,
        "era": target.era, "abi_name": target.abi,
        "corpus_path": os.fspath(target.corpus) if target.corpus else None,
    }
    label = check.name if check.members == ALL.members else "_".join(sorted(check.names()))
    safe = "".join(c if c.isalnum() else "_" for c in f"{label}_{design.name}")
    bases: list[type[DyndbgMachine]] = [CorpusModules if target.corpus else LinkerModules]
    if hasattr(design.factory, "compact") and hasattr(design.factory, "inject_alloc_failure"):
        bases.insert(0, PoolRules)
    if check.kind == "footprint":
        bases.insert(0, FootprintRule)
    return type(f"DyndbgMachine_{safe}", tuple(bases), attrs_)
