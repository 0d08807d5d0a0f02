"""What the zoo's design files share (each imports it from its own folder: ``from .common
import ...``, as a user's design file may).

Nothing here is a built-in design: these are the bases of plausible patches a user might try
next, each written the way such a patch would be, with the model's allocators.

* :class:`KcopyBase`: every record copied into a ``kmalloc``'d object at late init (at load for
  a module loaded later), an image's record section given back once all its records have a
  copy; a failed ``kmalloc`` keeps the record where it was (and its section).
* :class:`HotCopy` / :class:`FullCopy`: records stay in their section; an enabled callsite gets
  a 32-byte ``kmalloc`` copy of the fields its prefix prints (``HotCopy``), against a copy of
  every record (``FullCopy``, the design ``HotCopy`` claims to beat: same file).
* :class:`FlagsElsewhere`: a base for designs that keep a callsite's flags outside its record
  (a vector, a page of slots, a bitmap, a pool object): ``get_site`` reports ``get_flags``,
  and a design that keeps one byte per callsite names it with ``flag_byte``.
* :func:`table_region`: a design section of its own for one table, named after its image so
  ``rmmod`` frees it with the module.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from model.designs.protocol import BaseDesign, DdebugSite, DdebugTable, Footprint
from model.designs.storage import place_region
from model.dyndbg.era import _DPRINTK_CLASS_DFLT, _DPRINTK_FLAGS_PRINT
from model.gfp import GFP_KERNEL
from model.linker import ModuleImage
from model.slab import KMALLOC_SIZES

__all__ = ["FlagsElsewhere", "FullCopy", "HotCopy", "KcopyBase", "kmalloc_size",
           "table_region"]


def kmalloc_size(size: int) -> int:
    """The ``kmalloc-N`` object ``kmalloc(size)`` hands out (mm/slab_common.c)."""
    return next(s for s in KMALLOC_SIZES if s >= size)


class FlagsElsewhere(BaseDesign):
    """Flags kept outside the record: the site ``get_site`` returns carries ``get_flags``, not
    the record's stale bits.  ``flag_byte`` (default: none) is the address of callsite ``i``'s
    flags byte where the design keeps one, ``None`` where the record still holds them; a design
    that keeps its flags another way overrides ``get_flags``/``set_flags`` instead."""

    def flag_byte(self, dt: DdebugTable, i: int) -> int | None:
        return None

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        addr = self.flag_byte(dt, i)
        return super().get_flags(dt, i) if addr is None else self.space.read(addr, 1)[0]

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        addr = self.flag_byte(dt, i)
        if addr is None:
            super().set_flags(dt, i, flags)
        else:
            self.space.write(addr, bytes([flags & 0xFF]))

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        return attrs.evolve(super().get_site(dt, i), flags=self.get_flags(dt, i))


def image_name(dt: DdebugTable) -> str:
    """The image a table's records were linked into."""
    return "vmlinux" if dt.builtin else dt.mod_name


def table_region(design: BaseDesign, dt: DdebugTable, section: str, data: bytes) -> int:
    """Map ``data`` as ``<image>:<section>.<module>`` in the design area and return its base."""
    return place_region(design.space, len(data), f"{image_name(dt)}:{section}.{dt.mod_name}",
                        data)


