"""Two versions of tagging helpers, before and after a patch, for ``crosshair diffbehavior``.

``diffbehavior`` ignores ``pre:`` conditions and feeds any Python int, so each version here takes
any int and reads it as the ``unsigned long`` the kernel would see (``v & WORD``): the
differences it reports are then differences on real words.  :data:`PATCHES` lists the pairs;
``dyndiet tagging --diff OLD NEW`` runs any pair (``docs/tagging.md``).
"""

from __future__ import annotations

import attrs

from model.domains import to_long
from model.tagging import (
    is_zhandle,
    obj_allocated,
    obj_head_handle,
    xa_to_value,
    zhandle_untag,
)

#: ``~0UL`` on the 64-bit ABIs.
WORD = (1 << 64) - 1


def untag_sub(v: int) -> int:
    """Before: the 2020 zhandle untag ``v - 1`` (model.tagging.zhandle_untag)."""
    return zhandle_untag(v & WORD) & WORD


def untag_mask(v: int) -> int:
    """After: untag by masking ``v & ~1`` as zsmalloc does with ``OBJ_ALLOCATED_TAG``
    (mm/zsmalloc.c:find_alloced_obj).  Equal on tagged (odd) words, different on even ones."""
    return obj_head_handle(v & WORD)


def xa_value_unsigned(entry: int) -> int:
    """Before: ``xa_to_value()`` returns ``unsigned long``: ``entry >> 1``
    (include/linux/xarray.h)."""
    return xa_to_value(entry & WORD)


def xa_value_signed(entry: int) -> int:
    """After (a hypothetical patch): read the value back as a signed ``long`` (arithmetic
    shift), as a caller storing negative longs would want.  Differs for words >= 2**63."""
    return (to_long(entry & WORD, 64) >> 1) & WORD


def is_handle_mod(v: int) -> bool:
    """Before: the 2020 test ``v % 2`` (model.tagging.is_zhandle)."""
    return is_zhandle(v & WORD)


def is_handle_and(v: int) -> bool:
    """After: the same test written ``v & OBJ_ALLOCATED_TAG`` (mm/zsmalloc.c): no difference."""
    return obj_allocated(v & WORD)


@attrs.frozen
class Patch:
    """A pair of helper versions and what changed."""

    old: str
    new: str
    what: str
    differs: bool


PATCHES: tuple[Patch, ...] = (
    Patch("model.tagging_patches.untag_sub", "model.tagging_patches.untag_mask",
          "untag by v - 1 vs by v & ~1", True),
    Patch("model.tagging_patches.xa_value_unsigned", "model.tagging_patches.xa_value_signed",
          "xa_to_value unsigned vs signed shift", True),
    Patch("model.tagging_patches.is_handle_mod", "model.tagging_patches.is_handle_and",
          "v % 2 vs v & 1", False),
)
