"""An example design file: a patch of your own, checked with ``dyndiet check``.

The idea is "next step 4" of Jim Cromie's "[PATCH 5/7] dyndbg: WIP replace __dyndbg_callsite
section with a zs-pool copy" (LKML, 7 Aug 2020): "If we can rely on the linker to keep those
records in identical order, we can 'index' both _dyndbg & _callsites ... and drop the .site
pointer."  The head keeps ``flags`` and the static key; callsite ``k`` of an image is body ``k``
of its ``__dyndbg_callsites``.

Run it:  dyndiet check docs/examples/my_design.py
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import DdebugSite, DdebugTable, Footprint
from model.designs.storage import Relinked, RelinkedDesign, c_layout

#: include/linux/dynamic_debug.h with the split and without ``site``.
INDEXED_C = """
#include "jump_label.h"
struct _ddebug_callsite {
	const char *modname;
	const char *function;
	const char *filename;
	const char *format;
	const unsigned int lineno:18;
	unsigned int class_id:6;
} __aligned(8);

struct _ddebug {
	unsigned int flags:8;
#ifdef CONFIG_JUMP_LABEL
	union {
		struct static_key_true dd_key_true;
		struct static_key_false dd_key_false;
	} key;
#endif
} __aligned(8);
"""


class IndexedSplit(RelinkedDesign):
    """The split without ``site``: heads and bodies in the same order, matched by index."""

    name: ClassVar[str] = "indexed-split"
    title: ClassVar[str] = "split records matched by index, no .site pointer"
    source: ClassVar[str] = "Aug 2020 [PATCH 5/7], 'Next steps' 4 (docs/examples/my_design.py)"
    #: the claim the footprint property checks: fewer resident bytes than this design
    saves_against: ClassVar[str | None] = "split"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.head = c_layout(INDEXED_C, "_ddebug", self.abi, self.jump_label)
        self.body = c_layout(INDEXED_C, "_ddebug_callsite", self.abi, self.jump_label)

    def convert(self, values: dict[str, int], k: int, rel: Relinked) -> tuple[bytes, bytes]:
        assert self.body is not None
        head = {"flags": values["flags"]}
        head.update({p: v for p, v in values.items() if p.startswith("key.")})
        body = {f: values[f] for f in ("modname", "function", "filename", "format", "lineno")}
        body["class_id"] = values.get("class_id", 63)
        return self.head.encode(head), self.body.encode(body)

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        assert self.body is not None
        rel, k = self.where(dt, i)
        b = self.body.decode(self.space.read(rel.bodies + k * rel.body_size, self.body.size))
        return DdebugSite(b["modname"], b["function"], b["filename"], b["format"], b["lineno"],
                          b["class_id"], self.get_flags(dt, i))

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        return self.head_get(dt, i, "flags")

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        self.head_set(dt, i, {"flags": flags})

    def footprint(self) -> Footprint:
        resident, reclaimed = self.section_bytes()
        return Footprint(callsites=self.callsite_count(), section_bytes=resident,
                         reclaimed_bytes=reclaimed, page_size=self.abi.page_size,
                         table_bytes=self.table_bytes())


DESIGNS = [IndexedSplit]
