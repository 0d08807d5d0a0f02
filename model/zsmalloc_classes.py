"""zsmalloc's eras, and its size classes as ``zs_create_pool`` builds them in each.

The eras of the model are values, not copies: :class:`EraFeatures` says, fact by fact, what one
era of mm/zsmalloc.c does (which API, which class table, what waits for a mapping, at which
line the kernel complains), and the model branches on those facts, never on the era's name.
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

from model.errors import InputError

ERA_V58 = "v5.8"
ERA_V61 = "v6.1"
ERA_V612 = "v6.12"
ERA_CURRENT = "current"
ERAS: tuple[str, ...] = (ERA_V58, ERA_V61, ERA_V612, ERA_CURRENT)

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


#: might_alloc()'s ``might_sleep_if(gfpflags_allow_blocking(gfp_mask))`` in
#: include/linux/sched/mm.h: the line the slab and page allocators' "sleeping function called
#: from invalid context" splat names (Debian's 6.1.192 and 6.12.118 trees).
SITE_MIGHT_ALLOC_V61 = "include/linux/sched/mm.h:274"
SITE_MIGHT_ALLOC_V612 = "include/linux/sched/mm.h:321"


@attrs.frozen
class EraFeatures:
    """What one era of mm/zsmalloc.c does.  Each field is one fact, named for what the code
    does; the line numbers are those of Debian's 6.1.192 and 6.12.118 trees."""

    era: str
    #: The kernel the era follows.
    kernel: str
    # --- classes and the obj encoding --------------------------------------------------------
    #: The class table from ``calculate_zspage_chain_size`` with up to
    #: ``CONFIG_ZSMALLOC_CHAIN_SIZE`` pages (6.12 :2099; current); else ``get_pages_per_zspage``
    #: with ``ZS_MAX_PAGES_PER_ZSPAGE`` 4 (v5.8; 6.1 :777).
    chain_size: bool
    #: ``location_to_obj`` shifts the obj left by ``OBJ_TAG_BITS`` and ``OBJ_INDEX_BITS`` gives
    #: that bit up (v5.8; 6.1 :117, :843); 6.12 (:116, :780) and current do not.
    obj_tag_shift: bool
    #: The twelve ``ZS_INUSE_RATIO_*`` fullness groups (6.12 :159; current); else
    #: ``ZS_EMPTY`` .. ``ZS_FULL`` with the 3/4 threshold (v5.8; 6.1 :149, :690).
    fine_fullness: bool
    #: ``insert_zspage`` puts a zspage with fewer objects in use than the list head second
    #: (v5.8; 6.1 :704, :718); 6.12 (:693) and current always add at the head.
    insert_by_inuse: bool
    #: ``obj_free`` of a huge object clears ``page->index`` and writes no free link into the
    #: page (6.1 :1476; 6.12 :1435; current); v5.8 writes the link over the object's bytes.
    huge_free_clears_handle: bool
    # --- API -----------------------------------------------------------------------------------
    #: ``zs_map_object`` / ``zs_unmap_object`` with ``ZS_MM_RO/WO/RW`` (v5.8; 6.1 :1229;
    #: 6.12 :1191; removed in 6.15); else ``zs_obj_read_begin/end`` and ``zs_obj_write``
    #: (current).
    map_api: bool
    #: ``zs_malloc(pool, size, gfp, nid)`` (current); v5.8, 6.1 (:1397) and 6.12 (:1359) have
    #: no ``nid``.
    malloc_nid: bool
    #: ``zs_malloc`` fails with ``ERR_PTR(-errno)`` (6.1 :1405-1434; 6.12 :1367-1395; current)
    #: and ``zs_free`` ignores ``IS_ERR_OR_NULL`` handles (6.1 :1490; 6.12 :1450); v5.8 returns
    #: 0 and ignores 0 only.
    err_ptr: bool
    #: A size above ``ZS_MAX_ALLOC_SIZE`` is ``-ENOSPC`` (6.12 :1370; current); 6.1 says
    #: ``-EINVAL`` for it as for 0 bytes (:1405).
    enospc: bool
    #: ``zs_lookup_class_index`` (6.12 :1160; current).
    lookup_class_index: bool
    #: ``zs_page_migrate`` takes ``MIGRATE_SYNC_NO_COPY`` and refuses it with ``-EINVAL``
    #: (v5.8; 6.1 :1859); the mode is gone by 6.12.
    rejects_sync_no_copy: bool
    # --- what a mapping holds, and what waits for it ---------------------------------------
    #: A mapping pins the handle (``HANDLE_PIN_BIT``, a bit spin lock in ``*handle``): a second
    #: map of it or ``zs_free`` spins, compaction skips it (v5.8; gone since 5.17).  Else a
    #: mapping holds ``migrate_read_lock(zspage)`` (6.1 :1261; 6.12 :1223) and nothing else:
    #: one handle maps on two CPUs at once and ``zs_free`` of a mapped handle goes unnoticed.
    handle_pin: bool
    #: ``zs_page_isolate`` takes the zspage off its fullness list and the putback puts it back
    #: (v5.8); since 5.17 (6.1 :1820; 6.12 :1759) isolation leaves the lists alone.
    isolate_unlists: bool
    #: ``zs_page_migrate`` of a zspage someone holds gives up with ``-EBUSY`` (current's
    #: ``zspage_write_trylock``); 6.1 (:1877) and 6.12 (:1804) wait in
    #: ``migrate_write_lock(zspage)``.
    migrate_trylock: bool
    #: ``__zs_compact`` isolates a destination first and fills it from the emptiest sources
    #: (6.12 :1947; current); else sources from ALMOST_EMPTY into destinations from
    #: ALMOST_FULL (v5.8; 6.1 :2031).
    compact_dst_first: bool
    #: Compaction stops at a source zspage someone holds (current's trylock); 6.1 (:2046)
    #: and 6.12 (:1973) wait in ``migrate_write_lock(src_zspage)``.
    compact_trylock_src: bool
    #: Compaction also write-locks each destination (``migrate_write_lock_nested``, 6.1
    #: :2055); 6.12 and current lock the source only.
    compact_locks_dst: bool
    #: ``zs_compact`` returns the pages this call freed, after adding them to
    #: ``pages_compacted``, and 0 at once while another compaction runs
    #: (``compaction_in_progress``; 6.1 :2112-2124; 6.12 :2021-2033; current); v5.8 returns
    #: the running total ``pages_compacted``.
    compact_returns_freed: bool
    # --- where the kernel complains -----------------------------------------------------------
    #: ``BUG_ON(in_interrupt())`` in ``zs_map_object`` ("" without the map API).
    bug_map_in_interrupt: str
    #: The ``might_sleep`` line of the handle's slab allocation (``kmem_cache_alloc``).
    might_alloc_site: str
    #: ``local_lock(&zs_map_area.lock)`` in ``zs_map_object``, where lockdep reports a nested
    #: mapping on one CPU ("" where the per-CPU area is ``get_cpu_var``'ed or absent).
    nested_map_site: str
    #: ``migrate_write_lock(zspage)`` in ``zs_page_migrate``, where migration waits for a
    #: mapping ("" where it does not wait there).
    migrate_lock_site: str
    #: ``migrate_write_lock(src_zspage)`` and ``migrate_write_lock_nested(dst_zspage)`` in
    #: ``__zs_compact`` ("" where compaction does not wait there).
    compact_src_lock_site: str
    compact_dst_lock_site: str
    #: ``write_lock(&zspage->lock)`` in ``migrate_write_lock`` and ``write_lock_nested`` in
    #: ``migrate_write_lock_nested``: where a wait for a mapping spins, the line a lockup
    #: report names ("" where there is no such lock).
    write_lock_site: str
    write_lock_nested_site: str
    #: The width of the ``freeable`` column of the debugfs ``classes`` file.
    freeable_width: int

    @property
    def obj_rw_api(self) -> bool:
        """``zs_obj_read_begin/end`` and ``zs_obj_write`` instead of the map API."""
        return not self.map_api


