"""A rule-based state machine that drives a zsmalloc pool against a simple oracle.

The oracle is a map ``handle -> bytes`` of what each live object holds (its requested length).
Rules: ``zs_malloc`` of any size (0 and over the limit included, with GFP_KERNEL / GFP_ATOMIC /
GFP_NOWAIT, in process or hardirq context, and with injected failures), ``zs_free``, access
through a mapping in each mode (v5.8, v6.1, v6.12) or ``zs_obj_read_begin/end`` and
``zs_obj_write`` (current), mappings or reads held across steps on a CPU, CPU switches,
``zs_compact`` and page migration.  The misuse the kernel punishes is exercised too and must
raise the model's typed exceptions (sleeping while mapped, a nested mapping, mapping in
interrupt context, migration or compaction waiting for a mapping).  The machine asks the era's
facts (:class:`~model.zsmalloc_classes.EraFeatures`), not its name.

Invariants, one fact each:

* :func:`inv_no_overlap`: live objects (header + requested bytes) never overlap;
* :func:`inv_contents`: every live object holds what the oracle says (so contents survive
  compaction and migration);
* :func:`inv_handles`: the live handles are exactly the oracle's, unique, non-zero,
  word-aligned, and each still decodes to a zspage object whose header names it;
* :func:`inv_accounting`: pages, objects and fullness groups agree with the zspages;
* :func:`inv_freelists`: every free object is on exactly one freelist, every allocated one on
  none.

:data:`MUTANTS` are deliberately broken pools, one per thinko, for the meta-tests.
"""

from __future__ import annotations

import itertools
import operator
import sys
from collections import Counter
from collections.abc import Callable
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from model.abi import get_abi
from model.context import GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT, KernelContext
from model.errors import BugOn, KernelBug, SleepingInInvalidContext
from model.memory import AddressSpace
from model.zsmalloc import (
    ERA_CURRENT,
    ERA_V58,
    ERA_V61,
    ERA_V612,
    MigrateLockDeadlock,
    ObjectLocation,
    SizeClass,
    ZsMapMode,
    Zspage,
    ZsPool,
    zs_create_pool,
)
from model.zsmalloc_classes import OBJ_ALLOCATED_TAG

#: A fixed byte pattern; payloads are slices of it, so a shifted copy never looks right.
PATTERN = bytes((i * 37 + (i >> 8) * 11 + 5) & 0xFF for i in range(8192 + 256))

GFPS = (GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT)
#: The fragment rule stops adding objects past this many live ones (keeps each check cheap).
MAX_LIVE = 40
#: (gfp, where) of the malloc rule: process context, hardirq context, an injected failure.
MALLOC_HOW: tuple[tuple[int, str], ...] = (
    (GFP_KERNEL, "process"), (GFP_ATOMIC, "process"), (GFP_NOWAIT, "process"),
    (GFP_ATOMIC, "hardirq"), (GFP_KERNEL, "fails"))
#: (mode, write?) of the access rule.
ACCESS_HOW: tuple[tuple[ZsMapMode, bool], ...] = tuple(
    (m, w) for m in ZsMapMode for w in (False, True))
GFP_NAMES = {GFP_KERNEL: "GFP_KERNEL", GFP_ATOMIC: "GFP_ATOMIC", GFP_NOWAIT: "GFP_NOWAIT"}

PoolFactory = Callable[[str, AddressSpace, KernelContext, str], ZsPool]


def default_pool(name: str, space: AddressSpace, ctx: KernelContext, era: str) -> ZsPool:
    pool = zs_create_pool(name, space, ctx, era=era)
    assert pool is not None
    return pool


def payload(seed: int, n: int) -> bytes:
    return PATTERN[seed:seed + n]


# --------------------------------------------------------------------------- invariants
#: (objs_per_zspage, freeobj, inuse, heads) -> the freelist those give (a pure function).
_FREELISTS: dict[tuple[int, int, int, tuple[int, ...]], tuple[int, ...]] = {}


