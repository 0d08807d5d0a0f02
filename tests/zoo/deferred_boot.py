"""Reach: boot-time queries about a module the initramfs loaded before late init.

``late-copy`` (records copied into ``kmalloc`` at late init) lists a module's table when the
module loads, whenever that is.  The thinko ``late-copy-deferred`` puts off listing a module
loaded before late init until its late_initcall ("the copy needs late init anyway"): until then
a ``dyndbg="module foo +p"`` on the command line, or the module's own ``foo.dyndbg=+p``, finds
nothing, where the kernel finds its callsites.  Aimed at ``query-results``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.linker import ModuleImage

from .common import KcopyBase


class LateCopyListed(KcopyBase):
    """``late-copy``: tables listed at load."""

    name: ClassVar[str] = "late-copy-listed"


class LateCopyDeferred(KcopyBase):
    """The thinko: a module loaded before late init is listed only at late init."""

    name: ClassVar[str] = "late-copy-deferred"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.deferred: list[ModuleImage] = []

    def add_module(self, image: ModuleImage) -> int:
        if self.late_done or image.count == 0:
            return super().add_module(image)
        self.images[image.name] = image
        self.deferred.append(image)
        return 0

    def remove_module(self, mod_name: str) -> int:
        waiting = [img for img in self.deferred if img.name == mod_name]
        if waiting:
            self.deferred = [img for img in self.deferred if img.name != mod_name]
            self.images.pop(mod_name, None)
            return 0
        return super().remove_module(mod_name)

    def late_init(self) -> None:
        for image in self.deferred:
            self.ddebug_add_module(image.records_addr, image.count, image.name, False,
                                   image.class_maps(image.name))
        self.deferred = []
        super().late_init()


DESIGNS = [LateCopyDeferred, LateCopyListed]
