"""Scale: a 4-bit table index (dozens of modules).

``flag-page`` keeps every callsite's flags in one ``kmalloc``'d page, 16 slots of 256 bytes: a
table takes a free slot at load and gives it back at unload; a table without a slot (a 17th at
once) or a callsite past the 256th keeps its flags in its record.  The thinko ``flag-page-wrap``
numbers slots with a counter masked to 4 bits ("16 tables is plenty"): the 17th table loaded
shares the first one's slot.  Runs of 1-3 builtin tables and a module or two never get there;
the machine's bulk loads and many-table boots do.  Aimed at ``control-file``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugTable, Footprint
from model.gfp import GFP_KERNEL

from .common import FlagsElsewhere

SLOTS = 16
SLOT_SIZE = 256


class FlagPage(FlagsElsewhere):
    """Flags in a page of 16 slots (module docstring)."""

    name: ClassVar[str] = "flag-page"
    title: ClassVar[str] = "flags of 16 tables in one kmalloc'd page"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.page = 0
        #: table ident -> slot
        self.slots: dict[int, int] = {}
        self.counter = 0

    def take_slot(self) -> int | None:
        free = sorted(set(range(SLOTS)) - set(self.slots.values()))
        return free[0] if free else None

    def on_add_table(self, dt: DdebugTable) -> None:
        if not self.page:
            self.page = self.ctx.kmalloc(SLOTS * SLOT_SIZE, GFP_KERNEL)
            if not self.page:
                return
        slot = self.take_slot()
        if slot is None:
            return
        self.slots[dt.ident] = slot
        n = min(dt.num_ddebugs, SLOT_SIZE)
        flags = bytes(BaseDesign.get_flags(self, dt, i) for i in range(n))
        self.space.write(self.page + slot * SLOT_SIZE, flags)

    def on_remove_table(self, dt: DdebugTable) -> None:
        self.slots.pop(dt.ident, None)

    def flag_byte(self, dt: DdebugTable, i: int) -> int | None:
        slot = self.slots.get(dt.ident)
        if slot is None or i >= SLOT_SIZE or not self.page:
            return None
        return self.page + slot * SLOT_SIZE + i

    def footprint(self) -> Footprint:
        section = sum(img.records_size for img in self.images.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes(),
                         other_bytes=SLOTS * SLOT_SIZE if self.page else 0)


class FlagPageWrap(FlagPage):
    """The thinko: ``slot = nr_tables++ & 15``."""

    name: ClassVar[str] = "flag-page-wrap"

    def take_slot(self) -> int | None:
        slot = self.counter & (SLOTS - 1)
        self.counter += 1
        return slot


DESIGNS = [FlagPageWrap, FlagPage]
