"""model.zsmalloc: the API of every era, its corner cases and its misuse."""

from __future__ import annotations

import attrs
import pytest

from model.abi import get_abi
from model.context import GFP_ATOMIC, GFP_KERNEL, KernelContext
from model.errors import (
    BadHandle,
    BugOn,
    DoubleFree,
    InputError,
    KernelBug,
    NestedMapping,
    SleepingInInvalidContext,
    UseAfterFree,
)
from model.memory import AddressSpace
from model.zsmalloc import (
    ERA_CURRENT,
    ERA_V58,
    ERA_V61,
    ERA_V612,
    ZS_ALMOST_EMPTY,
    ZS_ALMOST_FULL,
    ZS_FULL,
    ZSMALLOC_ERA_NAMES,
    MigrateLockDeadlock,
    MigrateMode,
    PinDeadlock,
    ZsMapMode,
    ZsPool,
    era_features,
    zs_create_pool,
)
from model.zsmalloc_classes import class_table, era_has_map_api
from model.zsmalloc_view import debugfs_classes, zspage_object_addr
from properties.zsmalloc_machine import check_pool

RO, WO, RW = ZsMapMode.ZS_MM_RO, ZsMapMode.ZS_MM_WO, ZsMapMode.ZS_MM_RW


def make(era: str = ERA_V58, abi: str = "x86_64") -> tuple[AddressSpace, KernelContext, ZsPool]:
    space = AddressSpace(get_abi(abi))
    ctx = KernelContext()
    pool = zs_create_pool("test", space, ctx, era=era)
    assert pool is not None
    return space, ctx, pool


def spanning_and_not(pool: ZsPool, size: int) -> tuple[int, int]:
    """Allocate objects of ``size`` until we have one that spans two pages and one that does
    not."""
    span = plain = 0
    while not (span and plain):
        h = pool.zs_malloc(size, GFP_KERNEL)
        if pool.object_location(h).spans:
            span = span or h
        else:
            plain = plain or h
    return span, plain


# --------------------------------------------------------------------------- handles
def test_v58_failures_return_zero() -> None:
    _, _, pool = make()
    assert pool.zs_malloc(0, GFP_KERNEL) == 0
    assert pool.zs_malloc(4097, GFP_KERNEL) == 0
    pool.inject_alloc_failure(1)
    assert pool.zs_malloc(10, GFP_KERNEL) == 0
    pool.zs_free(0)  # a no-op
    assert pool.zs_get_total_pages() == 0


def test_current_failures_are_err_values() -> None:
    _, _, pool = make(ERA_CURRENT)
    assert pool.zs_malloc(0, GFP_KERNEL) == 0xFFFFFFFFFFFFFFEA
    assert pool.zs_malloc(4097, GFP_KERNEL) == 0xFFFFFFFFFFFFFFE4
    pool.inject_alloc_failure(1)
    h = pool.zs_malloc(10, GFP_KERNEL)
    assert h == 0xFFFFFFFFFFFFFFF4 and pool.is_err_value(h) and pool.is_err_value(h + 1)
    pool.zs_free(h)  # IS_ERR_OR_NULL: ignored
    pool.zs_free(0)


def test_page_allocation_failure_gives_the_handle_back() -> None:
    _, ctx, pool = make()
    ctx.inject_alloc_failure(1)  # the handle comes from an existing slab? no: first slab page
    h = pool.zs_malloc(100, GFP_KERNEL)
    assert h == 0
    ok = pool.zs_malloc(100, GFP_KERNEL)
    ctx.inject_alloc_failure(1)
    assert pool.zs_malloc(3000, GFP_KERNEL) == 0  # alloc_zspage fails, cache_free_handle
    assert pool.live_handles() == frozenset({ok})


@pytest.mark.parametrize("abi", ["x86_64", "i386", "s390x"])
def test_handles_are_word_aligned_slab_addresses(abi: str) -> None:
    space, _, pool = make(ERA_V58, abi)
    hs = [pool.zs_malloc(n, GFP_KERNEL) for n in (1, 100, 3000, 4096)]
    ws = space.abi.long_size
    assert all(h and h % ws == 0 for h in hs)
    assert len(set(hs)) == 4
    region = space.region_at(hs[0])
    assert region is not None and "zs_handle" in region.name