#: mm/slab.h:567 (slab_pre_alloc_hook, v5.8), as model.context.SITE_SLAB_PRE_ALLOC.
_SITE_SLAB_PRE_ALLOC_V58 = "mm/slab.h:567"

FEATURES: dict[str, EraFeatures] = {
    ERA_V58: EraFeatures(
        ERA_V58, "5.8", chain_size=False, obj_tag_shift=True, fine_fullness=False,
        insert_by_inuse=True, huge_free_clears_handle=False, map_api=True, malloc_nid=False,
        err_ptr=False, enospc=False, lookup_class_index=False, rejects_sync_no_copy=True,
        handle_pin=True, isolate_unlists=True, migrate_trylock=False, compact_dst_first=False,
        compact_trylock_src=False, compact_locks_dst=False, compact_returns_freed=False,
        # line 1313 of the stored 5.9-rc blob c36fdff9a371 (docs/zsmalloc.md)
        bug_map_in_interrupt="mm/zsmalloc.c:1313", might_alloc_site=_SITE_SLAB_PRE_ALLOC_V58,
        nested_map_site="", migrate_lock_site="mm/zsmalloc.c:zs_page_migrate",
        compact_src_lock_site="", compact_dst_lock_site="", write_lock_site="",
        write_lock_nested_site="", freeable_width=8),
    ERA_V61: EraFeatures(
        ERA_V61, "6.1.192 (Debian linux-source-6.1 6.1.192-3)", chain_size=False,
        obj_tag_shift=True, fine_fullness=False, insert_by_inuse=True,
        huge_free_clears_handle=True, map_api=True, malloc_nid=False, err_ptr=True,
        enospc=False, lookup_class_index=False, rejects_sync_no_copy=True, handle_pin=False,
        isolate_unlists=False, migrate_trylock=False, compact_dst_first=False,
        compact_trylock_src=False, compact_locks_dst=True, compact_returns_freed=True,
        bug_map_in_interrupt="mm/zsmalloc.c:1247", might_alloc_site=SITE_MIGHT_ALLOC_V61,
        nested_map_site="mm/zsmalloc.c:1267", migrate_lock_site="mm/zsmalloc.c:1877",
        compact_src_lock_site="mm/zsmalloc.c:2046", compact_dst_lock_site="mm/zsmalloc.c:2055",
        write_lock_site="mm/zsmalloc.c:1770", write_lock_nested_site="mm/zsmalloc.c:1775",
        freeable_width=8),
    ERA_V612: EraFeatures(
        ERA_V612, "6.12.118 (Debian linux-source-6.12 6.12.118-1~deb12u1)", chain_size=True,
        obj_tag_shift=False, fine_fullness=True, insert_by_inuse=False,
        huge_free_clears_handle=True, map_api=True, malloc_nid=False, err_ptr=True,
        enospc=True, lookup_class_index=True, rejects_sync_no_copy=False, handle_pin=False,
        isolate_unlists=False, migrate_trylock=False, compact_dst_first=True,
        compact_trylock_src=False, compact_locks_dst=False, compact_returns_freed=True,
        bug_map_in_interrupt="mm/zsmalloc.c:1209", might_alloc_site=SITE_MIGHT_ALLOC_V612,
        nested_map_site="mm/zsmalloc.c:1229", migrate_lock_site="mm/zsmalloc.c:1804",
        compact_src_lock_site="mm/zsmalloc.c:1973", compact_dst_lock_site="",
        write_lock_site="mm/zsmalloc.c:1724", write_lock_nested_site="", freeable_width=8),
    ERA_CURRENT: EraFeatures(
        ERA_CURRENT, "7.1.5", chain_size=True, obj_tag_shift=False, fine_fullness=True,
        insert_by_inuse=False, huge_free_clears_handle=True, map_api=False, malloc_nid=True,
        err_ptr=True, enospc=True, lookup_class_index=True, rejects_sync_no_copy=False,
        handle_pin=False, isolate_unlists=False, migrate_trylock=True, compact_dst_first=True,
        compact_trylock_src=True, compact_locks_dst=False, compact_returns_freed=True,
        # 7.1.5's might_alloc line is not pinned: the v5.8 slab site stands in for it
        bug_map_in_interrupt="", might_alloc_site=_SITE_SLAB_PRE_ALLOC_V58, nested_map_site="",
        migrate_lock_site="", compact_src_lock_site="", compact_dst_lock_site="",
        write_lock_site="", write_lock_nested_site="", freeable_width=16),
}


