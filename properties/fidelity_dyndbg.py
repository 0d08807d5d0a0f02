"""Fidelity of the dynamic-debug model: the model's era against the real ``lib/dynamic_debug.c``.

:class:`DyndbgFidelity` drives two kernels with the same steps: the model's
(:class:`model.designs.harness.DyndbgKernel` with the ``section`` design, the era that names
the real file's version) and the real file built in user space (:class:`kernel.dyndbg.RealDyndbg`,
a fresh forked kernel per test case).  Each step compares what a user of either kernel sees:

* boot (``dynamic_debug_init`` over the builtin records the model's linker laid out, their
  strings at the same addresses modulo a page, so odd pointers stay odd) with ``dyndbg="..."``
  and ``foo.dyndbg=...`` on the command line: the error lines logged;
* ``insmod`` with ``dyndbg=`` / ``rmmod``: return values and error lines;
* control writes, valid and malformed: the return value and the error lines;
* control reads: the control file, byte for byte;
* ``pr_debug`` hits in process, softirq or hardirq context on either CPU: the printed line with
  its prefix, or nothing;
* a look at one callsite: its strings, line, class, flags and static-key state.

Any difference is a :class:`Disagreement` (an ``AssertionError`` carrying both sides), which
Hypothesis shrinks like any counterexample.  A fatal event in the real code (an oops, a ``BUG``,
a hang) is a disagreement too: the model survived the same step.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from kernel.dyndbg import RealDyndbg, RealSite
from kernel.process import CallResult, Kernel, KernelServer
from model.abi import get_abi
from model.context import KernelContext
from model.designs import builtin_designs
from model.designs.harness import DyndbgKernel
from model.dyndbg import core
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.errors import KernelBug
from model.linker import link_vmlinux
from model.memory import AddressSpace
from properties.dyndbg_machine import PLACES, builtin_tables, module_specs, queries
from properties.tracing import TracedMachine, traced

__all__ = ["Disagreement", "DyndbgFidelity", "boot_params", "dyndbg_fidelity_machine"]

#: The kernel logs these levels and below as errors a user sees (KERN_ERR, KERN_WARNING).
ERROR_LEVEL = 4


class Disagreement(AssertionError):
    """The model and the real code differ on one observation: ``what``, and both sides."""

    def __init__(self, what: str, model: Any, real: Any) -> None:
        self.what = what
        self.model = model
        self.real = real
        super().__init__(f"{what} differs between the model and the kernel:\n"
                         f"  model:  {model!r}\n  kernel: {real!r}")


def error_lines(res: CallResult) -> tuple[str, ...]:
    """The lines the real code logged at ``KERN_WARNING`` or above (pr_err, pr_warn)."""
    return tuple(e.message.rstrip("\n") for e in res.events
                 if e.kind == "log" and e.line <= ERROR_LEVEL)


#: Queries the design machine's pool does not hold, for corners of the real parser: the ``s``
#: and ``d`` flags (one era has them, another rejects them), open-ended line ranges, the ``^``
#: anchor, quoted words with escapes, a NUL byte inside a write (``memdup_user_nul`` in
#: ``ddebug_proc_write``: the kernel parses up to it), blank and separator-only writes.
EXTRA_QUERIES: tuple[str, ...] = (
    "+s", "-s", "=pmfslt", "+pmfsl", "+d", "=pmfsltd", "+pmflt", "=_",
    "line 10-", "module foo line 1- +p", "file *.c:10- =pf", "file a.c:1-2 +p",
    "func *probe* +pmfsl", "format ^probe +p", 'format "^probe %d" +p',
    "format \"say \\\"hi\\\"\" +p", 'format "a\\tb" +p', "format 'ok' +p",
    'module "foo" +p', "  +p  ", "module foo; module bar +p;", ";", "#", "\n",
    "module foo +p\0module bar +p", "\0", "module f\0oo +p",
    "file fs/* =pmfslt", "module * -p", "module k* file *super* +pmflt",
)


def fidelity_queries() -> st.SearchStrategy[str]:
    """The design machine's queries and :data:`EXTRA_QUERIES`."""
    return st.one_of(queries(), st.sampled_from(EXTRA_QUERIES))


#: Long names, so the prefix reaches ``PREFIX_SIZE`` (64 in 6.1, 128 in 6.12) and is cut.
LONG_FUNCS = ("a_function_whose_name_is_long_enough_to_fill_the_prefix_buffer",
              "amdgpu_dm_atomic_check_and_commit_tail_with_retries_for_links")
LONG_FILES = ("drivers/gpu/drm/amd/display/dc/link/protocols/link_dp_training.c",
              "net/netfilter/ipvs/ip_vs_sync_backup_thread_master.c")