def test_obj_encoding_and_header_v58() -> None:
    space, _, pool = make()
    h = pool.zs_malloc(20, GFP_KERNEL)
    obj = space.read_word(h)
    loc = pool.object_location(h)
    pfn = (loc.page_addr - space.abi.page_offset) >> 12
    assert obj == ((pfn << pool.obj_index_bits) | loc.obj_idx) << 1  # location_to_obj
    assert pool.obj_index_bits == 23
    assert space.read_word(loc.page_addr + loc.offset) == h | 1  # handle | OBJ_ALLOCATED_TAG


def test_obj_encoding_current_has_no_tag_shift() -> None:
    space, _, pool = make(ERA_CURRENT)
    pool.zs_malloc(20, GFP_KERNEL)
    h = pool.zs_malloc(20, GFP_KERNEL)  # object 1: the obj is odd
    loc = pool.object_location(h)
    assert loc.obj_idx == 1 and space.read_word(h) & 1 == 1
    assert pool.obj_index_bits == 24


def test_huge_objects_have_no_header() -> None:
    _space, _, pool = make()
    h = pool.zs_malloc(3257, GFP_KERNEL)
    assert pool.handle_class(h).size == 4096 and pool.payload_size(h) == 4096
    addr = pool.zs_map_object(h, WO)
    loc = pool.object_location(h)
    assert addr == loc.page_addr  # no +8 for a huge object
    pool.zs_unmap_object(h)
    small = pool.zs_malloc(3256, GFP_KERNEL)
    assert pool.handle_class(small).size == 3264 and pool.payload_size(small) == 3256
    assert pool.zs_huge_class_size() == 3257


def test_freelist_is_lifo_and_chained_in_the_page_bytes() -> None:
    space, _, pool = make()
    hs = [pool.zs_malloc(20, GFP_KERNEL) for _ in range(4)]
    idx = [pool.object_location(h).obj_idx for h in hs]
    assert idx == [0, 1, 2, 3]
    pool.zs_free(hs[1])
    pool.zs_free(hs[2])
    h = pool.zs_malloc(20, GFP_KERNEL)
    assert pool.object_location(h).obj_idx == 2  # last freed, first reused
    zspage = next(z for _c, z in pool.zspages())
    assert pool.zspage_freelist(zspage)[:2] == (1, 4)
    # the free object 1 holds the link "next = 4 << OBJ_TAG_BITS"
    assert space.read_word(zspage_object_addr(pool, zspage, 1)) == 4 << 1


def test_fullness_groups_v58() -> None:
    _, _, pool = make()
    hs = [pool.zs_malloc(4000, GFP_KERNEL) for _ in range(1)]  # huge: 1 object, ZS_FULL
    _class, z = next(iter(pool.zspages()))
    assert z.fullness == ZS_FULL
    hs = [pool.zs_malloc(1000, GFP_KERNEL) for _ in range(3)]  # class 1024: 4 per zspage
    zs = {z.serial: z for _c, z in pool.zspages()}
    z = zs[max(zs)]
    assert z.inuse == 3 and z.fullness == ZS_ALMOST_EMPTY  # 3 <= 3*4/4
    pool.zs_malloc(1000, GFP_KERNEL)
    assert z.fullness == ZS_FULL
    pool.zs_free(hs[0])
    pool.zs_free(hs[1])
    assert z.fullness == ZS_ALMOST_EMPTY
    big = [pool.zs_malloc(100, GFP_KERNEL) for _ in range(30)]  # class 112: 73 objects
    zb = max((z for _c, z in pool.zspages()), key=lambda z: z.serial)
    assert zb.fullness == ZS_ALMOST_EMPTY
    big += [pool.zs_malloc(100, GFP_KERNEL) for _ in range(30)]
    assert zb.fullness == ZS_ALMOST_FULL  # 60 > 3*73/4 = 54