class Snapshot:
    """What the invariants read from the pool, each piece computed once per check."""

    def __init__(self, pool: ZsPool, oracle: dict[int, bytes]) -> None:
        self.pool = pool
        self.oracle = oracle
        self._zspages: list[tuple[SizeClass, Zspage]] | None = None
        self._heads: dict[int, tuple[int, ...]] = {}
        self._free: dict[int, tuple[int, ...]] = {}
        self._locs: dict[int, ObjectLocation] = {}

    def zspages(self) -> list[tuple[SizeClass, Zspage]]:
        if self._zspages is None:
            self._zspages = list(self.pool.zspages())
        return self._zspages

    def heads(self, z: Zspage) -> tuple[int, ...]:
        got = self._heads.get(z.serial)
        if got is None:
            got = self._heads[z.serial] = self.pool.zspage_heads(z)
        return got

    def freelist(self, z: Zspage) -> tuple[int, ...]:
        """The zspage's freelist, walked through the link words (the first word of each free
        object, which :meth:`heads` already holds): what ``pool.zspage_freelist`` returns."""
        got = self._free.get(z.serial)
        if got is None:
            class_ = self.pool.size_class[z.class_index]
            if class_.huge:
                got = self.pool.zspage_freelist(z)
            else:
                heads = self.heads(z)
                objs = class_.objs_per_zspage
                # the walk reads only these: most zspages are unchanged since the last check
                key = (objs, z.freeobj, z.inuse, heads)
                got = _FREELISTS.get(key)
                if got is not None:
                    self._free[z.serial] = got
                    return got
                free_count = objs - z.inuse
                limit = min(max(free_count, 0), objs) + 1
                out: list[int] = []
                idx = z.freeobj
                while len(out) < limit and len(out) != free_count:
                    out.append(idx)
                    if not 0 <= idx < objs:
                        break
                    idx = (heads[idx] >> 1) & 0xFFFFFFFF
                got = tuple(out)
                if len(_FREELISTS) >= 4096:
                    _FREELISTS.clear()
                _FREELISTS[key] = got
            self._free[z.serial] = got
        return got

    def location(self, h: int) -> ObjectLocation:
        if not self._locs:
            self._locs = self.pool.object_locations(list(self.oracle))
        got = self._locs.get(h)
        if got is None:
            got = self._locs[h] = self.pool.object_location(h)
        return got


def inv_no_overlap(snap: Snapshot) -> str | None:
    """Live objects (their header and requested bytes) never share a byte with each other or
    with a free object's link word."""
    pool = snap.pool
    ws = pool.ws
    slots: dict[tuple[int, int], int] = {}
    overflowing = False
    for h, data in snap.oracle.items():
        loc = snap.location(h)
        key = (loc.page_addr, loc.offset)
        other = slots.get(key)
        if other is not None:
            return f"handle {other:#x} and handle {h:#x} overlap at {key[0] + key[1]:#x}"
        slots[key] = h
        if len(data) + (0 if loc.huge else ws) > loc.size:
            overflowing = True
    if not overflowing:
        return None  # distinct slots, each object inside its own: nothing can overlap
    spans: list[tuple[int, int, int]] = []
    for h, data in snap.oracle.items():
        for a, b in pool.object_extents(h, len(data), snap.location(h)):
            spans.append((a, b, h))
    for class_, z in snap.zspages():
        if class_.huge:
            continue
        for k in snap.freelist(z):
            if 0 <= k < class_.objs_per_zspage:
                a = pool.zspage_object_addr(z, k)
                spans.append((a, a + pool.ws, 0))
    spans.sort()
    for (_a1, b1, h1), (a2, _b2, h2) in itertools.pairwise(spans):
        if a2 < b1 and h1 != h2:
            what = [f"handle {h:#x}" if h else "a free object's link" for h in (h1, h2)]
            return f"{what[0]} and {what[1]} overlap at {a2:#x}"
    return None


