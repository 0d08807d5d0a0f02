"""The differential state machine: a design's kernel and the ``section`` baseline, step by step.

One :class:`DyndbgMachine` boots two model kernels (:class:`model.designs.harness.DyndbgKernel`)
from the same module specs, same era and ABI: one runs the design under test, the other the
``section`` baseline.  Every rule does the same thing to both and compares what a user would
see.  Rules: boot (builtin tables), a boot-time query (``dyndbg=`` on the command line, before
late init), late init, insmod / rmmod (modules from the linker model, or from a real corpus),
control-file writes (valid and malformed) and reads, ``pr_debug`` hits in process, softirq or
hardirq context on a CPU, a look at one callsite's metadata, pool compaction, and a failed pool
allocation.  Control-file access and insmod wait for late init, as user space does.

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
from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from model.abi import get_abi
from model.context import KernelContext
from model.corpus import Corpus, load_corpus_cached, module_image, vmlinux_image
from model.designs.harness import CONTEXTS, DyndbgKernel
from model.dyndbg import core
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.errors import (
    BadAccess,
    BadHandle,
    BugOn,
    KernelBug,
    SleepingInInvalidContext,
)
from model.linker import ModuleImage, link_vmlinux
from model.memory import AddressSpace
from model.zsmalloc import BUG_MAP_IN_INTERRUPT, PinDeadlock
from properties.catalogue import DesignRef, Target
from properties.tracing import TracedMachine, traced

__all__ = [
    "CONTEXT_RULES",
    "EQUIVALENCE",
    "KERNEL_RULES",
    "Check",
    "DyndbgMachine",
    "SurvivingContext",
    "dyndbg_machine",
    "module_specs",
    "queries",
    "rule_of",
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
    if isinstance(exc, BugOn) and exc.site == BUG_MAP_IN_INTERRUPT:
        return "no-map-in-interrupt"
    if isinstance(exc, PinDeadlock) or (
            type(exc) is KernelBug and exc.message.startswith("zs_map_object: nested mapping")):
        return "one-mapping-per-cpu"
    if isinstance(exc, BadHandle):
        return "no-bad-handle"
    if isinstance(exc, BadAccess):
        return "no-oops"
    return "no-other-bug"


@attrs.frozen
class Check:
    """What a run checks: ``kind`` ("equivalence", "kernel-rules", "footprint") and ``name``."""

    kind: str
    name: str


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


def _corpus(path: str) -> Corpus:
    return load_corpus_cached(path)


_HALTED = object()

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
            own = self.check.kind == "kernel-rules" and broken == self.check.name
            data_fault = self.check.kind == "equivalence" and broken not in CONTEXT_RULES
            self.evidence.extend(self._evidence(exc))
            if own or data_fault:
                raise
            self.halted = f"{broken}: {exc.message}"
            self.evidence.append(f"run halted: the design broke {broken} ({exc.message}); "
                                 "that verdict belongs to the kernel-rules properties")
            return _HALTED

    def _evidence(self, exc: KernelBug) -> list[str]:
        lines = [exc.message, *getattr(exc, "__notes__", [])]
        design = self.kd.design if self.kd is not None else None
        lines.extend(getattr(design, "evidence", ()) or ())
        return lines

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
        if self.check.kind == "equivalence" and self.check.name == what and got != want:
            self.evidence.extend(getattr(self.kd.design, "evidence", ()) or ()
                                 if self.kd is not None else ())
            raise AssertionError(f"{what} differs from the section baseline:\n"
                                 f"  design:   {got!r}\n  baseline: {want!r}")

    @property
    def live(self) -> bool:
        return self.halted is None

    # --- rules ---------------------------------------------------------------------------------

    def _boot(self, builtin: tuple[ModuleSpec, ...], jump_label: bool,
              optimize_size: bool) -> None:
        """early_initcall: link vmlinux (or place the corpus's) and run ``dynamic_debug_init``
        on both kernels."""
        strict = self.check == Check("kernel-rules", "no-sleep-while-mapped")
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

    @precondition(before_late_init)
    @rule(text=queries())
    @traced
    def boot_query(self, text: str) -> None:
        """``dyndbg="..."`` on the kernel command line: ``ddebug_exec_queries`` at early init."""
        self._both(lambda k: k.exec_queries(text), "query-results")

    @precondition(before_late_init)
    @rule()
    @traced
    def late_init(self) -> None:
        """``late_initcall``: the 2020 designs copy into the pool and reclaim the section."""
        self.late = True
        self._both(lambda k: k.late_init(), "")

    @precondition(after_late_init)
    @rule(which=st.integers(0, 7))
    @traced
    def rmmod(self, which: int) -> None:
        """Unload a loaded module (nothing when none is loaded)."""
        if self.kd is None or not self.kd.modules:
            return
        names = sorted(self.kd.modules)
        name = names[which % len(names)]

        def unload(k: DyndbgKernel) -> int:
            k.ctx.switch_cpu(0)
            return k.rmmod(name)
        self._both(unload, "")

    @precondition(after_late_init)
    @rule(text=queries())
    @traced
    def control_write(self, text: str) -> None:
        """``echo TEXT > <debugfs>/dynamic_debug/control`` from a task on CPU 0."""
        def write(k: DyndbgKernel) -> Any:
            k.ctx.switch_cpu(0)
            return k.control_write(text)
        self._both(write, "query-results")

    @precondition(after_late_init)
    @rule()
    @traced
    def control_read(self) -> None:
        """``cat <debugfs>/dynamic_debug/control`` from a task on CPU 0."""
        def read(k: DyndbgKernel) -> str:
            k.ctx.switch_cpu(0)
            memo = k is self.kb and self.check.kind == "equivalence"  # the section baseline
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
        draw's bias toward small values, and hardirq hits would be rarer.)"""
        context, cpu = where
        assert self.kd is not None
        sites = self.kd.callsites()
        if not sites:
            return
        image, k = sites[which % len(sites)]
        self._both(lambda kern: kern.hit(image, k, context, cpu), "print-decisions",
                   reads_only=True)

    @rule(which=st.integers(0, 1 << 16))
    @traced
    def inspect(self, which: int) -> None:
        """Read one callsite's metadata through ``get_site``/``put_site`` (process context)."""
        assert self.kd is not None
        sites = self.kd.callsites()
        if not sites:
            return
        image, k = sites[which % len(sites)]

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
                        dp.class_id, d.get_flags(dt, i))
            finally:
                d.put_site(dt, i)
        self._both(look, "callsite-metadata", reads_only=True)

    def teardown(self) -> None:
        if self.kd is not None:
            splats = getattr(self.kd.ctx, "splats", [])
            if splats and not any("splats survived" in e for e in self.evidence):
                self.evidence.append(f"{len(splats)} sleeping-in-atomic splats survived "
                                     f"(first: {splats[0].message})")



