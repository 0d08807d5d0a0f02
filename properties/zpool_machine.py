"""A rule-based state machine over zpool (v5.8) with each of its three drivers.

Live handles travel in a :class:`~hypothesis.stateful.Bundle`.  Rules: ``zpool_malloc`` of
sizes around every driver's limits (0, zbud's 3968/3969, z3fold's headless threshold
3904/3905, 4096/4097) with the out-parameter checked against the driver's failure rule,
``zpool_free`` (consuming the handle), and reads and writes through ``zpool_map_handle``.

Invariants, one fact each, on what the last step touched (the handle it allocated or wrote,
and every handle sharing a page with one it freed, which z3fold may have moved):

* :meth:`~ZpoolMachine.encoding`: a live handle has its driver's encoding (zsmalloc: 8-aligned
  slab address; zbud: ``page + 64`` or ``page + 4096 - 64*k``; z3fold: slot address ``% 64`` in
  0/8/16/24, or ``page | 1`` -- odd -- exactly for headless sizes);
* :meth:`~ZpoolMachine.contents`: what a mapped handle shows is what was written;
* :meth:`~ZpoolMachine.no_overlap`: a live object's bytes overlap no other live object's;
* :meth:`~ZpoolMachine.total_size`: ``zpool_get_total_size`` is the pages the live handles
  occupy.

:data:`MUTANTS` break one driver each, through ``zpool_create_pool(..., driver_class=...)``,
for the meta-tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, consumes, invariant, multiple, rule

from model.abi import get_abi
from model.context import KernelContext
from model.errnos import EINVAL, ENOSPC
from model.gfp import GFP_KERNEL
from model.memory import AddressSpace
from model.z3fold import Z3foldHeader, Z3foldPool
from model.zbud import ZbudPool
from model.zpool import ZpoolMapMode, zpool_create_pool
from model.zsmalloc import ZsPool
from model.zsmalloc_view import object_extents
from properties.tracing import TracedMachine, checked, traced

PATTERN = bytes((i * 53 + 17) & 0xFF for i in range(8192 + 256))
SIZES = st.integers(1, 4096) | st.sampled_from((0, 3904, 3905, 3968, 3969, 4096, 4097, 64, 65))
INVARIANTS: tuple[str, ...] = ("encoding", "contents", "no_overlap", "total_size")
Driver = ZsPool | ZbudPool | Z3foldPool


def expected_failure(type_: str, size: int, backend: Driver) -> int:
    """The return of ``zpool_malloc`` for ``size`` (0 = success) per driver, v5.8."""
    if type_ == "zsmalloc":
        return -1 if size == 0 or size > 4096 else 0
    if size == 0:
        return -EINVAL
    limit = backend.max_alloc() if isinstance(backend, ZbudPool) else 4096
    return -ENOSPC if size > limit else 0


def _fact(fn: Callable[[ZpoolMachine], None]) -> Callable[[ZpoolMachine], None]:
    """An invariant named ``fn.__name__``: it runs when it is one of the machine's ``CHECKS``
    and the last step touched a handle."""
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(self: ZpoolMachine) -> None:
        if name in self.CHECKS and self.touched_at == len(self.steps):
            fn(self)

    return wrapper


class ZpoolMachine(TracedMachine):
    """Drives one zpool of ``TYPE`` (``zsmalloc``, ``zbud`` or ``z3fold``)."""

    TYPE: ClassVar[str] = "zbud"
    #: A subclass of the driver's pool (a mutant of :data:`MUTANTS`), or None.
    DRIVER_CLASS: ClassVar[type[Driver] | None] = None
    CHECKS: ClassVar[frozenset[str]] = frozenset(INVARIANTS)

    objects = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.space = AddressSpace(get_abi("x86_64"))
        self.ctx = KernelContext()
        z = zpool_create_pool(self.TYPE, f"zpool-{self.TYPE}", GFP_KERNEL, self.space,
                              self.ctx, driver_class=self.DRIVER_CLASS)
        assert z is not None
        self.zpool = z
        self.backend = z.backend
        self.page_size = self.space.abi.page_size
        self.oracle: dict[int, bytes] = {}
        #: handle -> the page its object starts in (zbud, z3fold: objects stay in their page).
        self.page_of: dict[int, int] = {}
        self.seed = 0
        self.touched_at = -1
        self.touched: set[int] = set()

    def _touch(self, *handles: int) -> None:
        step = len(self.steps)
        if self.touched_at != step:
            self.touched_at = step
            self.touched = set()
        self.touched.update(handles)

    def _payload(self, n: int) -> bytes:
        self.seed = (self.seed + 89) & 0xFF
        return PATTERN[self.seed:self.seed + n]

    def _addr(self, h: int) -> int:
        addr = self.zpool.zpool_map_handle(h, ZpoolMapMode.ZPOOL_MM_RO)
        self.zpool.zpool_unmap_handle(h)
        return addr

    def _extents(self, h: int) -> tuple[tuple[int, int], ...]:
        n = len(self.oracle[h])
        if isinstance(self.backend, ZsPool):
            return object_extents(self.backend, h, n)
        addr = self._addr(h)
        return ((addr, addr + n),)

    # -- rules -----------------------------------------------------------------------------
    @rule(target=objects, size=SIZES,
          mode=st.sampled_from((ZpoolMapMode.ZPOOL_MM_WO, ZpoolMapMode.ZPOOL_MM_RW)))
    @traced
    def malloc(self, size: int, mode: ZpoolMapMode) -> Any:
        """zpool_malloc, the out-parameter checked; a write of the payload."""
        before = 0x5A5A5A5A  # what *handle held before the call
        r = self.zpool.zpool_malloc(size, GFP_KERNEL, before)
        want = expected_failure(self.TYPE, size, self.backend)
        assert r.ret == want, f"zpool_malloc({size}) returned {r.ret}, expected {want}"
        if r.ret:
            expect_handle = 0 if self.TYPE == "zsmalloc" else before
            assert r.handle == expect_handle, f"*handle after failure is {r.handle:#x}"
            return multiple()
        h = r.handle
        data = self._payload(size)
        addr = self.zpool.zpool_map_handle(h, mode)
        self.space.write(addr, data)
        self.zpool.zpool_unmap_handle(h)
        self.oracle[h] = data
        self.page_of[h] = addr & ~(self.page_size - 1)
        self._touch(h)
        return h

    @rule(handle=consumes(objects))
    @traced
    def free(self, handle: int) -> None:
        """zpool_free; the objects sharing its page may move (z3fold compacts the page)."""
        page = self.page_of.pop(handle)
        del self.oracle[handle]
        self.zpool.zpool_free(handle)
        self._touch(*(h for h, p in self.page_of.items() if p == page))

    @rule(handle=objects, write=st.booleans())
    @traced
    def access(self, handle: int, write: bool) -> None:
        """Map RW: the bytes are what was written; perhaps write new ones."""
        n = len(self.oracle[handle])
        addr = self.zpool.zpool_map_handle(handle, ZpoolMapMode.ZPOOL_MM_RW)
        shown = self.space.read(addr, n)
        if write:
            data = self._payload(n)
            self.space.write(addr, data)
            self.oracle[handle] = data
            self._touch(handle)
        self.zpool.zpool_unmap_handle(handle)
        assert shown == self.oracle[handle] or write, "the mapping shows other bytes"

    # -- invariants ------------------------------------------------------------------------
    def _fail(self, name: str, problem: str) -> None:
        raise AssertionError(f"invariant {name}: {problem}")

    @invariant()
    @checked
    @_fact
    def encoding(self) -> None:
        """Every touched live handle is encoded as its driver encodes handles."""
        b = self.backend
        for h in self.touched:
            if h not in self.oracle:
                continue
            if isinstance(b, ZsPool):
                if h == 0 or h % 8:
                    self._fail("encoding", f"zsmalloc handle {h:#x} is not a non-zero "
                               "multiple of 8")
            elif isinstance(b, ZbudPool):
                in_page = h & (b.page_size - 1)
                if h % b.chunk_size or not (in_page == b.zhdr_size_aligned
                                            or in_page >= b.zhdr_size_aligned + b.chunk_size):
                    self._fail("encoding", f"zbud handle {h:#x} is not page+64 or "
                               "page+4096-64*k")
            else:
                headless = len(self.oracle[h]) > b.headless_threshold()
                if headless != bool(h & 1):
                    self._fail("encoding", f"z3fold handle {h:#x} for {len(self.oracle[h])} "
                               f"bytes: odd={bool(h & 1)}, headless={headless}")
                if not headless and h % 64 not in (0, 8, 16, 24):
                    self._fail("encoding", f"z3fold slot handle {h:#x} is not slots + 8*idx")

    @invariant()
    @checked
    @_fact
    def contents(self) -> None:
        """Each touched live handle maps to the bytes last written through it."""
        for h in self.touched:
            data = self.oracle.get(h)
            if data is None:
                continue
            addr = self.zpool.zpool_map_handle(h, ZpoolMapMode.ZPOOL_MM_RO)
            got = self.space.read(addr, len(data))
            self.zpool.zpool_unmap_handle(h)
            if got != data:
                self._fail("contents", f"handle {h:#x}: mapped bytes differ from what was "
                           "written")

    @invariant()
    @checked
    @_fact
    def no_overlap(self) -> None:
        """A touched live object's bytes overlap no other live object's."""
        mine = [(h, self._extents(h)) for h in self.touched if h in self.oracle]
        if not mine:
            return
        for other in self.oracle:
            theirs = self._extents(other)
            for h, spans in mine:
                if h == other:
                    continue
                for a1, b1 in spans:
                    for a2, b2 in theirs:
                        if a1 < b2 and a2 < b1:
                            self._fail("no_overlap", f"handles {h:#x} and {other:#x} overlap "
                                       f"at {max(a1, a2):#x}")

    @invariant()
    @checked
    @_fact
    def total_size(self) -> None:
        """zpool_get_total_size counts exactly the pages live objects occupy (zbud, z3fold) or
        the zspages' pages (zsmalloc)."""
        b = self.backend
        if isinstance(b, ZsPool):
            pages = sum(c.pages_per_zspage for c, _z in b.zspages())
        else:
            pages = len(set(self.page_of.values()))
        if self.zpool.zpool_get_total_size() != pages * b.page_size:
            self._fail("total_size", f"zpool_get_total_size {self.zpool.zpool_get_total_size()} "
                       f"for {pages} pages in use")