def inv_contents(snap: Snapshot) -> str | None:
    """Every live object holds the bytes the oracle expects."""
    for h, data in snap.oracle.items():
        got = snap.pool.read_payload(h, len(data), snap.location(h))
        if got != data:
            diff = next(i for i in range(len(data)) if got[i] != data[i])
            return (f"handle {h:#x}: payload differs at byte {diff} of {len(data)} "
                    f"(got {got[diff]:#04x}, expected {data[diff]:#04x})")
    return None


def inv_handles(snap: Snapshot) -> str | None:
    """Live handles are the oracle's; each is non-zero, aligned, decodes to its own object and
    is named by that object's header, and no other allocated object names it."""
    pool, oracle = snap.pool, snap.oracle
    live = pool.live_handles()
    if live != frozenset(oracle):
        extra = sorted(live - frozenset(oracle))
        missing = sorted(frozenset(oracle) - live)
        return f"live handles differ from the oracle: extra {extra[:3]}, missing {missing[:3]}"
    ws = pool.ws
    by_serial: dict[int, Zspage] = {}
    tagged: list[int] = []
    for class_, z in snap.zspages():
        by_serial[z.serial] = z
        heads = snap.heads(z)
        words = heads[:1] if class_.huge else heads
        # the allocated objects' header words (compress/map run in C)
        tagged.extend(itertools.compress(words, map(_TAG.__and__, words)))
    named = Counter(map(_UNTAG.__and__, tagged))
    for h, count in named.items():
        if h not in oracle or count != 1:
            return f"{count} allocated object(s) name handle {h:#x} (live: {h in oracle})"
    seen: set[tuple[int, int]] = set()
    for h in oracle:
        if h == 0 or h % ws:
            return f"handle {h:#x} is 0 or not {ws}-aligned"
        loc = snap.location(h)
        key = (loc.zspage, loc.obj_idx)
        if key in seen:
            return f"handle {h:#x} decodes to an object another handle also names"
        seen.add(key)
        zspage = by_serial.get(loc.zspage)
        if zspage is None:
            return f"handle {h:#x} decodes to a zspage on no fullness list"
        head = snap.heads(zspage)[0 if loc.huge else loc.obj_idx]
        if head != h | OBJ_ALLOCATED_TAG:
            return f"handle {h:#x}: its object's header is {head:#x}"
    return None


_TAG = OBJ_ALLOCATED_TAG
_UNTAG = ~OBJ_ALLOCATED_TAG
_STATS = operator.attrgetter("stats")
_FULLNESS = operator.attrgetter("fullness_list")


def inv_accounting(snap: Snapshot) -> str | None:
    """Total pages, per-class object counts and fullness groups agree with the zspages."""
    pool = snap.pool
    pages = 0
    inuse = 0
    a = pool._obj_allocated_stat()
    classes = pool.classes
    # the classes with any stat or zspage (map/any run in C: most classes are empty)
    busy = [c for c, s, f in zip(classes, map(any, map(_STATS, classes)),
                                 map(any, map(_FULLNESS, classes)), strict=True) if s or f]
    for class_ in busy:
        stats = class_.stats
        fl = class_.fullness_list
        n = 0
        used = 0
        for fg, lst in enumerate(fl):
            if stats[fg] != len(lst):
                return (f"class {class_.index}: fullness stat {fg} is {stats[fg]}, "
                        f"list has {len(lst)}")
            for z in lst:
                n += 1
                used += z.inuse
                if pool.get_fullness_group(class_, z) != fg or z.fullness != fg:
                    return (f"class {class_.index}: zspage {z.serial} (inuse {z.inuse}) sits in "
                            f"group {fg}")
        pages += n * class_.pages_per_zspage
        inuse += used
        if stats[a] != n * class_.objs_per_zspage:
            return (f"class {class_.index}: OBJ_ALLOCATED {stats[a]} for {n} zspages of "
                    f"{class_.objs_per_zspage}")
        if stats[a + 1] != used:
            return f"class {class_.index}: OBJ_USED {stats[a + 1]}, zspages hold {used}"
    if pool.zs_get_total_pages() != pages:
        return f"zs_get_total_pages() {pool.zs_get_total_pages()} but zspages hold {pages}"
    if inuse != len(snap.oracle):
        return "objects in use differ from the number of live handles"
    return None


