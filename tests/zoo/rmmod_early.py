"""Reach: a module loaded and removed during boot, before late init.

``pending-copy`` remembers the modules loaded before late init and copies their records into
``kmalloc`` at late init (vmlinux' too), then reclaims the sections.  The thinko
``pending-copy-stale`` forgets to drop a module from its list when the module is removed
before late init: late init copies records from the freed module.  Aimed at ``no-oops``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs.protocol import BaseDesign, DdebugTable
from model.linker import ModuleImage

from .common import KcopyBase


class PendingCopy(KcopyBase):
    """Copy at late init what was loaded before it, by image, from a list kept at load."""

    name: ClassVar[str] = "pending-copy"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.pending: list[ModuleImage] = []

    def dynamic_debug_init(self, image: ModuleImage) -> int:
        self.pending.append(image)
        return super().dynamic_debug_init(image)

    def add_module(self, image: ModuleImage) -> int:
        if not self.late_done:
            self.pending.append(image)
        return super().add_module(image)

    def forget(self, dt: DdebugTable) -> None:
        self.pending = [img for img in self.pending if img.name != dt.mod_name]

    def on_remove_table(self, dt: DdebugTable) -> None:
        self.forget(dt)
        super().on_remove_table(dt)

    def late_init(self) -> None:
        BaseDesign.late_init(self)
        for image in self.pending:
            for k in range(image.count):
                self.copy_record(image.record_addr(k))
        for name in list(self.images):
            if self.fully_copied(name):
                self.reclaim(name)
        self.pending = []


class PendingCopyStale(PendingCopy):
    """The thinko: a module removed before late init stays on the list."""

    name: ClassVar[str] = "pending-copy-stale"

    def forget(self, dt: DdebugTable) -> None:
        pass


DESIGNS = [PendingCopyStale, PendingCopy]
