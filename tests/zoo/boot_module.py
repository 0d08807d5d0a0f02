"""Reach: a module loaded during boot, before the late_initcall that copies and reclaims.

``late-copy`` copies every listed table into ``kmalloc`` at late init and gives back each
image's record section.  The thinko ``late-copy-builtin`` copies only vmlinux' tables ("modules
come later, and ``add_module`` copies them") and frees the section of every module loaded so
far as if it had been copied at load: the records of a module the initramfs loaded before late
init are read from freed memory.  The
machine reaches it only because insmod may run before late init.  Aimed at ``no-oops``.
"""

from __future__ import annotations

from typing import ClassVar

from model.designs.protocol import BaseDesign

from .common import KcopyBase


class LateCopy(KcopyBase):
    """Copy every table at late init; reclaim what is fully copied."""

    name: ClassVar[str] = "late-copy"


class LateCopyBuiltinOnly(KcopyBase):
    """The thinko: copy the builtin tables only, reclaim every module's section."""

    name: ClassVar[str] = "late-copy-builtin"

    def late_init(self) -> None:
        BaseDesign.late_init(self)
        for dt in self.tables():
            if dt.builtin:
                self.copy_table(dt)
        for name in list(self.images):
            if name != "vmlinux" or self.fully_copied(name):
                self.reclaim(name)


DESIGNS = [LateCopyBuiltinOnly, LateCopy]
