"""An example design for docs/designs/protocol.md: copy every record into its own kmalloc'd
object at late init (and at load for modules loaded later), then give the record sections back.

Run it:  dyndiet check docs/designs/kcopy_design.py
"""

from __future__ import annotations

from typing import ClassVar

from model.context import GFP_KERNEL
from model.designs.protocol import BaseDesign, DdebugTable, Footprint
from model.errors import KernelBug
from model.slab import KMALLOC_SIZES


class KcopyDesign(BaseDesign):
    """Records copied to kmalloc-N objects; the __dyndbg sections reclaimed after the copy."""

    name: ClassVar[str] = "kcopy"
    title: ClassVar[str] = "records copied into kmalloc objects, sections reclaimed"
    source: ClassVar[str] = "docs/designs/protocol.md (an example, not from the series)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        #: (table ident, index) -> address of the copy
        self.copies: dict[tuple[int, int], int] = {}
        #: images whose record section was given back
        self.reclaimed: set[str] = set()

    # where a record lives: the copy once there is one, the section before (BaseDesign's
    # record accessors and key_addr follow it)
    def record_addr(self, dt: DdebugTable, i: int) -> int:
        return self.copies.get((dt.ident, i), dt.desc_addr(i))

    def _copy_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            addr = self.ctx.kmalloc(self.layout.size, GFP_KERNEL)
            if not addr:
                raise KernelBug("dyndbg: kmalloc failed", "kcopy_design.py")
            self.space.write(addr, self.space.read(dt.desc_addr(i), self.layout.size))
            self.copies[(dt.ident, i)] = addr

    def _reclaim(self, image_name: str) -> None:
        image = self.images[image_name]
        for region in self.space.regions():
            if region.name == f"{image_name}:{image.section}":
                self.space.unmap(region.base)
                self.reclaimed.add(image_name)

    def late_init(self) -> None:
        for dt in self.tables():
            self._copy_table(dt)
        for name in list(self.images):
            self._reclaim(name)
        super().late_init()

    def on_add_table(self, dt: DdebugTable) -> None:
        if self.late_done and not dt.builtin:
            self._copy_table(dt)

    def add_module(self, image: object) -> int:
        rc = super().add_module(image)  # type: ignore[arg-type]
        if self.late_done and rc == 0:
            self._reclaim(image.name)  # type: ignore[attr-defined]
        return rc

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            addr = self.copies.pop((dt.ident, i), None)
            if addr is not None:
                self.ctx.kfree(addr)

    def footprint(self) -> Footprint:
        object_size = next(s for s in KMALLOC_SIZES if s >= self.layout.size)
        gone = sum(img.records_size for n, img in self.images.items() if n in self.reclaimed)
        kept = sum(img.records_size for n, img in self.images.items() if n not in self.reclaimed)
        return Footprint(callsites=self.callsite_count(), section_bytes=kept,
                         reclaimed_bytes=gone, page_size=self.abi.page_size,
                         table_bytes=self.table_bytes(),
                         other_bytes=len(self.copies) * object_size)


DESIGNS = [KcopyDesign]
