"""A footprint taken on trust: ``footprint()`` leaves out what the design allocated.

The thinko ``hot-copy-uncounted`` is ``hot-copy`` whose ``footprint()`` forgets its hot copies
("they come and go"): it would be printed as saving more than it does.  The footprint property
holds the design's figure against what its allocators and sections hold.  Aimed at
``saves-what-it-claims``.
"""

from __future__ import annotations

from typing import ClassVar

from .common import FullCopy, HotCopy


class HotCopyUncounted(HotCopy):
    """The thinko: the hot copies are not in the footprint."""

    name: ClassVar[str] = "hot-copy-uncounted"

    def hot_bytes(self) -> int:
        return 0


DESIGNS = [HotCopyUncounted, HotCopy, FullCopy]