def test_insert_zspage_puts_fuller_zspages_first() -> None:
    _, _, pool = make()
    hs = [pool.zs_malloc(1000, GFP_KERNEL) for _ in range(8)]  # two full zspages of 4
    a = pool.object_location(hs[0]).zspage
    b = pool.object_location(hs[4]).zspage
    for h in hs[:3]:
        pool.zs_free(h)  # zspage a: 1 of 4 in use, ALMOST_EMPTY
    pool.zs_free(hs[4])  # zspage b: 3 of 4 in use, still ALMOST_EMPTY (3 <= 3*4/4)
    h = pool.zs_malloc(1000, GFP_KERNEL)
    # both are ALMOST_EMPTY; v5.8's insert_zspage put b (more in use than the head a) first
    assert a != b and pool.object_location(h).zspage == b


# --------------------------------------------------------------------------- mapping
def test_ro_and_wo_copy_semantics_follow_spanning() -> None:
    space, _, pool = make()
    span, plain = spanning_and_not(pool, 1500)
    for h in (span, plain):
        a = pool.zs_map_object(h, WO)
        space.write(a, b"A" * 1500)
        pool.zs_unmap_object(h)
    # writes through RO: kept for a non-spanning object, lost for a spanning one
    for h in (span, plain):
        a = pool.zs_map_object(h, RO)
        space.write(a, b"B" * 10)
        pool.zs_unmap_object(h)
    assert pool.read_payload(plain, 10) == b"B" * 10
    assert pool.read_payload(span, 10) == b"A" * 10
    # WO shows stale per-CPU buffer bytes for a spanning object, the real ones otherwise
    other = pool.zs_malloc(1500, GFP_KERNEL)
    while not pool.object_location(other).spans:
        other = pool.zs_malloc(1500, GFP_KERNEL)
    a = pool.zs_map_object(other, RW)
    space.write(a, b"C" * 1500)
    pool.zs_unmap_object(other)  # the per-CPU buffer now holds C...
    a = pool.zs_map_object(span, WO)
    assert space.read(a, 4) == b"CCCC"
    pool.zs_unmap_object(span)  # and WO copies the stale buffer back
    assert pool.read_payload(span, 4) == b"CCCC"
    a = pool.zs_map_object(plain, WO)
    assert space.read(a, 4) == b"BBBB"
    pool.zs_unmap_object(plain)


def test_mapping_disables_preemption_until_unmap() -> None:
    _, ctx, pool = make()
    span, plain = spanning_and_not(pool, 1500)
    for h in (span, plain):
        pool.zs_map_object(h, RO)
        assert ctx.in_atomic()
        with pytest.raises(SleepingInInvalidContext, match="sleeping function called"):
            pool.zs_malloc(10, GFP_KERNEL)
        with pytest.raises(SleepingInInvalidContext):
            ctx.kmalloc(10, GFP_KERNEL)
        with pytest.raises(SleepingInInvalidContext):
            ctx.mutex_lock()
        assert pool.zs_malloc(10, GFP_ATOMIC)
        pool.zs_unmap_object(h)
        assert ctx.preempt_count() == 0 and not ctx.pagefault_disabled()


def test_nested_mapping_is_detected() -> None:
    _, ctx, pool = make()
    a, b = pool.zs_malloc(10, GFP_KERNEL), pool.zs_malloc(10, GFP_KERNEL)
    other = zs_create_pool("other", pool.space, ctx)
    assert other is not None
    c = other.zs_malloc(10, GFP_KERNEL)
    pool.zs_map_object(a, RO)
    with pytest.raises(NestedMapping, match=r"nested mapping.*no protection against") as nested:
        pool.zs_map_object(b, RO)
    assert nested.value.value == b
    with pytest.raises(SleepingInInvalidContext):  # zs_create_pool kzalloc()s GFP_KERNEL
        zs_create_pool("third", pool.space, ctx)
    with pytest.raises(NestedMapping):  # the area is shared by all pools
        other.zs_map_object(c, RO)
    ctx.switch_cpu(1)
    pool.zs_map_object(b, RO)  # another CPU has its own area
    pool.zs_unmap_object(b)
    ctx.switch_cpu(0)
    pool.zs_unmap_object(a)


