"""A rule-based state machine that drives a zsmalloc pool against a simple oracle.

The oracle is a map ``handle -> bytes`` of what each live object holds (its requested length).
Live handles travel in a :class:`~hypothesis.stateful.Bundle`: ``zs_malloc`` adds one,
``zs_free`` consumes it.  Rules, one kernel call (or one misuse) each: ``zs_malloc`` of any
size in process context, of a size the era refuses, with an injected failure, in hardirq
context; ``zs_free``; access through a mapping in each mode (v5.8, v6.1, v6.12) or
``zs_obj_read_begin/end`` and ``zs_obj_write`` (current); a mapping or read held across steps
on a CPU and its release; CPU switches; ``zs_compact``; page migration; a burst that fills,
fragments and compacts a class.  The misuse the kernel punishes must raise the model's typed
exceptions (sleeping while mapped, a nested mapping, mapping in interrupt context, mapping a
pinned handle).  The machine asks the era's facts (:class:`~model.eras.ZsmallocEra`), not its
name.

Invariants, one fact each, checked on what the last step touched (the classes whose zspages it
changed, the handles whose bytes it wrote or moved; compaction and migration touch every busy
class):

* :meth:`~ZsPoolMachine.no_overlap`: live objects (header + requested bytes) never overlap each
  other or a free object's link;
* :meth:`~ZsPoolMachine.contents`: every touched live object holds what the oracle says (so
  contents survive compaction and migration);
* :meth:`~ZsPoolMachine.handles`: the live handles are exactly the oracle's, each allocated
  object is named by one of them, and that handle decodes back to it;
* :meth:`~ZsPoolMachine.accounting`: pages, objects and fullness groups agree with the zspages;
* :meth:`~ZsPoolMachine.freelists`: every free object is on exactly one freelist, every
  allocated one on none.

:data:`MUTANTS` break one kernel function each, through the pool's documented hook
(``zs_create_pool(..., pool_class=...)``: a :class:`~model.zsmalloc.ZsPool` subclass), for the
meta-tests.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, consumes, invariant, multiple, precondition, rule

from model.abi import get_abi
from model.context import KernelContext
from model.errnos import ENOMEM
from model.errors import BugOn, KernelBug, NestedMapping, SleepingInInvalidContext
from model.gfp import GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT
from model.memory import AddressSpace
from model.zsmalloc import (
    ERA_CURRENT,
    ERA_V58,
    ERA_V61,
    ERA_V612,
    MigrateLockDeadlock,
    SizeClass,
    ZsMapMode,
    Zspage,
    ZsPool,
    zs_create_pool,
)
from model.zsmalloc_classes import OBJ_ALLOCATED_TAG
from model.zsmalloc_view import object_extents, zspage_object_addr
from properties.tracing import TracedMachine, checked, traced

#: A fixed byte pattern; payloads are slices of it, so a shifted copy never looks right.
PATTERN = bytes((i * 37 + (i >> 8) * 11 + 5) & 0xFF for i in range(8192 + 256))

#: The gfp masks a process-context ``zs_malloc`` uses.
GFPS: tuple[int, ...] = (GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT)
#: Sizes around the class boundaries that matter (the huge classes, the last class).
EDGE_SIZES: tuple[int, ...] = (1, 3256, 3257, 3624, 3625, 4088, 4089, 4096)
#: Sizes every era refuses (0 and above ``ZS_MAX_ALLOC_SIZE``).
REFUSED_SIZES: tuple[int, ...] = (0, 4097, 8192)
#: The fragment rule stops adding objects past this many live ones (keeps each check cheap).
MAX_LIVE = 40
#: (mode, write?) of the access rule.
ACCESS_HOW: tuple[tuple[ZsMapMode, bool], ...] = tuple(
    (m, w) for m in ZsMapMode for w in (False, True))
INVARIANTS: tuple[str, ...] = ("no_overlap", "contents", "handles", "accounting", "freelists")


def payload(seed: int, n: int) -> bytes:
    return PATTERN[seed:seed + n]


def _fact(fn: Callable[[ZsPoolMachine], None]) -> Callable[[ZsPoolMachine], None]:
    """An invariant named ``fn.__name__``: it runs when it is one of the machine's ``CHECKS``
    and the last step touched something, and a kernel failure while it reads the pool (a
    handle that decodes to a freed page) is its failure."""
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(self: ZsPoolMachine) -> None:
        if not self._checking(name):
            return
        try:
            fn(self)
        except KernelBug as exc:
            raise AssertionError(f"invariant {name}: the model oopses while checking: "
                                 f"{exc}") from exc

    return wrapper


class ZsPoolMachine(TracedMachine):
    """Drives one pool of ``ERA`` (of ``POOL_CLASS``); see the module docstring."""

    ERA: ClassVar[str] = ERA_V58
    #: The pool's class: :class:`ZsPool`, or a mutant of :data:`MUTANTS`.
    POOL_CLASS: ClassVar[type[ZsPool]] = ZsPool
    #: Which invariants run (all by default; a meta-test names the one that must catch).
    CHECKS: ClassVar[frozenset[str]] = frozenset(INVARIANTS)

    #: The live handles.
    objects = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.space = AddressSpace(get_abi("x86_64"))
        self.ctx = KernelContext(nr_cpus=2)
        pool = zs_create_pool("machine", self.space, self.ctx, era=self.ERA,
                              pool_class=self.POOL_CLASS)
        assert pool is not None
        self.pool = pool
        self.zs = pool.feat
        self.oracle: dict[int, bytes] = {}
        #: handle -> the index of its object's class (compaction and migration keep it).
        self.class_of: dict[int, int] = {}
        #: cpu -> (handle, address) held across steps (the map API: mapped; current: read).
        self.held: dict[int, tuple[int, int]] = {}
        self.local_copy = self.ctx.kmalloc(self.space.abi.page_size, GFP_KERNEL)
        self.seed = 0
        #: What the step numbered ``touched_at`` touched: class indices, handles and zspages
        #: (by serial; every zspage of the touched classes when ``touched_all_zspages``).
        self.touched_at = -1
        self.touched_classes: set[int] = set()
        self.touched_handles: set[int] = set()
        self.touched_zspages: set[int] = set()
        self.touched_all_zspages = False
        #: Pages and objects in use per class, as the zspages said at the last check.
        self.class_pages: dict[int, int] = {}
        self.class_inuse: dict[int, int] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _next_seed(self) -> int:
        """Payload seeds come from a counter (deterministic, nothing to draw)."""
        self.seed = (self.seed + 97) & 0xFF
        return self.seed

    def _touch(self, handle: int = 0, class_index: int = -1, zspage: int = -1) -> None:
        """Note what this step touched (the invariants check it after the step)."""
        step = len(self.steps)
        if self.touched_at != step:
            self.touched_at = step
            self.touched_classes = set()
            self.touched_handles = set()
            self.touched_zspages = set()
            self.touched_all_zspages = False
        if handle:
            self.touched_handles.add(handle)
            if class_index < 0:
                class_index = self.class_of[handle]
        if class_index >= 0:
            self.touched_classes.add(class_index)
        if zspage >= 0:
            self.touched_zspages.add(zspage)

    def _touch_classes(self, classes: set[int]) -> None:
        """Every zspage and object of ``classes`` (compaction moved them)."""
        self._touch()
        if classes:
            self.touched_all_zspages = True
            self.touched_classes.update(classes)
            self.touched_handles.update(h for h, c in self.class_of.items() if c in classes)

    def _checking(self, name: str) -> bool:
        return name in self.CHECKS and self.touched_at == len(self.steps)

    def _failed(self, h: int) -> bool:
        return self.pool.is_err_value(h) if self.zs.err_ptr else h == 0

    def _holding(self) -> bool:
        return self.ctx.cpu in self.held

    def _held_handles(self) -> set[int]:
        return {h for h, _ in self.held.values()}

    def _store(self, h: int, n: int) -> None:
        data = payload(self._next_seed(), n)
        if self.zs.map_api:
            addr = self.pool.zs_map_object(h, ZsMapMode.ZS_MM_WO)
            self.space.write(addr, data)
            self.pool.zs_unmap_object(h)
        else:
            self.pool.zs_obj_write(h, data)
        self.oracle[h] = data

    def _new(self, size: int, gfp: int) -> int:
        """``zs_malloc`` in process context that must succeed, then a write of the payload."""
        h = self.pool.zs_malloc(size, gfp)
        assert not self._failed(h), f"zs_malloc({size}) failed: {h:#x}"
        self._born(h)
        self._store(h, size)
        return h

    def _born(self, h: int) -> None:
        loc = self.pool.object_location(h)
        self.class_of[h] = loc.class_index
        self._touch(h, loc.class_index, loc.zspage)

    def _freed(self, h: int) -> None:
        loc = self.pool.object_location(h)
        self._touch(h, loc.class_index, loc.zspage)
        self.pool.zs_free(h)
        del self.oracle[h]
        del self.class_of[h]

    # -- rules -----------------------------------------------------------------------------
    @rule(target=objects, size=st.integers(1, 4096) | st.sampled_from(EDGE_SIZES),
          gfp=st.sampled_from(GFPS))
    @precondition(lambda self: not self._holding() or not self.zs.map_api)
    @traced
    def malloc(self, size: int, gfp: int) -> int:
        """zs_malloc in process context, then a write."""
        return self._new(size, gfp)

    @rule(size=st.sampled_from(REFUSED_SIZES))
    @traced
    def malloc_refused(self, size: int) -> None:
        """A size the era refuses: 0 (v5.8) or ``ERR_PTR(-EINVAL / -ENOSPC)``, no page used."""
        pages = self.pool.zs_get_total_pages()
        h = self.pool.zs_malloc(size, GFP_ATOMIC)
        want = self.pool.err_value(self.zs.malloc_errno(size)) if self.zs.err_ptr else 0
        assert h == want, f"zs_malloc({size}) returned {h:#x}, not {want:#x}"
        assert self.pool.zs_get_total_pages() == pages

    @rule(size=st.integers(1, 4096))
    @traced
    def malloc_fails(self, size: int) -> None:
        """An injected allocation failure: 0 (v5.8) or ``ERR_PTR(-ENOMEM)``, no page used."""
        pages = self.pool.zs_get_total_pages()
        self.pool.inject_alloc_failure(1)
        h = self.pool.zs_malloc(size, GFP_ATOMIC)
        want = self.pool.err_value(ENOMEM) if self.zs.err_ptr else 0
        assert h == want, f"zs_malloc with a failing slab returned {h:#x}, not {want:#x}"
        assert self.pool.zs_get_total_pages() == pages

    @rule(size=st.integers(1, 4096))
    @precondition(lambda self: self._holding() and self.zs.map_api)
    @traced
    def malloc_while_mapped(self, size: int) -> None:
        """GFP_KERNEL while this CPU holds a mapping: the slab's might_sleep splat."""
        try:
            self.pool.zs_malloc(size, GFP_KERNEL)
        except SleepingInInvalidContext:
            return
        raise AssertionError("GFP_KERNEL zs_malloc while mapped did not raise")

    @rule(target=objects, size=st.integers(1, 4096))
    @precondition(lambda self: not self._holding())
    @traced
    def malloc_in_hardirq(self, size: int) -> int:
        """zs_malloc(GFP_ATOMIC) in hardirq context (the write follows back in process
        context)."""
        self.ctx.enter_hardirq()
        try:
            h = self.pool.zs_malloc(size, GFP_ATOMIC)
        finally:
            self.ctx.exit_hardirq()
        assert not self._failed(h), f"zs_malloc({size}) in hardirq failed: {h:#x}"
        self._born(h)
        self._store(h, size)
        return h

    @rule(handle=objects)
    @precondition(lambda self: self.zs.map_api and not self._holding())
    @traced
    def map_in_hardirq(self, handle: int) -> None:
        """zs_map_object in hardirq context: ``BUG_ON(in_interrupt())``."""
        self.ctx.enter_hardirq()
        try:
            self.pool.zs_map_object(handle, ZsMapMode.ZS_MM_RO)
        except BugOn:
            return
        finally:
            self.ctx.exit_hardirq()
        raise AssertionError("zs_map_object in hardirq did not BUG")

    @rule(target=objects, handle=consumes(objects))
    @traced
    def free(self, handle: int) -> Any:
        """zs_free; a handle held mapped or read is not freed (v5.8 spins, current refuses;
        v6.1 and v6.12 would free it unnoticed) and goes back to the bundle."""
        if handle in self._held_handles():
            if self.zs.handle_pin or self.zs.obj_rw_api:
                try:
                    self.pool.zs_free(handle)
                except KernelBug:
                    return handle
                raise AssertionError("zs_free of a mapped/read handle did not raise")
            return handle
        self._freed(handle)
        return multiple()

    @rule(handle=objects, how=st.sampled_from(ACCESS_HOW))
    @precondition(lambda self: not self._holding())
    @traced
    def access(self, handle: int, how: tuple[ZsMapMode, bool]) -> None:
        """Read the object (a mapping in ``mode``, or zs_obj_read_begin/end) and perhaps write
        a new payload (through the mapping, or zs_obj_write)."""
        if handle in self._held_handles():
            return
        mode, write = how
        old = self.oracle[handle]
        n = len(old)
        new = payload(self._next_seed(), n)
        if not self.zs.map_api:
            if write:
                self._touch(handle)
                self.pool.zs_obj_write(handle, new)
                self.oracle[handle] = new
            else:
                addr = self.pool.zs_obj_read_begin(handle, n, self.local_copy)
                assert self.space.read(addr, n) == old, "zs_obj_read_begin shows other bytes"
                self.pool.zs_obj_read_end(handle, n, addr)
            return
        spans = self.pool.object_location(handle).spans
        addr = self.pool.zs_map_object(handle, mode)
        shown = self.space.read(addr, n)
        if mode != ZsMapMode.ZS_MM_WO or not spans:
            assert shown == old, f"mapping ({mode.name}) shows other bytes than the object's"
        if write:
            self.space.write(addr, new)
            shown = new
        self.pool.zs_unmap_object(handle)
        if mode == ZsMapMode.ZS_MM_RO and spans:
            return  # writes through RO to a spanning object are lost
        self._touch(handle)
        self.oracle[handle] = shown

    @rule(handle=objects)
    @precondition(lambda self: not self._holding())
    @traced
    def hold(self, handle: int) -> None:
        """Map (or read-begin) an object and hold it across steps on this CPU.  A handle held
        on the other CPU: v5.8's pin makes the map spin; v6.1 and v6.12 map it again."""
        if handle in self._held_handles():
            if self.zs.handle_pin:
                try:
                    self.pool.zs_map_object(handle, ZsMapMode.ZS_MM_RO)
                except KernelBug:
                    return
                raise AssertionError("mapping a handle mapped on another CPU did not raise")
            if not self.zs.map_api:
                return
        n = len(self.oracle[handle])
        if self.zs.map_api:
            addr = self.pool.zs_map_object(handle, ZsMapMode.ZS_MM_RO)
        else:
            addr = self.pool.zs_obj_read_begin(handle, n, self.local_copy)
        assert self.space.read(addr, n) == self.oracle[handle]
        self.held[self.ctx.cpu] = (handle, addr)

    @rule(handle=objects)
    @precondition(lambda self: self._holding() and self.zs.map_api)
    @traced
    def nested_map(self, handle: int) -> None:
        """A second zs_map_object on a CPU that holds a mapping: a nested mapping (or, v5.8,
        the pin of the same handle spinning)."""
        try:
            self.pool.zs_map_object(handle, ZsMapMode.ZS_MM_RW)
        except NestedMapping:
            return
        except KernelBug:
            if self.zs.handle_pin:
                return
            raise
        raise AssertionError("a nested zs_map_object on one CPU did not raise")

    @rule()
    @precondition(lambda self: self._holding())
    @traced
    def release(self) -> None:
        """zs_unmap_object (or zs_obj_read_end) of this CPU's held handle."""
        h, addr = self.held.pop(self.ctx.cpu)
        if self.zs.map_api:
            self.pool.zs_unmap_object(h)
        else:
            self.pool.zs_obj_read_end(h, len(self.oracle[h]), addr)

    @rule()
    @traced
    def switch_cpu(self) -> None:
        """Let the task on the other CPU run."""
        self.ctx.switch_cpu((self.ctx.cpu + 1) % self.ctx.nr_cpus)

    @rule()
    @precondition(lambda self: not self._holding() or not self.zs.map_api)
    @traced
    def compact(self) -> None:
        """zs_compact: the pool never grows, ``pages_compacted`` counts the pages freed, and
        the return value is the era's (v5.8: the running total)."""
        self._compact()

    def _compact(self) -> None:
        pool = self.pool
        # compaction moves objects only in a class with a zspage's worth of free objects
        self._touch_classes({c for c in set(self.class_of.values())
                             if pool.zs_can_compact(pool.size_class[c])})
        before = self.pool.zs_get_total_pages()
        stats_before = self.pool.zs_pool_stats().pages_compacted
        try:
            ret = self.pool.zs_compact()
        except MigrateLockDeadlock:
            # v6.1/v6.12: a source (6.1: or destination) zspage another CPU holds mapped
            assert self.held and not self.zs.handle_pin, "compaction waited for no mapping"
            return
        after = self.pool.zs_get_total_pages()
        assert after <= before, "compaction grew the pool"
        stats = self.pool.zs_pool_stats().pages_compacted
        assert stats - stats_before == before - after, "pages_compacted != pages freed"
        if self.zs.compact_returns_freed:
            assert ret == before - after, "zs_compact returns the pages freed by this call"
        else:
            assert ret == stats, "v5.8 zs_compact returns the cumulative pages_compacted"

    @rule(handle=objects)
    @traced
    def migrate(self, handle: int) -> None:
        """Migrate the page an object starts in: 0, or (a zspage being read, current) -EBUSY;
        with an object of the zspage mapped the kernel waits (the model raises)."""
        loc = self.pool.object_location(handle)
        held_here = [h for h in self._held_handles()
                     if self.pool.object_location(h).zspage == loc.zspage]
        if held_here and self.zs.map_api:
            try:
                self.pool.zs_page_migrate(loc.page_addr)
            except KernelBug:
                return
            raise AssertionError("migrating a zspage with a mapped object did not wait")
        self._touch(handle, loc.class_index, loc.zspage)
        self.touched_handles.update(h for h, c in self.class_of.items() if c == loc.class_index)
        rc = self.pool.zs_page_migrate(loc.page_addr)
        if held_here:
            assert rc == -16, f"migrating a zspage being read returned {rc}"  # -EBUSY
        else:
            assert rc == 0, f"zs_page_migrate returned {rc}"

    @rule(target=objects, size=st.sampled_from((24, 200, 1000, 2000, 3000, 3600, 4096)),
          count=st.integers(1, 12), compact=st.booleans())
    @precondition(lambda self: (not self._holding() or not self.zs.map_api)
                  and len(self.oracle) < MAX_LIVE)
    @traced
    def fragment(self, size: int, count: int, compact: bool) -> Any:
        """Many objects of one class, then (if ``compact``) free every other one of them and
        compact: zspages fill, fragment and compact."""
        fresh = [self._new(size, GFP_KERNEL) for _ in range(count)]
        if not compact:
            return multiple(*fresh)
        for h in fresh[::2]:
            self._freed(h)
        self._compact()
        return multiple(*fresh[1::2])

    # -- invariants ------------------------------------------------------------------------
    def _zspages_of(self, class_index: int) -> list[Zspage]:
        return [z for lst in self.pool.size_class[class_index].fullness_list for z in lst]

    def _touched_zspages_of(self, class_index: int) -> list[Zspage]:
        zspages = self._zspages_of(class_index)
        if self.touched_all_zspages:
            return zspages
        return [z for z in zspages if z.serial in self.touched_zspages]

    def _fail(self, name: str, problem: str) -> None:
        raise AssertionError(f"invariant {name}: {problem}")

    @invariant()
    @checked
    @_fact
    def no_overlap(self) -> None:
        """Within each touched class, live objects (their header and requested bytes) never
        share a byte with each other or with a free object's link word."""
        pool = self.pool
        by_class: dict[int, list[int]] = {}
        for h, index in self.class_of.items():
            if index in self.touched_classes:
                by_class.setdefault(index, []).append(h)
        for index in self.touched_classes:
            class_ = pool.size_class[index]
            # distinct slots, each object inside its own: nothing can overlap
            slots = set()
            fits = True
            for h in by_class.get(index, ()):
                loc = pool.object_location(h)
                slots.add((loc.page_addr, loc.offset))
                fits = fits and len(self.oracle[h]) + (0 if loc.huge else pool.ws) <= loc.size
            if fits and len(slots) == len(by_class.get(index, ())):
                continue
            spans: list[tuple[int, int, int]] = []
            for h in by_class.get(index, ()):
                spans.extend((a, b, h) for a, b in object_extents(pool, h, len(self.oracle[h])))
            if not class_.huge:
                for z in self._zspages_of(index):
                    for k in pool.zspage_freelist(z):
                        if 0 <= k < class_.objs_per_zspage:
                            a = zspage_object_addr(pool, z, k)
                            spans.append((a, a + pool.ws, 0))
            spans.sort()
            for (_a1, b1, h1), (a2, _b2, h2) in itertools.pairwise(spans):
                if a2 < b1 and h1 != h2:
                    what = [f"handle {h:#x}" if h else "a free object's link" for h in (h1, h2)]
                    self._fail("no_overlap", f"{what[0]} and {what[1]} overlap at {a2:#x}")

    @invariant()
    @checked
    @_fact
    def contents(self) -> None:
        """Every touched live object holds the bytes the oracle expects."""
        for h in self.touched_handles:
            data = self.oracle.get(h)
            if data is None:
                continue
            got = self.pool.read_payload(h, len(data))
            if got != data:
                diff = next(i for i in range(len(data)) if got[i] != data[i])
                self._fail("contents", f"handle {h:#x}: payload differs at byte {diff} of "
                           f"{len(data)} (got {got[diff]:#04x}, expected {data[diff]:#04x})")

    @invariant()
    @checked
    @_fact
    def handles(self) -> None:
        """The live handles are the oracle's; in each touched class every allocated object is
        named by a live, aligned handle that decodes back to it."""
        pool = self.pool
        live = pool.live_handles()
        if live != self.oracle.keys():
            extra = sorted(live - self.oracle.keys())
            missing = sorted(self.oracle.keys() - live)
            self._fail("handles", f"live handles differ from the oracle: extra "
                       f"{[hex(h) for h in extra[:3]]}, missing {[hex(h) for h in missing[:3]]}")
        for index in self.touched_classes:
            huge = pool.size_class[index].huge
            for z in self._touched_zspages_of(index):
                heads = pool.zspage_heads(z)
                for idx, head in enumerate(heads[:1] if huge else heads):
                    if not head & OBJ_ALLOCATED_TAG:
                        continue
                    h = head & ~OBJ_ALLOCATED_TAG
                    if h not in self.oracle or h % pool.ws:
                        self._fail("handles", f"zspage {z.serial} object {idx} names handle "
                                   f"{h:#x}, which is not a live handle")
                    loc = pool.object_location(h)
                    if (loc.zspage, loc.obj_idx) != (z.serial, idx):
                        self._fail("handles", f"zspage {z.serial} object {idx} names handle "
                                   f"{h:#x}, which decodes to zspage {loc.zspage} object "
                                   f"{loc.obj_idx}")

    @invariant()
    @checked
    @_fact
    def accounting(self) -> None:
        """In each touched class the fullness stats, groups, OBJ_ALLOCATED and OBJ_USED agree
        with the zspages; the pool's pages and objects in use agree with every class's."""
        pool = self.pool
        a = pool.obj_stat_index()
        for index in self.touched_classes:
            class_: SizeClass = pool.size_class[index]
            stats = class_.stats
            n = used = 0
            for fg, lst in enumerate(class_.fullness_list):
                if stats[fg] != len(lst):
                    self._fail("accounting", f"class {index}: fullness stat {fg} is "
                               f"{stats[fg]}, list has {len(lst)}")
                for z in lst:
                    n += 1
                    used += z.inuse
                    if pool.get_fullness_group(class_, z) != fg or z.fullness != fg:
                        self._fail("accounting", f"class {index}: zspage {z.serial} (inuse "
                                   f"{z.inuse}) sits in group {fg}")
            if stats[a] != n * class_.objs_per_zspage:
                self._fail("accounting", f"class {index}: OBJ_ALLOCATED {stats[a]} for {n} "
                           f"zspages of {class_.objs_per_zspage}")
            if stats[a + 1] != used:
                self._fail("accounting", f"class {index}: OBJ_USED {stats[a + 1]}, zspages "
                           f"hold {used}")
            self.class_pages[index] = n * class_.pages_per_zspage
            self.class_inuse[index] = used
        pages = sum(self.class_pages.values())
        if pool.zs_get_total_pages() != pages:
            self._fail("accounting", f"zs_get_total_pages() {pool.zs_get_total_pages()} but "
                       f"zspages hold {pages}")
        if sum(self.class_inuse.values()) != len(self.oracle):
            self._fail("accounting", "objects in use differ from the number of live handles")

    @invariant()
    @checked
    @_fact
    def freelists(self) -> None:
        """In each touched class, a zspage's free objects are on its freelist exactly once;
        allocated ones never."""
        pool = self.pool
        for index in self.touched_classes:
            class_ = pool.size_class[index]
            objs = class_.objs_per_zspage
            for z in self._touched_zspages_of(index):
                free = pool.zspage_freelist(z)
                heads = pool.zspage_heads(z)
                if class_.huge:
                    nfree = 0 if heads[0] & OBJ_ALLOCATED_TAG else 1
                    ok = all(i == 0 and nfree for i in free)
                else:
                    nfree = sum(1 for head in heads if not head & OBJ_ALLOCATED_TAG)
                    ok = all(0 <= i < objs and not heads[i] & OBJ_ALLOCATED_TAG for i in free)
                if not ok or len(set(free)) != len(free):
                    self._fail("freelists", f"class {index} zspage {z.serial}: freelist "
                               f"{free[:8]} repeats, strays or holds an allocated object")
                if len(free) != nfree:
                    self._fail("freelists", f"class {index} zspage {z.serial}: {nfree} free "
                               f"objects, {len(free)} on the freelist (some are on no "
                               "freelist)")

    def teardown(self) -> None:
        for cpu, (h, addr) in list(self.held.items()):
            self.ctx.switch_cpu(cpu)
            if self.zs.map_api:
                self.pool.zs_unmap_object(h)
            else:
                self.pool.zs_obj_read_end(h, len(self.oracle[h]), addr)
        self.held.clear()
        super().teardown()