class KcopyBase(BaseDesign):
    """Records copied to ``kmalloc`` objects (module docstring); copies are keyed by the
    record's linked address, the callsite's identity."""

    title: ClassVar[str] = "records copied into kmalloc objects, sections reclaimed"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: linked record address -> address of its copy
        self.copies: dict[int, int] = {}
        #: images whose record section was given back
        self.reclaimed: set[str] = set()

    # --- where a record lives --------------------------------------------------------------

    def record_addr(self, dt: DdebugTable, i: int) -> int:
        return self.copies.get(dt.desc_addr(i), dt.desc_addr(i))

    def copy_record(self, desc: int) -> bool:
        """``kmalloc`` a copy of the record at ``desc``; False when the allocation fails."""
        if desc in self.copies:
            return True
        addr = self.ctx.kmalloc(self.layout.size, GFP_KERNEL)
        if not addr:
            return False
        self.space.write(addr, self.space.read(desc, self.layout.size))
        self.copies[desc] = addr
        return True

    def copy_table(self, dt: DdebugTable) -> bool:
        ok = True
        for i in range(dt.num_ddebugs):
            ok = self.copy_record(dt.desc_addr(i)) and ok
        return ok

    def fully_copied(self, name: str) -> bool:
        image = self.images.get(name)
        return image is not None and all(image.record_addr(k) in self.copies
                                         for k in range(image.count))

    def reclaim(self, name: str) -> None:
        """``free_reserved_area`` of an image's record section."""
        image = self.images.get(name)
        if image is None or image.count == 0 or name in self.reclaimed:
            return
        if self.space.region_at(image.records_addr) is not None:
            self.space.unmap(image.records_addr)
        self.reclaimed.add(name)

    # --- lifecycle ----------------------------------------------------------------------------

    def late_init(self) -> None:
        super().late_init()
        for dt in self.tables():
            self.copy_table(dt)
        for name in list(self.images):
            if self.fully_copied(name):
                self.reclaim(name)

    def on_add_table(self, dt: DdebugTable) -> None:
        if self.late_done and not dt.builtin:
            self.copy_table(dt)

    def add_module(self, image: ModuleImage) -> int:
        rc = super().add_module(image)
        if self.late_done and rc == 0 and self.fully_copied(image.name):
            self.reclaim(image.name)
        return rc

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            addr = self.copies.pop(dt.desc_addr(i), None)
            if addr is not None:
                self.ctx.kfree(addr)
        self.reclaimed.discard(image_name(dt))

    def footprint(self) -> Footprint:
        kept = sum(img.records_size for n, img in self.images.items() if n not in self.reclaimed)
        gone = sum(img.records_size for n, img in self.images.items() if n in self.reclaimed)
        return Footprint(callsites=self.callsite_count(), section_bytes=kept,
                         reclaimed_bytes=gone, page_size=self.abi.page_size,
                         table_bytes=self.table_bytes(),
                         other_bytes=len(self.copies) * kmalloc_size(self.layout.size))


#: ``struct _ddebug_hot``: the fields a prefix prints (3 pointers and the line on 64-bit).
HOT_SIZE = 32


class HotCopy(BaseDesign):
    """Records stay in their section; an enabled callsite's modname, function, filename and
    line are also copied into a 32-byte ``kmalloc`` object that ``get_site`` reads, so the
    prefix of a printing callsite touches one small hot object.  Claims to beat
    :class:`FullCopy` (a copy of every record), a design of the same file."""

    name: ClassVar[str] = "hot-copy"
    title: ClassVar[str] = "enabled callsites get a 32-byte hot copy of their prefix fields"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = "full-copy"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: linked record address -> its hot copy
        self.hot: dict[int, int] = {}

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        super().set_flags(dt, i, flags)
        desc = dt.desc_addr(i)
        if flags & _DPRINTK_FLAGS_PRINT and desc not in self.hot:
            addr = self.ctx.kmalloc(HOT_SIZE, GFP_KERNEL)
            if addr:  # no hot copy: the record serves
                v = self.read_record(dt, i)
                ws = self.abi.long_size
                data = b"".join(self.abi.pack_word(v[f], ws)
                                for f in ("modname", "function", "filename"))
                self.space.write(addr, data + self.abi.pack_word(v["lineno"], 4))
                self.hot[desc] = addr
        elif not flags & _DPRINTK_FLAGS_PRINT and desc in self.hot:
            self.ctx.kfree(self.hot.pop(desc))

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        addr = self.hot.get(dt.desc_addr(i))
        if addr is None:
            return super().get_site(dt, i)
        ws = self.abi.long_size
        v = self.read_record(dt, i)
        mod, fn, file = (self.space.read_word(addr + k * ws) for k in range(3))
        line = self.space.read_word(addr + 3 * ws, 4)
        return DdebugSite(mod, fn, file, v["format"], line,
                          v.get("class_id", _DPRINTK_CLASS_DFLT), v["flags"])

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            addr = self.hot.pop(dt.desc_addr(i), None)
            if addr is not None:
                self.ctx.kfree(addr)

    def hot_bytes(self) -> int:
        return len(self.hot) * kmalloc_size(HOT_SIZE)

    def footprint(self) -> Footprint:
        section = sum(img.records_size for img in self.images.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes(),
                         other_bytes=self.hot_bytes())


class FullCopy(KcopyBase):
    """A copy of every record in ``kmalloc``, the sections kept too (what :class:`HotCopy`
    is measured against)."""

    name: ClassVar[str] = "full-copy"
    title: ClassVar[str] = "every record copied into kmalloc, the sections kept"

    def late_init(self) -> None:
        BaseDesign.late_init(self)
        for dt in self.tables():
            self.copy_table(dt)

    def add_module(self, image: ModuleImage) -> int:
        return BaseDesign.add_module(self, image)
