"""``split``: the August-2020 split of ``struct _ddebug`` into a head and a callsite body.

Jim Cromie, "[PATCH 4/7] dyndbg: split struct _ddebug in 2, creating _ddebug_callsite" (LKML,
7 Aug 2020, on v5.8): the four strings and ``lineno:16`` move to ``struct _ddebug_callsite`` in
``__dyndbg_callsites``; ``struct _ddebug`` keeps ``site``, ``flags:8`` and the static key.  Both
sections stay resident: the split by itself saves nothing (40 + 40 bytes for 56 on x86-64); it
prepares the callsites for the pool copy of patch 5 (:mod:`model.designs.zpool_copy`).

For the v6.1 and v6.19 eras the body also carries ``class_id:6`` (the model's adaptation: the
split predates the class maps of 6.1).  ``lineno:16`` is the patch's ("was lineno:18"): a
callsite beyond line 65535 would show the wrong line; no kernel source file that long has a
``pr_debug``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs import register
from model.designs.protocol import DdebugSite, DdebugTable, Footprint
from model.designs.storage import Relinked, RelinkedDesign, c_layout
from model.eras import _DPRINTK_CLASS_DFLT
from model.layout import Layout

#: include/linux/dynamic_debug.h after Aug-2020 patches 4/7 (split) and 5/7 (``zhandle``).
SPLIT_C = """
#include "jump_label.h"
struct _ddebug_callsite {
	const char *modname;
	const char *function;
	const char *filename;
	const char *format;
	const unsigned int lineno:16;
#ifdef DYNDIET_CLASS_ID
	unsigned int class_id:6;
#endif
} __aligned(8);

struct _ddebug {
	struct _ddebug_callsite *site;
#ifdef DYNDIET_ZHANDLE
	long unsigned int zhandle;
#endif
	unsigned int flags:8;
#ifdef CONFIG_JUMP_LABEL
	union {
		struct static_key_true dd_key_true;
		struct static_key_false dd_key_false;
	} key;
#endif
} __aligned(8);
"""


def split_layouts(design: RelinkedDesign, zhandle: bool) -> tuple[Layout, Layout]:
    """(``struct _ddebug``, ``struct _ddebug_callsite``) of the split for the design's ABI,
    era and JUMP_LABEL, by the layout engine."""
    defines = []
    if design.era.has_class:
        defines.append(("DYNDIET_CLASS_ID", "1"))
    if zhandle:
        defines.append(("DYNDIET_ZHANDLE", "1"))
    d = tuple(defines)
    return (c_layout(SPLIT_C, "_ddebug", design.abi, design.jump_label, "", d),
            c_layout(SPLIT_C, "_ddebug_callsite", design.abi, design.jump_label, "", d))


@register
class SplitDesign(RelinkedDesign):
    """lib/dynamic_debug.c with the Aug-2020 split: callsites reached through ``dp->site``."""

    name: ClassVar[str] = "split"
    title: ClassVar[str] = "struct _ddebug split into a head and a _ddebug_callsite body"
    source: ClassVar[str] = ("Jim Cromie, [PATCH 4/7] dyndbg: split struct _ddebug in 2, "
                             "creating _ddebug_callsite (LKML, 7 Aug 2020)")
    #: Memory the design claims to save against another design (None: no claim).
    saves_against: ClassVar[str | None] = None
    zhandle: ClassVar[bool] = False

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.head, self.body = split_layouts(self, self.zhandle)

    def convert(self, values: dict[str, int], k: int, rel: Relinked) -> tuple[bytes, bytes]:
        assert self.body is not None
        body = {"modname": values["modname"], "function": values["function"],
                "filename": values["filename"], "format": values["format"],
                "lineno": values["lineno"]}
        if self.era.has_class:
            body["class_id"] = values["class_id"]
        head = {"site": rel.bodies + k * rel.body_size, "flags": values["flags"]}
        head.update({p: v for p, v in values.items() if p.startswith("key.")})
        return self.head.encode(head), self.body.encode(body)

    def read_body(self, addr: int) -> dict[str, int]:
        assert self.body is not None
        return self.body.decode(self.space.read(addr, self.body.size))

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        head = self.read_head(dt, i)
        b = self.read_body(head["site"])
        return DdebugSite(b["modname"], b["function"], b["filename"], b["format"], b["lineno"],
                          b.get("class_id", _DPRINTK_CLASS_DFLT), head["flags"])

    def get_flags(self, dt: DdebugTable, i: int) -> int:
        return self.head_get(dt, i, "flags")

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None:
        self.head_set(dt, i, {"flags": flags})

    def footprint(self) -> Footprint:
        resident, reclaimed = self.section_bytes()
        return Footprint(callsites=self.callsite_count(), section_bytes=resident,
                         reclaimed_bytes=reclaimed, page_size=self.abi.page_size,
                         table_bytes=self.table_bytes())
