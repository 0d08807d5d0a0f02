"""Scale with meaning: function names that share a prefix.

``interned-funcs`` keeps one ``kmalloc``'d copy of each distinct function name of a table and
points its callsites at it (a step toward giving back a module's ``__func__`` arrays).  The
thinko ``interned-funcs-8`` tells names apart by their first 8 bytes (a ``u64`` compare, "names
differ early"): ``e1000e_probe`` and ``e1000e_probe_one`` become one.  The seed's few short
names never share 8 bytes; a driver's ``<module>_<verb>...`` names do.  Aimed at
``callsite-metadata``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugSite, DdebugTable, Footprint
from model.gfp import GFP_KERNEL

from .common import kmalloc_size


class InternedFuncs(BaseDesign):
    """One copy of each function name per table (module docstring)."""

    name: ClassVar[str] = "interned-funcs"
    title: ClassVar[str] = "function names interned per table in kmalloc'd copies"
    source: ClassVar[str] = "tests/zoo (a plausible patch, not from the 2020 series)"
    saves_against: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: table ident -> {name key: (copy, bytes)}
        self.names: dict[int, dict[bytes, tuple[int, int]]] = {}
        #: linked record address -> its function's copy
        self.func: dict[int, int] = {}

    def key(self, name: bytes) -> bytes:
        return name

    def on_add_table(self, dt: DdebugTable) -> None:
        names: dict[bytes, tuple[int, int]] = {}
        for i in range(dt.num_ddebugs):
            text = self.space.read_cstring(BaseDesign.get_site(self, dt, i).function)
            copy = names.get(self.key(text))
            if copy is None:
                addr = self.ctx.kmalloc(len(text) + 1, GFP_KERNEL)
                if not addr:
                    continue  # the record's pointer serves
                self.space.write(addr, text + b"\0")
                copy = names[self.key(text)] = (addr, len(text) + 1)
            self.func[dt.desc_addr(i)] = copy[0]
        self.names[dt.ident] = names

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            self.func.pop(dt.desc_addr(i), None)
        for addr, _size in self.names.pop(dt.ident, {}).values():
            self.ctx.kfree(addr)

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        s = super().get_site(dt, i)
        fn = self.func.get(dt.desc_addr(i), s.function)
        return DdebugSite(s.modname, fn, s.filename, s.format, s.lineno, s.class_id, s.flags)

    def footprint(self) -> Footprint:
        section = sum(img.records_size for img in self.images.values())
        copies = sum(kmalloc_size(size) for names in self.names.values()
                     for _addr, size in names.values())
        return Footprint(callsites=self.callsite_count(), section_bytes=section,
                         page_size=self.abi.page_size, table_bytes=self.table_bytes(),
                         other_bytes=copies)


class InternedFuncs8(InternedFuncs):
    """The thinko: names compared on their first 8 bytes."""

    name: ClassVar[str] = "interned-funcs-8"

    def key(self, name: bytes) -> bytes:
        return (name + b"\0" * 8)[:8]


DESIGNS = [InternedFuncs8, InternedFuncs]
