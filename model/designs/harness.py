"""A model kernel around one design: boot, late init, insmod/rmmod, the control file, hits.

:class:`DyndbgKernel` wires the pieces the way the kernel does: the linker lays out vmlinux and
each module in one :class:`~model.memory.AddressSpace`; the design gets the builtin records at
``dynamic_debug_init`` and each module at load; the control file and ``pr_debug`` hits go
through :mod:`model.dyndbg.core`, which reaches callsites only through the design.  Properties
and tests drive a design through this class so that every design sees the same kernel.

:func:`measure_resident` is what the kernel would say the design holds, from the allocators and
the address space rather than from the design's own ``footprint()``: record sections and every
region the design mapped, the page allocator's pages (zspages, raw pages), the live objects of
the slab caches (``kmalloc-N``, ``zs_handle``) and the ``struct ddebug_table``\\ s listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from model.abi import Abi
from model.context import PFN_BASE_BYTES, KernelContext
from model.designs.protocol import ddebug_table_size
from model.dyndbg import core
from model.dyndbg.callsite import ModuleSpec
from model.dyndbg.core import ExecResult, PrintEvent, WriteResult
from model.errors import InputError
from model.linker import ModuleImage, link_module, link_vmlinux
from model.memory import AddressSpace, Region
from model.slab import KmemCache
from model.zsmalloc import MappingArea

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
    #: Bases of the regions the linker (or a corpus) placed for an image other than its
    #: records section: code and strings, which are not dynamic debug's to keep or give back.
    image_regions: set[int] = attrs.field(factory=set)

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
        placed = {r.base for r in space.regions() if r.base != image.records_addr}
        design = design_cls(abi, era, jump_label, space, ctx)
        design.dynamic_debug_init(image)
        return cls(abi, era, jump_label, space, ctx, design, image, optimize_size=optimize_size,
                   image_regions=placed)

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
                            optimize_size=self.optimize_size, base=self._module_alloc())
        return self.insmod_image(image, dyndbg, with_param)

    def _module_alloc(self) -> int | None:
        """Where the loader puts the next module: past every loaded module's memory, the parts
        a design gave back included (a design that re-links a module's records unmaps them, but
        the kernel frees a module's memory only at rmmod: no other module lands in the hole).
        ``None`` (the first free range) when no module is loaded."""
        ends = [s.base + s.size for img in self.modules.values() for s in img.sections
                if s.size]
        if not ends:
            return None
        page = self.abi.page_size
        return -(-max(ends) // page) * page

    def insmod_image(self, image: ModuleImage, dyndbg: str | None = None,
                     with_param: bool = False) -> int:
        """Load a module whose image is already placed in :attr:`space` (a corpus module):
        ``add_module``, then its ``dyndbg`` parameter as :meth:`insmod` does."""
        if image.name in self.modules:
            raise InputError(f"module {image.name} is already loaded")
        self.modules[image.name] = image
        self.image_regions.update(r.base for r in self.space.regions()
                                  if r.name.startswith(f"{image.name}:")
                                  and r.base != image.records_addr)
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
                self.image_regions.discard(region.base)
        return rc

    # --- the design's lifecycle hooks the machine drives -----------------------------------------

    def inject_alloc_failure(self, count: int = 1) -> None:
        """Fail the design's next ``count`` allocations through the hook the protocol declares
        (``Design.inject_alloc_failure``: :class:`~model.designs.protocol.BaseDesign` fails the
        kernel's next page or slab allocations, a pool design its next ``zs_malloc``).  A design
        that does not implement the protocol's hook gets the kernel's own failures
        (``should_failslab``): no design goes without failure testing."""
        hook = getattr(type(self.design), "inject_alloc_failure", None)
        if hook is None:
            self.ctx.inject_alloc_failure(count)
        else:
            hook(self.design, count)

    def compact(self) -> int:
        """The shrinker: the design's ``compact()`` (``zs_compact`` of a pool; 0 without one)."""
        hook = getattr(type(self.design), "compact", None)
        return int(hook(self.design)) if hook is not None else 0

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


# --- what the design holds, measured ----------------------------------------------------------

_PAGE_NAME = re.compile(r" pfn 0x[0-9a-f]+$")


@attrs.frozen
class Measured:
    """What a model kernel's allocators and address space hold for dynamic debug, in bytes.

    ``section_bytes``: record sections still mapped and every region a design mapped itself;
    ``page_bytes``: pages of the page allocator other than slab pages (zspages, raw pages);
    ``slab_bytes``: live objects of every slab cache, each at its cache's object size
    (``kmalloc-64`` counts 64); ``table_bytes``: the listed ``struct ddebug_table``\\ s.
    ``regions`` names what was counted, for a report."""

    section_bytes: int
    page_bytes: int
    slab_bytes: int
    table_bytes: int
    regions: tuple[tuple[str, int], ...] = ()
    caches: tuple[tuple[str, int], ...] = ()

    @property
    def resident_bytes(self) -> int:
        return self.section_bytes + self.page_bytes + self.slab_bytes + self.table_bytes

    def lines(self) -> list[str]:
        """The measurement as report lines."""
        out = [f"measured: {self.resident_bytes} bytes = sections {self.section_bytes} + pages "
               f"{self.page_bytes} + slab objects {self.slab_bytes} + tables {self.table_bytes}"]
        out += [f"  region {name}: {size} bytes" for name, size in self.regions]
        out += [f"  slab {name}: {size} bytes live" for name, size in self.caches]
        return out


def _is_page(region: Region, kernel: DyndbgKernel) -> bool:
    return (region.base >= kernel.abi.page_offset + PFN_BASE_BYTES
            and _PAGE_NAME.search(region.name) is not None)


_SKIP = (str, bytes, bytearray, int, float, bool, AddressSpace)


def slab_caches(*roots: object, depth: int = 4) -> list[KmemCache]:
    """Every :class:`~model.slab.KmemCache` reachable from ``roots`` through attributes and
    small containers (the ``kmalloc-N`` caches of a context, a pool's ``zs_handle`` cache)."""
    found: dict[int, KmemCache] = {}
    seen: set[int] = set()
    frontier: list[object] = list(roots)
    for _ in range(depth + 1):
        nxt: list[object] = []
        for obj in frontier:
            if isinstance(obj, _SKIP) or obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, KmemCache):
                found[id(obj)] = obj
                continue
            if isinstance(obj, dict):
                items: list[object] = list(obj.values())[:1024]
            elif isinstance(obj, list | tuple | set | frozenset):
                items = list(obj)[:1024]
            else:
                items = []
                names: list[str] = list(getattr(obj, "__dict__", {}))
                for klass in type(obj).__mro__:
                    names += [n for n in getattr(klass, "__slots__", ()) if n != "__weakref__"]
                for n in names:
                    try:
                        items.append(getattr(obj, n))
                    except AttributeError:
                        continue
            nxt.extend(items)
        frontier = nxt
    return list(found.values())


def _per_cpu_objects(ctx: KernelContext) -> frozenset[int]:
    """Objects the kernel keeps per CPU for an allocator (zsmalloc's ``zs_map_area`` buffers,
    allocated by ``zs_cpu_prepare`` for every CPU whoever uses zsmalloc): not a design's."""
    areas = getattr(ctx, "_percpu", {}).get("zs_map_area", ())
    return frozenset(a.vm_buf for a in areas if isinstance(a, MappingArea))


def measure_resident(kernel: DyndbgKernel) -> Measured:
    """What ``kernel``'s design holds, measured: every region of the address space that is not
    an image's code or strings (the records sections, the design's own sections), the page
    allocator's pages (a slab page counts through its live objects instead), the slab caches'
    live objects (less the allocators' per-CPU buffers, which the kernel holds for any user),
    and ``sizeof(struct ddebug_table)`` per listed table.  Nothing here asks the design what it
    holds."""
    page = kernel.abi.page_size
    sections: list[tuple[str, int]] = []
    pages = 0
    slab_pages: dict[str, int] = {}
    for region in kernel.space.regions():
        if _is_page(region, kernel):
            if region.name.startswith("slab "):
                name = _PAGE_NAME.sub("", region.name)[len("slab "):]
                slab_pages[name] = slab_pages.get(name, 0) + 1
            else:
                pages += len(region.data)
        elif region.base not in kernel.image_regions:
            sections.append((region.name, len(region.data)))
    caches: list[tuple[str, int]] = []
    counted: set[str] = set()
    percpu = _per_cpu_objects(kernel.ctx)
    for cache in slab_caches(kernel.design, kernel.ctx):
        live = len(cache.live_objects() - percpu) * cache.object_size
        if cache.name in slab_pages and cache.name not in counted:
            counted.add(cache.name)
            caches.append((cache.name, live))
    # slab pages of a cache nothing reachable owns: counted whole
    caches += [(f"{name} (unowned, whole pages)", n * page) for name, n in sorted(slab_pages.items())
               if name not in counted]
    tables = len(kernel.design.tables()) * ddebug_table_size(kernel.abi, kernel.design.era.has_class)
    return Measured(sum(n for _, n in sections), pages, sum(n for _, n in caches), tables,
                    tuple(sections), tuple(caches))