def long_module_specs() -> st.SearchStrategy[ModuleSpec]:
    """A loadable module whose callsites have long function and file names."""
    site = st.builds(lambda fn, fi, line, fmt: (fn, fi, line, fmt),
                     st.sampled_from(LONG_FUNCS), st.sampled_from(LONG_FILES),
                     st.integers(1, 200000), st.sampled_from(("ok\n", "x %d\n")))
    return st.builds(
        lambda name, sites: ModuleSpec(name, tuple(CallsiteSpec(name, fn, fi, fmt, line)
                                                   for fn, fi, line, fmt in sites)),
        st.sampled_from(("xfs", "amdgpu")), st.lists(site, min_size=1, max_size=3))


def _cmdline_safe(q: str) -> bool:
    return '"' not in q and "\n" not in q and "\0" not in q and "'" not in q \
        and q.strip() != ""


def boot_params() -> st.SearchStrategy[tuple[str, str | None]]:
    """One boot parameter: ``dyndbg="QUERY"`` or ``MOD.dyndbg[=QUERY]`` (a module that may or
    may not be builtin; the query has no double quote, a command line cannot nest them)."""
    mods = ("foo", "bar", "kvm", "m", "xfs")
    return st.one_of(
        st.tuples(st.just("dyndbg"), fidelity_queries().filter(_cmdline_safe)),
        st.tuples(st.sampled_from([f"{m}.dyndbg" for m in mods]),
                  st.sampled_from((None, "+p", "=pmf", "+q", "-p"))))


def cmdline(params: tuple[tuple[str, str | None], ...]) -> str:
    """The kernel command line of ``params``."""
    out = []
    for name, val in params:
        if val is None:
            out.append(name)
        elif " " in val or ";" in val:
            out.append(f'{name}="{val}"')
        else:
            out.append(f"{name}={val}")
    return " ".join(out)


