"""Reach and footprint: rmmod of a module whose callsites are enabled.

``hot-copy`` (tests/zoo/common.py) gives each enabled callsite a 32-byte ``kmalloc`` copy of its
prefix fields and frees it when the callsite is disabled or its module goes; it claims to beat
``full-copy``, a design of this same file.  The thinko ``hot-copy-leak`` drops a removed
module's hot copies from its table without freeing them ("rmmod disables everything first":
it does not).  Its ``footprint()`` counts what its table lists, so it says less than its
allocators hold: the measured footprint catches it.  Aimed at ``saves-what-it-claims``.
"""

from __future__ import annotations

from typing import ClassVar

from model.designs.protocol import DdebugTable

from .common import FullCopy, HotCopy


class HotCopyLeak(HotCopy):
    """The thinko: the hot copies of a removed module are forgotten, not freed."""

    name: ClassVar[str] = "hot-copy-leak"

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            self.hot.pop(dt.desc_addr(i), None)


DESIGNS = [HotCopyLeak, HotCopy, FullCopy]
