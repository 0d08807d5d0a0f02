"""An executable model of mm/zsmalloc.c in four eras: ``v5.8`` (the default), ``v6.1`` and
``v6.12`` (Debian's 6.1.192 and 6.12.118, held against the real code by
properties/fidelity_zsmalloc.py) and ``current`` (7.1.5).  An era is a value
(:class:`~model.zsmalloc_classes.ZsmallocEra`, one fact per field); the pool branches on those
facts, and each function names the kernel function and the eras it follows.

Everything lives as bytes in a :class:`~model.memory.AddressSpace`:

* a zspage's pages are order-0 pages of the kernel's linear map (:meth:`KernelContext.alloc_page`);
  object ``k`` of a zspage occupies bytes ``[k*size, (k+1)*size)`` of the concatenated pages;
* an allocated non-huge object starts with the word ``handle | OBJ_ALLOCATED_TAG``; a free one
  with ``next_free_index << OBJ_TAG_BITS`` (the last: ``-1UL << OBJ_TAG_BITS``);
* a handle is the address of a word-sized slot of the ``zs_handle`` slab (:mod:`model.slab`);
  the slot holds the *obj*, ``(pfn << OBJ_INDEX_BITS | obj_idx)``, shifted left by
  ``OBJ_TAG_BITS`` in v5.8 and v6.1, whose bit 0 is then (v5.8) ``HANDLE_PIN_BIT``, the bit
  spin lock that ``zs_map_object`` holds;
* ``zs_map_object`` (v5.8, v6.1, v6.12) returns the kmap'ed address of an object inside one
  page, or the
  per-CPU ``zs_map_area`` buffer (a kmalloc'ed ``ZS_MAX_ALLOC_SIZE`` region) for an object that
  spans two pages; callers read and write through the address space, and the RO/WO copy rules
  follow from the copies the model makes, as they do in the kernel.

The model checks what the kernel leaves undefined and raises the typed exceptions of
:mod:`model.errors`: a nested mapping on one CPU, mapping a pinned handle again (``pin_tag``
deadlock, v5.8), migration or compaction waiting for a mapping (:class:`PinDeadlock`), sleeping
while mapped, mapping in interrupt context (``BUG_ON(in_interrupt())``), using a freed or
never-allocated handle.  docs/zsmalloc.md lists what is exact and what is simplified.

Where the model deliberately differs from the kernel: a nested mapping on one CPU.  6.1 and
6.12 go on after lockdep's recursive-locking report at ``local_lock(&zs_map_area.lock)``
(:attr:`ZsmallocEra.nested_map_site`) and the second mapping clobbers the per-CPU area ("There
is no protection against nested mappings", the kernel-doc of zs_map_object says); the model
stops there with a :class:`~model.errors.KernelBug` (tests/test_kernel_zsmalloc.py pins it).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator

import attrs

from model.context import KernelContext, PageFrame
from model.eras import ZSMALLOC_ERA_NAMES, ZSMALLOC_ERAS, ZsmallocEra
from model.errnos import EAGAIN, EBUSY, EINVAL, ENOMEM, err_value, is_err_value
from model.errors import (
    BadAccess,
    BadHandle,
    BugOn,
    DoubleFree,
    InputError,
    KernelBug,
    MapInInterrupt,
    NestedMapping,
    UseAfterFree,
)
from model.gfp import GFP_DIRECT_RECLAIM_BIT, GFP_HIGHMEM_BIT, GFP_KERNEL, GFP_MOVABLE_BIT
from model.memory import AddressSpace
from model.slab import KmemCache
from model.zsmalloc_classes import (
    CHAIN_SIZE_DEFAULT,
    ERA_CURRENT,
    ERA_V58,
    ERA_V61,
    ERA_V612,
    OBJ_ALLOCATED_TAG,
    OBJ_TAG_BITS,
    ClassTable,
    SizeClassSpec,
    class_table,
    era_features,
)

__all__ = [
    "ERA_CURRENT", "ERA_V58", "ERA_V61", "ERA_V612", "ZSMALLOC_ERA_NAMES", "ClassTable",
    "MigrateLockDeadlock", "MigrateMode", "ObjectLocation", "PinDeadlock", "SizeClassSpec",
    "ZsClassStats", "ZsMapMode", "ZsPool", "ZsPoolStats", "ZsmallocEra", "class_table",
    "era_features", "zs_create_pool",
]

ZSPAGE_MAGIC = 0x58
HANDLE_PIN_BIT = 0

# v5.8 enum fullness_group
ZS_EMPTY, ZS_ALMOST_EMPTY, ZS_ALMOST_FULL, ZS_FULL = 0, 1, 2, 3
V58_FULLNESS_NAMES = ("ZS_EMPTY", "ZS_ALMOST_EMPTY", "ZS_ALMOST_FULL", "ZS_FULL")
V58_NR_FULLNESS = 4
fullness_threshold_frac = 4
# current enum fullness_group: ZS_INUSE_RATIO_0 = 0, _10 = 1 ... _99 = 10, _100 = 11
ZS_INUSE_RATIO_0 = 0
ZS_INUSE_RATIO_10 = 1
ZS_INUSE_RATIO_99 = 10
ZS_INUSE_RATIO_100 = 11
CUR_NR_FULLNESS = 12

#: ``kernel BUG at`` site of ``BUG_ON(in_interrupt())`` in zs_map_object, v5.8: line 1313 of the
#: stored 5.9-rc blob c36fdff9a371 of mm/zsmalloc.c (v5.8.1's blob 952a01e45c6a could not be
#: read; docs/zsmalloc.md).  Each era's site is :attr:`ZsmallocEra.bug_map_in_interrupt`.
BUG_MAP_IN_INTERRUPT = ZSMALLOC_ERAS[ERA_V58].bug_map_in_interrupt


class ZsMapMode(enum.IntEnum):
    """include/linux/zsmalloc.h ``enum zs_mapmode`` (v5.8)."""

    ZS_MM_RW = 0
    ZS_MM_RO = 1
    ZS_MM_WO = 2


class MigrateMode(enum.IntEnum):
    """include/linux/migrate_mode.h ``enum migrate_mode`` (``MIGRATE_SYNC_NO_COPY`` in v5.8 and
    v6.1; gone by 6.12)."""

    MIGRATE_ASYNC = 0
    MIGRATE_SYNC_LIGHT = 1
    MIGRATE_SYNC = 2
    MIGRATE_SYNC_NO_COPY = 3


class PinDeadlock(KernelBug):
    """A spin on a lock a mapping holds: ``pin_tag()`` on a ``HANDLE_PIN_BIT`` already held
    (v5.8), or (subclass :class:`MigrateLockDeadlock`) ``migrate_write_lock`` of a zspage a
    mapping read-locks (v6.1, v6.12): a lockup when the holder is this CPU, a wait on another
    CPU the sequential model cannot make."""


class MigrateLockDeadlock(PinDeadlock):
    """``migrate_write_lock(zspage)`` (``write_lock(&zspage->lock)``) spins while a mapping holds
    ``migrate_read_lock(zspage)``: page migration (6.1 mm/zsmalloc.c:1877, 6.12 :1804) and
    compaction (6.1 :2046 and :2055, 6.12 :1973).  Its site is where the real code's rwlock
    lockup report points: the ``write_lock`` in ``migrate_write_lock`` (6.1 :1770, 6.12 :1724)
    or ``migrate_write_lock_nested`` (6.1 :1775)."""


@attrs.frozen
class ZsPoolStats:
    """include/linux/zsmalloc.h ``struct zs_pool_stats`` (every era)."""

    pages_compacted: int


@attrs.frozen
class ZsClassStats:
    """One line of /sys/kernel/debug/zsmalloc/<pool>/classes (``zs_stats_size_show``)."""

    index: int
    size: int
    #: Zspages per fullness group (4 groups in v5.8, 12 in current).
    fullness: tuple[int, ...]
    obj_allocated: int
    obj_used: int
    pages_used: int
    pages_per_zspage: int
    freeable: int


@attrs.frozen
class ObjectLocation:
    """Where a handle's object lives: its class, zspage (by creation serial), zspage-wide index,
    the page it starts in, the offset there, and whether it spans into the next page."""

    class_index: int
    size: int
    huge: bool
    zspage: int
    obj_idx: int
    page_addr: int
    offset: int
    spans: bool


@attrs.define(slots=True, eq=False)
class ZsPageDesc:
    """``struct page`` (v5.8) / ``struct zpdesc`` (current) of one zspage page."""

    frame: PageFrame
    data: bytearray
    zspage: Zspage | None = None
    #: ``page->freelist`` / ``zpdesc->next``: the next page of the zspage.
    next: ZsPageDesc | None = None
    #: ``page->units`` / ``first_obj_offset``.
    first_obj_offset: int = 0
    #: ``page->index`` / ``zpdesc->handle`` of a huge page: ``handle | OBJ_ALLOCATED_TAG``.
    handle: int = 0
    huge: bool = False

    @property
    def pfn(self) -> int:
        return self.frame.pfn

    @property
    def addr(self) -> int:
        return self.frame.addr


@attrs.define(slots=True, eq=False)
class Zspage:
    """``struct zspage``."""

    class_index: int
    fullness: int
    inuse: int = 0
    freeobj: int = 0
    pages: list[ZsPageDesc] = attrs.field(factory=list)
    #: v5.8, v6.1: number of isolated subpages (page migration in progress).
    isolated: int = 0
    magic: int = ZSPAGE_MAGIC
    #: Holders of the zspage lock for reading: v6.1 and v6.12 mappings
    #: (``migrate_read_lock``), current readers inside zs_obj_read_begin/end.
    readers: int = 0
    #: Creation order, for stable printing.
    serial: int = 0


@attrs.define(slots=True, eq=False)
class SizeClass:
    """``struct size_class``: fullness lists (head = last element) and ``stats.objs[]``."""

    index: int
    size: int
    pages_per_zspage: int
    objs_per_zspage: int
    huge: bool
    fullness_list: list[list[Zspage]]
    #: v5.8: CLASS_EMPTY..CLASS_FULL, OBJ_ALLOCATED, OBJ_USED; current: 12 groups, then
    #: ZS_OBJS_ALLOCATED, ZS_OBJS_INUSE.
    stats: list[int]


@attrs.define(slots=True, eq=False)
class MappingArea:
    """``struct mapping_area`` (v5.8 - v6.12, one per CPU, shared by all pools) plus what the model
    remembers of the mapping in progress to detect misuse."""

    cpu: int
    vm_buf: int
    vm_addr: int = 0
    vm_mm: int = 0
    #: Model bookkeeping: the mapped handle (0: none), its pool and the address returned.
    handle: int = 0
    pool: str = ""
    ret: int = 0
    spans: bool = False
    #: The zspage the mapped object is in (v6.1, v6.12: the one ``migrate_read_lock`` holds).
    zspage: Zspage | None = None


@attrs.define(slots=True, eq=False)
class ReadRecord:
    """An open ``zs_obj_read_begin`` (current era)."""

    handle: int
    cpu: int
    mem_len: int
    addr: int
    spans: bool


@attrs.define(slots=True, eq=False)
class ZsPool:
    """``struct zs_pool``; create it with :func:`zs_create_pool`."""

    name: str
    space: AddressSpace
    ctx: KernelContext
    era: str
    table: ClassTable
    size_class: list[SizeClass]
    classes: list[SizeClass]
    handle_cachep: KmemCache
    #: What the era does (:func:`~model.zsmalloc_classes.era_features` of ``era``).
    feat: ZsmallocEra = ZSMALLOC_ERAS[ERA_V58]
    pages_allocated: int = 0
    pages_compacted: int = 0
    compaction_in_progress: bool = False
    # hot-path constants
    ws: int = 8
    endian: str = "little"
    page_size: int = 4096
    page_shift: int = 12
    obj_index_bits: int = 0
    obj_shift: int = 0
    word_mask: int = 0
    _word: struct.Struct = attrs.field(init=False)
    _pfn_to_page: dict[int, ZsPageDesc] = attrs.field(factory=dict)
    _pins: dict[int, int] = attrs.field(factory=dict)
    _readers: list[ReadRecord] = attrs.field(factory=list)
    _fail_next: int = 0
    _serial: int = 0
    _moved: int = 0

    def __attrs_post_init__(self) -> None:
        """The word codec of the target, and (map API) the per-CPU mapping areas, which
        ``zs_cpu_prepare`` allocates at boot in the kernel."""
        self._word = struct.Struct(("<" if self.endian == "little" else ">")
                                   + ("Q" if self.ws == 8 else "I"))
        if self.feat.map_api:
            self._map_areas()

    # ------------------------------------------------------------------ encoding helpers
    def _rd(self, data: bytearray, off: int) -> int:
        return int(self._word.unpack_from(data, off)[0])

    def _wr(self, data: bytearray, off: int, value: int) -> None:
        self._word.pack_into(data, off, value & self.word_mask)

    def location_to_obj(self, page: ZsPageDesc, obj_idx: int) -> int:
        """mm/zsmalloc.c:location_to_obj (every era; v5.8 and v6.1 shift by OBJ_TAG_BITS,
        v6.12 and current do not)."""
        obj = (page.frame.pfn << self.obj_index_bits) | (obj_idx & ((1 << self.obj_index_bits) - 1))
        return (obj << self.obj_shift) & self.word_mask

    def obj_to_location(self, obj: int) -> tuple[ZsPageDesc, int]:
        """mm/zsmalloc.c:obj_to_location (every era); an obj naming no zspage page is an oops."""
        obj >>= self.obj_shift
        pfn = obj >> self.obj_index_bits
        page = self._pfn_to_page.get(pfn)
        if page is None:
            raise BadAccess(f"BUG: unable to handle page fault: obj {obj:#x} names pfn {pfn:#x}, "
                            "which is no zspage page of this pool", "mm/zsmalloc.c:get_zspage",
                            value=obj)
        return page, obj & ((1 << self.obj_index_bits) - 1)

    def handle_to_obj(self, handle: int) -> int:
        """mm/zsmalloc.c:handle_to_obj (every era): ``*(unsigned long *)handle``."""
        mask = self.page_size - 1
        data = self.handle_cachep.slab_data(handle & ~mask)
        if data is None:
            return self.space.read_word(handle)
        return int(self._word.unpack_from(data, handle & mask)[0])

    def record_obj(self, handle: int, obj: int) -> None:
        """mm/zsmalloc.c:record_obj (every era): ``WRITE_ONCE(*(unsigned long *)handle, obj)``
        in v5.8, a plain store in v6.1 (:356) and v6.12 (:352)."""
        mask = self.page_size - 1
        data = self.handle_cachep.slab_data(handle & ~mask)
        if data is None:
            self.space.write_word(handle, obj)
        else:
            self._word.pack_into(data, handle & mask, obj & self.word_mask)

    def is_err_value(self, value: int) -> bool:
        """include/linux/err.h:IS_ERR_VALUE."""
        return is_err_value(value, 8 * self.ws)

    def err_value(self, errno: int) -> int:
        """``(unsigned long)ERR_PTR(-errno)``."""
        return err_value(errno, 8 * self.ws)

    # ------------------------------------------------------------------ handle validity
    def _check_live(self, handle: int, op: str) -> None:
        if self.handle_cachep.is_live(handle):
            return
        if self.handle_cachep.was_freed(handle):
            freed = DoubleFree if op == "zs_free" else UseAfterFree
            raise freed(f"{op}: handle {handle:#x} was already freed (its slot is back in "
                        f"the zs_handle slab; *handle is now a slab free pointer)",
                        f"mm/zsmalloc.c:{op}", value=handle)
        raise BadHandle(f"{op}: {handle:#x} is not a handle of pool {self.name} (never returned "
                        "by zs_malloc)", f"mm/zsmalloc.c:{op}", value=handle)

    # ------------------------------------------------------------------ fullness
    def get_fullness_group(self, class_: SizeClass, zspage: Zspage) -> int:
        """mm/zsmalloc.c:get_fullness_group (v5.8 and v6.1: the 3N/4 threshold; v6.12 and
        current: 10% ratios)."""
        inuse = zspage.inuse
        objs = class_.objs_per_zspage
        if not self.feat.fine_fullness:
            if inuse == 0:
                return ZS_EMPTY
            if inuse == objs:
                return ZS_FULL
            if inuse <= 3 * objs // fullness_threshold_frac:
                return ZS_ALMOST_EMPTY
            return ZS_ALMOST_FULL
        if inuse == 0:
            return ZS_INUSE_RATIO_0
        if inuse == objs:
            return ZS_INUSE_RATIO_100
        return (100 * inuse // objs) // 10 + 1

    def insert_zspage(self, class_: SizeClass, zspage: Zspage, fullness: int) -> None:
        """mm/zsmalloc.c:insert_zspage. v5.8 and v6.1 put a zspage with fewer objects in use
        than the head second; v6.12 and current always add at the head."""
        class_.stats[fullness] += 1
        lst = class_.fullness_list[fullness]
        if self.feat.insert_by_inuse and lst and zspage.inuse < lst[-1].inuse:
            lst.insert(len(lst) - 1, zspage)
        else:
            lst.append(zspage)

    def remove_zspage(self, class_: SizeClass, zspage: Zspage, fullness: int) -> None:
        """mm/zsmalloc.c:remove_zspage (every era)."""
        lst = class_.fullness_list[fullness]
        if lst and lst[-1] is zspage:
            lst.pop()
        else:
            lst.remove(zspage)
        class_.stats[fullness] -= 1

    def fix_fullness_group(self, class_: SizeClass, zspage: Zspage) -> int:
        """mm/zsmalloc.c:fix_fullness_group (every era; an isolated zspage is off the lists
        in v5.8 only, and no zspage is isolated outside :meth:`zs_page_migrate`)."""
        newfg = self.get_fullness_group(class_, zspage)
        if newfg == zspage.fullness:
            return newfg
        if not zspage.isolated:
            self.remove_zspage(class_, zspage, zspage.fullness)
            self.insert_zspage(class_, zspage, newfg)
        zspage.fullness = newfg
        return newfg

    def find_get_zspage(self, class_: SizeClass) -> Zspage | None:
        """mm/zsmalloc.c:find_get_zspage: v5.8 and v6.1 ALMOST_FULL, ALMOST_EMPTY, EMPTY;
        v6.12 and current ZS_INUSE_RATIO_99 down to ZS_INUSE_RATIO_0; the head of the first
        non-empty list."""
        top = ZS_INUSE_RATIO_99 if self.feat.fine_fullness else ZS_ALMOST_FULL
        fl = class_.fullness_list
        for i in range(top, -1, -1):
            if fl[i]:
                return fl[i][-1]
        return None

    # ------------------------------------------------------------------ zspage lifetime
    def init_zspage(self, class_: SizeClass, zspage: Zspage) -> None:
        """mm/zsmalloc.c:init_zspage (every era): chain every object 0 -> 1 -> ... -> N-1 in
        the page bytes."""
        freeobj = 1
        off = 0
        size = class_.size
        psize = self.page_size
        pages = zspage.pages
        for pi, page in enumerate(pages):
            page.first_obj_offset = off
            link = off
            data = page.data
            off += size
            while off < psize:
                self._wr(data, link, freeobj << OBJ_TAG_BITS)
                freeobj += 1
                link += size
                off += size
            if pi + 1 < len(pages):
                self._wr(data, link, freeobj << OBJ_TAG_BITS)
                freeobj += 1
            else:
                self._wr(data, link, -1 << OBJ_TAG_BITS)
            off %= psize
        zspage.freeobj = 0

    def alloc_zspage(self, class_: SizeClass, gfp: int) -> Zspage | None:
        """mm/zsmalloc.c:alloc_zspage + create_page_chain + init_zspage (every era; the
        ``struct zspage`` of 6.1 and later comes from the zspage slab, which the model does not
        fail)."""
        frames: list[PageFrame] = []
        for _ in range(class_.pages_per_zspage):
            frame = self.ctx.alloc_page(gfp, f"zspage {self.name} class {class_.index}")
            if frame is None:
                for f in frames:
                    self.ctx.free_page(f)
                return None
            frames.append(frame)
        self._serial += 1
        zspage = Zspage(class_.index, ZS_EMPTY, serial=self._serial)
        prev: ZsPageDesc | None = None
        for frame in frames:
            region = self.space.region_at(frame.addr)
            assert region is not None
            page = ZsPageDesc(frame, region.data, zspage)
            if prev is None:
                page.huge = class_.huge
            else:
                prev.next = page
            zspage.pages.append(page)
            self._pfn_to_page[frame.pfn] = page
            prev = page
        self.init_zspage(class_, zspage)
        return zspage

    def __free_zspage(self, class_: SizeClass, zspage: Zspage) -> None:
        """mm/zsmalloc.c:__free_zspage (every era): pages back to the page allocator,
        counters down."""
        for page in zspage.pages:
            del self._pfn_to_page[page.frame.pfn]
            page.zspage = None
            page.next = None
            self.ctx.free_page(page.frame)
        zspage.magic = 0
        class_.stats[self.obj_stat_index()] -= class_.objs_per_zspage
        self.pages_allocated -= class_.pages_per_zspage

    def free_zspage(self, class_: SizeClass, zspage: Zspage) -> None:
        """mm/zsmalloc.c:free_zspage, every era (the page locks are never contended in the
        sequential model, so the deferred ``async_free_zspage`` path is never taken)."""
        self.remove_zspage(class_, zspage, zspage.fullness)
        self.__free_zspage(class_, zspage)

    # ------------------------------------------------------------------ objects
    def obj_malloc(self, class_: SizeClass, zspage: Zspage, handle: int) -> int:
        """mm/zsmalloc.c:obj_malloc (every era): pop the freelist head, write the header (or,
        huge, ``page->index``), return the obj.  The model counts ``OBJ_USED`` here, where v5.8
        does; 6.1 and 6.12 count it in zs_malloc, and compaction's obj_malloc/obj_free pair
        leaves it unchanged in every era."""
        obj = zspage.freeobj
        if obj >= class_.objs_per_zspage:
            raise KernelBug(f"BUG: unable to handle page fault: zspage freelist head {obj:#x} is "
                            f"past the zspage's {class_.objs_per_zspage} objects (freelist "
                            "corrupted, e.g. by a write beyond an object)",
                            "mm/zsmalloc.c:obj_malloc")
        offset = obj * class_.size
        page = zspage.pages[offset >> self.page_shift]
        m_offset = offset & (self.page_size - 1)
        data = page.data
        link = self._rd(data, m_offset)
        zspage.freeobj = (link >> OBJ_TAG_BITS) & 0xFFFFFFFF
        if not class_.huge:
            self._wr(data, m_offset, handle | OBJ_ALLOCATED_TAG)
        else:
            zspage.pages[0].handle = handle | OBJ_ALLOCATED_TAG
        zspage.inuse += 1
        class_.stats[self.obj_stat_index() + 1] += 1
        return self.location_to_obj(page, obj)

    def obj_free(self, class_: SizeClass, obj: int) -> None:
        """mm/zsmalloc.c:obj_free (every era): push the object on its zspage's freelist
        (LIFO); a huge object's ``page->index`` is cleared instead (v6.1 on)."""
        if self.obj_shift:  # v5.8: obj &= ~OBJ_ALLOCATED_TAG (unshifted objs may be odd)
            obj &= ~OBJ_ALLOCATED_TAG
        page, idx = self.obj_to_location(obj)
        zspage = page.zspage
        assert zspage is not None
        f_offset = (class_.size * idx) & (self.page_size - 1)
        if self.feat.huge_free_clears_handle and class_.huge:
            page.handle = 0
        else:
            self._wr(page.data, f_offset, zspage.freeobj << OBJ_TAG_BITS)
        zspage.freeobj = idx
        zspage.inuse -= 1
        class_.stats[self.obj_stat_index() + 1] -= 1

    def _zspage_of(self, page: ZsPageDesc) -> Zspage:
        zspage = page.zspage
        if zspage is None or zspage.magic != ZSPAGE_MAGIC:
            raise BugOn("kernel BUG at mm/zsmalloc.c:get_zspage! (zspage->magic != ZSPAGE_MAGIC)",
                        "mm/zsmalloc.c:get_zspage")
        return zspage

    def _locate(self, handle: int) -> tuple[SizeClass, Zspage, ZsPageDesc, int, int]:
        """(class, zspage, start page, obj_idx, offset in page) of a live handle."""
        obj = self.handle_to_obj(handle)
        if self.obj_shift:
            obj &= ~(1 << HANDLE_PIN_BIT)
        page, idx = self.obj_to_location(obj)
        zspage = self._zspage_of(page)
        class_ = self.size_class[zspage.class_index]
        return class_, zspage, page, idx, (class_.size * idx) & (self.page_size - 1)

    # ------------------------------------------------------------------ pin tag (v5.8)
    def _trypin_tag(self, handle: int) -> bool:
        """mm/zsmalloc.c:trypin_tag (v5.8): ``bit_spin_trylock(HANDLE_PIN_BIT, handle)``."""
        word = self.handle_to_obj(handle)
        if word & 1:
            return False
        self.record_obj(handle, word | 1)
        self._pins[handle] = self.ctx.cpu
        return True

    def _pin_tag(self, handle: int, op: str) -> None:
        """mm/zsmalloc.c:pin_tag (v5.8): ``bit_spin_lock`` (preemption off while held)."""
        if not self._trypin_tag(handle):
            holder = self._pins.get(handle, -1)
            cpu = self.ctx.cpu
            if holder == cpu:
                raise PinDeadlock(
                    f"watchdog: BUG: soft lockup - CPU#{cpu} stuck for 22s! [{self.ctx.comm}:"
                    f"{self.ctx.pid()}] ({op} spins in pin_tag on handle {handle:#x}, whose "
                    "HANDLE_PIN_BIT this CPU already holds: mapped and not unmapped)",
                    f"mm/zsmalloc.c:{op}")
            raise PinDeadlock(
                f"{op} on CPU#{cpu} spins in pin_tag on handle {handle:#x}, pinned by CPU#{holder} "
                "(mapped there); the sequential model cannot wait for that CPU",
                f"mm/zsmalloc.c:{op}")
        self.ctx.preempt_disable()

    def _unpin_tag(self, handle: int) -> None:
        """mm/zsmalloc.c:unpin_tag (v5.8): ``bit_spin_unlock``."""
        self.record_obj(handle, self.handle_to_obj(handle) & ~1)
        self._pins.pop(handle, None)

    def is_pinned(self, handle: int) -> bool:
        return handle in self._pins

    # ------------------------------------------------------------------ zspage lock (v6.1, v6.12)
    def _migrate_read_lock(self, zspage: Zspage) -> None:
        """mm/zsmalloc.c:migrate_read_lock (v6.1 :1758, v6.12 :1712): ``read_lock(&zspage->lock)``
        (preemption off while held)."""
        zspage.readers += 1
        self.ctx.preempt_disable()

    def _migrate_read_unlock(self, zspage: Zspage) -> None:
        """mm/zsmalloc.c:migrate_read_unlock (v6.1 :1763, v6.12 :1717):
        ``read_unlock(&zspage->lock)``."""
        zspage.readers -= 1
        self.ctx.preempt_enable()

    def _migrate_write_lock(self, zspage: Zspage, op: str, caller: str,
                            nested: bool = False) -> None:
        """mm/zsmalloc.c:migrate_write_lock / migrate_write_lock_nested (v6.1 :1768, :1773;
        v6.12 :1722), called at ``caller``: ``write_lock(&zspage->lock)`` spins while a mapping
        holds it for reading, which the sequential model cannot wait for
        (:class:`MigrateLockDeadlock` at the ``write_lock`` line, where the kernel's lockup
        report points); else the lock is taken and, in the model, released with the step."""
        if not zspage.readers:
            return
        feat = self.feat
        cpus = sorted({cpu for cpu, h in self.mapped_handles() if self._locate(h)[1] is zspage})
        where = ", ".join(f"CPU#{c}" for c in cpus) or "a reader"
        fn = "migrate_write_lock_nested" if nested else "migrate_write_lock"
        raise MigrateLockDeadlock(
            f"BUG: rwlock lockup: {op} on CPU#{self.ctx.cpu} spins in {fn}(zspage) at {caller} "
            f"until {where} unmaps (zs_map_object holds migrate_read_lock(zspage)); the "
            "sequential model cannot wait",
            feat.write_lock_nested_site if nested else feat.write_lock_site)

    # ------------------------------------------------------------------ public API
    def inject_alloc_failure(self, count: int = 1) -> None:
        """The next ``count`` zs_malloc calls fail in ``cache_alloc_handle`` (v5.8: return 0;
        v6.1 on: ``ERR_PTR(-ENOMEM)``)."""
        self._fail_next += count

    def pending_alloc_failures(self) -> int:
        """How many of the :meth:`inject_alloc_failure` failures are still to come."""
        return self._fail_next

    def zs_huge_class_size(self) -> int:
        """mm/zsmalloc.c:zs_huge_class_size (every era)."""
        return self.table.huge_class_size

    def zs_get_total_pages(self) -> int:
        """mm/zsmalloc.c:zs_get_total_pages (every era): ``pool->pages_allocated``."""
        return self.pages_allocated

    def zs_pool_stats(self) -> ZsPoolStats:
        """mm/zsmalloc.c:zs_pool_stats (every era)."""
        return ZsPoolStats(self.pages_compacted)

    def zs_lookup_class_index(self, size: int) -> int:
        """mm/zsmalloc.c:zs_lookup_class_index (v6.12 :1160, current): the index of the merged
        class that serves ``size`` (no ZS_HANDLE_SIZE added)."""
        self._need(self.feat.lookup_class_index, "zs_lookup_class_index")
        return self.size_class[self.table.get_size_class_index(size)].index

    def _need(self, present: bool, fn: str) -> None:
        if not present:
            raise InputError(f"{fn} does not exist in the {self.era} era of zsmalloc")

    def _fail(self, errno: int) -> int:
        return self.err_value(errno) if self.feat.err_ptr else 0

    # ------------------------------------------------------------------ handles and classes
    # The kernel functions below are the documented hooks a meta-test overrides in a subclass
    # (``zs_create_pool(..., pool_class=...)``) to break one step of the allocator.
    def cache_alloc_handle(self, gfp: int) -> int:
        """mm/zsmalloc.c:cache_alloc_handle (every era): a slot of the ``zs_handle`` slab, 0
        when it fails (an injected failure first); ``kmem_cache_alloc``'s ``might_alloc()``
        names the era's line."""
        hgfp = gfp & ~(GFP_HIGHMEM_BIT | GFP_MOVABLE_BIT)
        if hgfp & GFP_DIRECT_RECLAIM_BIT:
            self.ctx.might_sleep(self.feat.might_alloc_site)
        if self._fail_next > 0:
            self._fail_next -= 1
            return 0
        return self.handle_cachep.alloc(hgfp)

    def cache_free_handle(self, handle: int) -> None:
        """mm/zsmalloc.c:cache_free_handle (every era)."""
        self.handle_cachep.free(handle)

    def get_size_class_index(self, size: int) -> int:
        """mm/zsmalloc.c:get_size_class_index (``size`` includes ``ZS_HANDLE_SIZE``)."""
        return self.table.get_size_class_index(size)

    def zs_malloc(self, size: int, gfp: int = GFP_KERNEL, nid: int = 0) -> int:
        """mm/zsmalloc.c:zs_malloc. v5.8: a handle or 0; v6.1 (:1397): a handle or
        ``ERR_PTR(-EINVAL)`` for 0 bytes and above ZS_MAX_ALLOC_SIZE, ``ERR_PTR(-ENOMEM)``;
        v6.12 (:1359) and current: -EINVAL for 0 bytes, -ENOSPC above ZS_MAX_ALLOC_SIZE,
        -ENOMEM.  ``nid`` is current's (the other eras have no such argument)."""
        if nid and not self.feat.malloc_nid:
            raise InputError(f"zs_malloc has no nid argument in the {self.era} era of zsmalloc")
        if size <= 0 or size > self.table.max_alloc_size:
            return self._fail(self.feat.malloc_errno(size))
        handle = self.cache_alloc_handle(gfp)
        if not handle:
            return self._fail(ENOMEM)
        size += self.ws
        class_ = self.size_class[self.get_size_class_index(size)]
        zspage = self.find_get_zspage(class_)
        if zspage is not None:
            obj = self.obj_malloc(class_, zspage, handle)
            self.fix_fullness_group(class_, zspage)
            self.record_obj(handle, obj)
            return handle
        zspage = self.alloc_zspage(class_, gfp)
        if zspage is None:
            self.cache_free_handle(handle)
            return self._fail(ENOMEM)
        obj = self.obj_malloc(class_, zspage, handle)
        newfg = self.get_fullness_group(class_, zspage)
        self.insert_zspage(class_, zspage, newfg)
        zspage.fullness = newfg
        self.record_obj(handle, obj)
        self.pages_allocated += class_.pages_per_zspage
        class_.stats[self.obj_stat_index()] += class_.objs_per_zspage
        return handle

    def zs_free(self, handle: int) -> None:
        """mm/zsmalloc.c:zs_free. v5.8 returns for 0, v6.1 (:1482), v6.12 (:1442) and current
        for ``IS_ERR_OR_NULL``.  v5.8 pins the handle first (so it spins while the handle is
        mapped); v6.1 and v6.12 free a mapped handle unnoticed (its zs_unmap_object then reads
        a freed handle slot); the model refuses to free a handle current is reading."""
        if handle == 0 or (self.feat.err_ptr and self.is_err_value(handle)):
            return
        self._check_live(handle, "zs_free")
        if self.feat.handle_pin:
            self._pin_tag(handle, "zs_free")
        elif self.feat.obj_rw_api:
            for r in self._readers:
                if r.handle == handle:
                    raise KernelBug(
                        f"zs_free of handle {handle:#x} while CPU#{r.cpu} is inside "
                        "zs_obj_read_begin/end on it (use after free of the object being read; "
                        "zs_free does not take the zspage lock, nothing in the kernel detects "
                        "it)", "mm/zsmalloc.c:zs_free")
        class_, zspage, _page, _idx, _off = self._locate(handle)
        obj = self.handle_to_obj(handle)
        self.obj_free(class_, obj)
        fullness = self.fix_fullness_group(class_, zspage)
        if fullness == ZS_EMPTY and not zspage.isolated:
            self.free_zspage(class_, zspage)
        if self.feat.handle_pin:
            self._unpin_tag(handle)
            self.ctx.preempt_enable()
        self.cache_free_handle(handle)

    def payload_size(self, handle: int) -> int:
        """Bytes usable at the mapped address: ``class->size - ZS_HANDLE_SIZE``, or the whole
        page for a huge object."""
        self._check_live(handle, "payload_size")
        class_ = self._locate(handle)[0]
        return class_.size if class_.huge else class_.size - self.ws

    def handle_class(self, handle: int) -> SizeClassSpec:
        """The class a live handle's object lives in."""
        self._check_live(handle, "handle_class")
        c = self._locate(handle)[0]
        return SizeClassSpec(c.index, c.size, c.pages_per_zspage, c.objs_per_zspage)

    # ------------------------------------------------------------------ mapping (v5.8 - v6.12)
    def _map_areas(self) -> list[MappingArea]:
        return self.ctx.per_cpu("zs_map_area", self._new_area)

    def _new_area(self, cpu: int) -> MappingArea:
        """mm/zsmalloc.c:__zs_cpu_up (v5.8, v6.1, v6.12): ``kmalloc(ZS_MAX_ALLOC_SIZE,
        GFP_KERNEL)``."""
        buf = self.ctx.kmalloc(self.table.max_alloc_size, GFP_KERNEL)
        if not buf:
            raise KernelBug("zs_cpu_prepare: -ENOMEM for the per-CPU mapping area",
                            "mm/zsmalloc.c:__zs_cpu_up")
        return MappingArea(cpu, buf)

    def zs_map_object(self, handle: int, mm: ZsMapMode | int = ZsMapMode.ZS_MM_RW) -> int:
        """mm/zsmalloc.c:zs_map_object (v5.8; v6.1 :1229; v6.12 :1191): the object's payload
        address in the address space, with preemption (and page faults) disabled until
        :meth:`zs_unmap_object`.

        v5.8 pins the handle (``pin_tag``) and takes the per-CPU area with ``get_cpu_var``;
        v6.1 and v6.12 read-lock the zspage (``migrate_read_lock``) and take
        ``local_lock(&zs_map_area.lock)``: the same preemption count, but nothing stops a
        second CPU mapping the same handle.  A nested mapping on one CPU stops the model (the
        kernel goes on, clobbering the per-CPU area: the module docstring's deliberate
        difference)."""
        self._need(self.feat.map_api, "zs_map_object")
        ctx = self.ctx
        feat = self.feat
        if ctx.in_interrupt():
            site = feat.bug_map_in_interrupt
            raise MapInInterrupt(f"kernel BUG at {site}! (BUG_ON(in_interrupt()) in "
                                 f"zs_map_object, {ctx.context_name()} context on "
                                 f"CPU#{ctx.cpu})", site, value=handle)
        self._check_live(handle, "zs_map_object")
        area = self._map_areas()[ctx.cpu]
        if area.handle:
            if feat.handle_pin and area.handle == handle and area.pool == self.name:
                self._pin_tag(handle, "zs_map_object")  # raises: pin_tag deadlock
            lockdep = ""
            if feat.nested_map_site:
                lockdep = (" (lockdep: \"WARNING: possible recursive locking detected\" at "
                           f"local_lock(&zs_map_area.lock), {feat.nested_map_site})")
            raise NestedMapping(
                f"zs_map_object: nested mapping on CPU#{ctx.cpu}: handle {handle:#x} while "
                f"handle {area.handle:#x} (pool {area.pool}) is still mapped{lockdep}. \"There "
                "is no protection against nested mappings\": the per-CPU zs_map_area's "
                "vm_addr/vm_buf and vm_mm are overwritten, so the first zs_unmap_object "
                "kunmap_atomic()s the wrong address or copies the wrong buffer back over its "
                "object", feat.nested_map_site or "mm/zsmalloc.c:zs_map_object", value=handle)
        if feat.handle_pin:
            self._pin_tag(handle, "zs_map_object")
        class_, zspage, page, _idx, off = self._locate(handle)
        if not feat.handle_pin:
            self._migrate_read_lock(zspage)
        ctx.preempt_disable()  # get_cpu_var(zs_map_area) / local_lock(&zs_map_area.lock)
        mode = int(mm)
        area.vm_mm = mode
        if off + class_.size <= self.page_size:
            ctx.preempt_disable()  # kmap_atomic
            ctx.pagefault_disable()
            area.vm_addr = page.frame.addr
            ret = page.frame.addr + off
            spans = False
        else:
            nxt = page.next
            if nxt is None:
                raise BugOn("kernel BUG at mm/zsmalloc.c:zs_map_object! (BUG_ON(!pages[1]))",
                            "mm/zsmalloc.c:zs_map_object")
            ctx.pagefault_disable()
            if mode != ZsMapMode.ZS_MM_WO:
                first = self.page_size - off
                buf = bytes(page.data[off:]) + bytes(nxt.data[:class_.size - first])
                self.space.write(area.vm_buf, buf)
            ret = area.vm_buf
            spans = True
        if not page.huge:
            ret += self.ws
        area.handle = handle
        area.pool = self.name
        area.ret = ret
        area.spans = spans
        area.zspage = zspage
        return ret

    def zs_unmap_object(self, handle: int) -> None:
        """mm/zsmalloc.c:zs_unmap_object (v5.8; v6.1 :1291; v6.12 :1253): copies a spanning
        object back unless RO, then ``put_cpu_var`` and ``unpin_tag`` (v5.8) or
        ``local_unlock`` and ``migrate_read_unlock`` (v6.1, v6.12)."""
        self._need(self.feat.map_api, "zs_unmap_object")
        ctx = self.ctx
        self._check_live(handle, "zs_unmap_object")
        areas = self._map_areas()
        area = areas[ctx.cpu]
        if area.handle != handle or area.pool != self.name:
            where = [a.cpu for a in areas if a.handle == handle and a.pool == self.name]
            detail = (f"it is mapped on CPU#{where[0]}" if where else "it is not mapped")
            raise KernelBug(
                f"zs_unmap_object on CPU#{ctx.cpu} of handle {handle:#x}, but {detail}: "
                "kunmap_atomic/put_cpu_var/unpin_tag would undo a mapping that is not there",
                "mm/zsmalloc.c:zs_unmap_object")
        class_, zspage, page, _idx, off = self._locate(handle)
        if not self.feat.handle_pin and zspage is not area.zspage:
            raise KernelBug(
                f"zs_unmap_object of handle {handle:#x}, freed and allocated again while "
                "mapped: its object is in another zspage now, so migrate_read_unlock releases "
                "a lock that zspage's reader never took", "mm/zsmalloc.c:zs_unmap_object")
        if off + class_.size <= self.page_size:
            ctx.pagefault_enable()  # kunmap_atomic
            ctx.preempt_enable()
        else:
            nxt = page.next
            assert nxt is not None
            if area.vm_mm != ZsMapMode.ZS_MM_RO:
                ws = self.ws
                buf = self.space.read(area.vm_buf + ws, class_.size - ws)
                o = off + ws
                first = self.page_size - o
                page.data[o:] = buf[:first]
                nxt.data[:len(buf) - first] = buf[first:]
            ctx.pagefault_enable()
        ctx.preempt_enable()  # put_cpu_var / local_unlock
        area.handle = 0
        area.pool = ""
        area.vm_addr = 0
        area.zspage = None
        if self.feat.handle_pin:
            self._unpin_tag(handle)
            ctx.preempt_enable()
        else:
            self._migrate_read_unlock(zspage)

    def mapped_handles(self) -> tuple[tuple[int, int], ...]:
        """(cpu, handle) of every mapping of this pool in progress (the eras with the map
        API)."""
        if not self.feat.map_api:
            return ()
        return tuple((a.cpu, a.handle) for a in self._map_areas()
                     if a.handle and a.pool == self.name)

    # ------------------------------------------------------------------ read/write (current)
    def zs_obj_read_begin(self, handle: int, mem_len: int, local_copy: int = 0) -> int:
        """mm/zsmalloc.c:zs_obj_read_begin (current, with ``mem_len``): the kmap'ed payload
        address, or ``local_copy`` filled with ``mem_len`` bytes when the payload spans."""
        self._need(self.feat.obj_rw_api, "zs_obj_read_begin")
        self._check_live(handle, "zs_obj_read_begin")
        class_, zspage, page, _idx, off = self._locate(handle)
        if not class_.huge:
            off += self.ws
        if off + mem_len <= self.page_size:
            addr = page.frame.addr + off
            spans = False
        else:
            nxt = page.next
            if nxt is None or not local_copy:
                raise BadAccess(
                    f"BUG: kernel NULL pointer dereference: zs_obj_read_begin of {mem_len} bytes "
                    f"spanning pages with local_copy={local_copy:#x}",
                    "mm/zsmalloc.c:zs_obj_read_begin", value=local_copy)
            first = self.page_size - off
            self.space.write(local_copy,
                             bytes(page.data[off:]) + bytes(nxt.data[:mem_len - first]))
            addr = local_copy
            spans = True
        zspage.readers += 1
        self._readers.append(ReadRecord(handle, self.ctx.cpu, mem_len, addr, spans))
        return addr

    def zs_obj_read_end(self, handle: int, mem_len: int, handle_mem: int) -> None:
        """mm/zsmalloc.c:zs_obj_read_end (current): ``mem_len`` must be the one given to
        read_begin."""
        self._need(self.feat.obj_rw_api, "zs_obj_read_end")
        self._check_live(handle, "zs_obj_read_end")
        rec = next((r for r in reversed(self._readers) if r.handle == handle), None)
        if rec is None:
            raise KernelBug(f"zs_obj_read_end of handle {handle:#x} without zs_obj_read_begin: "
                            "zspage_read_unlock underflow", "mm/zsmalloc.c:zs_obj_read_end")
        if rec.mem_len != mem_len or rec.addr != handle_mem:
            raise KernelBug(
                f"zs_obj_read_end(handle {handle:#x}, mem_len {mem_len}, {handle_mem:#x}) does "
                f"not match zs_obj_read_begin(mem_len {rec.mem_len}) -> {rec.addr:#x}: "
                "kunmap_local of the wrong address", "mm/zsmalloc.c:zs_obj_read_end")
        self._readers.remove(rec)
        self._locate(handle)[1].readers -= 1

    def zs_obj_write(self, handle: int, data: bytes) -> None:
        """mm/zsmalloc.c:zs_obj_write (current): copy ``data`` to the payload, across the page
        boundary if needed; the length is not checked against the slot."""
        self._need(self.feat.obj_rw_api, "zs_obj_write")
        self._check_live(handle, "zs_obj_write")
        class_, _zspage, page, _idx, off = self._locate(handle)
        if not class_.huge:
            off += self.ws
        n = len(data)
        if off + n <= self.page_size:
            page.data[off:off + n] = data
            return
        nxt = page.next
        first = self.page_size - off
        page.data[off:] = data[:first]
        if nxt is None:
            raise BadAccess(f"BUG: kernel NULL pointer dereference: zs_obj_write of {n} bytes "
                            "past the last page of the zspage", "mm/zsmalloc.c:zs_obj_write",
                            value=0)
        rest = data[first:]
        if len(rest) > self.page_size:
            raise BadAccess(f"BUG: zs_obj_write of {n} bytes overruns two pages",
                            "mm/zsmalloc.c:zs_obj_write",
                            value=nxt.frame.addr + self.page_size)
        nxt.data[:len(rest)] = rest

    def zs_obj_write_from(self, handle: int, handle_mem: int, mem_len: int) -> None:
        """``zs_obj_write(pool, handle, handle_mem, mem_len)`` with the source in the space."""
        self.zs_obj_write(handle, self.space.read(handle_mem, mem_len))

    def readers(self) -> tuple[ReadRecord, ...]:
        return tuple(self._readers)

    # ------------------------------------------------------------------ compaction
    def zs_can_compact(self, class_: SizeClass) -> int:
        """mm/zsmalloc.c:zs_can_compact (every era; v6.1 :2016, v6.12 :1932): pages freeable
        by compacting the class."""
        a = self.obj_stat_index()
        allocated, used = class_.stats[a], class_.stats[a + 1]
        if allocated <= used:
            return 0
        return (allocated - used) // class_.objs_per_zspage * class_.pages_per_zspage

    def obj_head(self, page: ZsPageDesc, offset: int) -> int:
        """mm/zsmalloc.c:obj_to_head (v5.8) / obj_allocated's read of the head (v6.1 :859,
        v6.12 :795, current)."""
        if page.huge:
            return page.handle
        return self._rd(page.data, offset)

    def zs_object_copy(self, class_: SizeClass, dst: int, src: int) -> None:
        """mm/zsmalloc.c:zs_object_copy (every era; v6.1 :1516, v6.12 :1477): the whole slot,
        header included."""
        s_page, s_idx = self.obj_to_location(src)
        d_page, d_idx = self.obj_to_location(dst)
        size = class_.size
        buf = self._read_slot(s_page, (size * s_idx) & (self.page_size - 1), size)
        self._write_slot(d_page, (size * d_idx) & (self.page_size - 1), buf)

    def _read_slot(self, page: ZsPageDesc, off: int, n: int) -> bytes:
        if off + n <= self.page_size:
            return bytes(page.data[off:off + n])
        nxt = page.next
        assert nxt is not None
        return bytes(page.data[off:]) + bytes(nxt.data[:off + n - self.page_size])

    def _write_slot(self, page: ZsPageDesc, off: int, buf: bytes) -> None:
        n = len(buf)
        if off + n <= self.page_size:
            page.data[off:off + n] = buf
            return
        nxt = page.next
        assert nxt is not None
        first = self.page_size - off
        page.data[off:] = buf[:first]
        nxt.data[:n - first] = buf[first:]

    def find_alloced_obj(self, class_: SizeClass, page: ZsPageDesc, obj_idx: int
                         ) -> tuple[int, int]:
        """mm/zsmalloc.c:find_alloced_obj (v5.8; v6.1 :1590): the next allocated object
        starting in ``page`` at or after page-relative index ``obj_idx`` (v5.8: whose handle
        can be pinned; a pinned one is skipped)."""
        offset = page.first_obj_offset + class_.size * obj_idx
        index = obj_idx
        pin = self.feat.handle_pin
        while offset < self.page_size:
            head = self.obj_head(page, offset)
            if head & OBJ_ALLOCATED_TAG:
                handle = head & ~OBJ_ALLOCATED_TAG
                if not pin or self._trypin_tag(handle):
                    return handle, index
            offset += class_.size
            index += 1
        return 0, index

    def migrate_zspage_v58(self, class_: SizeClass, src: Zspage, dst: Zspage,
                           cc: list[object]) -> int:
        """mm/zsmalloc.c:migrate_zspage (v5.8; v6.1 :1627): move the objects of ``src``
        (from the cursor ``cc`` = [s_page, obj_idx]; v5.8: the pinnable ones) into ``dst``;
        -ENOMEM when ``dst`` fills."""
        s_page: ZsPageDesc | None = cc[0]  # type: ignore[assignment]
        obj_idx: int = cc[1]  # type: ignore[assignment]
        pin = self.feat.handle_pin
        ret = 0
        while s_page is not None:
            handle, obj_idx = self.find_alloced_obj(class_, s_page, obj_idx)
            if not handle:
                s_page = None if s_page.huge else s_page.next
                obj_idx = 0
                continue
            if dst.inuse == class_.objs_per_zspage:
                if pin:
                    self._unpin_tag(handle)
                ret = -ENOMEM
                break
            used_obj = self.handle_to_obj(handle)
            free_obj = self.obj_malloc(class_, dst, handle)
            self.zs_object_copy(class_, free_obj, used_obj)
            obj_idx += 1
            if pin:
                self.record_obj(handle, free_obj | (1 << HANDLE_PIN_BIT))
                self._unpin_tag(handle)
            else:
                self.record_obj(handle, free_obj)
            self.obj_free(class_, used_obj)
            self._moved += 1
        cc[0] = s_page
        cc[1] = obj_idx
        return ret

    def isolate_zspage(self, class_: SizeClass, source: bool) -> Zspage | None:
        """mm/zsmalloc.c:isolate_zspage (v5.8; v6.1 :1668): source from ALMOST_EMPTY then
        ALMOST_FULL, destination the other way round."""
        order = (ZS_ALMOST_EMPTY, ZS_ALMOST_FULL) if source else (ZS_ALMOST_FULL, ZS_ALMOST_EMPTY)
        for fg in order:
            lst = class_.fullness_list[fg]
            if lst:
                zspage = lst[-1]
                self.remove_zspage(class_, zspage, fg)
                return zspage
        return None

    def putback_zspage(self, class_: SizeClass, zspage: Zspage) -> int:
        """mm/zsmalloc.c:putback_zspage (every era)."""
        fullness = self.get_fullness_group(class_, zspage)
        self.insert_zspage(class_, zspage, fullness)
        zspage.fullness = fullness
        return fullness

    def __zs_compact_v58(self, class_: SizeClass) -> int:
        """mm/zsmalloc.c:__zs_compact (v5.8; v6.1 :2031): the pages it freed.

        v6.1 write-locks the source and then each destination (``migrate_write_lock``,
        ``migrate_write_lock_nested``), so a zspage with a mapped object stops it for good
        (:class:`MigrateLockDeadlock`).  v5.8 skips pinned (mapped) objects instead: a source
        whose remaining objects are all pinned makes the kernel cycle through
        ``cond_resched()`` until that CPU unmaps them; the sequential model stops at the first
        such round (the state is the one the kernel has at each of those ``cond_resched``
        points)."""
        feat = self.feat
        src: Zspage | None
        stalled: set[int] = set()
        pages_freed = 0
        while (src := self.isolate_zspage(class_, True)) is not None:
            if feat.compact_locks_dst:  # v6.1: migrate_write_lock(src_zspage) comes first
                try:
                    self._migrate_write_lock(src, "zs_compact", feat.compact_src_lock_site)
                except KernelBug:
                    self.putback_zspage(class_, src)  # the lists stay whole for a survivor
                    raise
            if not self.zs_can_compact(class_):
                break
            if src.serial in stalled:
                break
            moved = self._moved
            cc: list[object] = [src.pages[0], 0]
            dst: Zspage | None
            while (dst := self.isolate_zspage(class_, False)) is not None:
                if feat.compact_locks_dst:
                    try:
                        self._migrate_write_lock(dst, "zs_compact", feat.compact_dst_lock_site,
                                                 nested=True)
                    except KernelBug:
                        self.putback_zspage(class_, dst)
                        self.putback_zspage(class_, src)
                        raise
                if not self.migrate_zspage_v58(class_, src, dst, cc):
                    break
                self.putback_zspage(class_, dst)
            if dst is None:
                break
            self.putback_zspage(class_, dst)
            serial = src.serial
            if self.putback_zspage(class_, src) == ZS_EMPTY:
                self.free_zspage(class_, src)
                pages_freed += class_.pages_per_zspage
                stalled.clear()
            elif self._moved == moved:
                stalled.add(serial)
            else:
                stalled.clear()
            src = None
            self.ctx.cond_resched("mm/zsmalloc.c:__zs_compact")
        if src is not None:
            self.putback_zspage(class_, src)
        return pages_freed

    def isolate_src_zspage(self, class_: SizeClass) -> Zspage | None:
        """mm/zsmalloc.c:isolate_src_zspage (v6.12 :1612, current): the head of the emptiest
        non-empty group, scanning ZS_INUSE_RATIO_10 up to ZS_INUSE_RATIO_99."""
        for fg in range(ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_99 + 1):
            lst = class_.fullness_list[fg]
            if lst:
                zspage = lst[-1]
                self.remove_zspage(class_, zspage, fg)
                return zspage
        return None

    def isolate_dst_zspage(self, class_: SizeClass) -> Zspage | None:
        """mm/zsmalloc.c:isolate_dst_zspage (v6.12 :1629, current): scanning
        ZS_INUSE_RATIO_99 down to _10."""
        for fg in range(ZS_INUSE_RATIO_99, ZS_INUSE_RATIO_10 - 1, -1):
            lst = class_.fullness_list[fg]
            if lst:
                zspage = lst[-1]
                self.remove_zspage(class_, zspage, fg)
                return zspage
        return None

    def migrate_zspage_dst_first(self, class_: SizeClass, src: Zspage, dst: Zspage) -> None:
        """mm/zsmalloc.c:migrate_zspage (v6.12 :1577, current): move objects until ``dst`` is
        full or ``src`` empty; no pinning (the pool's migrate_lock excludes zs_free, the
        source's zspage lock its readers)."""
        page: ZsPageDesc | None = src.pages[0]
        obj_idx = 0
        size = class_.size
        while page is not None:
            offset = page.first_obj_offset + size * obj_idx
            handle = 0
            while offset < self.page_size:
                head = self.obj_head(page, offset)
                if head & OBJ_ALLOCATED_TAG:
                    handle = head & ~OBJ_ALLOCATED_TAG
                    break
                offset += size
                obj_idx += 1
            if not handle:
                page = None if page.huge else page.next
                obj_idx = 0
                continue
            used_obj = self.handle_to_obj(handle)
            free_obj = self.obj_malloc(class_, dst, handle)
            self.zs_object_copy(class_, free_obj, used_obj)
            obj_idx += 1
            self.record_obj(handle, free_obj)
            self.obj_free(class_, used_obj)
            if dst.inuse == class_.objs_per_zspage or src.inuse == 0:
                break

    def __zs_compact_dst_first(self, class_: SizeClass) -> int:
        """mm/zsmalloc.c:__zs_compact (v6.12 :1947, current 7.1.5): the pages it freed.  Each
        source is write-locked before its objects move: v6.12 waits in
        ``migrate_write_lock(src_zspage)`` (:1973) for a mapping, which the sequential model
        cannot (:class:`MigrateLockDeadlock`); current's ``zspage_write_trylock`` gives up and
        ends the class's compaction."""
        feat = self.feat
        src: Zspage | None = None
        dst: Zspage | None = None
        pages_freed = 0
        while self.zs_can_compact(class_):
            if dst is None:
                dst = self.isolate_dst_zspage(class_)
                if dst is None:
                    break
            src = self.isolate_src_zspage(class_)
            if src is None:
                break
            if feat.compact_trylock_src:
                if src.readers:  # !zspage_write_trylock(src_zspage)
                    break
            else:
                try:
                    self._migrate_write_lock(src, "zs_compact", feat.compact_src_lock_site)
                except KernelBug:
                    self.putback_zspage(class_, src)
                    self.putback_zspage(class_, dst)
                    raise
            self.migrate_zspage_dst_first(class_, src, dst)
            if self.putback_zspage(class_, src) == ZS_INUSE_RATIO_0:
                self.free_zspage(class_, src)
                pages_freed += class_.pages_per_zspage
            src = None
            if self.get_fullness_group(class_, dst) == ZS_INUSE_RATIO_100:
                self.putback_zspage(class_, dst)
                dst = None
                self.ctx.cond_resched("mm/zsmalloc.c:__zs_compact")
        if src is not None:
            self.putback_zspage(class_, src)
        if dst is not None:
            self.putback_zspage(class_, dst)
        return pages_freed

    def zs_compact(self) -> int:
        """mm/zsmalloc.c:zs_compact (v5.8; v6.1 :2100; v6.12 :2009; current): every class
        from the biggest down.  v5.8 returns the *cumulative* ``pages_compacted``; the others
        return the pages freed by this call, after adding them to ``pages_compacted`` (0 at
        once when a compaction is already in progress)."""
        per_class = (self.__zs_compact_dst_first if self.feat.compact_dst_first
                     else self.__zs_compact_v58)
        if not self.feat.compact_returns_freed:
            for class_ in reversed(self.classes):
                self.pages_compacted += per_class(class_)
            return self.pages_compacted
        if self.compaction_in_progress:
            return 0
        self.compaction_in_progress = True
        try:
            pages_freed = 0
            for class_ in reversed(self.classes):
                pages_freed += per_class(class_)
            self.pages_compacted += pages_freed
            return pages_freed
        finally:
            self.compaction_in_progress = False

    # ------------------------------------------------------------------ migration
    def zs_page_migrate(self, page_addr: int,
                        mode: MigrateMode | int = MigrateMode.MIGRATE_SYNC) -> int:
        """Isolate, migrate and put back one zspage page: mm/zsmalloc.c zs_page_isolate +
        zs_page_migrate + zs_page_putback (v5.8; v6.1 :1820, :1841, :1923; v6.12 :1759,
        :1770, :1851), the movable_operations of current.

        Returns 0 (MIGRATEPAGE_SUCCESS), ``-EAGAIN`` (v5.8: an object starting in the page is
        pinned by something other than a mapping), ``-EBUSY`` (not isolatable: an empty
        zspage; current: the zspage lock is held by a reader), ``-EINVAL`` (v5.8, v6.1:
        ``MIGRATE_SYNC_NO_COPY``) or ``-ENOMEM`` (no new page).  Handles keep their values;
        ``*handle`` of every object starting in the page is re-recorded.  While an object of
        the zspage is mapped, ``migrate_write_lock`` would spin until the unmap (v5.8: every
        mapping holds migrate_read_lock; v6.1, v6.12: the mapping's ``migrate_read_lock``),
        which the sequential model cannot wait for: :class:`PinDeadlock`.  Only v5.8's
        isolation takes the zspage off its fullness list (and the putback reinserts it).
        """
        feat = self.feat
        mode = int(mode)
        if mode == MigrateMode.MIGRATE_SYNC_NO_COPY and not feat.rejects_sync_no_copy:
            raise InputError(f"MIGRATE_SYNC_NO_COPY does not exist in the {self.era} era")
        if not 0 <= mode <= MigrateMode.MIGRATE_SYNC_NO_COPY:
            raise InputError(f"zs_page_migrate: no migrate mode {mode}")
        pfn = (page_addr - self.space.abi.page_offset) >> self.page_shift
        page = self._pfn_to_page.get(pfn)
        if page is None or page.frame.addr != page_addr:
            raise InputError(f"zs_page_migrate: {page_addr:#x} is no zspage page of {self.name}")
        zspage = self._zspage_of(page)
        class_ = self.size_class[zspage.class_index]
        if zspage.inuse == 0:
            return -EBUSY
        if feat.migrate_trylock and zspage.readers:
            return -EBUSY
        if mode != MigrateMode.MIGRATE_SYNC_NO_COPY:
            # migrate_write_lock(zspage), checked before the isolation that comes first in the
            # kernel, so that a caller that survives the exception finds the lists intact
            if feat.handle_pin:
                # every mapping holds migrate_read_lock(zspage)
                for cpu, h in self.mapped_handles():
                    if self._locate(h)[1] is zspage:
                        raise PinDeadlock(
                            f"zs_page_migrate on CPU#{self.ctx.cpu}: migrate_write_lock(zspage) "
                            f"spins until CPU#{cpu} unmaps handle {h:#x} (zs_map_object holds "
                            "migrate_read_lock); the sequential model cannot wait",
                            feat.migrate_lock_site)
            elif not feat.migrate_trylock:
                self._migrate_write_lock(zspage, "zs_page_migrate", feat.migrate_lock_site)
        # zs_page_isolate
        if feat.isolate_unlists and not zspage.isolated:
            self.remove_zspage(class_, zspage, zspage.fullness)
        zspage.isolated += 1
        if mode == MigrateMode.MIGRATE_SYNC_NO_COPY:
            rc = -EINVAL
        else:
            rc = self._migrate_one(class_, zspage, page)
        # zs_page_migrate's dec_zspage_isolation / zs_page_putback
        zspage.isolated -= 1
        if (feat.isolate_unlists and not zspage.isolated
                and self.putback_zspage(class_, zspage) == ZS_EMPTY):
            self.free_zspage(class_, zspage)
        return rc

    def _migrate_one(self, class_: SizeClass, zspage: Zspage, page: ZsPageDesc) -> int:
        """The body of zs_page_migrate (every era): pin (v5.8), copy the page, re-record
        handles, replace the page in the zspage's chain."""
        size = class_.size
        offset = page.first_obj_offset
        pinned: list[int] = []
        pos = offset
        pin = self.feat.handle_pin
        if pin:
            while pos < self.page_size:
                head = self.obj_head(page, pos)
                if head & OBJ_ALLOCATED_TAG:
                    handle = head & ~OBJ_ALLOCATED_TAG
                    if not self._trypin_tag(handle):
                        for h in pinned:
                            self._unpin_tag(h)
                        return -EAGAIN
                    pinned.append(handle)
                pos += size
        frame = self.ctx.alloc_page(0, f"zspage {self.name} class {class_.index}")
        if frame is None:
            for h in pinned:
                self._unpin_tag(h)
            return -ENOMEM
        region = self.space.region_at(frame.addr)
        assert region is not None
        region.data[:] = page.data
        newpage = ZsPageDesc(frame, region.data, zspage, page.next, page.first_obj_offset,
                             page.handle, page.huge)
        pos = offset
        while pos < self.page_size:
            head = self.obj_head(page, pos)
            if head & OBJ_ALLOCATED_TAG:
                handle = head & ~OBJ_ALLOCATED_TAG
                old_obj = self.handle_to_obj(handle)
                _dummy, obj_idx = self.obj_to_location(old_obj & ~(1 << HANDLE_PIN_BIT)
                                                       if self.obj_shift else old_obj)
                new_obj = self.location_to_obj(newpage, obj_idx)
                if pin:
                    new_obj |= 1 << HANDLE_PIN_BIT
                self.record_obj(handle, new_obj)
            pos += size
        # replace_sub_page
        i = zspage.pages.index(page)
        zspage.pages[i] = newpage
        if i > 0:
            zspage.pages[i - 1].next = newpage
        del self._pfn_to_page[page.frame.pfn]
        self._pfn_to_page[frame.pfn] = newpage
        page.zspage = None
        page.next = None
        self.ctx.free_page(page.frame)
        for h in pinned:
            self._unpin_tag(h)
        return 0

    # ------------------------------------------------------------------ introspection
    # What the kernel's own debug code can see (zs_stats_size_show, the objects of a zspage);
    # the checkers' views (model/zsmalloc_view.py) are built on these and nothing else.
    def page_at(self, page_addr: int) -> ZsPageDesc | None:
        """The zspage page at ``page_addr`` (``virt_to_page``), None when it is no zspage page
        of this pool."""
        pfn = (page_addr - self.space.abi.page_offset) >> self.page_shift
        page = self._pfn_to_page.get(pfn)
        return page if page is not None and page.frame.addr == page_addr else None

    def object_location(self, handle: int) -> ObjectLocation:
        """Where a live handle's object is now (decoded from ``*handle``, as the kernel does)."""
        self._check_live(handle, "object_location")
        class_, zspage, page, idx, off = self._locate(handle)
        return ObjectLocation(class_.index, class_.size, class_.huge, zspage.serial, idx,
                              page.frame.addr, off, off + class_.size > self.page_size)

    def read_payload(self, handle: int, n: int, loc: ObjectLocation | None = None) -> bytes:
        """The first ``n`` payload bytes of a live object, read from its pages (not mapped);
        ``loc`` is the handle's :meth:`object_location` if the caller has it."""
        if loc is None:
            loc = self.object_location(handle)
        page = self.page_at(loc.page_addr)
        assert page is not None
        off = loc.offset + (0 if loc.huge else self.ws)
        if off >= self.page_size:
            nxt = page.next
            assert nxt is not None
            return bytes(nxt.data[off - self.page_size:off - self.page_size + n])
        return self._read_slot(page, off, n)

    def zspage_heads(self, zspage: Zspage) -> tuple[int, ...]:
        """The first word of every object of a zspage (``page->index`` for a huge one): the
        ``handle | OBJ_ALLOCATED_TAG`` of an allocated object, the free link of a free one."""
        class_ = self.size_class[zspage.class_index]
        if class_.huge:
            return (zspage.pages[0].handle,)
        size = class_.size
        pages = zspage.pages
        shift = self.page_shift
        mask = self.page_size - 1
        return tuple(self._rd(pages[o >> shift].data, o & mask)
                     for o in range(0, class_.objs_per_zspage * size, size))

    def zspage_freelist(self, zspage: Zspage) -> tuple[int, ...]:
        """The object indices on a zspage's freelist, walked through the link words in the page
        bytes from ``freeobj`` (stops after ``objs_per_zspage + 1`` links, so a cycle shows as
        an over-long list, and at the first index out of range, which it includes)."""
        class_ = self.size_class[zspage.class_index]
        objs = class_.objs_per_zspage
        free_count = objs - zspage.inuse
        size = class_.size
        shift = self.page_shift
        mask = self.page_size - 1
        pages = zspage.pages
        out: list[int] = []
        idx = zspage.freeobj
        limit = min(max(free_count, 0), objs) + 1
        while len(out) < limit and len(out) != free_count:
            out.append(idx)
            if not 0 <= idx < objs:
                break
            o = idx * size
            idx = (self._rd(pages[o >> shift].data, o & mask) >> OBJ_TAG_BITS) & 0xFFFFFFFF
        return tuple(out)

    def zspages(self) -> Iterator[tuple[SizeClass, Zspage]]:
        """Every zspage on a fullness list, class by class (isolated ones are not listed)."""
        for class_ in self.classes:
            fl = class_.fullness_list
            if not any(fl):
                continue
            for lst in fl:
                for zspage in reversed(lst):
                    yield class_, zspage

    def live_handles(self) -> frozenset[int]:
        return self.handle_cachep.live_objects()

    def obj_stat_index(self) -> int:
        """Where ``OBJ_ALLOCATED`` sits in a class's ``stats`` (``OBJ_USED`` follows it): after
        the era's fullness groups (``CLASS_EMPTY..CLASS_FULL`` or ``ZS_INUSE_RATIO_*``)."""
        return CUR_NR_FULLNESS if self.feat.fine_fullness else V58_NR_FULLNESS

    def class_stats(self) -> tuple[ZsClassStats, ...]:
        """mm/zsmalloc.c:zs_stats_size_show's figures for every distinct class (every era)."""
        out: list[ZsClassStats] = []
        a = self.obj_stat_index()
        for c in self.classes:
            allocated, used = c.stats[a], c.stats[a + 1]
            pages_used = allocated // c.objs_per_zspage * c.pages_per_zspage
            out.append(ZsClassStats(c.index, c.size, tuple(c.stats[:a]), allocated, used,
                                    pages_used, c.pages_per_zspage, self.zs_can_compact(c)))
        return tuple(out)


