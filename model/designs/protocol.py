"""The design protocol: how a way of storing dynamic-debug callsites plugs into the model kernel.

A *design* is a class constructed as ``Design(abi, era, jump_label, space, ctx)`` that

* implements the :class:`~model.dyndbg.store.CallsiteStore` the dyndbg core calls
  (``tables``, ``get_site``/``put_site``, ``get_flags``/``set_flags``, the static key), and
* follows the kernel's lifecycle: ``dynamic_debug_init(image)`` at early init with the builtin
  records of vmlinux, ``late_init()`` (where the 2020 designs copy into the pool and reclaim
  the section), ``add_module(image)`` / ``remove_module(name)`` at insmod / rmmod, and
* reports its ``footprint()``, computed from the layout engine and the pool model (the
  machine holds it against what the allocators measure: ``harness.measure_resident``), and
* declares the hooks the machine drives it with: ``inject_alloc_failure(count)`` (fault
  injection) and ``compact()`` (the shrinker).

``get_flags`` returns the flags ``ddebug_change`` last stored with ``set_flags``; a design may
keep bits of its own above the era's flags (the Aug-2020 series reserved
``_DPRINTK_FLAGS_MAPPED (1<<7)``): the properties compare what a user observes (the flags the
control file shows, the print decisions, the prefixes), never the raw value.  ``ddebug_change``
computes ``(old & mask) | flags`` from ``get_flags``, so a ``=`` query (mask 0) hands
``set_flags`` a value without the reserved bits: keeping them is the design's job.

:class:`BaseDesign` does the bookkeeping every design shares (``struct ddebug_table`` list in
the era's order, the builtin split by module name, the static key in the record) so that a
design only decides where callsites live and how they are reached.  ``docs/designs/protocol.md``
is the guide for writing one.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from functools import lru_cache
from typing import ClassVar, Protocol, runtime_checkable

import attrs

from model.abi import Abi
from model.builtin_layouts import KEY_ENABLED
from model.context import KernelContext
from model.creader import parse_c
from model.dyndbg.callsite import ClassMapSpec
from model.dyndbg.era import _DPRINTK_CLASS_DFLT, ENOENT, Era, get_era
from model.dyndbg.store import CallsiteStore, ContextLike, DdebugSite, DdebugTable
from model.errors import KernelBug
from model.layout import Layout, RecordType, layout_of
from model.linker import ModuleImage, record_layout
from model.memory import AddressSpace

__all__ = [
    "BaseDesign",
    "CallsiteStore",
    "ContextLike",
    "DdebugSite",
    "DdebugTable",
    "Design",
    "Footprint",
    "ddebug_table_size",
]

#: Where ``static_branch_enable/disable`` may sleep: ``static_key_enable`` ->
#: ``cpus_read_lock()`` -> ``percpu_down_read()`` -> ``might_sleep()`` (v5.8).
SITE_STATIC_KEY = "include/linux/percpu-rwsem.h:49"
SITE_REMOVE_MODULE = "lib/dynamic_debug.c:ddebug_remove_module"


@attrs.frozen
class Footprint:
    """Memory a design keeps for dynamic debug, in bytes (pages for the pool), by where it is.

    ``section_bytes`` are record-section bytes still resident, ``reclaimed_bytes`` section
    bytes given back; ``pool_pages`` the zsmalloc pages (``zs_get_total_pages``),
    ``handle_bytes`` the ``zs_handle`` slab objects, ``table_bytes`` the ``struct
    ddebug_table``\\ s, ``other_bytes`` anything else the design allocates (a flags vector).
    """

    callsites: int
    section_bytes: int
    reclaimed_bytes: int = 0
    pool_pages: int = 0
    page_size: int = 4096
    handle_bytes: int = 0
    table_bytes: int = 0
    other_bytes: int = 0

    @property
    def pool_bytes(self) -> int:
        return self.pool_pages * self.page_size

    @property
    def resident_bytes(self) -> int:
        return (self.section_bytes + self.pool_bytes + self.handle_bytes + self.table_bytes
                + self.other_bytes)


@runtime_checkable
class Design(CallsiteStore, Protocol):
    """The full protocol (see the module docstring); ``name`` is how ``dyndiet`` calls it."""

    name: ClassVar[str]

    def dynamic_debug_init(self, image: ModuleImage) -> int: ...

    def late_init(self) -> None: ...

    def add_module(self, image: ModuleImage) -> int: ...

    def remove_module(self, mod_name: str) -> int: ...

    def footprint(self) -> Footprint: ...

    def inject_alloc_failure(self, count: int = 1) -> None: ...

    def compact(self) -> int: ...


_TABLE_C = {
    False: "struct list_head { struct list_head *next, *prev; }; struct _ddebug;\n"
           "struct ddebug_table { struct list_head link; const char *mod_name;\n"
           " unsigned int num_ddebugs; struct _ddebug *ddebugs; };",
    True: "struct list_head { struct list_head *next, *prev; }; struct _ddebug;\n"
          "struct ddebug_table { struct list_head link, maps; const char *mod_name;\n"
          " unsigned int num_ddebugs; struct _ddebug *ddebugs; };",
}


@lru_cache(maxsize=32)
def ddebug_table_size(abi: Abi, has_maps: bool) -> int:
    """``sizeof(struct ddebug_table)`` (lib/dynamic_debug.c; v6.1 adds ``maps``) for ``abi``."""
    rec = parse_c(_TABLE_C[has_maps], "lib/dynamic_debug.c", {})["ddebug_table"]
    assert isinstance(rec, RecordType)
    return layout_of(rec, abi).size


_SITE_CACHE_MAX = 4096


def _site_cache(design: BaseDesign) -> dict[bytes, DdebugSite]:
    """The design's decoded sites by record bytes (made on first use)."""
    cache: dict[bytes, DdebugSite] | None = design.__dict__.get("_decoded_sites")
    if cache is None:
        cache = design.__dict__["_decoded_sites"] = {}
    return cache