class LinkerModules(DyndbgMachine):
    """Builtin tables and modules the linker model lays out (the default)."""

    @initialize(builtin=builtin_tables(), jump_label=st.booleans(), optimize_size=st.booleans())
    @traced
    def boot(self, builtin: tuple[ModuleSpec, ...], jump_label: bool,
             optimize_size: bool) -> None:
        """early_initcall with 1-3 builtin modules linked into vmlinux (``-Os`` when
        ``optimize_size``)."""
        self._boot(builtin, jump_label, optimize_size)

    @precondition(after_late_init)
    @rule(module=module_specs(False), param=st.sampled_from((None, "+p", "=pmf", "+q")))
    @traced
    def insmod(self, module: ModuleSpec, param: str | None) -> None:
        """Load a module (``$mod.dyndbg=param`` when given)."""
        if self.kd is None or module.name in self.kd.modules:
            return

        def load(k: DyndbgKernel) -> int:
            return k.insmod(module, param, with_param=param is not None)
        self._both(load, "")


class CorpusModules(DyndbgMachine):
    """The corpus's real records: its vmlinux tables at boot, its modules at insmod."""

    @initialize(jump_label=st.booleans())
    @traced
    def boot(self, jump_label: bool) -> None:
        """early_initcall with the corpus's builtin tables (an empty vmlinux for a corpus of
        modules only)."""
        self._boot((), jump_label, False)

    @precondition(after_late_init)
    @rule(which=st.integers(0, 1 << 16), param=st.sampled_from((None, "+p")))
    @traced
    def insmod_corpus(self, which: int, param: str | None) -> None:
        """Load a real module of the corpus (its records at their real offsets)."""
        corpus = _corpus(self.corpus_path or "")
        if not corpus.loadable or self.kd is None:
            return
        if corpus.loadable[which % len(corpus.loadable)].spec.name in self.kd.modules:
            return

        def load(k: DyndbgKernel) -> int:
            img = module_image(corpus, which, k.space, self.era, k.jump_label)
            assert img is not None
            return k.insmod_image(img, param, with_param=param is not None)
        self._both(load, "")