def test_same_handle_twice_deadlocks_on_pin_tag() -> None:
    _, ctx, pool = make()
    h = pool.zs_malloc(10, GFP_KERNEL)
    pool.zs_map_object(h, RO)
    with pytest.raises(PinDeadlock, match="soft lockup"):
        pool.zs_map_object(h, RO)
    with pytest.raises(PinDeadlock, match="zs_free spins in pin_tag"):
        pool.zs_free(h)
    ctx.switch_cpu(1)
    with pytest.raises(PinDeadlock, match="pinned by CPU#0"):
        pool.zs_free(h)
    with pytest.raises(KernelBug, match="mapped on CPU#0"):
        pool.zs_unmap_object(h)
    ctx.switch_cpu(0)
    pool.zs_unmap_object(h)
    pool.zs_free(h)


def test_map_in_interrupt_context_is_bug_on() -> None:
    _, ctx, pool = make()
    h = pool.zs_malloc(10, GFP_KERNEL)
    for enter, leave in ((ctx.enter_softirq, ctx.exit_softirq),
                         (ctx.enter_hardirq, ctx.exit_hardirq)):
        enter()
        with pytest.raises(BugOn) as exc:
            pool.zs_map_object(h, RO)
        assert exc.value.message.startswith("kernel BUG at mm/zsmalloc.c:")
        assert "BUG_ON(in_interrupt())" in exc.value.message
        leave()
    assert ctx.preempt_count() == 0


def test_bad_and_freed_handles() -> None:
    _, _, pool = make()
    h = pool.zs_malloc(10, GFP_KERNEL)
    pool.zs_free(h)
    with pytest.raises(DoubleFree) as twice:
        pool.zs_free(h)
    assert twice.value.value == h
    with pytest.raises(UseAfterFree) as used:
        pool.zs_map_object(h, RO)
    assert not isinstance(used.value, DoubleFree) and used.value.value == h
    with pytest.raises(BadHandle) as foreign:
        pool.zs_free(0x1234)
    assert type(foreign.value) is BadHandle and foreign.value.value == 0x1234
    with pytest.raises(BadHandle):
        pool.zs_map_object(h + 1, RO)
    with pytest.raises(KernelBug, match="not mapped"):
        pool.zs_unmap_object(pool.zs_malloc(10, GFP_KERNEL))


def test_era_api_boundaries() -> None:
    _, _, cur = make(ERA_CURRENT)
    h = cur.zs_malloc(10, GFP_KERNEL)
    with pytest.raises(InputError):
        cur.zs_map_object(h, RO)
    _, _, old = make()
    with pytest.raises(InputError):
        old.zs_obj_write(old.zs_malloc(10, GFP_KERNEL), b"x")
    for era in (ERA_V61, ERA_V612):  # zs_map_object until 6.14, no nid, no zs_obj_*
        _, _, pool = make(era)
        h = pool.zs_malloc(10, GFP_KERNEL)
        assert pool.zs_map_object(h, RW)
        pool.zs_unmap_object(h)
        with pytest.raises(InputError):
            pool.zs_obj_write(h, b"x")
        with pytest.raises(InputError, match="no nid"):
            pool.zs_malloc(10, GFP_KERNEL, nid=1)
    assert cur.zs_malloc(10, GFP_KERNEL, nid=1)
    with pytest.raises(InputError):
        make(ERA_V61)[2].zs_lookup_class_index(100)
    assert make(ERA_V612)[2].zs_lookup_class_index(100) == cur.zs_lookup_class_index(100)
    with pytest.raises(InputError, match="unknown zsmalloc era"):
        make("v6.6")


