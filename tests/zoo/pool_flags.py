"""Fault injection on a pool design that does not build on ``PooledDesign``.

``pool-flags`` moves each table's flags into one object of a zs-pool of its own (the
``PoolStore`` helper, used directly), read with ``zs_obj_read_begin``; when ``zs_malloc``
fails the table keeps its flags in its records.  It declares its fault hook: its next
``zs_malloc`` fails.  The thinko ``pool-flags-zero`` keeps the handle ``zs_malloc`` returned
even when that is 0 and later reads "handle 0".  It declares no hook of its own: the protocol's
default (the kernel's next allocation fails) reaches its pool all the same, where the old
machine, which looked for ``inject_alloc_failure`` and ``compact`` on the class, gave such a
design no failure at all.  Run on v6.19, whose pool reads are legal in any context (the era
that keeps a pool design clear of the mapping rules it does not mean to test).  Aimed at
``no-bad-handle``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugTable, Footprint
from model.designs.storage import PoolStore

from .common import FlagsElsewhere


class PoolFlagsBase(FlagsElsewhere):
    """Flags in a pool object per table (module docstring), no fault hook of its own."""

    title: ClassVar[str] = "each table's flags in a zs-pool object"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.zpool = PoolStore(self)
        #: table ident -> handle of its flags object
        self.handles: dict[int, int] = {}

    def keep(self, dt: DdebugTable, handle: int) -> None:
        if handle:
            self.handles[dt.ident] = handle

    def on_add_table(self, dt: DdebugTable) -> None:
        if self.zpool.pool is None and self.zpool.create("dyndbg_flags") is None:
            return
        flags = bytes(BaseDesign.get_flags(self, dt, i) for i in range(dt.num_ddebugs))
        self.keep(dt, self.zpool.store(flags))

    def on_remove_table(self, dt: DdebugTable) -> None:
        handle = self.handles.pop(dt.ident, None)
        if handle is not None:
            self.zpool.free(handle)

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        handle = self.handles.get(dt.ident)
        if handle is None:
            return super().get_flags(dt, i)
        addr = self.zpool.map(handle, dt.num_ddebugs)
        try:
            return self.space.read(addr + i, 1)[0]
        finally:
            self.zpool.unmap(handle)

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        handle = self.handles.get(dt.ident)
        if handle is None:
            super().set_flags(dt, i, flags)
            return
        addr = self.zpool.map(handle, dt.num_ddebugs)
        self.space.write(addr + i, bytes([flags & 0xFF]))
        self.zpool.unmap(handle, dirty=True)

    def compact(self) -> int:
        return self.zpool.compact()

    def footprint(self) -> Footprint:
        section = sum(img.records_size for img in self.images.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         pool_pages=self.zpool.pages(), page_size=self.abi.page_size,
                         handle_bytes=self.zpool.handle_bytes(), table_bytes=self.table_bytes())


class PoolFlags(PoolFlagsBase):
    """The correct design, declaring its fault hook."""

    name: ClassVar[str] = "pool-flags"

    def inject_alloc_failure(self, count: int = 1) -> None:
        """The declared hook: the pool's next ``zs_malloc`` fails."""
        self.zpool.inject_alloc_failure(count)


class PoolFlagsZero(PoolFlagsBase):
    """The thinko: ``dt->flags_handle = zs_malloc(...)`` unchecked; no fault hook declared."""

    name: ClassVar[str] = "pool-flags-zero"

    def keep(self, dt: DdebugTable, handle: int) -> None:
        self.handles[dt.ident] = handle


DESIGNS = [PoolFlagsZero, PoolFlags]
