"""GFP flags and the allocators' sleeping sites: include/linux/gfp.h (v5.8 bit values).

The constants every allocator of the model reads (:mod:`model.context`'s page frames,
:mod:`model.slab`, zsmalloc, zbud, z3fold), defined once on the ground floor.
"""

from __future__ import annotations

# --- include/linux/gfp.h, v5.8 (the ___GFP_* bit values) -----------------------------------
__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_RECLAIMABLE = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_ZERO = 0x100
__GFP_ATOMIC = 0x200
__GFP_DIRECT_RECLAIM = 0x400
__GFP_KSWAPD_RECLAIM = 0x800
__GFP_WRITE = 0x1000
__GFP_NOWARN = 0x2000
__GFP_RETRY_MAYFAIL = 0x4000
__GFP_NOFAIL = 0x8000
__GFP_NORETRY = 0x10000
__GFP_MEMALLOC = 0x20000
__GFP_COMP = 0x40000
__GFP_NOMEMALLOC = 0x80000
__GFP_HARDWALL = 0x100000
__GFP_THISNODE = 0x200000
__GFP_ACCOUNT = 0x400000

__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM

#: Aliases without the leading underscores (Python mangles ``__names`` inside class bodies).
GFP_DIRECT_RECLAIM_BIT = __GFP_DIRECT_RECLAIM
GFP_HIGHMEM_BIT = __GFP_HIGHMEM
GFP_MOVABLE_BIT = __GFP_MOVABLE
GFP_ZERO_BIT = __GFP_ZERO

GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE

#: Names for :func:`gfp_name`, most composite first.
_GFP_NAMES: tuple[tuple[int, str], ...] = (
    (GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (GFP_KERNEL, "GFP_KERNEL"),
    (GFP_ATOMIC, "GFP_ATOMIC"),
    (GFP_NOFS, "GFP_NOFS"),
    (GFP_NOIO, "GFP_NOIO"),
    (GFP_NOWAIT, "GFP_NOWAIT"),
    (__GFP_HIGHMEM, "__GFP_HIGHMEM"),
    (__GFP_MOVABLE, "__GFP_MOVABLE"),
    (__GFP_ZERO, "__GFP_ZERO"),
    (__GFP_NOWARN, "__GFP_NOWARN"),
    (__GFP_ACCOUNT, "__GFP_ACCOUNT"),
    (__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (__GFP_HIGH, "__GFP_HIGH"),
    (__GFP_ATOMIC, "__GFP_ATOMIC"),
    (__GFP_IO, "__GFP_IO"),
    (__GFP_FS, "__GFP_FS"),
)


def gfpflags_allow_blocking(gfp: int) -> bool:
    """include/linux/gfp.h:gfpflags_allow_blocking, v5.8: ``!!(gfp & __GFP_DIRECT_RECLAIM)``."""
    return bool(gfp & __GFP_DIRECT_RECLAIM)


def gfp_name(gfp: int) -> str:
    """``%pGg``-like rendering of a gfp mask (lib/vsprintf.c:flags_string, simplified)."""
    parts: list[str] = []
    rest = gfp
    for value, name in _GFP_NAMES:
        if value and rest & value == value:
            parts.append(name)
            rest &= ~value
    if rest:
        parts.append(f"{rest:#x}")
    return "|".join(parts) if parts else "0"


# --- where an allocation may sleep ---------------------------------------------------------
#: The ``file:line`` the "sleeping function called from invalid context" splat of an allocation
#: names.  ``mm/slab.h:567`` (slab_pre_alloc_hook, v5.8) is a pinned line; where the v5.8 line
#: is not pinned the function name stands in for it (docs/context.md).
SITE_SLAB_PRE_ALLOC = "mm/slab.h:567"
SITE_PAGE_ALLOC = "mm/page_alloc.c:prepare_alloc_pages"
#: might_alloc()'s ``might_sleep_if(gfpflags_allow_blocking(gfp_mask))`` in
#: include/linux/sched/mm.h: the line the slab and page allocators' splat names in Debian's
#: 6.1.192 and 6.12.118 trees.
SITE_MIGHT_ALLOC_V61 = "include/linux/sched/mm.h:274"
SITE_MIGHT_ALLOC_V612 = "include/linux/sched/mm.h:321"
