"""zsmalloc's eras, and its size classes as ``zs_create_pool`` builds them in each.

The eras of the model are values, not copies: :class:`~model.eras.ZsmallocEra` says, fact by
fact, what one era of mm/zsmalloc.c does (which API, which class table, what waits for a
mapping, at which line the kernel complains), and the model branches on those facts, never on
the era's name.
The eras: ``v5.8``; ``v6.1`` and ``v6.12`` (Debian's 6.1.192 and 6.12.118, whose
mm/zsmalloc.c kernel/zsmalloc.py builds and properties/fidelity_zsmalloc.py holds the model
against); ``current`` (7.1.5).

The class tables are pure functions of (era, page size, chain size, bits per long,
physical-address bits): the constants of mm/zsmalloc.c (``ZS_MIN_ALLOC_SIZE``,
``ZS_SIZE_CLASSES``, ``OBJ_INDEX_BITS``...), ``get_pages_per_zspage`` (v5.8 and v6.1, at most
``ZS_MAX_PAGES_PER_ZSPAGE`` = 4 pages, maximising the integer used percentage) or
``calculate_zspage_chain_size`` (v6.12 and current, at most ``CONFIG_ZSMALLOC_CHAIN_SIZE`` pages,
minimising the waste in bytes), class merging and ``huge_class_size``.
"""

from __future__ import annotations

import functools

import attrs

from model.eras import ZSMALLOC_ERA_NAMES, ZsmallocEra, get_zsmalloc_era
from model.errors import InputError

#: The zsmalloc eras' names (:data:`model.eras.ZSMALLOC_ERAS` holds what each does).
ERA_V58, ERA_V61, ERA_V612, ERA_CURRENT = ZSMALLOC_ERA_NAMES

#: mm/zsmalloc.c constants shared by both eras.
ZS_ALIGN = 8
CLASS_BITS = 8
OBJ_ALLOCATED_TAG = 1
#: OBJ_TAG_BITS: 1 in both eras (the free-link encoding always shifts by it).
OBJ_TAG_BITS = 1
#: v5.8 ZS_MAX_ZSPAGE_ORDER 2 -> ZS_MAX_PAGES_PER_ZSPAGE 4.
V58_MAX_PAGES_PER_ZSPAGE = 4
#: Kconfig ZSMALLOC_CHAIN_SIZE: default 8, range 4..16.
CHAIN_SIZE_DEFAULT = 8
CHAIN_SIZE_RANGE = (4, 16)


def era_features(era: str) -> ZsmallocEra:
    """The :class:`~model.eras.ZsmallocEra` called ``era`` (InputError for an unknown one)."""
    return get_zsmalloc_era(era)


def era_has_map_api(era: str) -> bool:
    """``zs_map_object`` / ``zs_unmap_object`` (v5.8, v6.1, v6.12); else ``zs_obj_read_begin``
    / ``zs_obj_write`` (current)."""
    return era_features(era).map_api


def era_returns_err_ptr(era: str) -> bool:
    """``zs_malloc`` fails with an ``IS_ERR_VALUE`` handle (v6.1 on); v5.8 with 0."""
    return era_features(era).err_ptr


def era_has_handle_pin(era: str) -> bool:
    """A mapping pins its handle (``HANDLE_PIN_BIT``, v5.8 only)."""
    return era_features(era).handle_pin


def get_pages_per_zspage(class_size: int, page_size: int,
                         max_pages: int = V58_MAX_PAGES_PER_ZSPAGE) -> int:
    """mm/zsmalloc.c:get_pages_per_zspage (v5.8; 6.1 :777): the page count with the highest
    integer used percentage (strict ``>``: the smallest count wins ties)."""
    max_usedpc = 0
    max_usedpc_order = 1
    for i in range(1, max_pages + 1):
        zspage_size = i * page_size
        waste = zspage_size % class_size
        usedpc = (zspage_size - waste) * 100 // zspage_size
        if usedpc > max_usedpc:
            max_usedpc = usedpc
            max_usedpc_order = i
    return max_usedpc_order


def calculate_zspage_chain_size(class_size: int, page_size: int, chain_size: int) -> int:
    """mm/zsmalloc.c:calculate_zspage_chain_size (6.3 on: 6.12 :2099, current): the page
    count with the least waste in bytes (strict ``<``); a power-of-two size gets one page."""
    if class_size & (class_size - 1) == 0:
        return 1
    min_waste = 1 << 62
    best = 1
    for i in range(1, chain_size + 1):
        waste = (i * page_size) % class_size
        if waste < min_waste:
            min_waste = waste
            best = i
    return best


@attrs.frozen
class SizeClassSpec:
    """One distinct ``struct size_class``: ``index`` is its own slot in ``pool->size_class``."""

    index: int
    size: int
    pages_per_zspage: int
    objs_per_zspage: int

    @property
    def huge(self) -> bool:
        """``pages_per_zspage == 1 && objs_per_zspage == 1``: no in-object header."""
        return self.pages_per_zspage == 1 and self.objs_per_zspage == 1

    def as_json(self) -> dict[str, int]:
        return {"index": self.index, "size": self.size,
                "pages_per_zspage": self.pages_per_zspage,
                "objs_per_zspage": self.objs_per_zspage}


