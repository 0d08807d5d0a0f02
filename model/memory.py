"""A sparse model address space: named regions of bytes at kernel addresses.

Everything the model stores lives here as bytes: linked sections (``__dyndbg``,
``.rodata.str1.1``), slab objects (zsmalloc's handle slab), pool pages.  Pointers are plain
integers; loading from an address no region covers raises :class:`~model.errors.BadAccess`, the
model's oops ("BUG: unable to handle page fault for address").
"""

from __future__ import annotations

import bisect

import attrs

from model.abi import Abi
from model.errors import BadAccess, InputError


@attrs.define(slots=True)
class Region:
    """``size`` bytes at ``base``; ``name`` says what they are (a section, a page, a slab)."""

    name: str
    base: int
    data: bytearray
    writable: bool = True

    @property
    def end(self) -> int:
        return self.base + len(self.data)


@attrs.frozen
class PageFrame:
    """One order-0 page of the kernel's linear map, at ``PAGE_OFFSET + pfn * PAGE_SIZE``
    (handed out by ``KernelContext.alloc_page``)."""

    pfn: int
    addr: int


@attrs.define(slots=True)
class AddressSpace:
    """Regions never overlap; addresses are unsigned ``abi.bits_per_long``-bit integers."""

    abi: Abi
    _bases: list[int] = attrs.field(factory=list)
    _regions: list[Region] = attrs.field(factory=list)

    def map(self, base: int, size: int, name: str, *, writable: bool = True,
            data: bytes | None = None) -> Region:
        """Create a region; ``data`` (if given) is its initial content, zero-padded to ``size``."""
        if size <= 0 or base < 0 or base + size - 1 > self.abi.max_address:
            raise InputError(f"cannot map {size} bytes at {base:#x} for {name}")
        i = bisect.bisect_right(self._bases, base)
        if i > 0 and self._regions[i - 1].end > base:
            raise InputError(f"{name} at {base:#x} overlaps {self._regions[i - 1].name}")
        if i < len(self._bases) and self._bases[i] < base + size:
            raise InputError(f"{name} at {base:#x} overlaps {self._regions[i].name}")
        buf = bytearray(size)
        if data is not None:
            buf[: len(data)] = data
        region = Region(name, base, buf, writable)
        self._bases.insert(i, base)
        self._regions.insert(i, region)
        return region

    def unmap(self, base: int) -> Region:
        """Remove the region that starts at ``base`` (``free_pages``, section reclaim)."""
        i = bisect.bisect_left(self._bases, base)
        if i == len(self._bases) or self._bases[i] != base:
            raise BadAccess(f"BUG: unmapping {base:#x}, which starts no region", "model/memory.py",
                            value=base)
        del self._bases[i]
        return self._regions.pop(i)

    def region_at(self, addr: int) -> Region | None:
        """The region holding ``addr``, if any."""
        i = bisect.bisect_right(self._bases, addr) - 1
        if i >= 0 and addr < self._regions[i].end:
            return self._regions[i]
        return None

    def regions(self) -> tuple[Region, ...]:
        return tuple(self._regions)

    def _span(self, addr: int, n: int, store: bool) -> tuple[Region, int]:
        region = self.region_at(addr)
        if region is None or addr + n > region.end:
            what = "write" if store else "read"
            raise BadAccess(
                f"BUG: unable to handle page fault for address: {addr:#x} ({what} of {n} bytes)",
                "arch/x86/mm/fault.c:page_fault_oops", value=addr)
        if store and not region.writable:
            raise BadAccess(f"BUG: write to read-only memory at {addr:#x} ({region.name})",
                            "arch/x86/mm/fault.c:page_fault_oops", value=addr)
        return region, addr - region.base

    def read(self, addr: int, n: int) -> bytes:
        region, off = self._span(addr, n, False)
        return bytes(region.data[off: off + n])

    def write(self, addr: int, data: bytes) -> None:
        region, off = self._span(addr, len(data), True)
        region.data[off: off + len(data)] = data

    def read_word(self, addr: int, size: int | None = None) -> int:
        """An unsigned long (or ``size`` bytes) in target byte order."""
        n = self.abi.long_size if size is None else size
        return self.abi.unpack_word(self.read(addr, n))

    def write_word(self, addr: int, value: int, size: int | None = None) -> None:
        self.write(addr, self.abi.pack_word(value, size))

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        """The NUL-terminated string at ``addr`` (without the NUL), as ``%s`` would print it."""
        region, off = self._span(addr, 1, False)
        end = region.data.find(b"\0", off, min(len(region.data), off + limit))
        if end < 0:
            raise BadAccess(f"BUG: unterminated string at {addr:#x} in {region.name}",
                            "lib/vsprintf.c:string", value=addr)
        return bytes(region.data[off:end])
