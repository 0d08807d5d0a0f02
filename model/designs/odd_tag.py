"""``odd-tag-before`` / ``odd-tag-after``: zhandles made odd and told from pointers by ``% 2``.

Jim Cromie, "[PATCH 2/3] dyndbg: zhandle+1 plus info tweaks, BUG_ONs" (kernelnewbies, 25 Jul
2020; body not archived, reconstructed in :mod:`model.designs.july`): the record's zhandle word
holds ``handle + 1`` (:func:`model.tagging.zhandle_tag`) and ``word % 2``
(:func:`model.tagging.is_zhandle`) decides whether the record lives in the pool.

* ``odd-tag-before``: patch 1's layout, the zhandle in a word of its own (0 until the copy).
  zsmalloc handles are 8-aligned ``zs_handle`` slab addresses, so ``handle + 1`` is odd and a
  record not copied yet reads 0: the test is right.  "This works fine before unionization".
* ``odd-tag-after``: patch 3's union, the zhandle sharing its word with ``dd.modname``.  Before
  the copy the word is the module-name pointer, a short string literal in
  ``.rodata.str1.1`` that is odd about half the time: ``% 2`` reads it as a zhandle.  "...
  falls over afterwards."
"""

from __future__ import annotations

from typing import ClassVar

from model.designs import register
from model.designs.july import JulyDesign
from model.designs.protocol import DdebugTable
from model.tagging import is_zhandle, zhandle_tag, zhandle_untag


class OddTagDesign(JulyDesign):
    """The ``% 2`` test on the zhandle word."""

    def word(self, dt: DdebugTable, i: int) -> int:
        return self.head_get(dt, i, "zhandle")

    def is_zhandle(self, dt: DdebugTable, i: int) -> bool:
        return is_zhandle(self.word(dt, i))

    def handle_of(self, dt: DdebugTable, i: int) -> int:
        return zhandle_untag(self.word(dt, i))

    def mark_pooled(self, dt: DdebugTable, i: int, handle: int) -> None:
        self.head_set(dt, i, {"zhandle": zhandle_tag(handle)})


@register
class OddTagBeforeDesign(OddTagDesign):
    """July 2020 patches 1+2: the odd zhandle in a word of its own."""

    name: ClassVar[str] = "odd-tag-before"
    title: ClassVar[str] = "zhandle+1 tested with % 2, the handle in its own word"
    source: ClassVar[str] = ("Jim Cromie, [PATCH 2/3] dyndbg: zhandle+1 plus info tweaks, "
                             "BUG_ONs (kernelnewbies, 25 Jul 2020), on patch 1/3's record")
    union: ClassVar[bool] = False


@register
class OddTagAfterDesign(OddTagDesign):
    """July 2020 patches 2+3: the odd zhandle unionized with the record's first pointer."""

    name: ClassVar[str] = "odd-tag-after"
    title: ClassVar[str] = "zhandle+1 tested with % 2, the handle unionized with dd.modname"
    source: ClassVar[str] = ("Jim Cromie, [PATCH 2/3] + [PATCH 3/3] dyndbg: fixup/correct "
                             "assumptions re ptr-vals (kernelnewbies, 25 Jul 2020)")
    union: ClassVar[bool] = True
    saves_against: ClassVar[str | None] = "odd-tag-before"
