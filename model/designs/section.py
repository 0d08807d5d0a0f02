"""``section``: the baseline.  Records stay in the linked ``__dyndbg`` (``__verbose`` in v5.8)
section for their whole life and are read in place, as mainline does in every era."""

from __future__ import annotations

from typing import ClassVar

from model.designs import register
from model.designs.protocol import BaseDesign, Footprint


@register
class SectionDesign(BaseDesign):
    """lib/dynamic_debug.c as merged (v5.8, v6.1, v6.19): ``struct _ddebug`` records in the
    section, ``ddebug_table``\\ s pointing at them, nothing mapped or copied."""

    name: ClassVar[str] = "section"
    title: ClassVar[str] = "records stay in the __dyndbg section (mainline)"
    source: ClassVar[str] = "lib/dynamic_debug.c, v5.8 / v6.1 / v6.19 (the baseline)"

    def footprint(self) -> Footprint:
        """The record sections of every loaded image (vmlinux' and the modules'), and the
        tables; nothing reclaimed, no pool."""
        section = sum(img.records_size for img in self.images.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes())
