"""Observable, not raw: a flag bit the design reserves for itself.

``marked-copy`` copies each record into ``kmalloc`` at late init and gives back the sections, as
the Aug-2020 series did with ``_DPRINTK_FLAGS_MAPPED (1<<7) /* reserved */``: each callsite's
flags live in a byte of a resident vector, whose bit 7 says "the record is in its copy".  Its
``get_flags`` returns the byte, bit 7 included; no user can ever see bit 7 (it is no flag of any
era's control file), so the properties, which compare what a user observes, must hold: the old
``callsite-metadata``, which compared the raw value, flagged this correct design.

Two thinkos, each aimed at its own property:

* ``marked-copy-s`` reserves bit 5, free in 2020 but ``_DPRINTK_FLAGS_INCL_SOURCENAME`` (``s``)
  since 6.4: on v6.12 and v6.19 the control file shows ``s`` on every copied callsite and its
  prefix grows the file name.  Aimed at ``control-file`` (era v6.19).
* ``marked-copy-lost`` stores the flags ``ddebug_change`` hands it as they are: ``=p`` computes
  ``(old & 0) | p`` and drops the mark, and the next access reads the record from its freed
  section.  Aimed at ``no-oops``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import DdebugTable, Footprint

from .common import KcopyBase, table_region


class MarkedCopy(KcopyBase):
    """Flags in a resident vector, bit 7 marking a copied record (module docstring)."""

    name: ClassVar[str] = "marked-copy"
    MARK: ClassVar[int] = 1 << 7

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: table ident -> (vector address, length)
        self.vectors: dict[int, tuple[int, int]] = {}

    def on_add_table(self, dt: DdebugTable) -> None:
        flags = bytes(self.layout.get(self.space.read(dt.desc_addr(i), self.layout.size),
                                      "flags") & ~self.MARK & 0xFF
                      for i in range(dt.num_ddebugs))
        self.vectors[dt.ident] = (table_region(self, dt, "__dyndbg_flags", flags),
                                  dt.num_ddebugs)
        super().on_add_table(dt)
        self.mark(dt)

    def on_remove_table(self, dt: DdebugTable) -> None:
        self.vectors.pop(dt.ident, None)  # its section goes with the module
        super().on_remove_table(dt)

    def late_init(self) -> None:
        super().late_init()
        for dt in self.tables():
            self.mark(dt)

    def mark(self, dt: DdebugTable) -> None:
        """Set the mark of each copied record of ``dt``."""
        addr, _n = self.vectors[dt.ident]
        for i in range(dt.num_ddebugs):
            if dt.desc_addr(i) in self.copies:
                byte = self.space.read(addr + i, 1)[0]
                self.space.write(addr + i, bytes([byte | self.MARK]))

    def record_addr(self, dt: DdebugTable, i: int) -> int:
        """The copy when the mark says so, else the record in its section."""
        vec = self.vectors.get(dt.ident)
        if vec is not None and self.space.read(vec[0] + i, 1)[0] & self.MARK:
            return self.copies.get(dt.desc_addr(i), 0)
        return dt.desc_addr(i)

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        addr, _n = self.vectors[dt.ident]
        return self.space.read(addr + i, 1)[0]

    def store(self, dt: DdebugTable, i: int, flags: int) -> int:
        """The byte ``set_flags`` writes: the new flags, the mark kept."""
        old = self.get_flags(dt, i)
        return (flags & ~self.MARK & 0xFF) | (old & self.MARK)

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        addr, _n = self.vectors[dt.ident]
        self.space.write(addr + i, bytes([self.store(dt, i, flags)]))

    def footprint(self) -> Footprint:
        fp = super().footprint()
        vectors = sum(n for _a, n in self.vectors.values())
        return Footprint(callsites=fp.callsites, section_bytes=fp.section_bytes,
                         reclaimed_bytes=fp.reclaimed_bytes, page_size=fp.page_size,
                         table_bytes=fp.table_bytes, other_bytes=fp.other_bytes + vectors)


class MarkedCopyS(MarkedCopy):
    """The thinko: bit 5 reserved, the bit 6.4 gave to ``s``."""

    name: ClassVar[str] = "marked-copy-s"
    MARK: ClassVar[int] = 1 << 5


class MarkedCopyLost(MarkedCopy):
    """The thinko: ``set_flags`` stores what it is handed, the mark lost on ``=``."""

    name: ClassVar[str] = "marked-copy-lost"

    def store(self, dt: DdebugTable, i: int, flags: int) -> int:
        return flags & 0xFF


DESIGNS = [MarkedCopyS, MarkedCopyLost, MarkedCopy]
