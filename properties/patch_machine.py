"""A posted patch against its base: two real kernels, unpatched and patched, under the same steps.

:class:`PatchMachine` boots the unpatched and the patched ``lib/dynamic_debug.c`` (each built in
user space with the real ``mm/zsmalloc.c`` linked in, so a patch may keep callsites in a pool)
and drives both with the steps of the design machine: boot over builtin records laid out by the
model's linker (odd string pointers included) with ``dyndbg=`` and ``foo.dyndbg=`` on the
command line, the late initcalls, ``insmod`` with ``dyndbg=`` and ``rmmod``, control writes
and reads, ``pr_debug`` hits in process, softirq and hardirq context on either CPU, the pool's
shrinker (``zs_compact``), and a failing zsmalloc page allocation.

What one run checks is its ``check``:

* ``kernel-rules``: the patched kernel breaks no rule the shims enforce: no splat it survives
  (sleeping in atomic context, a lock misused, a WARN) and no fatal event (``BUG()``, an oops,
  a hang), each with the patched file:line;
* ``equivalence``: after each step the patched kernel shows what the unpatched one shows: return
  values, the error lines logged, the control file, what each ``pr_debug`` prints.  A fatal
  event in the patched kernel halts the run (a dead kernel shows nothing to compare; the fault
  belongs to ``kernel-rules``); splats are survived, as the kernel survives them.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from kernel.dyndbg import RealDyndbg
from kernel.process import CallResult, Event, Kernel, KernelServer
from model.abi import get_abi
from model.dyndbg.callsite import ModuleSpec
from model.errors import KernelBug, SleepingInInvalidContext
from model.linker import ModuleImage, link_module, link_vmlinux
from model.memory import AddressSpace
from properties.dyndbg_machine import PLACES, builtin_tables, module_specs
from properties.fidelity_dyndbg import (
    Disagreement,
    boot_params,
    cmdline,
    error_lines,
    fidelity_queries,
    long_module_specs,
)
from properties.tracing import TracedMachine, traced

__all__ = ["CHECKS", "KernelSplat", "PatchMachine", "UnpatchedFailed", "patch_machine"]

CHECKS: tuple[str, ...] = ("kernel-rules", "equivalence")


class KernelSplat(KernelBug):
    """A splat the patched kernel survives (a WARN, a lock misused) but must not print."""


class UnpatchedFailed(RuntimeError):
    """The unpatched kernel itself failed a step: not the patch's fault, an error of the run."""


def splat_error(ev: Event) -> KernelBug:
    """The typed failure of a splat event: sleeping in atomic context or another splat, with
    its call trace as notes."""
    exc: KernelBug
    if ev.message.startswith("BUG: sleeping function called from invalid context"):
        exc = SleepingInInvalidContext(ev.message, ev.site)
    else:
        exc = KernelSplat(ev.message, ev.site)
    if ev.trace:
        exc.add_note("Call Trace:")
        for line in ev.trace:
            exc.add_note(f" {line}")
    return exc


def _unlined(message: str) -> str:
    """A splat's message without its line numbers: the unpatched kernel's own splat is the
    patched one's too, though the patch moved the line."""
    return re.sub(r":\d+", ":N", message)


def after_late_init(machine: PatchMachine) -> bool:
    return machine.late