# --------------------------------------------------------------------------- eras 6.1 and 6.12
def test_eras_are_values_of_one_model() -> None:
    """v6.1 has v5.8's classes and obj encoding, v6.12 current's; the API and the failures are
    their own (each fact of EraFeatures names its kernel lines)."""
    assert attrs.evolve(class_table(ERA_V61), era=ERA_V58) == class_table(ERA_V58)
    assert attrs.evolve(class_table(ERA_V612), era=ERA_CURRENT) == class_table(ERA_CURRENT)
    t61, t612 = class_table(ERA_V61), class_table(ERA_V612)
    assert (len(t61.classes), t61.huge_class_size, t61.obj_index_bits) == (69, 3257, 23)
    assert (len(t612.classes), t612.huge_class_size, t612.obj_index_bits) == (119, 3625, 24)
    for era, fullness in ((ERA_V61, 4), (ERA_V612, 12)):
        _, _, pool = make(era)
        assert len(pool.classes[0].fullness_list) == fullness
        assert era_has_map_api(era) and not era_features(era).handle_pin


@pytest.mark.parametrize("era", [ERA_V61, ERA_V612])
def test_v61_and_v612_failures_are_err_values(era: str) -> None:
    """6.1: -EINVAL for 0 bytes and above ZS_MAX_ALLOC_SIZE (mm/zsmalloc.c:1405), -ENOMEM
    (:1409); 6.12: -EINVAL, -ENOSPC (:1370), -ENOMEM (:1374); zs_free ignores
    IS_ERR_OR_NULL (6.1 :1490, 6.12 :1450)."""
    _, _, pool = make(era)
    too_big = 28 if era == ERA_V612 else 22
    assert pool.zs_malloc(0, GFP_KERNEL) == pool.err_value(22)
    assert pool.zs_malloc(4097, GFP_KERNEL) == pool.err_value(too_big)
    pool.inject_alloc_failure(1)
    assert pool.zs_malloc(10, GFP_KERNEL) == pool.err_value(12)
    pool.zs_free(pool.err_value(12))
    pool.zs_free(0)
    assert pool.zs_get_total_pages() == 0


@pytest.mark.parametrize("era", [ERA_V61, ERA_V612])
def test_v61_and_v612_map_without_pinning(era: str) -> None:
    """No HANDLE_PIN_BIT since 5.17: the mapping read-locks the zspage (6.1 :1261, 6.12 :1223)
    with the same preemption count as v5.8's pin; a second CPU maps the same handle; zs_free
    of a mapped handle goes unnoticed and the unmap after it is the failure."""
    space, ctx, pool = make(era)
    h = pool.zs_malloc(100, GFP_KERNEL)
    a = pool.zs_map_object(h, RW)
    assert ctx.preempt_count() == 3 and ctx.pagefault_disabled()
    assert pool.handle_to_obj(h) & 1 == 0  # no pin bit
    ctx.switch_cpu(1)
    assert pool.zs_map_object(h, RO) == a  # inside one page: the same kmap'ed address
    pool.zs_unmap_object(h)
    pool.zs_free(h)  # unnoticed
    ctx.switch_cpu(0)
    with pytest.raises(UseAfterFree):
        pool.zs_unmap_object(h)
    del space


@pytest.mark.parametrize("era", [ERA_V61, ERA_V612])
def test_v61_and_v612_sleeping_while_mapped_names_might_alloc(era: str) -> None:
    _, _, pool = make(era)
    h = pool.zs_malloc(100, GFP_KERNEL)
    pool.zs_map_object(h, RW)
    line = {ERA_V61: 274, ERA_V612: 321}[era]
    with pytest.raises(SleepingInInvalidContext) as info:
        pool.zs_malloc(100, GFP_KERNEL)
    assert info.value.message == ("BUG: sleeping function called from invalid context at "
                                  f"include/linux/sched/mm.h:{line}")
    assert pool.zs_malloc(100, GFP_ATOMIC)


