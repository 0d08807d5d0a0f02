"""``union-flag``: the union, with an explicit ``is_zhandle`` flag outside the shared word.

Jim Cromie, "[PATCH 3/3] dyndbg: fixup/correct assumptions re ptr-vals" (kernelnewbies, 25 Jul
2020): "The fix-on-2 is to add an explicit flag; is_zhandle, and drop the %2 test".  The flag is
bit 7 of the section record's ``flags`` byte, ``_DPRINTK_FLAGS_MAPPED (1<<7) /* reserved */`` of
the August header (:func:`model.tagging.ddebug_set_mapped` / ``ddebug_is_mapped``); the
pool copy keeps the other flag bits.  The record is the union of :mod:`model.designs.july`.
"""

from __future__ import annotations

from typing import ClassVar

from model.designs import register
from model.designs.july import JulyDesign
from model.designs.protocol import DdebugTable
from model.tagging import ddebug_is_mapped, ddebug_set_mapped


@register
class UnionFlagDesign(JulyDesign):
    """July 2020 patch 3/3 (module docstring)."""

    name: ClassVar[str] = "union-flag"
    title: ClassVar[str] = "zhandle unionized with dd.modname, an explicit is_zhandle flag"
    source: ClassVar[str] = ("Jim Cromie, [PATCH 3/3] dyndbg: fixup/correct assumptions re "
                             "ptr-vals (kernelnewbies, 25 Jul 2020); _DPRINTK_FLAGS_MAPPED "
                             "(Aug 2020 4/7)")
    union: ClassVar[bool] = True
    saves_against: ClassVar[str | None] = "odd-tag-before"

    def section_flags(self, dt: DdebugTable, i: int) -> int:
        return self.head_get(dt, i, "dd.flags")

    def is_zhandle(self, dt: DdebugTable, i: int) -> bool:
        return ddebug_is_mapped(self.section_flags(dt, i))

    def handle_of(self, dt: DdebugTable, i: int) -> int:
        return self.head_get(dt, i, "zhandle")

    def mark_pooled(self, dt: DdebugTable, i: int, handle: int) -> None:
        flags = ddebug_set_mapped(self.section_flags(dt, i))
        self.head_set(dt, i, {"zhandle": handle, "dd.flags": flags})
