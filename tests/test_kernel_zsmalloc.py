"""The real mm/zsmalloc.c of Linux 6.1 and 6.12, built in user space (kernel/zsmalloc.py), and
what it does next to the model (model/zsmalloc.py, eras "v6.1" and "v6.12"; the v5.8 era where
v5.8 really differed).

Needs gcc and Debian's linux-source-6.1/6.12: outside CI a missing one skips with the reason,
in CI (``CI`` set) it fails.  One build and one fork server per kernel version (module scope);
every test case runs in a fresh forked kernel.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest

from dyndiet.analysis import zs_class_table
from kernel.build import build
from kernel.process import KernelHang, KernelOops, KernelServer
from kernel.sources import KernelSource
from kernel.zsmalloc import RealZsPool, ZsLeftovers, features, zsmalloc_area
from model.abi import get_abi
from model.context import GFP_ATOMIC, GFP_KERNEL, KernelContext
from model.errnos import EBUSY, EINVAL, ENOMEM, ENOSPC
from model.errors import BugOn, KernelBug, NestedMapping, SleepingInInvalidContext
from model.memory import AddressSpace
from model.zsmalloc import MigrateLockDeadlock, PinDeadlock, ZsPool, zs_create_pool
from model.zsmalloc_classes import ERA_V58, class_table, era_features
from properties.fidelity import zsmalloc_model_era
from tests.kernel_fixtures import require_kernel

#: The model era each kernel is compared with.
ERA = {"6.1": "v6.1", "6.12": "v6.12"}


class Kern:
    def __init__(self, version: str, source: KernelSource, server: KernelServer) -> None:
        self.version = version
        self.source = source
        self.server = server

    def pool(self) -> RealZsPool:
        p = RealZsPool(self.server.new_kernel())
        assert p.create().value == 0
        return p

    def line_of(self, text: str) -> int:
        lines = self.source.path("mm/zsmalloc.c").read_text().splitlines()
        found = [i for i, ln in enumerate(lines, 1) if text in ln]
        assert len(found) == 1, (text, found)
        return found[0]


@pytest.fixture(scope="module", params=["6.1", "6.12"])
def kern(request: pytest.FixtureRequest) -> Iterator[Kern]:
    version = str(request.param)
    source = require_kernel(version)
    built = build(zsmalloc_area(source), source)
    with KernelServer(built, watchdog_ms=2000, call_timeout=20.0) as server:
        yield Kern(version, source, server)


def model_pool(era: str) -> ZsPool:
    pool = zs_create_pool("dyndiet", AddressSpace(get_abi("x86_64")),
                          KernelContext(nr_cpus=2), era=era)
    assert pool is not None
    return pool


def pattern(handle: int, n: int, salt: int = 0) -> bytes:
    return random.Random(handle * 131 + salt).randbytes(n)


def signed(value: int) -> int:
    """A model ``IS_ERR_VALUE`` handle as its negative errno, as the binding gives it."""
    return value - (1 << 64) if value >= (1 << 64) - 4095 else value


def test_the_fidelity_machine_reads_these_eras_from_the_text(kern: Kern) -> None:
    assert zsmalloc_model_era(kern.source) == ERA[kern.version]


# --- allocation ------------------------------------------------------------------------------


def test_malloc_sizes_and_what_each_returns(kern: Kern) -> None:
    p = kern.pool()
    huge = p.huge_class_size().value
    assert huge == {"6.1": 3257, "6.12": 3625}[kern.version]
    # 0 bytes: ERR_PTR(-EINVAL) in both; too big: -EINVAL in 6.1, -ENOSPC in 6.12
    assert p.malloc(0, GFP_KERNEL).value == -EINVAL
    too_big = {"6.1": -EINVAL, "6.12": -ENOSPC}[kern.version]
    assert p.malloc(4097, GFP_KERNEL).value == too_big
    assert features(kern.source).enospc == (kern.version == "6.12")
    table = {row[0]: row for row in p.class_table().value[0]}
    for size in (1, 32, 100, huge - 1, huge, 4096):
        h = p.malloc(size, GFP_KERNEL).value
        assert h > 0 and h % 8 == 0, (size, h)  # a slab address: aligned, never odd
        cls, _first, _page, _idx = p.location(h).value
        _, csize, ppz, objs = table[cls]
        assert csize >= size + (0 if (ppz, objs) == (1, 1) else 8)
        # huge_class_size: "any object of equal or bigger size" is in a 1-page 1-object class
        assert ((ppz, objs) == (1, 1)) == (size >= huge), (size, cls, ppz, objs)
    # the smallest requests share class 0 (32 bytes); 4096 has the whole page
    assert p.location(p.malloc(1, GFP_KERNEL).value).value[0] == 0
    h = p.malloc(4096, GFP_KERNEL).value
    assert p.payload_size(h).value == 4096
    assert p.write(h, b"\xab" * 4096).value == 0
    assert p.read(h, 4096).value == b"\xab" * 4096


def test_page_allocation_failure_gives_enomem(kern: Kern) -> None:
    p = kern.pool()
    p.fail_page_allocs(1)
    assert p.malloc(2000, GFP_KERNEL).value == -ENOMEM
    assert p.total_pages().value == 0
    assert p.malloc(2000, GFP_KERNEL).value > 0  # the next allocation succeeds
    p.fail_allocs(1)  # the handle's slab allocation
    assert p.malloc(100, GFP_KERNEL).value == -ENOMEM


def test_running_out_of_pages_gives_enomem(kern: Kern) -> None:
    p = RealZsPool(kern.server.new_kernel())
    assert p.set_nr_pages(16).value == 0
    assert p.create().value == 0
    handles = [p.malloc(4096, GFP_KERNEL).value for _ in range(16)]
    assert all(h > 0 for h in handles)
    assert p.malloc(4096, GFP_KERNEL).value == -ENOMEM
    p.free(handles[0])
    assert p.malloc(4096, GFP_KERNEL).value > 0


# --- contents ---------------------------------------------------------------------------------


def test_contents_survive_write_and_read_across_two_pages(kern: Kern) -> None:
    p = kern.pool()
    handles = [p.malloc(100, GFP_KERNEL).value for _ in range(80)]
    n = p.payload_size(handles[0]).value
    assert n == 104  # the 112-byte class minus the 8-byte handle header
    spanning = []
    for h in handles:
        assert p.write(h, pattern(h, n)).value == 0
        addr, spans = p.map(h, "ro", "process", 0).value
        assert addr > 0
        p.unmap(h, "process", 0)
        if spans:
            spanning.append(h)
    assert spanning, "some 112-byte objects span two pages"
    for h in handles:
        assert p.read(h, n).value == pattern(h, n)
    # a write longer than the object is refused by the harness, not done
    assert p.write(handles[0], b"x" * (n + 1)).value == -EINVAL


def test_writes_through_a_read_only_mapping_of_a_spanning_object_are_lost(kern: Kern) -> None:
    p = kern.pool()
    handles = [p.malloc(100, GFP_KERNEL).value for _ in range(80)]
    for h in handles:
        p.write(h, b"\x11" * 104)
    span = inside = None
    for h in handles:
        _, spans = p.map(h, "ro", "process", 0).value
        p.unmap(h, "process", 0)
        if spans and span is None:
            span = h
        if not spans and inside is None:
            inside = h
    assert span is not None and inside is not None
    for h in (span, inside):
        p.map(h, "ro", "process", 0)
        assert p.mapped_write(h, b"\x22" * 104, 0).value == 0
        p.unmap(h, "process", 0)
    assert p.read(span, 104).value == b"\x11" * 104     # the copy buffer is not written back
    assert p.read(inside, 104).value == b"\x22" * 104   # kmap_atomic'ed page: written in place


def test_free_gives_back_every_page(kern: Kern) -> None:
    p = kern.pool()
    handles = [p.malloc(s, GFP_KERNEL).value for s in (10, 100, 1000, 3000, 4096) * 20]
    assert p.total_pages().value > 0
    for h in handles:
        assert p.free(h).events == ()
    assert p.total_pages().value == 0
    assert p.class_stats().value == ()
    p.free(0)  # NULL and ERR values are ignored (IS_ERR_OR_NULL)
    p.free(-ENOMEM)
    left = p.destroy().value
    assert isinstance(left, ZsLeftovers)
    assert (left.pages_in_use, left.lock_errors, left.locks_held, left.bad_pages) == (0, 0, 0, 0)


def test_destroy_of_a_pool_with_objects_leaks_them_and_says_so(kern: Kern) -> None:
    p = kern.pool()
    p.malloc(100, GFP_KERNEL)
    res = p.destroy()
    assert any("empty" in line for line in res.log), res.log
    assert res.value.pages_in_use > 0 and res.value.lock_errors == 0


# --- compaction, migration -------------------------------------------------------------------


def test_compaction_frees_pages_after_most_objects_are_freed(kern: Kern) -> None:
    p = kern.pool()
    datas = [pattern(i, 104) for i in range(3000)]
    handles = p.run([("malloc_write", 100, GFP_KERNEL, d) for d in datas]).value
    keep = dict(zip(handles[::10], datas[::10], strict=True))
    p.run([("free", h) for h in handles if h not in keep])
    before = p.total_pages().value
    freed = p.compact().value
    assert freed > 0
    assert p.total_pages().value == before - freed
    assert p.pages_compacted().value == freed
    assert p.compact().value == 0  # zs_compact returns what this call freed, not a total
    assert p.run([("read", h, 104) for h in keep]).value == list(keep.values())
    p.run([("free", h) for h in keep])
    left = p.destroy().value
    assert (left.pages_in_use, left.lock_errors, left.locks_held) == (0, 0, 0)


def test_migration_keeps_handles_and_contents(kern: Kern) -> None:
    p = kern.pool()
    handles = [p.malloc(s, GFP_KERNEL).value for s in (100, 500, 4000) * 10]
    for h in handles:
        p.write(h, pattern(h, 100))
    moved = 0
    for h in handles:
        loc = p.location_full(h).value
        assert p.migrate(loc.page_index).value == 0
        after = p.location_full(h).value
        assert after.page_index != loc.page_index
        assert (after.class_index, after.page_in_zspage, after.obj_idx) == \
            (loc.class_index, loc.page_in_zspage, loc.obj_idx)
        moved += 1
    for h in handles:
        assert p.read(h, 100).value == pattern(h, 100)
    assert moved == len(handles)
    assert p.migrate(8191).value == -EBUSY  # a free page is not isolatable
    for h in handles:
        p.free(h)
    left = p.destroy().value
    assert (left.pages_in_use, left.lock_errors, left.locks_held, left.bad_pages) == (0, 0, 0, 0)


def test_migration_of_a_mapped_object_spins_on_the_zspage_lock(kern: Kern) -> None:
    """zs_page_migrate waits in migrate_write_lock(zspage) (6.1 :1877, 6.12 :1804) for the
    mapping's migrate_read_lock: a lockup in both, reported at migrate_write_lock's
    write_lock (6.1 :1770, 6.12 :1724)."""
    p = kern.pool()
    h = p.malloc(100, GFP_KERNEL).value
    p.map(h, "rw", "process", 0)
    page = p.location_full(h).value.page_index
    with pytest.raises(KernelHang) as info:
        p.migrate(page)
    assert "rwlock lockup" in info.value.message
    assert info.value.site.startswith("mm/zsmalloc.c:")
    m = model_pool(ERA[kern.version])
    mh = m.zs_malloc(100, GFP_KERNEL)
    m.zs_map_object(mh)
    with pytest.raises(MigrateLockDeadlock) as minfo:
        m.zs_page_migrate(m.object_location(mh).page_addr)
    assert minfo.value.site == info.value.site
    assert "rwlock lockup" in minfo.value.message
    caller = kern.line_of("migrate_write_lock(zspage);")
    assert f"mm/zsmalloc.c:{caller}" == era_features(m.era).migrate_lock_site
    assert f"at mm/zsmalloc.c:{caller} " in minfo.value.message


def _compaction_with_one_mapping(kern: Kern, mapped: str) -> tuple[object, object]:
    """Two zspages of the 112-byte class: A holds one object, B all but two; the object of A
    (``mapped="src"``) or one of B's (``"dst"``) stays mapped on CPU 1 while CPU 0 compacts.
    The outcome on each side: ("returns", pages freed) or ("lockup", site)."""
    p = kern.pool()
    m = model_pool(ERA[kern.version])
    objs = m.table.class_for_request(100, m.ws).objs_per_zspage
    handles = [p.malloc(100, GFP_KERNEL).value for _ in range(2 * objs - 2)]
    mhandles = [m.zs_malloc(100, GFP_KERNEL) for _ in range(2 * objs - 2)]
    assert len({m.object_location(h).zspage for h in mhandles}) == 2
    for h, mh in zip(handles[1:objs], mhandles[1:objs], strict=True):
        p.free(h)
        m.zs_free(mh)
    i = 0 if mapped == "src" else objs
    p.map(handles[i], "rw", "process", 1)
    m.ctx.switch_cpu(1)
    m.zs_map_object(mhandles[i])
    m.ctx.switch_cpu(0)
    real: object
    model: object
    try:
        real = ("returns", p.compact().value)
    except KernelHang as exc:
        real = ("lockup", exc.site)
    try:
        model = ("returns", m.zs_compact())
    except MigrateLockDeadlock as exc:
        model = ("lockup", exc.site)
    return real, model


@pytest.mark.parametrize("mapped", ["src", "dst"])
def test_compaction_waits_for_a_mapped_zspage_as_the_real_code_does(kern: Kern,
                                                                     mapped: str) -> None:
    """6.1 write-locks the source (:2046) and each destination (:2055,
    migrate_write_lock_nested); 6.12 the source only (:1973): a mapped source is a lockup in
    both, a mapped destination in 6.1 only (6.12 moves objects into it)."""
    real, model = _compaction_with_one_mapping(kern, mapped)
    assert real == model
    f = era_features(ERA[kern.version])
    if mapped == "src":
        assert real == ("lockup", f.write_lock_site)
    elif kern.version == "6.1":
        assert real == ("lockup", f.write_lock_nested_site)
    else:
        assert real[0] == "returns" and real[1] > 0


# --- context, mappings, locks ---------------------------------------------------------------


@pytest.mark.parametrize("context", ["hardirq", "softirq"])
def test_map_in_interrupt_is_a_bug_on_at_the_real_line(kern: Kern, context: str) -> None:
    """BUG_ON(in_interrupt()): 6.1 mm/zsmalloc.c:1247, 6.12 :1209, in the model too."""
    p = kern.pool()
    h = p.malloc(100, GFP_ATOMIC).value
    line = kern.line_of("BUG_ON(in_interrupt());")
    with pytest.raises(BugOn) as info:
        p.map(h, "rw", context, 1)
    assert info.value.site == f"mm/zsmalloc.c:{line}"
    assert info.value.message == f"kernel BUG at mm/zsmalloc.c:{line}!"
    m = model_pool(ERA[kern.version])
    mh = m.zs_malloc(100, GFP_ATOMIC)
    m.ctx.switch_cpu(1)
    (m.ctx.enter_hardirq if context == "hardirq" else m.ctx.enter_softirq)()
    with pytest.raises(BugOn) as minfo:
        m.zs_map_object(mh)
    assert minfo.value.site == info.value.site
    assert minfo.value.message.startswith(info.value.message)


def test_a_nested_mapping_stops_the_model_by_design(kern: Kern) -> None:
    """The one deliberate difference (model/zsmalloc.py's docstring): a second mapping on one
    CPU.  6.1 and 6.12 go on after lockdep's recursive-locking report at
    ``local_lock(&zs_map_area.lock)`` (6.1 mm/zsmalloc.c:1267, 6.12 :1229), the per-CPU area
    then clobbered ("There is no protection against nested mappings"); the model stops there,
    naming that line."""
    line = kern.line_of("local_lock(&zs_map_area.lock);")
    assert line == {"6.1": 1267, "6.12": 1229}[kern.version]
    p = kern.pool()
    h1, h2 = (p.malloc(100, GFP_KERNEL).value for _ in range(2))
    p.map(h1, "rw", "process", 0)
    res = p.map(h2, "rw", "process", 0)
    assert [(e.kind, e.site) for e in res.events] == [("splat", f"mm/zsmalloc.c:{line}")]
    assert res.value[0] > 0  # the real code maps it
    m = model_pool(ERA[kern.version])
    mh1, mh2 = (m.zs_malloc(100, GFP_KERNEL) for _ in range(2))
    m.zs_map_object(mh1)
    with pytest.raises(NestedMapping) as info:
        m.zs_map_object(mh2)
    assert info.value.value == mh2
    assert info.value.site == f"mm/zsmalloc.c:{line}" == era_features(m.era).nested_map_site
    assert "recursive locking" in info.value.message
    assert "no protection against nested mappings" in info.value.message


def test_a_second_mapping_on_one_cpu_is_a_recursive_locking_splat(kern: Kern) -> None:
    p = kern.pool()
    h1, h2 = (p.malloc(100, GFP_KERNEL).value for _ in range(2))
    assert p.map(h1, "rw", "process", 0).events == ()
    st = p.cpu_state(0).value
    # migrate_read_lock + local_lock + kmap_atomic
    assert (st.local_lock_depth, st.preempt_count, st.kmap_depth) == (1, 3, 1)
    assert p.map(h2, "rw", "process", 1).events == ()  # another CPU: its own area
    res = p.map(h2, "rw", "process", 0)
    assert [e.kind for e in res.events] == ["splat"]
    assert "recursive locking" in res.events[0].message
    assert p.cpu_state(0).value.local_lock_depth == 2
    # sleeping while mapped: the allocator's might_sleep splat at might_alloc()'s line, the
    # model's too (include/linux/sched/mm.h:274 in 6.1, :321 in 6.12)
    res = p.malloc(100, GFP_KERNEL, cpu=0)
    assert any(e.message.startswith("BUG: sleeping function called from invalid context at "
                                    "include/linux/sched/mm.h:") for e in res.splats)
    m = model_pool(ERA[kern.version])
    mh1 = m.zs_malloc(100, GFP_KERNEL)
    m.zs_map_object(mh1)
    assert m.ctx.preempt_count() == st.preempt_count  # migrate_read_lock, local_lock, kmap
    with pytest.raises(SleepingInInvalidContext) as info:
        m.zs_malloc(100, GFP_KERNEL)
    assert info.value.message in [e.message for e in res.splats]
    for cpu, h in ((0, h2), (0, h1), (1, h2)):
        assert p.unmap(h, "process", cpu).events == ()
    assert p.cpu_state(0).value.preempt_count == 0
    left = p.leftovers().value
    assert (left.lock_errors, left.locks_held) == (1, 0)


def test_unmapping_on_another_cpu_is_flagged(kern: Kern) -> None:
    p = kern.pool()
    h = p.malloc(100, GFP_KERNEL).value
    p.map(h, "rw", "process", 0)
    res = p.unmap(h, "process", 1)
    assert res.splats
    assert p.leftovers().value.lock_errors > 0


def test_one_handle_mapped_on_two_cpus_and_freed_while_mapped(kern: Kern) -> None:
    """No HANDLE_PIN_BIT since 5.17: a handle maps on two CPUs at once, and zs_free of a
    mapped handle is not detected; the later unmap reads the freed (poisoned) handle slot.
    The model era does the same, and stops at that unmap too."""
    p = kern.pool()
    h = p.malloc(100, GFP_KERNEL).value
    p.map(h, "rw", "process", 0)
    assert p.map(h, "rw", "process", 1).events == ()
    p.unmap(h, "process", 1)
    assert p.free(h, cpu=1).events == ()
    with pytest.raises(KernelOops) as info:
        p.unmap(h, "process", 0)
    assert "0x6b6b6b6b6b" in info.value.message  # the slab's free poison as a pfn
    assert info.value.site.startswith("mm/zsmalloc.c:")
    m = model_pool(ERA[kern.version])
    mh = m.zs_malloc(100, GFP_KERNEL)
    m.zs_map_object(mh)
    m.ctx.switch_cpu(1)
    m.zs_map_object(mh)
    m.zs_unmap_object(mh)
    m.zs_free(mh)
    m.ctx.switch_cpu(0)
    with pytest.raises(KernelBug, match="already freed"):
        m.zs_unmap_object(mh)


def test_allocation_in_hardirq(kern: Kern) -> None:
    p = kern.pool()
    assert p.malloc(500, GFP_ATOMIC, context="hardirq", cpu=1).splats == ()
    res = p.malloc(700, GFP_KERNEL, context="hardirq", cpu=1)
    assert res.value > 0 and res.splats


# --- a random sequence ------------------------------------------------------------------------


def test_random_malloc_free_read_sequence_keeps_contents(kern: Kern) -> None:
    """3000 random steps in chunks of 50 (one round trip each); a chunk chooses among the
    handles known before it."""
    p = kern.pool()
    rng = random.Random(20240611)
    live: dict[int, bytes] = {}
    for chunk in range(60):
        ops: list[tuple[object, ...]] = []
        checks: list[tuple[int, object]] = []
        known = list(live)
        for i in range(50):
            r = rng.random()
            if known and r < 0.35:
                h = known.pop(rng.randrange(len(known)))
                ops.append(("free", h))
                checks.append((len(ops) - 1, None))
                del live[h]
            elif known and r < 0.6:
                h = rng.choice(known)
                ops.append(("read", h, len(live[h])))
                checks.append((len(ops) - 1, live[h]))
            elif r < 0.98:
                size = rng.choice((rng.randint(1, 128), rng.randint(1, 4096)))
                data = pattern(chunk * 50 + i, size)
                ops.append(("malloc_write", size, GFP_KERNEL, data))
                checks.append((len(ops) - 1, ("new", data)))
            else:
                ops.append(("compact",))
        results = p.run(ops).value
        for at, want in checks:
            if isinstance(want, tuple):
                assert results[at] > 0
                live[results[at]] = want[1]
            elif want is not None:
                assert results[at] == want, (chunk, at)
    assert p.run([("read", h, len(d)) for h, d in live.items()]).value == list(live.values())
    p.run([("free", h) for h in live])
    left = p.destroy().value
    assert (left.pages_in_use, left.lock_errors, left.locks_held, left.bad_pages) == (0, 0, 0, 0)


# --- next to the model ----------------------------------------------------------------------


def test_analyze_figures_use_the_kernels_class_table(kern: Kern) -> None:
    """``dyndiet analyze`` and the pooled designs take the zsmalloc era of their kernel era
    (model.eras.Era.zsmalloc): its class table is the real kernel's."""
    table = zs_class_table(get_abi("x86_64"), "v" + kern.version)
    rows, slots = kern.pool().class_table().value
    assert rows == tuple((c.index, c.size, c.pages_per_zspage, c.objs_per_zspage)
                         for c in table.classes)
    assert slots == table.slot_class


def test_class_table_matches_the_model(kern: Kern) -> None:
    p = kern.pool()
    era = ERA[kern.version]
    model = class_table(era)
    rows, slots = p.class_table().value
    consts = p.constants().value
    assert rows == tuple((c.index, c.size, c.pages_per_zspage, c.objs_per_zspage)
                         for c in model.classes)
    assert slots == model.slot_class
    assert p.huge_class_size().value == model.huge_class_size
    assert consts["OBJ_INDEX_BITS"] == model.obj_index_bits
    assert consts["ZS_MIN_ALLOC_SIZE"] == model.min_alloc_size
    assert consts["ZS_SIZE_CLASSES"] == model.slots
    assert consts["ZS_MAX_PAGES_PER_ZSPAGE"] == model.max_pages_per_zspage
    # the stat vector: the fullness groups, then OBJ_ALLOCATED and OBJ_USED
    assert len(p.stat_names().value) == (14 if era_features(era).fine_fullness else 6)
    by_index = {r[0]: r for r in rows}
    for size in (1, 24, 25, 100, 500, 1000, 2000, 3000, 3256, 3257, 3500, 3624, 3625, 4096):
        h = p.malloc(size, GFP_KERNEL).value
        cls = p.location(h).value[0]
        spec = model.class_for_request(size, 8)
        assert (cls, by_index[cls][2]) == (spec.index, spec.pages_per_zspage), size


def test_the_same_steps_leave_the_same_stats_and_places_as_the_model(kern: Kern) -> None:
    p = kern.pool()
    m = model_pool(ERA[kern.version])
    rng = random.Random(7)
    live: dict[int, int] = {}
    for _ in range(600):
        if live and rng.random() < 0.45:
            h = rng.choice(list(live))
            p.free(h)
            m.zs_free(live.pop(h))
        else:
            size = rng.choice((rng.randint(1, 200), rng.randint(1, 4096)))
            h = p.malloc(size, GFP_KERNEL).value
            mh = m.zs_malloc(size, GFP_KERNEL)
            live[h] = mh
            loc = p.location(h).value
            ml = m.object_location(mh)
            assert (loc[0], loc[3]) == (ml.class_index, ml.obj_idx)
    for h in list(live)[: len(live) * 3 // 4]:
        p.free(h)
        m.zs_free(live.pop(h))
    assert p.compact().value == m.zs_compact()  # the first compaction of the pool
    real = {r[0]: r[4:] for r in p.class_stats().value}
    mod = {c.index: (*c.fullness, c.obj_allocated, c.obj_used) for c in m.class_stats()
           if any(c.fullness) or c.obj_allocated}
    assert real == mod
    assert p.total_pages().value == m.zs_get_total_pages()
    for h, mh in live.items():
        loc = p.location(h).value
        ml = m.object_location(mh)
        assert (loc[0], loc[3]) == (ml.class_index, ml.obj_idx)


def test_the_model_era_agrees_with_the_real_code(kern: Kern) -> None:
    """Where the v5.8 and current eras differed from these kernels, the era of each kernel now
    agrees: zs_malloc's ERR_PTRs (6.1 :1405, :1409, :1434; 6.12 :1367, :1370, :1374),
    zs_compact's return (this call's pages, added to pages_compacted: 6.1 :2121-2124), zs_free
    of an ERR value (ignored: IS_ERR_OR_NULL, 6.1 :1490), the map API of 6.12 (the "current"
    era has none) and one handle mapped on two CPUs (no HANDLE_PIN_BIT since 5.17)."""
    p = kern.pool()
    m = model_pool(ERA[kern.version])
    handles = [p.malloc(100, GFP_KERNEL).value for _ in range(300)]
    mhandles = [m.zs_malloc(100, GFP_KERNEL) for _ in range(300)]
    for h, mh in zip(handles[::2], mhandles[::2], strict=True):
        p.free(h)
        m.zs_free(mh)
    first = p.compact().value
    assert first > 0 and m.zs_compact() == first
    assert p.compact().value == m.zs_compact() == 0
    assert p.pages_compacted().value == m.zs_pool_stats().pages_compacted == first
    for size in (0, 4097):
        assert p.malloc(size, GFP_KERNEL).value == signed(m.zs_malloc(size, GFP_KERNEL))
    assert p.malloc(4097, GFP_KERNEL).value == {"6.1": -EINVAL, "6.12": -ENOSPC}[kern.version]
    p.fail_allocs(1)
    m.inject_alloc_failure(1)
    assert p.malloc(100, GFP_KERNEL).value == signed(m.zs_malloc(100, GFP_KERNEL)) == -ENOMEM
    assert p.free(-ENOMEM).events == ()
    m.zs_free(m.err_value(ENOMEM))
    # both map one handle on two CPUs, and unmap it on each
    addr, _ = p.map(handles[1], "rw", "process", 0).value
    assert addr > 0 and p.map(handles[1], "ro", "process", 1).events == ()
    m.zs_map_object(mhandles[1])
    m.ctx.switch_cpu(1)
    m.zs_map_object(mhandles[1])
    m.zs_unmap_object(mhandles[1])
    m.ctx.switch_cpu(0)
    m.zs_unmap_object(mhandles[1])
    for cpu in (1, 0):
        assert p.unmap(handles[1], "process", cpu).events == ()
    assert m.ctx.preempt_count_of(0) == m.ctx.preempt_count_of(1) == 0


def test_the_v58_era_still_differs_where_v58_did(kern: Kern) -> None:
    """v5.8 returned 0 from a failed zs_malloc and pinned a mapped handle (HANDLE_PIN_BIT):
    its era keeps doing so, where these kernels return ERR_PTRs and map a handle twice."""
    p = kern.pool()
    m = model_pool(ERA_V58)
    assert p.malloc(0, GFP_KERNEL).value == -EINVAL and m.zs_malloc(0) == 0
    h = p.malloc(100, GFP_KERNEL).value
    mh = m.zs_malloc(100, GFP_KERNEL)
    p.map(h, "rw", "process", 0)
    assert p.map(h, "rw", "process", 1).events == ()
    m.zs_map_object(mh)
    m.ctx.switch_cpu(1)
    with pytest.raises(PinDeadlock):
        m.zs_map_object(mh)


def test_zsmalloc_area_detects_features_from_the_text(kern: Kern) -> None:
    f = features(kern.source)
    text = kern.source.path("mm/zsmalloc.c").read_text()
    assert f.fine_fullness == ("ZS_INUSE_RATIO_0" in text)
    assert f.obj_tag_shift == bool(re.search(r"obj >>= OBJ_TAG_BITS;", text))
    assert {"6.1": f.obj_tag_shift and not f.chain_size,
            "6.12": f.chain_size and f.class_lock and not f.obj_tag_shift}[kern.version]
    area = zsmalloc_area(kern.source)
    assert ("-DDD_ZS_FINE_FULLNESS=1" in area.cflags) == f.fine_fullness