def zpool_machine_for(type_: str, driver_class: type[Driver] | None = None,
                      checks: tuple[str, ...] | None = None) -> type[ZpoolMachine]:
    """A machine class for ``type_``, optionally over a mutant driver, checking ``checks``."""
    attributes: dict[str, Any] = {"TYPE": type_, "DRIVER_CLASS": driver_class}
    if checks is not None:
        attributes["CHECKS"] = frozenset(checks)
    name = f"ZpoolMachine_{type_}"
    if driver_class is not None:
        name += f"_{driver_class.__name__}"
    return ZpoolMachine.fresh_class(name, **attributes)  # type: ignore[return-value]


# --------------------------------------------------------------------------- mutants
class Z3foldMiddleOffByOne(Z3foldPool):
    """The MIDDLE buddy starts one chunk early (``first_chunks + ZHDR_CHUNKS - 1``): into the
    FIRST buddy's last chunk."""

    def middle_start(self, z: Z3foldHeader) -> int:
        return super().middle_start(z) - 1


class ZbudPagesNeverGiveBack(ZbudPool):
    """zbud_free forgets ``pool->pages_nr--`` when it frees an empty page."""

    def zbud_free(self, handle: int) -> None:
        before = self.pages_nr
        super().zbud_free(handle)
        self.pages_nr = before


class Z3foldCompactionForgetsToMove(Z3foldPool):
    """z3fold_compact_page updates the header but never moves the middle buddy's bytes."""

    def z3fold_compact_page(self, z: Z3foldHeader) -> bool:
        region = self.space.region_at(z.frame.addr)
        assert region is not None
        saved = bytes(region.data)
        moved = super().z3fold_compact_page(z)
        region.data[:] = saved
        return moved


class ZbudHeaderNotChunkAligned(ZbudPool):
    """ZHDR_SIZE_ALIGNED computed as 72 instead of one chunk: internally consistent, but the
    handles are no longer chunk-aligned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zhdr_size_aligned = 72


#: name -> (zpool type, the broken driver class, the invariant that catches it)
MUTANTS: dict[str, tuple[str, type[Driver], str]] = {
    "z3fold_middle_off_by_one": ("z3fold", Z3foldMiddleOffByOne, "no_overlap"),
    "zbud_header_not_chunk_aligned": ("zbud", ZbudHeaderNotChunkAligned, "encoding"),
    "zbud_pages_never_given_back": ("zbud", ZbudPagesNeverGiveBack, "total_size"),
    "z3fold_compaction_forgets_to_move": ("z3fold", Z3foldCompactionForgetsToMove, "contents"),
}