@pytest.mark.parametrize("era", ZSMALLOC_ERA_NAMES)
def test_migrate_sync_no_copy(era: str) -> None:
    """zs_page_migrate refuses MIGRATE_SYNC_NO_COPY with -EINVAL (v5.8; 6.1
    mm/zsmalloc.c:1859); 6.12's enum migrate_mode has no such mode."""
    _, _, pool = make(era)
    h = pool.zs_malloc(1000, GFP_KERNEL)
    page = pool.object_location(h).page_addr
    if era in (ERA_V58, ERA_V61):
        assert pool.zs_page_migrate(page, MigrateMode.MIGRATE_SYNC_NO_COPY) == -22
        assert pool.object_location(h).page_addr == page
    else:
        with pytest.raises(InputError):
            pool.zs_page_migrate(page, MigrateMode.MIGRATE_SYNC_NO_COPY)
    assert pool.zs_page_migrate(page, MigrateMode.MIGRATE_ASYNC) == 0


@pytest.mark.parametrize("era", ZSMALLOC_ERA_NAMES)
def test_only_v58_isolation_takes_the_zspage_off_its_list(era: str) -> None:
    """v5.8's zs_page_isolate removes the zspage from its fullness list and the putback
    reinserts it (at the head); since 5.17 (6.1 :1820, 6.12 :1759) isolation leaves the lists
    alone, so migrating a page does not change which zspage the next zs_malloc uses."""
    _, _, pool = make(era)
    hs = [pool.zs_malloc(1000, GFP_KERNEL) for _ in range(12)]  # three zspages of four
    for h in (hs[1], hs[5], hs[9]):
        pool.zs_free(h)  # three partly used zspages of one group, the last one at the head
    z0 = pool.object_location(hs[0]).zspage
    assert pool.zs_page_migrate(pool.object_location(hs[0]).page_addr) == 0
    nxt = pool.object_location(pool.zs_malloc(1000, GFP_KERNEL)).zspage
    if era == ERA_V58:
        assert nxt == z0  # put back at the head
    else:
        assert nxt == pool.object_location(hs[8]).zspage


@pytest.mark.parametrize("era", [ERA_V61, ERA_V612])
def test_v61_and_v612_compaction_waits_for_a_mapped_source(era: str) -> None:
    """__zs_compact write-locks its source (6.1 :2046, 6.12 :1973): with the only source
    mapped on another CPU the kernel spins (MigrateLockDeadlock, the lists left whole)."""
    _, ctx, pool = make(era)
    objs = pool.table.class_for_request(1000, pool.ws).objs_per_zspage
    hs = [pool.zs_malloc(1000, GFP_KERNEL) for _ in range(2 * objs - 2)]
    for h in hs[1:objs]:
        pool.zs_free(h)  # the first zspage keeps hs[0] alone: the source
    ctx.switch_cpu(1)
    pool.zs_map_object(hs[0], RO)
    ctx.switch_cpu(0)
    with pytest.raises(MigrateLockDeadlock) as info:
        pool.zs_compact()
    assert info.value.site == era_features(era).write_lock_site
    assert not pool.compaction_in_progress
    oracle = {h: pool.read_payload(h, 1000) for h in pool.live_handles()}
    assert check_pool(pool, oracle) is None


# --------------------------------------------------------------------------- current read/write
def test_current_read_begin_end_and_write() -> None:
    space, ctx, pool = make(ERA_CURRENT)
    buf = ctx.kmalloc(4096, GFP_KERNEL)
    span, plain = spanning_and_not(pool, 1500)
    for h in (span, plain):
        pool.zs_obj_write(h, bytes(range(256)) * 5 + b"x" * 220)
    a = pool.zs_obj_read_begin(plain, 1500, buf)
    assert a != buf and space.read(a, 1500) == bytes(range(256)) * 5 + b"x" * 220
    assert not ctx.in_atomic()  # the zspage lock is sleepable
    pool.zs_obj_read_end(plain, 1500, a)
    a = pool.zs_obj_read_begin(span, 1500, buf)
    assert a == buf and space.read(a, 1500) == bytes(range(256)) * 5 + b"x" * 220
    with pytest.raises(KernelBug, match="does not match"):
        pool.zs_obj_read_end(span, 1400, a)
    with pytest.raises(KernelBug, match="inside zs_obj_read_begin"):
        pool.zs_free(span)
    pool.zs_obj_read_end(span, 1500, a)
    with pytest.raises(KernelBug, match="without zs_obj_read_begin"):
        pool.zs_obj_read_end(span, 1500, a)
    pool.zs_free(span)