class DyndbgFidelity(TracedMachine):
    """The model against the real file (module docstring)."""

    era: ClassVar[str] = "v6.12"
    #: One fork server per ``CONFIG_JUMP_LABEL`` setting, made by :func:`dyndbg_fidelity_machine`.
    servers: ClassVar[dict[bool, KernelServer]] = {}
    #: False runs the model's side alone (``dyndiet bench`` measures the real code's cost).
    with_kernel: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.model: DyndbgKernel | None = None
        self.real: RealDyndbg | None = None
        self.kernel: Kernel | None = None

    # --- comparing ---------------------------------------------------------------------------

    def _real(self, what: str, fn: Any) -> CallResult:
        """Run ``fn`` on the real kernel; its fatal events are disagreements (the model lived)."""
        try:
            res: CallResult = fn()
        except KernelBug as exc:
            self.evidence.append(f"the kernel: {exc.message}" + (f" at {exc.site}"
                                                                  if exc.site else ""))
            self.evidence.extend(getattr(exc, "__notes__", ()))
            raise Disagreement(what, "returns", f"{type(exc).__name__}: {exc.message}"
                               + (f" [{exc.site}]" if exc.site else "")) from exc
        return res

    @staticmethod
    def _same(what: str, model: Any, real: Any) -> None:
        if model != real:
            raise Disagreement(what, model, real)

    # --- rules ---------------------------------------------------------------------------------

    @initialize(builtin=builtin_tables(), jump_label=st.booleans(),
                params=st.lists(boot_params(), max_size=3).map(tuple))
    @traced
    def boot(self, builtin: tuple[ModuleSpec, ...], jump_label: bool,
             params: tuple[tuple[str, str | None], ...]) -> None:
        """Boot with ``builtin`` linked into vmlinux and ``params`` on the command line."""
        abi = get_abi("x86_64")
        space = AddressSpace(abi)
        ctx = KernelContext(nr_cpus=2, space=space)
        image = link_vmlinux(space, self.era, jump_label, builtin)
        self.model = DyndbgKernel.boot(builtin_designs()["section"], abi, self.era, jump_label,
                                       builtin, ctx=ctx, vmlinux=image)
        messages: list[str] = []
        for name, val in params:  # ddebug_dyndbg_boot_param_cb, in command-line order
            done = core.ddebug_exec_queries(self.model.design, val if val is not None else "+p",
                                            None if name == "dyndbg" else name.split(".")[0])
            messages.extend(done.messages)
        self.model.late_init()
        if not self.with_kernel:
            return
        self.kernel = type(self).servers[jump_label].new_kernel()
        self.real = RealDyndbg(self.kernel)
        real = self.real
        res = self._real("boot", lambda: real.boot(image, space, jump_label, cmdline(params)))
        self._same("error lines at boot", tuple(messages), error_lines(res))

    @rule(text=fidelity_queries())
    @traced
    def control_write(self, text: str) -> None:
        """``echo -n TEXT > /proc/dynamic_debug/control``."""
        assert self.model is not None
        want = self.model.control_write(text)
        if (real := self.real) is None:
            return
        got = self._real("control write", lambda: real.control_write(text))
        self._same("control write's return value", want.rc, got.value)
        self._same("control write's error lines", want.messages, error_lines(got))

    @rule()
    @traced
    def control_read(self) -> None:
        """``cat /proc/dynamic_debug/control``."""
        assert self.model is not None
        want = self.model.control_read()
        if (real := self.real) is None:
            return
        got = self._real("control read", real.control_read)
        self._same("the control file", want, got.value)

    @rule(module=st.one_of(module_specs(False), long_module_specs()),
          param=st.sampled_from((None, "+p", "=pmf", "+q", "+pmfslt")))
    @traced
    def insmod(self, module: ModuleSpec, param: str | None) -> None:
        """``insmod MODULE.ko [dyndbg=PARAM]``."""
        assert self.model is not None
        if module.name in self.model.modules:
            return
        model = self.model
        want_rc = model.insmod(module)
        want_log: tuple[str, ...] = ()
        if param is not None:  # ddebug_dyndbg_module_param_cb: the module's dyndbg= runs
            want_log = core.ddebug_exec_queries(model.design, param, module.name).messages
        image = model.modules[module.name]
        if (real := self.real) is None:
            return
        got = self._real("insmod", lambda: real.insmod(image, model.space, param,
                                                       param is not None))
        self._same("insmod's return value", want_rc, got.value)
        self._same("insmod's error lines", want_log, error_lines(got))

    @rule(which=st.integers(0, 7))
    @traced
    def rmmod(self, which: int) -> None:
        """``rmmod`` one loaded module."""
        assert self.model is not None
        if not self.model.modules:
            return
        name = sorted(self.model.modules)[which % len(self.model.modules)]
        want = self.model.rmmod(name)
        if (real := self.real) is None:
            return
        got = self._real("rmmod", lambda: real.rmmod(name))
        self._same("rmmod's return value", want, got.value)

    @rule(which=st.integers(0, 1 << 16), where=st.sampled_from(PLACES))
    @traced
    def hit(self, which: int, where: tuple[str, int]) -> None:
        """A ``pr_debug`` runs in a context on a CPU: what it prints, with its prefix."""
        assert self.model is not None
        sites = self.model.callsites()
        if not sites:
            return
        image, k = sites[which % len(sites)]
        context, cpu = where
        ev = self.model.hit(image, k, context, cpu)
        want = None if ev is None else (ev.prefix, ev.message)
        if (real := self.real) is None:
            return
        got = self._real("pr_debug", lambda: real.hit(image, k, context, cpu))
        self._same(f"what pr_debug at {image}:{k} in {context} on CPU{cpu} prints", want,
                   got.value)

    @rule(which=st.integers(0, 1 << 16))
    @traced
    def inspect(self, which: int) -> None:
        """One callsite's metadata, flags and static key, as each kernel holds it."""
        assert self.model is not None
        sites = self.model.callsites()
        if not sites:
            return
        image, k = sites[which % len(sites)]
        view = self.model.callsite_view(image, k)
        want: RealSite | None = None
        if view is not None:
            d = self.model.design
            found = core.find_callsite(d, self.model.image(image).record_addr(k))
            key = None
            if found is not None and self.model.jump_label:
                key = bool(d.static_key_enabled(*found))
            want = RealSite(view.modname, view.function, view.filename, view.format,
                            view.lineno, view.class_id, view.flags, key)
        if (real := self.real) is None:
            return
        got = self._real("callsite", lambda: real.site(image, k))
        self._same(f"callsite {image}:{k}", want, got.value)

    def teardown(self) -> None:
        if self.kernel is not None:
            self.kernel.close()


def dyndbg_fidelity_machine(era: str, servers: dict[bool, KernelServer], *,
                            with_kernel: bool = True) -> type[DyndbgFidelity]:
    """The fidelity machine of ``era`` against the real kernels in ``servers`` (the model's
    side alone when not ``with_kernel``)."""
    safe = era.replace(".", "_")
    cls = DyndbgFidelity.fresh_class(f"DyndbgFidelity_{safe}", era=era, servers=servers,
                                     with_kernel=with_kernel)
    assert issubclass(cls, DyndbgFidelity)
    return cls