class PoolRules(DyndbgMachine):
    """Rules for a design with a pool (``compact``, ``inject_alloc_failure``)."""

    @precondition(after_late_init)
    @rule()
    @traced
    def compact(self) -> None:
        """``zs_compact`` of the design's pool (the shrinker); nothing for the baseline."""
        def run(k: DyndbgKernel) -> None:
            k.ctx.switch_cpu(0)
            fn = getattr(k.design, "compact", None)
            if fn is not None:
                fn()
        self._both(run, "")

    @rule()
    @traced
    def fail_alloc(self) -> None:
        """The next ``zs_malloc`` of the design's pool fails (``cache_alloc_handle``)."""
        def run(k: DyndbgKernel) -> None:
            fn = getattr(k.design, "inject_alloc_failure", None)
            if fn is not None:
                fn(1)
        self._both(run, "")


class FootprintRule(DyndbgMachine):
    """The footprint claim as an invariant, in footprint machines only (an invariant is checked
    after every step: the other checks do not pay for it)."""

    @invariant()
    def footprint_claim(self) -> None:
        if (self.check.kind != "footprint" or not self.late or not self.live
                or self.kd is None or self.kb is None):
            return
        fd, fb = self.kd.design.footprint(), self.kb.design.footprint()
        if fd.resident_bytes >= fb.resident_bytes:
            self.evidence.extend(footprint_lines(self.kd.design.name, fd,
                                                 self.kb.design.name, fb))
            raise AssertionError(
                f"{self.kd.design.name} keeps {fd.resident_bytes} bytes resident, "
                f"{self.kb.design.name} {fb.resident_bytes}: it does not save what it claims")


def footprint_lines(name: str, fd: Any, base: str, fb: Any) -> list[str]:
    rows = ("section_bytes", "reclaimed_bytes", "pool_bytes", "handle_bytes", "table_bytes",
            "other_bytes", "resident_bytes")
    out = [f"{'':18}{name:>16}{base:>16}"]
    out += [f"{r:18}{getattr(fd, r):>16}{getattr(fb, r):>16}" for r in rows]
    return out


def dyndbg_machine(design: DesignRef, target: Target, check: Check) -> type[DyndbgMachine]:
    """The machine checking ``check`` on ``design`` for ``target``."""
    from model.designs import builtin_designs

    baseline: Any = None
    if check.kind == "equivalence":
        baseline = builtin_designs()["section"]
    elif check.kind == "footprint":
        against = getattr(design.factory, "saves_against", None)
        if against is None:
            raise ValueError(f"design {design.name} claims no saving")
        baseline = builtin_designs()[against]
    get_abi(target.abi)  # a bad ABI name fails here, as an error of the run
    attrs_: dict[str, Any] = {
        "design_cls": design.factory, "baseline_cls": baseline, "check": check,
        "era": target.era, "abi_name": target.abi,
        "corpus_path": os.fspath(target.corpus) if target.corpus else None,
    }
    safe = "".join(c if c.isalnum() else "_" for c in f"{check.name}_{design.name}")
    bases: list[type[DyndbgMachine]] = [CorpusModules if target.corpus else LinkerModules]
    if hasattr(design.factory, "compact") and hasattr(design.factory, "inject_alloc_failure"):
        bases.insert(0, PoolRules)
    if check.kind == "footprint":
        bases.insert(0, FootprintRule)
    return type(f"DyndbgMachine_{safe}", tuple(bases), attrs_)
