"""``flags-vector``: the flags pulled out of the records into a vector of bytes.

Jim Cromie, cover letter of "[PATCH 0/3] dyndbg: WIP semi-viable diet plan ?" (kernelnewbies,
25 Jul 2020): "for non-JUMP_LABEL builds, putting whole struct _ddebug into zram is problematic;
it means pulling out whole record just to check the am-i-printing flag, a horrible cost.
pulling flags into a separate flags vector would solve that, and would be 'tight' on ram".

The union-flag design (:mod:`model.designs.union_flag`) with one byte per callsite in a
``__dyndbg_flags`` section beside the records: bits 0-6 are the callsite's flags, bit 7 is
``_DPRINTK_FLAGS_MAPPED`` (the record's word holds a zhandle).  The print decision
(``DYNAMIC_DEBUG_BRANCH``: the static key, or ``flags & _DPRINTK_FLAGS_PRINT``) never maps a
record; the prefix and the control file still read the strings from the pool.
"""

from __future__ import annotations

from typing import ClassVar

from model.designs import register
from model.designs.july import JulyDesign
from model.designs.protocol import DdebugSite, DdebugTable
from model.designs.storage import site_of
from model.linker import ModuleImage
from model.tagging import DPRINTK_FLAGS_MAPPED, ddebug_is_mapped
from model.zsmalloc import ZsMapMode


@register
class FlagsVectorDesign(JulyDesign):
    """The flags vector (module docstring)."""

    name: ClassVar[str] = "flags-vector"
    title: ClassVar[str] = "flags in a separate vector, so the print decision never maps"
    source: ClassVar[str] = ("Jim Cromie, [PATCH 0/3] dyndbg: WIP semi-viable diet plan ? "
                             "(kernelnewbies, 25 Jul 2020), the flags-vector paragraph")
    union: ClassVar[bool] = True

    def extra_section(self, image: ModuleImage, raw: bytes) -> bytes:
        layout, size = self.layout, self.layout.size
        return bytes(layout.get(raw[k * size:(k + 1) * size], "flags")
                     for k in range(image.count))

    def vec_addr(self, dt: DdebugTable, i: int) -> int:
        rel, k = self.where(dt, i)
        return rel.extra + k

    def vec(self, dt: DdebugTable, i: int) -> int:
        return self.space.read(self.vec_addr(dt, i), 1)[0]

    def is_zhandle(self, dt: DdebugTable, i: int) -> bool:
        return ddebug_is_mapped(self.vec(dt, i))

    def handle_of(self, dt: DdebugTable, i: int) -> int:
        return self.head_get(dt, i, "zhandle")

    def mark_pooled(self, dt: DdebugTable, i: int, handle: int) -> None:
        self.head_set(dt, i, {"zhandle": handle})
        self.space.write(self.vec_addr(dt, i), bytes([self.vec(dt, i) | DPRINTK_FLAGS_MAPPED]))

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        return self.vec(dt, i) & ~DPRINTK_FLAGS_MAPPED & 0xFF

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        keep = self.vec(dt, i) & DPRINTK_FLAGS_MAPPED
        self.space.write(self.vec_addr(dt, i), bytes([keep | (flags & 0x7F)]))

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        if not self.is_zhandle(dt, i):
            return site_of(self.read_head(dt, i), "dd.", self.get_flags(dt, i))
        handle, addr = self._map(dt, i, ZsMapMode.ZS_MM_RO)
        self.held[(dt.ident, i)] = handle
        v = self.layout.decode(self.space.read(addr, self.layout.size))
        return site_of(v, "", self.get_flags(dt, i))

    def put_site(self, dt: DdebugTable, i: int) -> None:
        handle = self.held.pop((dt.ident, i), None)
        if handle is not None:
            self.zpool.unmap(handle)
