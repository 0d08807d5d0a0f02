"""Fault injection: the copy's ``kmalloc`` is not checked.

``checked-copy`` is ``late-copy``'s code (records copied into ``kmalloc`` at late init, the
sections reclaimed), keeping a record in its section when ``kmalloc`` fails.  The thinko
``unchecked-copy`` writes the copy to whatever ``kmalloc`` returned, NULL included.  Only a run
that fails an allocation sees it; swarm testing keeps such runs without starving the others.
Aimed at ``no-oops``.
"""

from __future__ import annotations

from typing import ClassVar

from model.gfp import GFP_KERNEL

from .common import KcopyBase


class CheckedCopy(KcopyBase):
    name: ClassVar[str] = "checked-copy"


class UncheckedCopy(KcopyBase):
    """The thinko: ``memcpy(kmalloc(...), dp, sizeof(*dp))``."""

    name: ClassVar[str] = "unchecked-copy"

    def copy_record(self, desc: int) -> bool:
        if desc in self.copies:
            return True
        addr = self.ctx.kmalloc(self.layout.size, GFP_KERNEL)
        self.space.write(addr, self.space.read(desc, self.layout.size))
        self.copies[desc] = addr
        return True


DESIGNS = [UncheckedCopy, CheckedCopy]
