"""The July-2020 line: the whole ``struct _ddebug`` copied into a zs-pool, a ``zhandle`` beside it.

Jim Cromie, "[PATCH 0/3] dyndbg: WIP semi-viable diet plan ?" (kernelnewbies, 25 Jul 2020, on
v5.8).  Only the cover letter is archived; the bodies of patches 1/3-3/3 are lost, so this module
reconstructs them from the letter with the code of the August series (5/7) as the template:

* patch 1: "stuff whole struct _ddebug contents, into an anonymous struct, along with a new
  zhandle, into a new zpool": the record is ``struct { struct _ddebug dd; unsigned long
  zhandle; }`` (``before``); ``ddebug_zpool_init()`` at late init copies each ``dd`` into the pool;
* patch 2: "distinguish zhandles from pointers, by making zhandles odd, and testing with %2":
  the stored word is ``zhandle + 1`` (:func:`model.tagging.zhandle_tag`) and every reader asks
  ``word % 2`` (:func:`model.tagging.is_zhandle`), the copy loop too (a record that already
  looks copied is skipped);
* patch 3: "the unionization": ``union { struct _ddebug dd; unsigned long zhandle; }``: the
  handle shares its word with ``dd.modname``, the record's first pointer (``after``), and "The
  fix-on-2 is to add an explicit flag; is_zhandle, and drop the %2 test"
  (:mod:`model.designs.union_flag`).

After the copy the pool holds the authoritative ``struct _ddebug`` (strings, line, flags); the
static key stays in the section (jump entries point at it).  Readers follow the August pattern:
``get`` maps the pool object (``ZS_MM_RW``: ``ddebug_change`` writes ``flags`` through it) and
holds it until ``put``; reading or writing ``flags`` alone maps and unmaps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import DdebugSite, DdebugTable
from model.designs.storage import PooledDesign, PoolStore, Relinked, c_layout, site_of
from model.zsmalloc import ZsMapMode

SITE_ZPOOL_ADD = "lib/dynamic_debug.c:ddebug_add_module"

#: Patch 1: the contents and a zhandle of its own.
RECORD_BEFORE_C = "struct _ddebug_zrec {\n\tstruct _ddebug dd;\n\tunsigned long zhandle;\n};\n"
#: Patch 3: the handle unionized with the record (it overlays ``dd.modname``).
RECORD_UNION_C = ("struct _ddebug_zrec {\n\tunion {\n\t\tstruct _ddebug dd;\n"
                  "\t\tunsigned long zhandle;\n\t};\n};\n")


class JulyDesign(PooledDesign):
    """Shared code of the July designs; subclasses decide how a word says "zhandle"."""

    union: ClassVar[bool] = False
    saves_against: ClassVar[str | None] = None
    key_prefix = "dd."

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        c = RECORD_UNION_C if self.union else RECORD_BEFORE_C
        self.head = c_layout(c, "_ddebug_zrec", self.abi, self.jump_label, self.era.name)
        self.zpool = PoolStore(self)
        #: (table ident, index) -> handle of a pool object mapped by ``get_site``.
        self.held: dict[tuple[int, int], int] = {}

    # --- what a subclass decides ---------------------------------------------------------------

    def is_zhandle(self, dt: DdebugTable, i: int) -> bool:
        """Whether callsite ``i`` of ``dt`` lives in the pool."""
        raise NotImplementedError

    def handle_of(self, dt: DdebugTable, i: int) -> int:
        raise NotImplementedError

    def mark_pooled(self, dt: DdebugTable, i: int, handle: int) -> None:
        raise NotImplementedError

    # --- re-linking: the record as patch 1 / 3 lays it out ------------------------------------

    def convert(self, values: dict[str, int], k: int, rel: Relinked) -> tuple[bytes, bytes]:
        head = {"dd." + p: v for p, v in values.items()}
        if not self.union:
            head["zhandle"] = 0
        return self.head.encode(head), b""

    # --- lifecycle -------------------------------------------------------------------------------

    def late_init(self) -> None:
        """``ddebug_zpool_init`` (late_initcall): create the pool, copy every builtin record."""
        super().late_init()
        if self.zpool.create() is None:
            self.log.append("dyndbg: zs_create_pool failed")
            return
        for dt in self._tables:
            for i in range(dt.num_ddebugs):
                self.ddebug_zpool_add(dt, i)

    def on_add_table(self, dt: DdebugTable) -> None:
        if self.zpool.pool is None or dt.builtin:
            return
        self.ctx.mutex_lock(SITE_ZPOOL_ADD)
        for i in range(dt.num_ddebugs):
            self.ddebug_zpool_add(dt, i)

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            if self.is_zhandle(dt, i):
                self.zpool.free(self.handle_of(dt, i))

    def ddebug_zpool_add(self, dt: DdebugTable, i: int) -> None:
        """Copy the record's ``struct _ddebug`` into the pool, unless it already looks copied."""
        if self.is_zhandle(dt, i):
            return
        data = self.space.read(self.head_addr(dt, i), self.layout.size)
        handle = self.zpool.store(data)
        if not handle:
            fn = self.space.read_cstring(self.layout.get(data, "function")).decode("latin-1")
            self.log.append(f"dynamic_debug:ddebug_zpool_add: pool malloc failed on {fn}")
            return
        self.mark_pooled(dt, i, handle)

    # --- access ----------------------------------------------------------------------------------

    def _map(self, dt: DdebugTable, i: int, mode: ZsMapMode) -> tuple[int, int]:
        handle = self.handle_of(dt, i)
        return handle, self.zpool.map(handle, self.layout.size, mode)

    def pool_flags(self, values: dict[str, int]) -> int:
        return values["flags"]

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        if not self.is_zhandle(dt, i):
            v = self.read_head(dt, i)
            return site_of(v, "dd.", self.get_flags(dt, i))
        handle, addr = self._map(dt, i, ZsMapMode.ZS_MM_RW)
        self.held[(dt.ident, i)] = handle
        v = self.layout.decode(self.space.read(addr, self.layout.size))
        return site_of(v, "", self.get_flags(dt, i))

    def put_site(self, dt: DdebugTable, i: int) -> None:
        handle = self.held.pop((dt.ident, i), None)
        if handle is not None:
            self.zpool.unmap(handle, dirty=True)

    def _flags_addr(self, dt: DdebugTable, i: int) -> tuple[int, int | None]:
        """Address of the ``struct _ddebug`` holding the flags, and the handle mapped for it
        (None when no new mapping was made)."""
        handle = self.held.get((dt.ident, i))
        if handle is not None:
            return self.zpool.mapped[handle][0], None
        if self.is_zhandle(dt, i):
            h, addr = self._map(dt, i, ZsMapMode.ZS_MM_RW)
            return addr, h
        return self.head_addr(dt, i), None

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        addr, mapped = self._flags_addr(dt, i)
        flags = self.layout.get(self.space.read(addr, self.layout.size), "flags")
        if mapped is not None:
            self.zpool.unmap(mapped)
        return flags

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        addr, mapped = self._flags_addr(dt, i)
        values = self.layout.decode(self.space.read(addr, self.layout.size))
        values["flags"] = flags
        self.space.write(addr, self.layout.encode(values))
        if mapped is not None:
            self.zpool.unmap(mapped, dirty=True)