def check_era(era: str) -> str:
    if era not in ERAS:
        raise InputError(f"unknown zsmalloc era {era!r} (known: {', '.join(ERAS)})")
    return era


def era_features(era: str) -> EraFeatures:
    """The :class:`EraFeatures` of zsmalloc era ``era`` (InputError for an unknown one)."""
    return FEATURES[check_era(era)]


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


#: The zsmalloc model each kernel (dyndbg) era runs on: the pooled designs' zs_pool
#: (model/designs/storage.py) and ``dyndiet analyze``'s pool figures (model/analysis.py) both
#: read it here, so one report never mixes two allocators.
#:
#: * ``v5.8`` and ``v6.1``: the v5.8 model.  Linux 6.1's mm/zsmalloc.c is still that allocator:
#:   ``ZS_MAX_ZSPAGE_ORDER`` 2, so ``ZS_MAX_PAGES_PER_ZSPAGE`` 4 (lines 80-81);
#:   ``OBJ_INDEX_BITS`` = ``BITS_PER_LONG - _PFN_BITS - OBJ_TAG_BITS`` (line 117); four fullness
#:   groups ``ZS_EMPTY .. ZS_FULL`` (``enum fullness_group``, lines 149-155);
#:   ``get_pages_per_zspage`` (line 777); ``zs_map_object`` with ``BUG_ON(in_interrupt())``
#:   (line 1247).
#:   It differs only in locking (``local_lock`` of the per-CPU ``zs_map_area``, the pool's
#:   ``migrate_lock`` instead of the handle's pin bit), which no dyndbg design observes.
#: * ``v6.12``: the v5.8 model too, for its API: 6.12 keeps ``zs_map_object`` (removed in 6.15)
#:   with ``BUG_ON(in_interrupt())``, the contract the designs exercise.  Its classes are not
#:   v5.8's: 6.12 builds them with ``calculate_zspage_chain_size`` (up to
#:   ``CONFIG_ZSMALLOC_CHAIN_SIZE`` pages, since 6.3), no tag bit in ``OBJ_INDEX_BITS``, and the
#:   ``ZS_INUSE_RATIO_*`` fullness groups, as the current model does; neither model is all of it,
#:   so v6.12 pool figures use v5.8's classes (tests/test_kernel_zsmalloc.py marks the
#:   difference from the real 6.12 table as an expected failure).
#: * ``v6.19``: the current model (``zs_obj_read_begin`` / ``zs_obj_read_end`` /
#:   ``zs_obj_write``).
POOL_ERA: dict[str, str] = {"v5.8": ERA_V58, "v6.1": ERA_V58, "v6.12": ERA_V58,
                            "v6.19": ERA_CURRENT}


def zsmalloc_era(kernel_era: str) -> str:
    """The zsmalloc era of kernel era ``kernel_era`` (:data:`POOL_ERA`)."""
    try:
        return POOL_ERA[kernel_era]
    except KeyError:
        raise InputError(f"unknown era {kernel_era!r} (known: {', '.join(POOL_ERA)})") from None


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
    :attr:`EraFeatures.chain_size` (v5.8 and v6.1 have ``ZS_MAX_ZSPAGE_ORDER`` 2).  Iterates
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
