"""What the 2020 designs share: their own record sections, and the zs-pool they copy into.

Every design other than ``section`` stores a callsite in a shape of its own (a split head and
body, a record grown by a ``zhandle``, a union).  :class:`RelinkedDesign` *re-links* each image
the kernel hands it: it reads the linker's ``struct _ddebug`` records once, writes the design's
records into sections of its own (regions named ``<image>:<section>``, so ``rmmod`` frees them
with the module), and unmaps the linker's records, so nothing can read them by accident.  A
table keeps the linker's record addresses as the *identity* of its callsites (the descriptor a
``pr_debug`` passes); :meth:`RelinkedDesign.head_addr` says where the design keeps callsite ``i``.

:class:`PoolStore` wraps the zsmalloc model of the kernel era the design runs in
(:attr:`model.eras.Era.zsmalloc`, which ``dyndiet analyze`` reads too):

* ``v5.8``, ``v6.1`` and ``v6.12`` have ``zs_map_object`` / ``zs_unmap_object`` with
  ``BUG_ON(in_interrupt())``, one mapping per CPU, preemption off while mapped (v5.8 pins the
  handle; 6.1 and 6.12 take ``local_lock`` of the per-CPU ``zs_map_area`` and the zspage's
  ``migrate_read_lock``); each runs on its own era of the zsmalloc model.
* ``v6.19`` uses the current model: ``zs_obj_read_begin`` / ``zs_obj_read_end`` /
  ``zs_obj_write`` (zs_map_object was removed in 6.15), whose reads may sleep and run in any
  context the model allows.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import attrs

from model.abi import Abi
from model.builtin_layouts import KEY_ENABLED
from model.context import GFP_ATOMIC, GFP_KERNEL
from model.creader import header_text, parse_c
from model.designs.protocol import BaseDesign, DdebugSite, DdebugTable, Footprint
from model.eras import _DPRINTK_CLASS_DFLT, layout_era
from model.errors import BadAccess
from model.layout import Layout, RecordType, layout_of
from model.linker import ModuleImage
from model.zsmalloc import ZsMapMode, ZsPool, zs_create_pool

#: Where design sections go: 64 MiB into the linear map, below the model's page frames (256 MiB)
#: and outside the module area, so modules link at the same addresses as in the baseline kernel.
DESIGN_AREA_OFFSET = 64 << 20

_DDEBUG_HEADER = {"v5.8": "dynamic_debug_v5.8.h", "v6.1": "dynamic_debug_v6.1.h"}


@lru_cache(maxsize=128)
def c_layout(c_text: str, name: str, abi: Abi, jump_label: bool, era: str = "",
             defines: tuple[tuple[str, str], ...] = ()) -> Layout:
    """The layout of ``struct name`` in ``c_text`` for ``abi``; with ``era`` the era's
    ``include/linux/dynamic_debug.h`` comes first (so ``struct _ddebug`` is known)."""
    text = c_text
    if era:
        text = header_text(_DDEBUG_HEADER[layout_era(era)]) + "\n" + c_text
    d = dict(defines)
    if jump_label:
        d["CONFIG_JUMP_LABEL"] = "1"
    rec = parse_c(text, f"model/designs/{name}.h", d)[name]
    assert isinstance(rec, RecordType)
    return layout_of(rec, abi)


def place_region(space: object, size: int, name: str, data: bytes) -> int:
    """Map ``data`` (``size`` bytes) at the first free page-aligned address of the design
    area and return it."""
    from model.memory import AddressSpace

    assert isinstance(space, AddressSpace)
    abi = space.abi
    page = abi.page_size
    base = abi.page_offset + DESIGN_AREA_OFFSET
    for region in space.regions():
        if region.end <= base:
            continue
        if region.base >= base + size:
            break
        base = -(-region.end // page) * page
    space.map(base, size, name, data=data)
    return base


@attrs.define(slots=True)
class Relinked:
    """One image as the design re-linked it: ``count`` records; heads at ``heads`` (stride
    ``head_size``), bodies (if any) at ``bodies`` (stride ``body_size``)."""

    name: str
    records_addr: int
    record_size: int
    count: int
    heads: int = 0
    head_size: int = 0
    bodies: int = 0
    body_size: int = 0
    bodies_reclaimed: bool = False
    extra: int = 0
    extra_size: int = 0


class RelinkedDesign(BaseDesign):
    """A design whose records live in sections it lays out itself (module docstring).

    A subclass sets :attr:`head` (and :attr:`body` for a split) in ``__init__`` and implements
    :meth:`convert`, which turns one linker record into the design's head (and body) bytes.
    """

    head: Layout
    body: Layout | None = None
    #: Name of the design's records section (``__dyndbg`` after the split).
    head_section: str = "__dyndbg"
    body_section: str = "__dyndbg_callsites"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.relinked: dict[str, Relinked] = {}
        self._where: dict[int, tuple[Relinked, int]] = {}
        #: ``pr_err``/``pr_warn`` lines the design logged.
        self.log: list[str] = []

    # --- re-linking ---------------------------------------------------------------------------

    def convert(self, values: dict[str, int], k: int, rel: Relinked) -> tuple[bytes, bytes]:
        """Head and body bytes (body ``b""`` without a body layout) of record ``k``."""
        raise NotImplementedError

    def extra_section(self, image: ModuleImage, raw: bytes) -> bytes:
        """Bytes of a per-image side section (the flags vector) from the linker's records
        ``raw``; none by default."""
        return b""

    def relink(self, image: ModuleImage) -> Relinked:
        n = image.count
        rel = Relinked(image.name, image.records_addr, image.record_size, n,
                       head_size=self.head.size,
                       body_size=self.body.size if self.body is not None else 0)
        self.relinked[image.name] = rel
        if n == 0:
            return rel
        full = self.layout
        raw = self.space.read(image.records_addr, n * full.size)
        if self.body is not None:
            rel.bodies = place_region(self.space, n * rel.body_size,
                                      f"{image.name}:{self.body_section}", b"")
        heads = bytearray()
        bodies = bytearray()
        for k in range(n):
            values = full.decode(raw[k * full.size:(k + 1) * full.size])
            h, b = self.convert(values, k, rel)
            heads += h
            bodies += b
        if self.body is not None:
            self.space.write(rel.bodies, bytes(bodies))
        self.space.unmap(image.records_addr)  # the linker's records: re-linked, not kept
        rel.heads = place_region(self.space, len(heads), f"{image.name}:{self.head_section}",
                                 bytes(heads))
        extra = self.extra_section(image, raw)
        if extra:
            rel.extra = place_region(self.space, len(extra), f"{image.name}:__dyndbg_flags",
                                     extra)
            rel.extra_size = len(extra)
        return rel

    def dynamic_debug_init(self, image: ModuleImage) -> int:
        rc = super().dynamic_debug_init(image)  # reads the linker's modnames first
        self.relink(image)
        for dt in self._tables:
            self.on_relinked(dt)
        return rc

    def add_module(self, image: ModuleImage) -> int:
        if image.builtin:
            return super().add_module(image)  # raises
        self.images[image.name] = image
        self.relink(image)
        return super().add_module(image)

    def remove_module(self, mod_name: str) -> int:
        rc = super().remove_module(mod_name)
        if rc == 0:
            self.relinked.pop(mod_name, None)
        return rc

    def on_relinked(self, dt: DdebugTable) -> None:
        """Called for each builtin table once its records are re-linked."""

    def where(self, dt: DdebugTable, i: int) -> tuple[Relinked, int]:
        """The re-linked image holding callsite ``i`` of ``dt`` and its record index there."""
        hit = self._where.get(dt.ident)
        if hit is None:
            for rel in self.relinked.values():
                off = dt.descs - rel.records_addr
                # an image without records has no table: its (unmapped) records address may
                # be the next module's, so it never holds a table's records
                if 0 <= off < rel.count * rel.record_size:
                    hit = (rel, off // rel.record_size)
                    break
            else:
                raise BadAccess(f"BUG: no section holds the records of table {dt.mod_name}",
                                "model/designs/storage.py", value=dt.descs)
            self._where[dt.ident] = hit
        return hit[0], hit[1] + i

    def head_addr(self, dt: DdebugTable, i: int) -> int:
        rel, k = self.where(dt, i)
        return rel.heads + k * rel.head_size

    def read_head(self, dt: DdebugTable, i: int) -> dict[str, int]:
        return self.head.decode(self.space.read(self.head_addr(dt, i), self.head.size))

    def head_get(self, dt: DdebugTable, i: int, path: str) -> int:
        return self.head.get(self.space.read(self.head_addr(dt, i), self.head.size), path)

    def head_set(self, dt: DdebugTable, i: int, values: dict[str, int]) -> None:
        """Store ``values`` (leaf path -> value) into the head of callsite ``i``."""
        addr = self.head_addr(dt, i)
        cur = self.head.decode(self.space.read(addr, self.head.size))
        ordered = {k: v for k, v in cur.items() if k not in values}
        ordered.update(values)  # stored last: they win over union members they overlap
        self.space.write(addr, self.head.encode(ordered))

    # --- the static key stays in the head (jump entries point at it) ---------------------------

    key_prefix: str = ""

    def key_addr(self, dt: DdebugTable, i: int) -> int:
        if not self.jump_label:
            return super().key_addr(dt, i)  # raises
        return self.head_addr(dt, i) + self.head.member(self.key_prefix + KEY_ENABLED).offset

    # --- default access: overridden by every subclass ------------------------------------------

    def read_record(self, dt: DdebugTable, i: int) -> dict[str, int]:
        raise BadAccess("BUG: the linker's record is re-linked; read the design's head",
                        "model/designs/storage.py", value=dt.descs)

    def section_bytes(self) -> tuple[int, int]:
        """(resident, reclaimed) bytes of the design's record sections."""
        resident = reclaimed = 0
        for rel in self.relinked.values():
            resident += rel.count * rel.head_size + rel.extra_size
            body = rel.count * rel.body_size
            if rel.bodies_reclaimed:
                reclaimed += body
            else:
                resident += body
        return resident, reclaimed