def zs_create_pool(name: str, space: AddressSpace, ctx: KernelContext, *, era: str = ERA_V58,
                   page_size: int | None = None, chain_size: int | None = None,
                   physmem_bits: int | None = None,
                   pool_class: type[ZsPool] | None = None) -> ZsPool | None:
    """mm/zsmalloc.c:zs_create_pool (every era; v6.1 :2197, v6.12 :2130): a pool with the era's
    class table (NULL on failure).

    ``page_size`` defaults to the ABI's; it must equal it (the model's pages are the ABI's
    pages).  ``physmem_bits`` is ``MAX_POSSIBLE_PHYSMEM_BITS``: 52 on 64-bit, 32 on 32-bit by
    default.  The context is attached to ``space``; the per-CPU mapping areas are allocated here
    (``zs_cpu_prepare`` at boot in the kernel).

    ``pool_class`` is a subclass of :class:`ZsPool` overriding some of its kernel functions
    (``obj_free``, ``record_obj``, ``cache_alloc_handle``...): how a meta-test breaks one step
    of the allocator and shows that a property catches it.
    """
    feat = era_features(era)
    ctx.attach(space)
    abi = space.abi
    psize = abi.page_size if page_size is None else page_size
    if psize != abi.page_size:
        raise InputError(f"page size {psize} differs from the {abi.name} ABI's {abi.page_size}")
    bits = abi.bits_per_long
    pbits = (52 if bits == 64 else 32) if physmem_bits is None else physmem_bits
    chain = CHAIN_SIZE_DEFAULT if chain_size is None else chain_size
    table = class_table(era, psize, chain, bits, pbits)
    ctx.might_sleep(feat.might_alloc_site)  # kzalloc(sizeof(*pool), GFP_KERNEL)
    if ctx.should_fail_alloc():
        return None
    nfull = CUR_NR_FULLNESS if feat.fine_fullness else V58_NR_FULLNESS
    by_index: dict[int, SizeClass] = {}
    for spec in table.classes:
        by_index[spec.index] = SizeClass(spec.index, spec.size, spec.pages_per_zspage,
                                         spec.objs_per_zspage, spec.huge,
                                         [[] for _ in range(nfull)], [0] * (nfull + 2))
    size_class = [by_index[table.slot_class[i]] for i in range(table.slots)]
    classes = [by_index[s.index] for s in table.classes]
    cache = KmemCache("zs_handle", abi.long_size, ctx)
    pool = (pool_class or ZsPool)(name, space, ctx, era, table, size_class, classes, cache, feat,
                  ws=abi.long_size, endian=abi.endian, page_size=psize,
                  page_shift=table.page_shift, obj_index_bits=table.obj_index_bits,
                  obj_shift=table.obj_tag_bits_in_obj, word_mask=(1 << bits) - 1)
    return pool