def inv_freelists(snap: Snapshot) -> str | None:
    """Each zspage's free objects are on its freelist exactly once; allocated ones never."""
    tag = OBJ_ALLOCATED_TAG
    for class_, z in snap.zspages():
        objs = class_.objs_per_zspage
        free = snap.freelist(z)
        heads = snap.heads(z)
        if class_.huge:
            nfree = 0 if heads[0] & tag else 1
            ok_free = all(i == 0 and nfree for i in free)
        else:
            nfree = len(heads) - sum(map(bool, map(tag.__and__, heads)))
            ok_free = all(0 <= i < objs and not heads[i] & tag for i in free)
        if not ok_free or len(set(free)) != len(free):
            return (f"class {class_.index} zspage {z.serial}: freelist {free[:8]} repeats, "
                    "strays or holds an allocated object")
        if len(free) != nfree:
            return (f"class {class_.index} zspage {z.serial}: {nfree} free objects, "
                    f"{len(free)} on the freelist (some are on no freelist)")
    return None


INVARIANTS: dict[str, Callable[[Snapshot], str | None]] = {
    "no_overlap": inv_no_overlap,
    "contents": inv_contents,
    "handles": inv_handles,
    "accounting": inv_accounting,
    "freelists": inv_freelists,
}


def check_pool(pool: ZsPool, oracle: dict[int, bytes],
               checks: tuple[str, ...] = tuple(INVARIANTS)) -> str | None:
    """The first invariant that fails, as ``"<name>: <problem>"``, or None."""
    snap = Snapshot(pool, oracle)
    for name in checks:
        try:
            problem = INVARIANTS[name](snap)
        except KernelBug as exc:  # e.g. a handle that decodes to a freed page
            problem = f"the model oopses while checking: {exc}"
        if problem is not None:
            return f"{name}: {problem}"
    return None