class PoolStore:
    """The design's zs-pool (``dd_callsite_zpool``), for the design's kernel era."""

    def __init__(self, design: BaseDesign) -> None:
        self.design = design
        #: The zsmalloc era of the design's kernel era, and its name.
        self.zs = design.era.zsmalloc
        self.era = self.zs.name
        self.pool: ZsPool | None = None
        self._pending_failures = 0
        #: handle -> (address handed out, object size, local_copy buffer) of open mappings.
        self.mapped: dict[int, tuple[int, int, int]] = {}

    def create(self, name: str = "dyndbg_callsites") -> ZsPool | None:
        """mm/zsmalloc.c:zs_create_pool (``dd_callsite_zpool = zs_create_pool(...)``)."""
        d = self.design
        self.pool = zs_create_pool(name, d.space, d.ctx, era=self.era)
        if self.pool is not None and self._pending_failures:
            self.pool.inject_alloc_failure(self._pending_failures)
            self._pending_failures = 0
        return self.pool

    def inject_alloc_failure(self, count: int = 1) -> None:
        """The next ``count`` zs_malloc calls of this pool fail (pending until it exists)."""
        if self.pool is None:
            self._pending_failures += count
        else:
            self.pool.inject_alloc_failure(count)

    def _pool(self, op: str, handle: int | None = None) -> ZsPool:
        if self.pool is None:
            arg = f" of handle {handle:#x}" if handle is not None else ""
            exc = BadAccess(f"BUG: kernel NULL pointer dereference, address: 0000000000000000 "
                            f"({op}{arg} on dd_callsite_zpool before late_initcall created "
                            "it)", f"mm/zsmalloc.c:{op}", value=0)
            exc.handle = handle  # type: ignore[attr-defined]
            raise exc
        return self.pool

    def store(self, data: bytes) -> int:
        """``zs_malloc(pool, size, GFP_KERNEL)`` then map ZS_MM_WO + memcpy + unmap (v5.8) or
        ``zs_obj_write`` (current); 0 when the allocation fails (v5.8 0, current ERR_PTR)."""
        pool = self._pool("zs_malloc")
        handle = pool.zs_malloc(len(data), GFP_KERNEL)
        if handle == 0 or pool.is_err_value(handle):
            return 0
        if self.zs.map_api:
            addr = pool.zs_map_object(handle, ZsMapMode.ZS_MM_WO)
            self.design.space.write(addr, data)
            pool.zs_unmap_object(handle)
        else:
            pool.zs_obj_write(handle, data)
        return handle

    def map(self, handle: int, size: int, mode: ZsMapMode = ZsMapMode.ZS_MM_RO) -> int:
        """``zs_map_object(pool, handle, mode)`` (v5.8) or ``zs_obj_read_begin(pool, handle,
        size, local_copy)`` with a GFP_ATOMIC ``local_copy`` (current)."""
        pool = self._pool("zs_map_object" if self.zs.map_api else "zs_obj_read_begin",
                          handle)
        if self.zs.map_api:
            addr = pool.zs_map_object(handle, mode)
            self.mapped[handle] = (addr, size, 0)
            return addr
        buf = self.design.ctx.kmalloc(size, GFP_ATOMIC)
        addr = pool.zs_obj_read_begin(handle, size, buf)
        self.mapped[handle] = (addr, size, buf)
        return addr

    def unmap(self, handle: int, dirty: bool = False) -> None:
        """``zs_unmap_object`` (v5.8) or ``zs_obj_read_end`` then, for a written object,
        ``zs_obj_write`` of what the caller changed (current)."""
        pool = self._pool("zs_unmap_object", handle)
        addr, size, buf = self.mapped.pop(handle, (0, 0, 0))
        if self.zs.map_api:
            pool.zs_unmap_object(handle)
            return
        data = self.design.space.read(addr, size) if dirty and addr else b""
        pool.zs_obj_read_end(handle, size, addr)
        if data:
            pool.zs_obj_write(handle, data)
        if buf:
            self.design.ctx.kfree(buf)

    def free(self, handle: int) -> None:
        """mm/zsmalloc.c:zs_free."""
        self._pool("zs_free", handle).zs_free(handle)

    def is_handle(self, handle: int) -> bool:
        """Whether ``handle`` is a live handle of the pool (what the kernel cannot ask)."""
        return self.pool is not None and self.pool.handle_cachep.is_live(handle)

    def compact(self) -> int:
        return self.pool.zs_compact() if self.pool is not None else 0

    def pages(self) -> int:
        return self.pool.zs_get_total_pages() if self.pool is not None else 0

    def handle_bytes(self) -> int:
        if self.pool is None:
            return 0
        return len(self.pool.live_handles()) * self.design.abi.long_size