# --------------------------------------------------------------------------- compaction
def fragment(pool: ZsPool, size: int = 1000, n: int = 16) -> dict[int, bytes]:
    hs = [pool.zs_malloc(size, GFP_KERNEL) for _ in range(n)]
    kept: dict[int, bytes] = {}
    for i, h in enumerate(hs):
        if i % 2:
            pool.zs_free(h)
        else:
            data = bytes([i]) * size
            if pool.feat.map_api:
                a = pool.zs_map_object(h, WO)
                pool.space.write(a, data)
                pool.zs_unmap_object(h)
            else:
                pool.zs_obj_write(h, data)
            kept[h] = data
    return kept


@pytest.mark.parametrize("era", ZSMALLOC_ERA_NAMES)
def test_compaction_keeps_handles_and_contents(era: str) -> None:
    _, _, pool = make(era)
    kept = fragment(pool)
    before = pool.zs_get_total_pages()
    objs = {h: pool.space.read_word(h) for h in kept}
    first = pool.zs_compact()
    assert pool.zs_get_total_pages() == before - 2
    assert pool.live_handles() == frozenset(kept)
    assert any(pool.space.read_word(h) != o for h, o in objs.items())  # objects moved
    for h, data in kept.items():
        assert pool.read_payload(h, len(data)) == data
    second = pool.zs_compact()
    if not era_features(era).compact_returns_freed:
        assert (first, second) == (2, 2)  # cumulative pool->stats.pages_compacted
    else:
        assert (first, second) == (2, 0)  # pages freed by this call
    assert pool.zs_pool_stats().pages_compacted == 2


def test_compaction_skips_mapped_objects_v58() -> None:
    _, ctx, pool = make()
    kept = fragment(pool, 1000, 8)  # two zspages of 4, two objects each
    pinned = next(iter(kept))
    ctx.switch_cpu(1)
    pool.zs_map_object(pinned, RO)
    ctx.switch_cpu(0)
    loc = pool.object_location(pinned)
    pool.zs_compact()
    assert pool.object_location(pinned) == loc  # a pinned object is never moved
    ctx.switch_cpu(1)
    pool.zs_unmap_object(pinned)


def test_compaction_in_atomic_context_sleeps() -> None:
    _, ctx, pool = make()
    fragment(pool)
    ctx.preempt_disable()
    with pytest.raises(SleepingInInvalidContext, match=r"at mm/zsmalloc\.c:__zs_compact"):
        pool.zs_compact()  # cond_resched between source zspages


# --------------------------------------------------------------------------- migration
@pytest.mark.parametrize("era", ZSMALLOC_ERA_NAMES)
def test_page_migration_moves_pages_not_handles(era: str) -> None:
    _space, ctx, pool = make(era)
    kept = fragment(pool, 1500, 6)
    h = next(iter(kept))
    old = pool.object_location(h)
    assert pool.zs_page_migrate(old.page_addr) == 0
    new = pool.object_location(h)
    assert new.page_addr != old.page_addr and new.obj_idx == old.obj_idx
    assert all(pool.read_payload(k, len(v)) == v for k, v in kept.items())
    if era == ERA_V58:
        ctx.switch_cpu(1)
        pool.zs_map_object(h, RO)
        ctx.switch_cpu(0)
        with pytest.raises(PinDeadlock, match="migrate_write_lock"):
            pool.zs_page_migrate(new.page_addr)  # waits for CPU1's unmap
        ctx.switch_cpu(1)
        pool.zs_unmap_object(h)
        pool.space.write_word(h, pool.space.read_word(h) | 1)  # pinned, e.g. by zs_free
        assert pool.zs_page_migrate(new.page_addr) == -11  # -EAGAIN
        pool.space.write_word(h, pool.space.read_word(h) & ~1)
    elif era_has_map_api(era):
        # v6.1, v6.12: migrate_write_lock(zspage) waits for the mapping's migrate_read_lock
        ctx.switch_cpu(1)
        pool.zs_map_object(h, RO)
        ctx.switch_cpu(0)
        with pytest.raises(MigrateLockDeadlock, match="rwlock lockup") as info:
            pool.zs_page_migrate(new.page_addr)
        assert info.value.site == era_features(era).write_lock_site
        assert pool.object_location(h) == new  # nothing moved, the lists are whole
        ctx.switch_cpu(1)
        pool.zs_unmap_object(h)
        assert pool.zs_page_migrate(new.page_addr) == 0
    else:
        buf = ctx.kmalloc(4096, GFP_KERNEL)
        a = pool.zs_obj_read_begin(h, 1500, buf)
        assert pool.zs_page_migrate(new.page_addr) == -16  # -EBUSY: zspage lock held
        pool.zs_obj_read_end(h, 1500, a)
    with pytest.raises(InputError):
        pool.zs_page_migrate(0x1000)