# --------------------------------------------------------------------------- the machine
class ZsPoolMachine(RuleBasedStateMachine):
    """Drives one pool of ``ERA`` made by ``POOL_FACTORY``; see the module docstring."""

    ERA: str = ERA_V58
    POOL_FACTORY: PoolFactory = staticmethod(default_pool)
    #: Which invariants to check (all by default; meta-tests may narrow it).
    CHECKS: tuple[str, ...] = tuple(INVARIANTS)
    #: The rule names of the latest run (the shrunk counterexample after a failure).
    last_steps: ClassVar[list[str]] = []
    #: Run the checks after every this many steps, and at teardown (1: every step).  Tried
    #: at 2, 4 and 8: the meta-tests fail (a rule's own assertion fires before the deferred
    #: check, and shrunk runs keep leading no-op steps that line the damage up with a check).
    CHECK_EVERY: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.space = AddressSpace(get_abi("x86_64"))
        self.ctx = KernelContext(nr_cpus=2)
        self.pool = type(self).POOL_FACTORY("machine", self.space, self.ctx, self.ERA)
        self.oracle: dict[int, bytes] = {}
        self.order: list[int] = []
        #: cpu -> handle held (the map API: mapped; current: inside read_begin/end).
        self.held: dict[int, tuple[int, int]] = {}
        self.local_copy = self.ctx.kmalloc(self.space.abi.page_size, GFP_KERNEL)
        self.steps: list[str] = []
        type(self).last_steps = self.steps
        feat = self.pool.feat
        #: The map API: a held mapping disables preemption and allows one mapping per CPU.
        self.maps = feat.map_api
        #: zs_malloc fails with 0 (v5.8), not an ERR_PTR.
        self.fails_zero = not feat.err_ptr
        #: A mapping pins its handle (v5.8): mapping it elsewhere or freeing it spins.
        self.pins = feat.handle_pin
        self.feat = feat
        self.seed = 0
        #: Steps since the invariants were last checked.
        self.unchecked = 0

    # -- helpers ---------------------------------------------------------------------------
    def _next_seed(self) -> int:
        """Payload seeds come from a counter (deterministic, nothing to draw)."""
        self.seed = (self.seed + 97) & 0xFF
        return self.seed

    def _pick(self, i: int) -> int:
        return self.order[i % len(self.order)]

    def _failed(self, h: int) -> bool:
        return h == 0 if self.fails_zero else self.pool.is_err_value(h)

    def _holding(self) -> bool:
        return self.ctx.cpu in self.held

    def _held_handles(self) -> set[int]:
        return {h for h, _ in self.held.values()}

    def _store(self, h: int, size: int, seed: int) -> None:
        data = payload(seed, size)
        if self.maps:
            addr = self.pool.zs_map_object(h, ZsMapMode.ZS_MM_WO)
            self.space.write(addr, data)
            self.pool.zs_unmap_object(h)
        else:
            self.pool.zs_obj_write(h, data)
        self.oracle[h] = data
        self.order.append(h)

    # -- rules -----------------------------------------------------------------------------
    @rule(size=st.one_of(st.integers(1, 4096), st.sampled_from([0, 3256, 3257, 3624, 3625,
                                                                  4088, 4089, 4097, 8192])),
          how=st.sampled_from(MALLOC_HOW))
    def malloc(self, size: int, how: tuple[int, str]) -> None:
        """zs_malloc in process context (then a write), in hardirq context (GFP_ATOMIC; a map
        there must BUG with the map API), or with an injected allocation failure."""
        gfp, where = how
        seed = self._next_seed()
        self.steps.append(f"malloc({size}, {GFP_NAMES[gfp]}, {where})")
        pages = self.pool.zs_get_total_pages()
        if where == "fails" and 0 < size <= 4096:
            self.pool.inject_alloc_failure(1)
            h = self.pool.zs_malloc(size, GFP_ATOMIC if self._holding() else gfp)
            assert h == (0 if self.fails_zero else self.pool.err_value(12)), f"{h:#x}"
            assert self.pool.zs_get_total_pages() == pages
            return
        if where == "hardirq" and 0 < size <= 4096:
            self.ctx.enter_hardirq()
            try:
                h = self.pool.zs_malloc(size, GFP_ATOMIC)
                if self.maps and self.order:
                    try:
                        self.pool.zs_map_object(self.order[0], ZsMapMode.ZS_MM_RO)
                    except BugOn:
                        pass
                    else:
                        raise AssertionError("zs_map_object in hardirq did not BUG")
            finally:
                self.ctx.exit_hardirq()
            assert not self._failed(h)
            self.pool.zs_free(h)
            return
        if self._holding() and self.maps and gfp == GFP_KERNEL and 0 < size <= 4096:
            try:
                self.pool.zs_malloc(size, gfp)
            except SleepingInInvalidContext:
                return
            raise AssertionError("GFP_KERNEL zs_malloc while mapped did not raise")
        h = self.pool.zs_malloc(size, gfp)
        if size == 0 or size > 4096:
            assert self._failed(h), f"zs_malloc({size}) returned {h:#x}"
            if not self.fails_zero:
                errno = 28 if size and self.feat.enospc else 22
                assert h == self.pool.err_value(errno), f"zs_malloc({size}) -> {h:#x}"
            assert self.pool.zs_get_total_pages() == pages
            return
        assert not self._failed(h), f"zs_malloc({size}) failed"
        if self._holding() and self.maps:
            # Cannot map a second object on this CPU: write it from the other one.
            other = next((c for c in range(self.ctx.nr_cpus) if c not in self.held), None)
            if other is None:
                self.pool.zs_free(h)
                return
            cpu = self.ctx.cpu
            self.ctx.switch_cpu(other)
            self._store(h, size, seed)
            self.ctx.switch_cpu(cpu)
            return
        self._store(h, size, seed)

    @precondition(lambda self: (not self._holding() or not self.maps)
                  and len(self.order) < MAX_LIVE)
    @rule(size=st.sampled_from([24, 200, 1000, 2000, 3000, 3600, 4096]),
          count=st.integers(1, 12), compact=st.booleans())
    def fragment(self, size: int, count: int, compact: bool) -> None:
        """Many objects of one class, then (if ``compact``) free every other one of them and
        compact: zspages fill, fragment and compact."""
        seed = self._next_seed()
        self.steps.append(f"fragment({size}, {count}, compact={compact})")
        fresh: list[int] = []
        for k in range(count):
            h = self.pool.zs_malloc(size, GFP_KERNEL)
            assert not self._failed(h), f"zs_malloc({size}) failed"
            self._store(h, size, (seed + k) & 0xFF)
            fresh.append(h)
        if not compact:
            return
        for h in fresh[::2]:
            self.pool.zs_free(h)
            del self.oracle[h]
        self.order = [h for h in self.order if h in self.oracle]
        self.compact()

    @precondition(lambda self: bool(self.order))
    @rule(i=st.integers(0, 1 << 16))
    def free(self, i: int) -> None:
        h = self._pick(i)
        self.steps.append("free")
        if h in self._held_handles():
            if self.maps and not self.pins:
                return  # unnoticed in v6.1/v6.12 (tests/test_zsmalloc.py): the unmap would fail
            try:
                self.pool.zs_free(h)
            except KernelBug:
                return
            raise AssertionError("zs_free of a mapped/read handle did not raise")
        self.pool.zs_free(h)
        del self.oracle[h]
        self.order.remove(h)

    @precondition(lambda self: bool(self.order) and not self._holding())
    @rule(i=st.integers(0, 1 << 16), how=st.sampled_from(ACCESS_HOW))
    def access(self, i: int, how: tuple[ZsMapMode, bool]) -> None:
        mode, write = how
        seed = self._next_seed()
        h = self._pick(i)
        self.steps.append(f"access({mode.name}, write={write})")
        if h in self._held_handles():
            return
        old = self.oracle[h]
        n = len(old)
        if not self.maps:
            if write:
                self.pool.zs_obj_write(h, payload(seed, n))
                self.oracle[h] = payload(seed, n)
            else:
                addr = self.pool.zs_obj_read_begin(h, n, self.local_copy)
                assert self.space.read(addr, n) == old, "zs_obj_read_begin shows other bytes"
                self.pool.zs_obj_read_end(h, n, addr)
            return
        spans = self.pool.object_location(h).spans
        addr = self.pool.zs_map_object(h, mode)
        shown = self.space.read(addr, n)
        if mode != ZsMapMode.ZS_MM_WO or not spans:
            assert shown == old, f"mapping ({mode.name}) shows other bytes than the object's"
        if write:
            self.space.write(addr, payload(seed, n))
            shown = payload(seed, n)
        self.pool.zs_unmap_object(h)
        if mode == ZsMapMode.ZS_MM_RO and spans:
            return  # writes through RO to a spanning object are lost
        self.oracle[h] = shown

    @precondition(lambda self: bool(self.order) or self._holding())
    @rule(i=st.integers(0, 1 << 16))
    def hold_or_release(self, i: int) -> None:
        """Release this CPU's held mapping (the map API; after checking that a nested map
        raises) or read (current); else map/read-begin an object and hold it across steps (a
        handle held on another CPU: v5.8's pin makes the map spin; v6.1 and v6.12 map it
        again)."""
        if self._holding():
            self.steps.append("release")
            h, addr = self.held.pop(self.ctx.cpu)
            if self.maps:
                try:
                    self.pool.zs_map_object(self._pick(i), ZsMapMode.ZS_MM_RW)
                except KernelBug:
                    pass
                else:
                    raise AssertionError("a nested zs_map_object on one CPU did not raise")
                self.pool.zs_unmap_object(h)
            else:
                self.pool.zs_obj_read_end(h, len(self.oracle[h]), addr)
            return
        h = self._pick(i)
        self.steps.append("hold")
        if h in self._held_handles():
            if self.pins:
                try:
                    self.pool.zs_map_object(h, ZsMapMode.ZS_MM_RO)
                except KernelBug:
                    return
                raise AssertionError("mapping a handle mapped on another CPU did not raise")
            if not self.maps:
                return
        n = len(self.oracle[h])
        if self.maps:
            addr = self.pool.zs_map_object(h, ZsMapMode.ZS_MM_RO)
        else:
            addr = self.pool.zs_obj_read_begin(h, n, self.local_copy)
        assert self.space.read(addr, n) == self.oracle[h]
        self.held[self.ctx.cpu] = (h, addr)

    @rule()
    def switch_cpu(self) -> None:
        """Let the task on the other CPU run."""
        cpu = (self.ctx.cpu + 1) % self.ctx.nr_cpus
        self.steps.append(f"switch_cpu({cpu})")
        self.ctx.switch_cpu(cpu)

    @precondition(lambda self: not self._holding() or not self.maps)
    @rule()
    def compact(self) -> None:
        self.steps.append("compact")
        before = self.pool.zs_get_total_pages()
        stats_before = self.pool.zs_pool_stats().pages_compacted
        try:
            ret = self.pool.zs_compact()
        except MigrateLockDeadlock:
            # v6.1/v6.12: a source (6.1: or destination) zspage another CPU holds mapped
            assert self.held and not self.pins, "compaction waited for no mapping"
            return
        after = self.pool.zs_get_total_pages()
        assert after <= before, "compaction grew the pool"
        stats = self.pool.zs_pool_stats().pages_compacted
        assert stats - stats_before == before - after, "pages_compacted != pages freed"
        if not self.feat.compact_returns_freed:
            assert ret == stats, "v5.8 zs_compact returns the cumulative pages_compacted"
        else:
            assert ret == before - after, "zs_compact returns the pages freed by this call"

    @precondition(lambda self: bool(self.order))
    @rule(i=st.integers(0, 1 << 16))
    def migrate(self, i: int) -> None:
        self.steps.append("migrate")
        h = self._pick(i)
        loc = self.pool.object_location(h)
        held_here = [hh for hh in self._held_handles()
                     if self.pool.object_location(hh).zspage == loc.zspage]
        if held_here and self.maps:
            try:
                self.pool.zs_page_migrate(loc.page_addr)
            except KernelBug:
                return
            raise AssertionError("migrating a zspage with a mapped object did not wait")
        rc = self.pool.zs_page_migrate(loc.page_addr)
        if held_here:
            assert rc == -16, f"migrating a zspage being read returned {rc}"
        else:
            assert rc == 0, f"zs_page_migrate returned {rc}"

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def invariants_hold(self) -> None:
        """Every ``CHECK_EVERY`` steps (the rest at teardown): a state the checks reject stays
        rejected until a later step repairs it, which no step does for the mutants' damage,
        and the shrinker cuts the run short so that its final check comes right after the
        step that did the damage."""
        self.unchecked += 1
        if self.unchecked >= self.CHECK_EVERY:
            self.check_now()

    def check_now(self) -> None:
        self.unchecked = 0
        problem = check_pool(self.pool, self.oracle, self.CHECKS)
        assert problem is None, f"invariant {problem}"

    def teardown(self) -> None:
        if self.unchecked and sys.exc_info()[1] is None:
            self.check_now()  # the steps since the last check (not while a step's error unwinds)
        for cpu, (h, addr) in list(self.held.items()):
            self.ctx.switch_cpu(cpu)
            if self.maps:
                self.pool.zs_unmap_object(h)
            else:
                self.pool.zs_obj_read_end(h, len(self.oracle[h]), addr)
        self.held.clear()


