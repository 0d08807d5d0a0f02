"""Scale: a bitmap of longs one bit short at 2^k + 1 entries.

``print-bitmap`` keeps each table's print bit (``p``) in a bitmap of unsigned longs, a design
section of its own beside the records (the print decision without jump labels tests one bit);
the other flags stay in the records.  The thinko ``print-bitmap-short`` sizes the bitmap with
``BITS_TO_LONGS(n - 1)`` (the highest index, not the count): a table of 65 callsites gets one
long and its 65th callsite's bit lies past the section.  Only a table of 64k + 1 callsites
shows it: the machine's sizes seek 2^k - 1, 2^k and 2^k + 1.  Aimed at ``no-oops``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugTable, Footprint
from model.dyndbg.era import _DPRINTK_FLAGS_PRINT

from .common import FlagsElsewhere, table_region

BITS = 64


class PrintBitmap(FlagsElsewhere):
    """The print bits in a bitmap section per table (module docstring)."""

    name: ClassVar[str] = "print-bitmap"
    title: ClassVar[str] = "print bits in a bitmap of longs per table"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: table ident -> (bitmap address, bytes)
        self.maps: dict[int, tuple[int, int]] = {}

    def longs(self, n: int) -> int:
        """``BITS_TO_LONGS(n)``."""
        return (n + BITS - 1) // BITS

    def on_add_table(self, dt: DdebugTable) -> None:
        size = max(1, self.longs(dt.num_ddebugs)) * BITS // 8
        bits = bytearray(size)
        for i in range(dt.num_ddebugs):
            if BaseDesign.get_flags(self, dt, i) & _DPRINTK_FLAGS_PRINT and i // 8 < size:
                bits[i // 8] |= 1 << (i % 8)
        addr = table_region(self, dt, "__dyndbg_printmap", bytes(bits))
        self.maps[dt.ident] = (addr, size)
        for i in range(dt.num_ddebugs):  # the record keeps the other flags
            BaseDesign.set_flags(self, dt, i,
                                 BaseDesign.get_flags(self, dt, i) & ~_DPRINTK_FLAGS_PRINT)

    def on_remove_table(self, dt: DdebugTable) -> None:
        self.maps.pop(dt.ident, None)  # the section goes with the module

    def bit(self, dt: DdebugTable, i: int) -> tuple[int, int]:
        addr, _size = self.maps[dt.ident]
        return addr + i // 8, 1 << (i % 8)

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        addr, mask = self.bit(dt, i)
        on = self.space.read(addr, 1)[0] & mask
        return super().get_flags(dt, i) | (_DPRINTK_FLAGS_PRINT if on else 0)

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        addr, mask = self.bit(dt, i)
        byte = self.space.read(addr, 1)[0]
        byte = byte | mask if flags & _DPRINTK_FLAGS_PRINT else byte & ~mask
        self.space.write(addr, bytes([byte]))
        super().set_flags(dt, i, flags & ~_DPRINTK_FLAGS_PRINT)

    def footprint(self) -> Footprint:
        section = sum(img.records_size for img in self.images.values())
        bitmaps = sum(size for _addr, size in self.maps.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes(),
                         other_bytes=bitmaps)


class PrintBitmapShort(PrintBitmap):
    """The thinko: ``BITS_TO_LONGS(n - 1)``."""

    name: ClassVar[str] = "print-bitmap-short"

    def longs(self, n: int) -> int:
        return (n - 1 + BITS - 1) // BITS


DESIGNS = [PrintBitmapShort, PrintBitmap]
