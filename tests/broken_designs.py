"""Deliberately broken variants of the built-in designs: each plants the thinko one property
exists to catch (tests/test_meta_designs.py)."""

from __future__ import annotations

from typing import ClassVar

from model.designs.protocol import DdebugSite, DdebugTable
from model.designs.split import SplitDesign
from model.designs.zpool_copy import ZpoolCopyDesign


class LostFlagSplit(SplitDesign):
    """Stores flags without the ``t`` bit (a flags field one bit too narrow)."""

    name: ClassVar[str] = "broken-lost-flag"

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        super().set_flags(dt, i, flags & ~0x10)


class SwappedFileSplit(SplitDesign):
    """Hands out the function pointer as the filename (two members swapped in a struct)."""

    name: ClassVar[str] = "broken-swapped-file"

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        s = super().get_site(dt, i)
        return DdebugSite(s.modname, s.function, s.function, s.format, s.lineno, s.class_id,
                          s.flags)


class StuckKeySplit(SplitDesign):
    """Never enables the static key (a key copied away from where the jump entries point)."""

    name: ClassVar[str] = "broken-stuck-key"

    def static_branch_enable(self, dt: DdebugTable, i: int) -> None:
        self.ctx.might_sleep("include/linux/percpu-rwsem.h:49")


class ShortLinenoSplit(SplitDesign):
    """Keeps only 8 bits of the line number."""

    name: ClassVar[str] = "broken-short-lineno"

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        s = super().get_site(dt, i)
        return DdebugSite(s.modname, s.function, s.filename, s.format, s.lineno & 0xFF,
                          s.class_id, s.flags)


class DoubleFreeZpool(ZpoolCopyDesign):
    """Frees each module callsite's handle twice at rmmod."""

    name: ClassVar[str] = "broken-double-free"
    saves_against: ClassVar[str | None] = None

    def ddebug_zpool_remove(self, dt: DdebugTable, i: int) -> None:
        super().ddebug_zpool_remove(dt, i)
        self.zpool.free(self.read_head(dt, i)["zhandle"])


class StrayUnmapZpool(ZpoolCopyDesign):
    """Unmaps its first handle once more after the copy at late init."""

    name: ClassVar[str] = "broken-stray-unmap"
    saves_against: ClassVar[str | None] = None

    def late_init(self) -> None:
        super().late_init()
        for dt in self._tables:
            handle = self.read_head(dt, 0)["zhandle"]
            if handle and self.zpool.pool is not None:
                self.zpool.pool.zs_unmap_object(handle)
                return