def machine_for(era: str = ERA_V58, factory: PoolFactory | None = None,
                checks: tuple[str, ...] | None = None) -> type[ZsPoolMachine]:
    """A machine class for ``era``, optionally over a (mutant) pool factory."""
    attrs: dict[str, object] = {"ERA": era}
    if factory is not None:
        attrs["POOL_FACTORY"] = staticmethod(factory)
    if checks is not None:
        attrs["CHECKS"] = checks
    return type(f"ZsPoolMachine_{era.replace('.', '')}", (ZsPoolMachine,), attrs)


# --------------------------------------------------------------------------- mutants
class _ForgetfulFreelist(ZsPool):
    """obj_free forgets the object: it is neither linked nor made the freelist head."""

    __slots__ = ()

    def obj_free(self, class_: SizeClass, obj: int) -> None:
        page, _idx = self.obj_to_location(obj & ~OBJ_ALLOCATED_TAG if self.obj_shift else obj)
        z = page.zspage
        assert z is not None
        z.inuse -= 1
        class_.stats[self._obj_allocated_stat() + 1] -= 1


class _CompactionDropsHandleUpdate(ZsPool):
    """Compaction moves objects but never re-records ``*handle`` (``record_obj``)."""

    __slots__ = ()
    compacting: ClassVar[list[bool]] = [False]

    def zs_compact(self) -> int:
        self.compacting[0] = True
        try:
            return super().zs_compact()
        finally:
            self.compacting[0] = False

    def record_obj(self, handle: int, obj: int) -> None:
        if not self.compacting[0]:
            super().record_obj(handle, obj)