def site_of(values: dict[str, int], prefix: str, flags: int) -> DdebugSite:
    """A :class:`DdebugSite` from decoded ``struct _ddebug`` leaves under ``prefix``."""
    return DdebugSite(values[prefix + "modname"], values[prefix + "function"],
                      values[prefix + "filename"], values[prefix + "format"],
                      values[prefix + "lineno"], values.get(prefix + "class_id", _DPRINTK_CLASS_DFLT), flags)


class PooledDesign(RelinkedDesign):
    """A re-linked design whose callsites (or records) live in a zs-pool ``self.zpool``: the
    machine's pool hooks and the footprint every pool design reports the same way."""

    zpool: PoolStore

    def inject_alloc_failure(self, count: int = 1) -> None:
        """The next ``count`` pool allocations fail as the era's ``zs_malloc`` fails."""
        self.zpool.inject_alloc_failure(count)

    def compact(self) -> int:
        """``zs_compact`` on the design's pool."""
        return self.zpool.compact()

    def footprint(self) -> Footprint:
        """Section bytes still resident (less any extra section, counted as other bytes), the
        pool's pages and handle slab objects, and the tables."""
        resident, reclaimed = self.section_bytes()
        extra = sum(r.extra_size for r in self.relinked.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=resident - extra,
                         reclaimed_bytes=reclaimed, pool_pages=self.zpool.pages(),
                         page_size=self.abi.page_size, handle_bytes=self.zpool.handle_bytes(),
                         table_bytes=self.table_bytes(), other_bytes=extra)


__all__ = ["PoolStore", "PooledDesign", "Relinked", "RelinkedDesign", "c_layout",
           "place_region"]
