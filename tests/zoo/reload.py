"""Reach: the same module loaded, removed and loaded again.

``flag-vector`` keeps each table's flags in a ``kmalloc``'d vector of one byte a callsite, made
at load from the records and freed at unload (the print decision then reads one byte).  The
thinko ``flag-vector-kept`` keeps a module's vector across rmmod, by module name, "to spare the
allocation when it comes back": the reloaded module starts with the flags its previous load had
when it went, where the kernel starts it from its records.  Aimed at ``control-file``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugTable, Footprint
from model.gfp import GFP_KERNEL

from .common import FlagsElsewhere, kmalloc_size


class FlagVector(FlagsElsewhere):
    """Flags in a per-table vector; records, keys and strings stay in the section."""

    name: ClassVar[str] = "flag-vector"
    title: ClassVar[str] = "flags in a kmalloc'd vector per table"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: module name -> (vector address, length)
        self.vectors: dict[str, tuple[int, int]] = {}

    def on_add_table(self, dt: DdebugTable) -> None:
        if dt.mod_name in self.vectors:
            return  # (the thinko's path: a vector kept from an earlier load)
        addr = self.ctx.kmalloc(dt.num_ddebugs, GFP_KERNEL)
        if not addr:
            return  # no vector: the records keep the flags
        data = bytes(BaseDesign.get_flags(self, dt, i) for i in range(dt.num_ddebugs))
        self.space.write(addr, data)
        self.vectors[dt.mod_name] = (addr, dt.num_ddebugs)

    def release(self, dt: DdebugTable) -> None:
        vec = self.vectors.pop(dt.mod_name, None)
        if vec is not None:
            self.ctx.kfree(vec[0])

    def on_remove_table(self, dt: DdebugTable) -> None:
        self.release(dt)

    def flag_byte(self, dt: DdebugTable, i: int) -> int | None:
        vec = self.vectors.get(dt.mod_name)
        return vec[0] + i if vec is not None and i < vec[1] else None

    def footprint(self) -> Footprint:
        section = sum(img.records_size for img in self.images.values())
        listed = {dt.mod_name for dt in self.tables()}
        vecs = sum(kmalloc_size(n) for name, (_a, n) in self.vectors.items() if name in listed)
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes(),
                         other_bytes=vecs)


class FlagVectorKept(FlagVector):
    """The thinko: the vector outlives the module."""

    name: ClassVar[str] = "flag-vector-kept"

    def release(self, dt: DdebugTable) -> None:
        pass


DESIGNS = [FlagVectorKept, FlagVector]