class _ClassTableOffByOne(ZsPool):
    """get_size_class_index one class too low for sizes that are not exact class sizes."""

    __slots__ = ()

    def zs_malloc(self, size: int, gfp: int = GFP_KERNEL, nid: int = 0) -> int:
        if 0 < size <= self.table.max_alloc_size:
            idx = self.table.get_size_class_index(size + self.ws)
            if idx > 0:
                real = self.size_class
                shifted = [real[max(i - 1, 0)] if i == idx else c for i, c in enumerate(real)]
                self.size_class = shifted
                try:
                    return super().zs_malloc(size, gfp, nid)
                finally:
                    self.size_class = real
        return super().zs_malloc(size, gfp, nid)


class _PagesNeverGiveBack(ZsPool):
    """__free_zspage forgets to subtract from pool->pages_allocated."""

    __slots__ = ()

    def free_zspage(self, class_: SizeClass, zspage: Zspage) -> None:
        before = self.pages_allocated
        super().free_zspage(class_, zspage)
        self.pages_allocated = before


class _HandleReused(ZsPool):
    """zs_free returns the handle slot to the slab twice over: the next two zs_malloc calls
    get the same handle."""

    __slots__ = ()

    def zs_free(self, handle: int) -> None:
        super().zs_free(handle)
        cache = self.handle_cachep
        cache._free.append(handle)


def _mutant(cls: type[ZsPool]) -> PoolFactory:
    def make(name: str, space: AddressSpace, ctx: KernelContext, era: str) -> ZsPool:
        pool = zs_create_pool(name, space, ctx, era=era)
        assert pool is not None
        pool.__class__ = cls
        return pool
    return make


#: name -> (pool factory, the invariant that exists to catch it)
MUTANTS: dict[str, tuple[PoolFactory, str]] = {
    "freelist_forgets_object": (_mutant(_ForgetfulFreelist), "freelists"),
    "compaction_drops_handle_update": (_mutant(_CompactionDropsHandleUpdate), "contents"),
    "class_table_off_by_one": (_mutant(_ClassTableOffByOne), "no_overlap"),
    "pages_never_given_back": (_mutant(_PagesNeverGiveBack), "accounting"),
    "handle_reused": (_mutant(_HandleReused), "handles"),
}

ZsPoolMachineV58 = machine_for(ERA_V58)
ZsPoolMachineV61 = machine_for(ERA_V61)
ZsPoolMachineV612 = machine_for(ERA_V612)
ZsPoolMachineCurrent = machine_for(ERA_CURRENT)