# --------------------------------------------------------------------------- stats
@pytest.mark.parametrize("era", ZSMALLOC_ERA_NAMES)
def test_debugfs_classes(era: str) -> None:
    _, _, pool = make(era)
    fragment(pool, 1000, 8)
    text = debugfs_classes(pool)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["class", "size"]
    row = next(line for line in lines if line.split()[:2] == ["62", "1024"])
    cols = row.split()
    if not era_features(era).fine_fullness:
        assert lines[0].split()[2:4] == ["almost_full", "almost_empty"]
        assert cols[2:] == ["0", "2", "8", "4", "2", "1", "1"]
    else:
        assert lines[0].split()[2] == "10%"
        assert cols[-5:] == ["8", "4", "2", "1", "1"]
    assert lines[-1].split()[0] == "Total"
    # the freeable column: "%8s"/"%8lu" up to 6.12 (6.1 :586, 6.12 :570), 16 wide in current
    width = 16 if era == ERA_CURRENT else 8
    assert lines[0].endswith(" " * (width - len("freeable")) + " freeable")
    assert row.endswith(" " * (width - 1) + " 1")


def test_compaction_with_only_pinned_sources_terminates_v58() -> None:
    _, ctx, pool = make()
    hs = [pool.zs_malloc(1000, GFP_KERNEL) for _ in range(8)]  # two zspages of four
    for h in hs[1:4] + hs[5:8]:
        pool.zs_free(h)  # one object left in each
    ctx.switch_cpu(1)
    for h in (hs[0], hs[4]):
        pool.zs_map_object(h, RO)
        ctx.switch_cpu(0)
        before = pool.zs_get_total_pages()
        pool.zs_compact()  # the kernel cycles until CPU1 unmaps; the model stops
        assert pool.zs_get_total_pages() in (before, before - 1)
        ctx.switch_cpu(1)
        pool.zs_unmap_object(h)
    assert pool.live_handles() == frozenset({hs[0], hs[4]})


@pytest.mark.parametrize("era", ZSMALLOC_ERA_NAMES)
@pytest.mark.parametrize("abi", ["x86_64", "i386", "arm", "s390x", "ppc64"])
def test_every_abi_keeps_the_invariants(era: str, abi: str) -> None:
    """Word size, byte order and page size come from the ABI (big-endian s390x, 64 KiB ppc64)."""
    space, _, pool = make(era, abi)
    page = space.abi.page_size
    oracle: dict[int, bytes] = {}
    for i, n in enumerate([1, 100, 1000, 3000, page - 100, page] * 3):
        h = pool.zs_malloc(n, GFP_KERNEL)
        data = bytes((i * 7 + k) & 0xFF for k in range(n))
        if era_has_map_api(era):
            a = pool.zs_map_object(h, WO)
            space.write(a, data)
            pool.zs_unmap_object(h)
        else:
            pool.zs_obj_write(h, data)
        oracle[h] = data
    for h in list(oracle)[::2]:
        pool.zs_free(h)
        del oracle[h]
    pool.zs_compact()
    for h in list(oracle)[:3]:
        assert pool.zs_page_migrate(pool.object_location(h).page_addr) == 0
    assert check_pool(pool, oracle) is None
    assert pool.zs_huge_class_size() == pool.table.huge_class_size > 0