class BaseDesign(abc.ABC):
    """Shared machinery; subclasses implement the storage hooks marked abstract.

    State kept here: the ``ddebug_tables`` list in the era's order (``Era.tables_in_add_order``)
    and which images are loaded.  Records start in their linked section (``image``); the
    default ``get_site``/``get_flags``/``set_flags`` read and write them there, so a subclass
    overrides only what it stores elsewhere.
    """

    name: ClassVar[str] = ""
    #: One line: the idea.
    title: ClassVar[str] = ""
    #: Where the idea comes from in the series (mail, patch).
    source: ClassVar[str] = ""

    def __init__(self, abi: Abi, era: str | Era, jump_label: bool, space: AddressSpace,
                 ctx: KernelContext) -> None:
        self.abi = abi
        self.era: Era = era if isinstance(era, Era) else get_era(era)
        self.jump_label = jump_label
        self.space = space
        self.ctx = ctx
        self.layout: Layout = record_layout(abi, self.era.name, jump_label)
        self._tables: list[DdebugTable] = []
        self._next_ident = 1
        self.images: dict[str, ModuleImage] = {}
        self.late_done = False

    # --- tables ------------------------------------------------------------------------------

    def tables(self) -> Sequence[DdebugTable]:
        return tuple(self._tables)

    def table(self, mod_name: str) -> DdebugTable | None:
        """The first table called ``mod_name`` in list order."""
        return next((t for t in self._tables if t.mod_name == mod_name), None)

    def ddebug_add_module(self, descs: int, n: int, mod_name: str, builtin: bool,
                          maps: tuple[ClassMapSpec, ...] = ()) -> DdebugTable:
        """lib/dynamic_debug.c:ddebug_add_module: a table over ``n`` records at ``descs``,
        added with ``list_add_tail`` (v5.8, v6.1+; ``list_add`` in 5.9..6.0); v6.1 attaches the
        module's class maps (``ddebug_attach_module_classes``)."""
        dt = DdebugTable(mod_name, n, descs, self.layout.size, builtin, self._next_ident,
                         maps if self.era.has_class else ())
        self._next_ident += 1
        self.on_add_table(dt)
        if self.era.tables_in_add_order:
            self._tables.append(dt)
        else:
            self._tables.insert(0, dt)
        return dt

    def dynamic_debug_init(self, image: ModuleImage) -> int:
        """lib/dynamic_debug.c:dynamic_debug_init: walk ``__start___dyndbg..__stop___dyndbg``
        and start a new table whenever ``strcmp(modname, iter->modname)`` changes (the linker
        keeps each module's records together)."""
        self.images[image.name] = image
        if image.count == 0:
            return 0
        start = 0
        modname = self._early_modname(image, 0)
        for k in range(1, image.count):
            m = self._early_modname(image, k)
            if m != modname:
                self.ddebug_add_module(image.record_addr(start), k - start, modname, True,
                                       image.class_maps(modname))
                start, modname = k, m
        self.ddebug_add_module(image.record_addr(start), image.count - start, modname, True,
                               image.class_maps(modname))
        return 0

    def _early_modname(self, image: ModuleImage, k: int) -> str:
        data = self.space.read(image.record_addr(k), self.layout.size)
        return self.space.read_cstring(self.layout.get(data, "modname")).decode("latin-1")

    def add_module(self, image: ModuleImage) -> int:
        """kernel/module.c:dynamic_debug_setup (v5.8) / ddebug_module_notify on
        ``MODULE_STATE_COMING`` (v6.4+): ``ddebug_add_module`` over the module's
        ``__dyndbg``; a module without the section gets no table."""
        if image.builtin:
            raise KernelBug(f"BUG: add_module of builtin image {image.name}", "model")
        self.images[image.name] = image
        if image.count == 0:
            return 0
        self.ddebug_add_module(image.records_addr, image.count, image.name, False,
                               image.class_maps(image.name))
        return 0

    def remove_module(self, mod_name: str) -> int:
        """lib/dynamic_debug.c:ddebug_remove_module: drop the module's table (a loadable
        module's ``mod_name`` never equals a builtin's); -ENOENT when there is none."""
        self.ctx.mutex_lock(SITE_REMOVE_MODULE)
        for dt in self._tables:
            if dt.mod_name == mod_name and not dt.builtin:
                self.on_remove_table(dt)
                self._tables.remove(dt)
                self.images.pop(mod_name, None)
                return 0
        self.images.pop(mod_name, None)
        return -ENOENT

    def late_init(self) -> None:
        """``late_initcall``: nothing by default."""
        self.late_done = True

    # --- storage hooks -----------------------------------------------------------------------

    def on_add_table(self, dt: DdebugTable) -> None:  # noqa: B027 (optional hook)
        """Called before a new table is listed (the design may copy its records)."""

    def on_remove_table(self, dt: DdebugTable) -> None:  # noqa: B027 (optional hook)
        """Called before a table is unlisted (the design frees what it allocated)."""

    @abc.abstractmethod
    def footprint(self) -> Footprint:
        """What the design keeps resident."""

    # --- the machine's hooks: fault injection and the shrinker ----------------------------------

    def inject_alloc_failure(self, count: int = 1) -> None:
        """The next ``count`` allocations fail: by default the kernel's own fault injection
        (``should_failslab`` / ``should_fail_alloc_page``: the next page, slab or ``kmalloc``
        allocation of this kernel returns NULL), so every design that allocates with the
        model's allocators is tested; a pool design narrows it to its ``zs_malloc``."""
        self.ctx.inject_alloc_failure(count)

    def compact(self) -> int:
        """The shrinker (``zs_compact`` of a pool design): pages freed; nothing by default."""
        return 0

    # --- default record access: the record in its section -------------------------------------

    def record_addr(self, dt: DdebugTable, i: int) -> int:
        """Where callsite ``i``'s whole ``struct _ddebug`` lives: in its section
        (``dt.desc_addr(i)``) unless the design moved it.  The record accessors below and
        ``key_addr`` read and write there, so a design that copies records elsewhere overrides
        this alone."""
        return dt.desc_addr(i)

    def read_record(self, dt: DdebugTable, i: int) -> dict[str, int]:
        return self.layout.decode(self.space.read(self.record_addr(dt, i), self.layout.size))

    def write_record_field(self, dt: DdebugTable, i: int, path: str, value: int) -> None:
        addr = self.record_addr(dt, i)
        values = self.layout.decode(self.space.read(addr, self.layout.size))
        values[path] = value
        self.space.write(addr, self.layout.encode(values))

    def site_from_record(self, values: dict[str, int]) -> DdebugSite:
        return DdebugSite(values["modname"], values["function"], values["filename"],
                          values["format"], values["lineno"],
                          values.get("class_id", _DPRINTK_CLASS_DFLT), values["flags"])

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        cls = type(self)
        if (cls.read_record is not BaseDesign.read_record
                or cls.site_from_record is not BaseDesign.site_from_record):
            return self.site_from_record(self.read_record(dt, i))
        # The record read where it lives, decoded once per distinct bytes: a decoded site is a
        # frozen value of the bytes alone, so the same bytes give the same site.
        raw = self.space.read(self.record_addr(dt, i), self.layout.size)
        cache = _site_cache(self)
        site = cache.get(raw)
        if site is None:
            site = self.site_from_record(self.layout.decode(raw))
            if len(cache) >= _SITE_CACHE_MAX:
                cache.clear()
            cache[raw] = site
        return site

    def put_site(self, dt: DdebugTable, i: int) -> None:  # noqa: B027 (nothing mapped)
        """Nothing to release when the site is read in place."""

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        return self.layout.get(self.space.read(self.record_addr(dt, i), self.layout.size),
                               "flags")

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        self.write_record_field(dt, i, "flags", flags)

    # --- the static key (``key`` of struct _ddebug) -------------------------------------------

    def key_addr(self, dt: DdebugTable, i: int) -> int:
        """Address of the callsite's ``key.dd_key_true.key.enabled`` counter."""
        if not self.jump_label:
            raise KernelBug("BUG: static key used without CONFIG_JUMP_LABEL", "model")
        return self.record_addr(dt, i) + self.layout.member(KEY_ENABLED).offset

    def static_key_enabled(self, dt: DdebugTable, i: int) -> bool:
        """``static_key_enabled()``: ``atomic_read(&key->enabled) > 0``."""
        return self.space.read_word(self.key_addr(dt, i), 4) > 0

    def static_branch_enable(self, dt: DdebugTable, i: int) -> None:
        """kernel/jump_label.c:static_key_enable (v5.8): ``cpus_read_lock()`` (may sleep),
        then ``enabled`` = 1 and the branch patched."""
        self.ctx.might_sleep(SITE_STATIC_KEY)
        self.space.write_word(self.key_addr(dt, i), 1, 4)

    def static_branch_disable(self, dt: DdebugTable, i: int) -> None:
        """kernel/jump_label.c:static_key_disable (v5.8)."""
        self.ctx.might_sleep(SITE_STATIC_KEY)
        self.space.write_word(self.key_addr(dt, i), 0, 4)

    # --- footprint helpers -------------------------------------------------------------------

    def table_bytes(self) -> int:
        return len(self._tables) * ddebug_table_size(self.abi, self.era.has_class)

    def callsite_count(self) -> int:
        return sum(t.num_ddebugs for t in self._tables)
