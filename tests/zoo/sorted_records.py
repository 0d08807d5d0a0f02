"""Scale with meaning: callsites a control file can tell apart.

``sorted-index`` re-links each table's records into a section of its own sorted by function
and line (so a ``func`` query could bisect), and keeps the permutation: callsite ``i`` of a
table is still the ``i``-th record the linker placed, wherever it sits now.  The thinko
``sorted-records`` forgets the permutation and serves position ``i`` of the sorted section
as callsite ``i``: the control file lists a table in sorted order and a ``pr_debug`` reaches
another callsite's record.  When every callsite is the same (``f``, ``a.c``, ``ok``, line 1),
sorting changes nothing anyone can see; with a driver's callsites it does.  Aimed at
``control-file``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugTable, Footprint
from model.linker import ModuleImage

from .common import table_region


class SortedIndex(BaseDesign):
    """Records re-linked in sorted order with their permutation (module docstring)."""

    name: ClassVar[str] = "sorted-index"
    title: ClassVar[str] = "records re-linked sorted by function and line"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: table ident -> (base of its sorted records, position of callsite i)
        self.sorted: dict[int, tuple[int, tuple[int, ...]]] = {}

    def on_add_table(self, dt: DdebugTable) -> None:
        size = self.layout.size
        raw = [self.space.read(dt.desc_addr(i), size) for i in range(dt.num_ddebugs)]

        def key(i: int) -> tuple[bytes, int]:
            v = self.layout.decode(raw[i])
            return self.space.read_cstring(v["function"]), v["lineno"]
        order = sorted(range(dt.num_ddebugs), key=key)
        base = table_region(self, dt, "__dyndbg_sorted", b"".join(raw[i] for i in order))
        position = [0] * dt.num_ddebugs
        for pos, i in enumerate(order):
            position[i] = pos
        self.sorted[dt.ident] = (base, tuple(position))

    def dynamic_debug_init(self, image: ModuleImage) -> int:
        rc = super().dynamic_debug_init(image)
        self.drop_linked(image)
        return rc

    def add_module(self, image: ModuleImage) -> int:
        rc = super().add_module(image)
        self.drop_linked(image)
        return rc

    def drop_linked(self, image: ModuleImage) -> None:
        """The linker's records are re-linked: give them back."""
        if image.count and self.space.region_at(image.records_addr) is not None:
            self.space.unmap(image.records_addr)

    def on_remove_table(self, dt: DdebugTable) -> None:
        self.sorted.pop(dt.ident, None)

    def position(self, dt: DdebugTable, i: int) -> int:
        return self.sorted[dt.ident][1][i]

    def record_addr(self, dt: DdebugTable, i: int) -> int:
        base, _pos = self.sorted[dt.ident]
        return base + self.position(dt, i) * self.layout.size

    def footprint(self) -> Footprint:
        section = sum(len(p) * self.layout.size for _b, p in self.sorted.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes())


class SortedRecords(SortedIndex):
    """The thinko: position ``i`` of the sorted section served as callsite ``i``."""

    name: ClassVar[str] = "sorted-records"

    def position(self, dt: DdebugTable, i: int) -> int:
        return i


DESIGNS = [SortedRecords, SortedIndex]