def machine_for(era: str = ERA_V58, pool_class: type[ZsPool] | None = None,
                checks: tuple[str, ...] | None = None) -> type[ZsPoolMachine]:
    """A machine class for ``era``, optionally over a mutant pool class, checking ``checks``."""
    attributes: dict[str, Any] = {"ERA": era}
    if pool_class is not None:
        attributes["POOL_CLASS"] = pool_class
    if checks is not None:
        attributes["CHECKS"] = frozenset(checks)
    name = f"ZsPoolMachine_{era.replace('.', '')}"
    if pool_class is not None:
        name += f"_{pool_class.__name__.strip('_')}"
    return ZsPoolMachine.fresh_class(name, **attributes)  # type: ignore[return-value]


def check_pool(pool: ZsPool, oracle: dict[int, bytes]) -> str | None:
    """Every invariant on every class and handle of ``pool`` against ``oracle`` (for a pool a
    test drove by hand): the first problem, or None."""
    machine = machine_for(pool.era)()
    machine.space, machine.ctx, machine.pool, machine.zs = pool.space, pool.ctx, pool, pool.feat
    machine.oracle = dict(oracle)
    machine.class_of = {h: pool.object_location(h).class_index for h in oracle}
    machine._touch_classes({c.index for c in pool.classes})
    try:
        machine.check_all_invariants()
    except AssertionError as exc:
        return str(exc).removeprefix("invariant ")
    finally:
        machine.teardown()
    return None