@attrs.frozen
class ClassTable:
    """The class table of one configuration, with the constants it was computed from."""

    era: str
    page_size: int
    page_shift: int
    #: ZS_MAX_PAGES_PER_ZSPAGE (4 in v5.8 and v6.1; CONFIG_ZSMALLOC_CHAIN_SIZE in v6.12 and
    #: current).
    max_pages_per_zspage: int
    bits_per_long: int
    physmem_bits: int
    pfn_bits: int
    obj_tag_bits_in_obj: int
    obj_index_bits: int
    min_alloc_size: int
    max_alloc_size: int
    size_class_delta: int
    slots: int
    huge_class_size: int
    #: Distinct classes, ascending index.
    classes: tuple[SizeClassSpec, ...]
    #: For every slot ``i`` of ``pool->size_class[]``: the index of the class it points to.
    slot_class: tuple[int, ...]

    def get_size_class_index(self, size: int) -> int:
        """mm/zsmalloc.c:get_size_class_index (``size`` already includes ZS_HANDLE_SIZE)."""
        idx = 0
        if size > self.min_alloc_size:
            idx = -(-(size - self.min_alloc_size) // self.size_class_delta)
        return min(self.slots - 1, idx)

    def class_for_slot(self, slot: int) -> SizeClassSpec:
        return self.by_index(self.slot_class[slot])

    def by_index(self, index: int) -> SizeClassSpec:
        for c in self.classes:
            if c.index == index:
                return c
        raise KeyError(index)

    def class_for_request(self, size: int, handle_size: int) -> SizeClassSpec:
        """The class ``zs_malloc(size)`` uses (it adds ``ZS_HANDLE_SIZE`` before the lookup)."""
        return self.class_for_slot(self.get_size_class_index(size + handle_size))

    def as_json(self) -> dict[str, object]:
        """What ``dyndiet classes --json`` prints."""
        return {"slots": self.slots, "min_alloc_size": self.min_alloc_size,
                "huge_class_size": self.huge_class_size,
                "classes": [c.as_json() for c in self.classes]}


@functools.lru_cache(maxsize=64)
def class_table(era: str = ERA_CURRENT, page_size: int = 4096,
                chain_size: int = CHAIN_SIZE_DEFAULT, bits_per_long: int = 64,
                physmem_bits: int = 52) -> ClassTable:
    """mm/zsmalloc.c:zs_create_pool's class loop (every era; 6.1 :2222, 6.12 :2155) with the
    era's constants.

    ``chain_size`` is ``CONFIG_ZSMALLOC_CHAIN_SIZE`` and only matters for the eras with
    :attr:`~model.eras.ZsmallocEra.chain_size` (v5.8 and v6.1 have ``ZS_MAX_ZSPAGE_ORDER`` 2).  Iterates
    from the biggest slot down, merging a slot into the previous (larger) class when pages and
    objects per zspage agree, and sets ``huge_class_size`` from the first class that is not
    huge, minus ``ZS_HANDLE_SIZE - 1``.
    """
    feat = era_features(era)
    if page_size < 4096 or page_size & (page_size - 1):
        raise InputError(f"page size {page_size} is not a power of two >= 4096")
    if bits_per_long not in (32, 64):
        raise InputError(f"bits per long must be 32 or 64, not {bits_per_long}")
    page_shift = page_size.bit_length() - 1
    if not feat.chain_size:
        max_pages = V58_MAX_PAGES_PER_ZSPAGE
    else:
        lo, hi = CHAIN_SIZE_RANGE
        if not lo <= chain_size <= hi:
            raise InputError(f"chain size {chain_size} outside CONFIG_ZSMALLOC_CHAIN_SIZE's "
                             f"range {lo}..{hi}")
        max_pages = chain_size
    tag_bits_in_obj = OBJ_TAG_BITS if feat.obj_tag_shift else 0
    if physmem_bits <= page_shift:
        raise InputError(f"physmem bits {physmem_bits} must exceed PAGE_SHIFT {page_shift}")
    pfn_bits = physmem_bits - page_shift
    obj_index_bits = bits_per_long - pfn_bits - tag_bits_in_obj
    if obj_index_bits < 1:
        raise InputError(f"physmem bits {physmem_bits}: OBJ_INDEX_BITS would be "
                         f"{obj_index_bits} with {bits_per_long}-bit longs")
    handle_size = bits_per_long // 8
    min_alloc = max(32, (max_pages << page_shift) >> obj_index_bits)
    max_alloc = page_size
    delta = page_size >> CLASS_BITS
    slots = -(-(max_alloc - min_alloc) // delta) + 1

    huge_class_size = 0
    prev: SizeClassSpec | None = None
    slot_class = [0] * slots
    distinct: list[SizeClassSpec] = []
    for i in range(slots - 1, -1, -1):
        size = min(min_alloc + i * delta, max_alloc)
        if not feat.chain_size:
            ppz = get_pages_per_zspage(size, page_size, max_pages)
        else:
            ppz = calculate_zspage_chain_size(size, page_size, max_pages)
        objs = ppz * page_size // size
        if ppz != 1 and objs != 1 and not huge_class_size:
            huge_class_size = size - (handle_size - 1)
        if prev is not None and prev.pages_per_zspage == ppz and prev.objs_per_zspage == objs:
            slot_class[i] = prev.index
            continue
        prev = SizeClassSpec(i, size, ppz, objs)
        distinct.append(prev)
        slot_class[i] = i
    distinct.reverse()
    return ClassTable(era, page_size, page_shift, max_pages, bits_per_long, physmem_bits,
                      pfn_bits, tag_bits_in_obj, obj_index_bits, min_alloc, max_alloc, delta,
                      slots, huge_class_size, tuple(distinct), tuple(slot_class))