class PatchMachine(TracedMachine):
    """The unpatched kernel against the patched one (module docstring)."""

    #: (side, CONFIG_JUMP_LABEL) -> fork server; side "base" or "patched".
    servers: ClassVar[dict[tuple[str, bool], KernelServer]] = {}
    era: ClassVar[str] = "v6.12"
    check: ClassVar[str] = "kernel-rules"

    def __init__(self) -> None:
        super().__init__()
        self.base: RealDyndbg | None = None
        self.patched: RealDyndbg | None = None
        self.kernels: list[Kernel] = []
        self.space: AddressSpace | None = None
        self.jump_label = False
        self.late = False
        self.halted: str | None = None
        self.modules: dict[str, ModuleImage] = {}
        self.vmlinux: ModuleImage | None = None
        self.callsites: list[tuple[str, int]] = []
        #: Step index -> the step said as the kernel action it resolved to (which module an
        #: ``rmmod`` removed, which callsite a hit ran), for the report.
        self.actions: dict[int, str] = {}

    def _say(self, action: str) -> None:
        self.actions[len(self.steps) - 1] = action

    # --- one step on both kernels --------------------------------------------------------------

    def _both(self, what: str, fn: Any, *, compare: bool = True) -> tuple[Any, Any] | None:
        """Run ``fn`` on the unpatched kernel, then the patched one; compare their values and
        error lines (``equivalence``) or watch the patched kernel's splats (``kernel-rules``).
        None when the patched kernel is dead (the run halted)."""
        if self.halted is not None:
            return None
        assert self.base is not None and self.patched is not None
        try:
            want: CallResult = fn(self.base)
        except KernelBug as exc:
            raise UnpatchedFailed(f"the unpatched kernel failed {what}: {exc}") from exc
        try:
            got: CallResult = fn(self.patched)
        except KernelBug as exc:
            self.evidence.extend(getattr(exc, "__notes__", ()))
            if self.check == "kernel-rules":
                self.evidence.extend(self._pointer_evidence())
                raise
            self.halted = f"{exc.message} [{exc.site}]"
            self.evidence.append(f"run halted: the patched kernel died ({exc.message}); that "
                                 "verdict belongs to kernel-rules")
            return None
        if self.check == "kernel-rules":
            seen = {_unlined(e.message) for e in want.splats}
            for ev in got.splats:
                if _unlined(ev.message) not in seen:
                    splat = splat_error(ev)
                    self.evidence.extend(e.message for e in got.events if e.kind == "log")
                    self.evidence.extend(getattr(splat, "__notes__", ()))
                    raise splat
        elif compare:
            if want.value != got.value:
                raise Disagreement(what, want.value, got.value)
            # a splat's own lines (and the lines a shim adds to it) belong to kernel-rules
            if not got.splats and error_lines(want) != error_lines(got):
                raise Disagreement(f"the error lines of {what}", error_lines(want),
                                   error_lines(got))
        return want.value, got.value

    def _pointer_evidence(self, limit: int = 6) -> list[str]:
        """The string pointers of the records the run had, with their parity: where a patch
        tells pointers from tagged values by a bit, this is the bit it read (the strings are at
        the same offsets within their pages in both kernels as the model's linker put them)."""
        images = [i for i in (self.vmlinux, *self.modules.values()) if i is not None]
        out = ["the records' string pointers (odd ones marked):"]
        for img in images:
            for k, c in enumerate(img.callsites[:limit]):
                parts = []
                for field in ("modname", "function", "filename", "format"):
                    addr = getattr(c, field)
                    mark = " ODD" if addr & 1 else ""
                    parts.append(f"{field} {addr:#x}{mark} {getattr(c.spec, field)!r}")
                out.append(f"  {img.name} #{k}: " + ", ".join(parts))
        return out if len(out) > 1 else []

    # --- rules ---------------------------------------------------------------------------------

    @initialize(builtin=builtin_tables(), jump_label=st.booleans(),
                params=st.lists(boot_params(), max_size=2).map(tuple))
    @traced
    def boot(self, builtin: tuple[ModuleSpec, ...], jump_label: bool,
             params: tuple[tuple[str, str | None], ...]) -> None:
        """Boot both kernels with ``builtin`` in vmlinux and ``params`` on the command line."""
        self.space = AddressSpace(get_abi("x86_64"))
        self.jump_label = jump_label
        image = link_vmlinux(self.space, self.era, jump_label, builtin)
        self.vmlinux = image
        self.callsites = [("vmlinux", k) for k in range(image.count)]
        servers = type(self).servers
        kb = servers[("base", jump_label)].new_kernel()
        kp = servers[("patched", jump_label)].new_kernel()
        self.kernels = [kb, kp]
        self.base, self.patched = RealDyndbg(kb), RealDyndbg(kp)
        space = self.space
        line = cmdline(params)
        self._both("boot", lambda k: k.boot(image, space, jump_label, line))

    @precondition(lambda self: not self.late)
    @rule()
    @traced
    def late_init(self) -> None:
        """``late_initcall``: a patch that copies callsites into a pool does it here."""
        self.late = True
        self._both("late init", lambda k: k.late_init(), compare=False)

    @precondition(after_late_init)
    @rule(text=fidelity_queries())
    @traced
    def control_write(self, text: str) -> None:
        """``echo -n TEXT > /proc/dynamic_debug/control``."""
        self._both(f"writing {text!r} to the control file", lambda k: k.control_write(text))

    @precondition(after_late_init)
    @rule()
    @traced
    def control_read(self) -> None:
        """``cat /proc/dynamic_debug/control``."""
        self._both("the control file", lambda k: k.control_read())

    @precondition(after_late_init)
    @rule(module=st.one_of(module_specs(False), long_module_specs()),
          param=st.sampled_from((None, "+p", "=pmf", "+q")))
    @traced
    def insmod(self, module: ModuleSpec, param: str | None) -> None:
        """``insmod MODULE.ko [dyndbg=PARAM]``."""
        if module.name in self.modules or self.space is None:
            return
        image = link_module(self.space, self.era, self.jump_label, module)
        self.modules[module.name] = image
        self.callsites.extend((module.name, k) for k in range(image.count))
        space = self.space
        self._both(f"insmod {module.name}",
                   lambda k: k.insmod(image, space, param, param is not None))

    @precondition(after_late_init)
    @rule(which=st.integers(0, 7))
    @traced
    def rmmod(self, which: int) -> None:
        """``rmmod`` one loaded module."""
        if not self.modules:
            return
        name = sorted(self.modules)[which % len(self.modules)]
        self._say(f"rmmod {name}")
        del self.modules[name]
        self.callsites = [c for c in self.callsites if c[0] != name]
        self._both(f"rmmod {name}", lambda k: k.rmmod(name))

    @rule(which=st.integers(0, 1 << 16), where=st.sampled_from(PLACES))
    @traced
    def hit(self, which: int, where: tuple[str, int]) -> None:
        """A ``pr_debug`` runs in a context on a CPU: what it prints."""
        if not self.callsites:
            return
        image, k = self.callsites[which % len(self.callsites)]
        context, cpu = where
        img = self.vmlinux if image == "vmlinux" else self.modules[image]
        assert img is not None
        c = img.callsites[k].spec
        self._say(f"pr_debug({c.format!r}) at {c.modname}:{c.filename}:{c.lineno} "
                  f"{c.function}() in {context} context on CPU{cpu}")
        self._both(f"what pr_debug at {image}:{k} in {context} on CPU{cpu} prints",
                   lambda kern: kern.hit(image, k, context, cpu))

    @precondition(after_late_init)
    @rule()
    @traced
    def compact(self) -> None:
        """The pool's shrinker runs (``zs_compact``); nothing without a pool."""
        self._both("the shrinker", lambda k: k.shrink(), compare=False)

    @precondition(after_late_init)
    @rule()
    @traced
    def fail_alloc(self) -> None:
        """The next zsmalloc page allocation fails (the unpatched kernel has no pool)."""
        self._both("fault injection", lambda k: k.fail_page_allocs(1), compare=False)

    def teardown(self) -> None:
        for k in self.kernels:
            k.close()


def patch_machine(check: str, servers: dict[tuple[str, bool], KernelServer],
                  era: str) -> type[PatchMachine]:
    """The machine checking ``check`` ("kernel-rules" or "equivalence") of a patch whose base
    and patched builds run in ``servers``."""
    if check not in CHECKS:
        raise ValueError(f"unknown check {check!r}")
    cls = PatchMachine.fresh_class(f"PatchMachine_{check.replace('-', '_')}", check=check,
                                   servers=servers, era=era)
    assert issubclass(cls, PatchMachine)
    return cls