# --------------------------------------------------------------------------- mutants
class ForgetfulFreelist(ZsPool):
    """obj_free forgets the object: it is neither linked nor made the freelist head."""

    def obj_free(self, class_: SizeClass, obj: int) -> None:
        page, _idx = self.obj_to_location(obj & ~OBJ_ALLOCATED_TAG if self.obj_shift else obj)
        z = page.zspage
        assert z is not None
        z.inuse -= 1
        class_.stats[self.obj_stat_index() + 1] -= 1


class CompactionDropsHandleUpdate(ZsPool):
    """Compaction moves objects but never re-records ``*handle`` (``record_obj``)."""

    compacting = False

    def zs_compact(self) -> int:
        self.compacting = True
        try:
            return super().zs_compact()
        finally:
            self.compacting = False

    def record_obj(self, handle: int, obj: int) -> None:
        if not self.compacting:
            super().record_obj(handle, obj)


class ClassTableOffByOne(ZsPool):
    """get_size_class_index one class too low for sizes that are not exact class sizes."""

    def get_size_class_index(self, size: int) -> int:
        return max(super().get_size_class_index(size) - 1, 0)


class PagesNeverGiveBack(ZsPool):
    """__free_zspage forgets to subtract from pool->pages_allocated."""

    def free_zspage(self, class_: SizeClass, zspage: Zspage) -> None:
        before = self.pages_allocated
        super().free_zspage(class_, zspage)
        self.pages_allocated = before


class HandleReused(ZsPool):
    """cache_alloc_handle hands out the handle of the last allocation again while it is
    still live: two objects share one handle."""

    last = 0

    def cache_alloc_handle(self, gfp: int) -> int:
        handle = super().cache_alloc_handle(gfp)
        if handle and self.last and self.handle_cachep.is_live(self.last):
            self.handle_cachep.free(handle)
            return self.last
        self.last = handle
        return handle


#: name -> (the broken pool class, the invariant that exists to catch it)
MUTANTS: dict[str, tuple[type[ZsPool], str]] = {
    "freelist_forgets_object": (ForgetfulFreelist, "freelists"),
    "compaction_drops_handle_update": (CompactionDropsHandleUpdate, "contents"),
    "class_table_off_by_one": (ClassTableOffByOne, "no_overlap"),
    "pages_never_given_back": (PagesNeverGiveBack, "accounting"),
    "handle_reused": (HandleReused, "handles"),
}

ZsPoolMachineV58 = machine_for(ERA_V58)
ZsPoolMachineV61 = machine_for(ERA_V61)
ZsPoolMachineV612 = machine_for(ERA_V612)
ZsPoolMachineCurrent = machine_for(ERA_CURRENT)
