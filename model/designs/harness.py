"""A model kernel around one design: boot, late init, insmod/rmmod, the control file, hits.

:class:`DyndbgKernel` wires the pieces the way the kernel does: the linker lays out vmlinux and
each module in one :class:`~model.memory.AddressSpace`; the design gets the builtin records at
``dynamic_debug_init`` and each module at load; the control file and ``pr_debug`` hits go
through :mod:`model.dyndbg.core`, which reaches callsites only through the design.  Properties
and tests drive a design through this class so that every design sees the same kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from model.abi import Abi
from model.context import KernelContext
from model.dyndbg import core
from model.dyndbg.callsite import ModuleSpec
from model.dyndbg.core import ExecResult, PrintEvent, WriteResult
from model.errors import InputError
from model.linker import ModuleImage, link_module, link_vmlinux
from model.memory import AddressSpace

#: Contexts a ``pr_debug`` can be hit in.
CONTEXTS: tuple[str, ...] = ("process", "softirq", "hardirq")


@attrs.frozen
class CallsiteView:
    """A callsite's metadata as the design shows it: the strings read through its pointers."""

    module: str
    modname: str
    function: str
    filename: str
    format: str
    lineno: int
    class_id: int
    flags: int


@attrs.define(slots=True, eq=False)
class DyndbgKernel:
    """One booted model kernel running ``design_cls``.  Build it with :meth:`boot`."""

    abi: Abi
    era: str
    jump_label: bool
    space: AddressSpace
    ctx: KernelContext
    design: Any
    vmlinux: ModuleImage
    modules: dict[str, ModuleImage] = attrs.field(factory=dict)
    optimize_size: bool = False

    @classmethod
    def boot(cls, design_cls: Any, abi: Abi, era: str, jump_label: bool,
             builtin: Sequence[ModuleSpec], *, nr_cpus: int = 2,
             optimize_size: bool = False, ctx: KernelContext | None = None,
             space: AddressSpace | None = None,
             vmlinux: ModuleImage | None = None) -> DyndbgKernel:
        """Link vmlinux from ``builtin`` and run the design's ``dynamic_debug_init``
        (early_initcall); ``late_init`` is a separate step (:meth:`late_init`).

        ``ctx`` / ``space`` replace the fresh context and address space (a machine passing a
        context subclass); ``vmlinux`` is an image already placed in ``space`` (real records
        from a corpus) used instead of linking ``builtin``."""
        if space is None:
            space = ctx.space if ctx is not None and ctx.space is not None else AddressSpace(abi)
        if ctx is None:
            ctx = KernelContext(nr_cpus=nr_cpus, space=space)
        ctx.attach(space)
        image = vmlinux if vmlinux is not None else link_vmlinux(
            space, era, jump_label, builtin, optimize_size=optimize_size)
        design = design_cls(abi, era, jump_label, space, ctx)
        design.dynamic_debug_init(image)
        return cls(abi, era, jump_label, space, ctx, design, image, optimize_size=optimize_size)

    def late_init(self) -> None:
        """``late_initcall`` of the design (the 2020 designs copy into the pool here)."""
        self.design.late_init()

    def insmod(self, module: ModuleSpec, dyndbg: str | None = None,
               with_param: bool = False) -> int:
        """Load ``module``: link it into the module area, ``add_module`` (MODULE_STATE_COMING),
        then its ``dyndbg`` parameter if ``with_param`` (``dyndbg`` None means ``+p``)."""
        if module.name in self.modules:
            raise InputError(f"module {module.name} is already loaded")
        image = link_module(self.space, self.era, self.jump_label, module,
                            optimize_size=self.optimize_size)
        return self.insmod_image(image, dyndbg, with_param)

    def insmod_image(self, image: ModuleImage, dyndbg: str | None = None,
                     with_param: bool = False) -> int:
        """Load a module whose image is already placed in :attr:`space` (a corpus module):
        ``add_module``, then its ``dyndbg`` parameter as :meth:`insmod` does."""
        if image.name in self.modules:
            raise InputError(f"module {image.name} is already loaded")
        self.modules[image.name] = image
        rc: int = self.design.add_module(image)
        if with_param:
            core.ddebug_dyndbg_module_param_cb(self.design, "dyndbg", dyndbg, image.name)
        return rc

    def rmmod(self, name: str) -> int:
        """Unload: ``remove_module`` (MODULE_STATE_GOING), then the module's memory is freed
        (its sections unmapped: a pointer still aimed there oopses)."""
        image = self.modules.pop(name, None)
        if image is None:
            raise InputError(f"module {name} is not loaded")
        rc: int = self.design.remove_module(name)
        for region in self.space.regions():
            if region.name.startswith(f"{name}:"):
                self.space.unmap(region.base)
        return rc

    # --- the control file ----------------------------------------------------------------------

    def control_write(self, text: str | bytes) -> WriteResult:
        """``echo -n TEXT > <debugfs>/dynamic_debug/control`` (in process context); ``bytes``
        are written as they are, a ``str`` as latin-1."""
        return core.ddebug_proc_write(self.design, text)

    def exec_queries(self, text: str, modname: str | None = None) -> ExecResult:
        return core.ddebug_exec_queries(self.design, text, modname)

    def control_read(self) -> str:
        """``cat <debugfs>/dynamic_debug/control``."""
        return core.ddebug_proc_show(self.design)

    # --- hits ------------------------------------------------------------------------------------

    def callsites(self) -> list[tuple[str, int]]:
        """Every (image name, record index) a ``pr_debug`` can be hit at."""
        out = [("vmlinux", k) for k in range(self.vmlinux.count)]
        for name, img in self.modules.items():
            out.extend((name, k) for k in range(img.count))
        return out

    def image(self, name: str) -> ModuleImage:
        if name == "vmlinux":
            return self.vmlinux
        return self.modules[name]

    def callsite_view(self, image_name: str, k: int) -> CallsiteView | None:
        """Record ``k`` of ``image_name`` read through the design (``get_site``/``put_site``,
        ``get_flags``), in process context; ``None`` when no table holds it."""
        found = core.find_callsite(self.design, self.image(image_name).record_addr(k))
        if found is None:
            return None
        dt, i = found
        site = self.design.get_site(dt, i)
        try:
            d = self.design
            return CallsiteView(dt.mod_name, core.cstr(d, site.modname),
                                core.cstr(d, site.function), core.cstr(d, site.filename),
                                core.cstr(d, site.format), site.lineno, site.class_id,
                                d.get_flags(dt, i))
        finally:
            self.design.put_site(dt, i)

    def hit(self, image_name: str, k: int, context: str = "process",
            cpu: int = 0) -> PrintEvent | None:
        """Run the ``pr_debug`` whose record is ``k`` of image ``image_name`` on ``cpu`` in
        ``context`` (``process``, ``softirq`` or ``hardirq``)."""
        if context not in CONTEXTS:
            raise InputError(f"unknown context {context!r} (known: {', '.join(CONTEXTS)})")
        image = self.image(image_name)
        found = core.find_callsite(self.design, image.record_addr(k))
        if found is None:
            return None
        dt, i = found
        self.ctx.switch_cpu(cpu)
        enter, leave = {"process": (None, None),
                        "softirq": (self.ctx.enter_softirq, self.ctx.exit_softirq),
                        "hardirq": (self.ctx.enter_hardirq, self.ctx.exit_hardirq)}[context]
        if enter is not None:
            enter()
        try:
            return core.pr_debug(self.design, dt, i, image.callsites[k].spec.format)
        finally:
            if leave is not None:
                leave()
