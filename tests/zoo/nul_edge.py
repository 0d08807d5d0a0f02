"""Scale: a string copied into an object of its length, off by the NUL at class edges.

``format-copy`` copies each callsite's format into ``kmalloc(strlen + 1)`` at load, so the
control file and the matches read the copy (a first step toward giving back a module's
``.rodata.str``).  The thinko ``format-copy-nul`` allocates ``strlen`` bytes and copies
``strlen + 1``: the NUL lands in the next object exactly when the length is a ``kmalloc-N``
size (8, 16, 32, 64, 96, 128), where the next copy overwrites it and the format runs on into
its neighbour.  Formats of the seed's few lengths never sit on an edge; the machine's lengths
do now and then.  Aimed at ``control-file``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugSite, DdebugTable, Footprint
from model.gfp import GFP_KERNEL

from .common import kmalloc_size


class FormatCopy(BaseDesign):
    """Formats copied into ``kmalloc`` (module docstring)."""

    name: ClassVar[str] = "format-copy"
    title: ClassVar[str] = "each format copied into a kmalloc'd string"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: linked record address -> (copy, bytes allocated)
        self.formats: dict[int, tuple[int, int]] = {}

    def alloc_size(self, text: bytes) -> int:
        return len(text) + 1

    def on_add_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            site = BaseDesign.get_site(self, dt, i)
            text = self.space.read_cstring(site.format)
            size = self.alloc_size(text)
            addr = self.ctx.kmalloc(size, GFP_KERNEL)
            if not addr:
                continue  # the record's format serves
            self.space.write(addr, text + b"\0")
            self.formats[dt.desc_addr(i)] = (addr, size)

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            copy = self.formats.pop(dt.desc_addr(i), None)
            if copy is not None:
                self.ctx.kfree(copy[0])

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        s = super().get_site(dt, i)
        copy = self.formats.get(dt.desc_addr(i))
        if copy is None:
            return s
        return DdebugSite(s.modname, s.function, s.filename, copy[0], s.lineno, s.class_id,
                          s.flags)

    def footprint(self) -> Footprint:
        section = sum(img.records_size for img in self.images.values())
        copies = sum(kmalloc_size(size) for _addr, size in self.formats.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes(),
                         other_bytes=copies)


class FormatCopyNul(FormatCopy):
    """The thinko: ``kmalloc(strlen(fmt))`` then ``strcpy``."""

    name: ClassVar[str] = "format-copy-nul"

    def alloc_size(self, text: bytes) -> int:
        return max(1, len(text))


DESIGNS = [FormatCopyNul, FormatCopy]
