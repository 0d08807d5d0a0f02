"""A rule-based state machine over zpool (v5.8) with each of its three drivers.

Rules: ``zpool_malloc`` of sizes around every driver's limits (0, zbud's 3968/3969, z3fold's
headless threshold 3904/3905, 4096/4097) with the out-parameter checked against the driver's
failure rule, ``zpool_free``, and writes/reads through ``zpool_map_handle`` (RW/RO/WO).

Invariants, one fact each:

* :func:`inv_encoding`: every live handle has its driver's encoding (zsmalloc: 8-aligned slab
  address; zbud: ``page + 64`` or ``page + 4096 - 64*k``; z3fold: slot address ``% 64`` in
  0/8/16/24, or ``page | 1`` -- odd -- exactly for headless sizes);
* :func:`inv_contents`: what each mapped handle shows is what was written;
* :func:`inv_no_overlap`: live objects' bytes never overlap;
* :func:`inv_total_size`: ``zpool_get_total_size`` is the pages the live handles occupy.

:data:`MUTANTS` break one driver each, for the meta-tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from model.abi import get_abi
from model.context import GFP_KERNEL, KernelContext
from model.memory import AddressSpace
from model.z3fold import MIDDLE, Z3foldHeader, Z3foldPool
from model.zbud import ZbudPool
from model.zpool import Zpool, ZpoolMapMode, zpool_create_pool
from model.zsmalloc import ZsPool

PATTERN = bytes((i * 53 + 17) & 0xFF for i in range(8192 + 256))
SIZES = st.one_of(st.integers(1, 4096),
                  st.sampled_from([0, 3904, 3905, 3968, 3969, 4096, 4097, 64, 65]))

ZpoolFactory = Callable[[str, AddressSpace, KernelContext], Zpool]


def default_zpool(type_: str, space: AddressSpace, ctx: KernelContext) -> Zpool:
    z = zpool_create_pool(type_, f"zpool-{type_}", GFP_KERNEL, space, ctx)
    assert z is not None
    return z


def expected_failure(type_: str, size: int, backend: object) -> int:
    """The return of ``zpool_malloc`` for ``size`` (0 = success) per driver, v5.8."""
    if type_ == "zsmalloc":
        return -1 if size == 0 or size > 4096 else 0
    if type_ == "zbud":
        assert isinstance(backend, ZbudPool)
        if size == 0:
            return -22
        return -28 if size > backend.max_alloc() else 0
    if size == 0:
        return -22
    return -28 if size > 4096 else 0


# --------------------------------------------------------------------------- invariants
def inv_encoding(z: Zpool, oracle: dict[int, bytes]) -> str | None:
    """Every live handle is encoded as its driver encodes handles."""
    b = z.backend
    for h, data in oracle.items():
        if isinstance(b, ZsPool):
            if h == 0 or h % 8:
                return f"zsmalloc handle {h:#x} is not a non-zero multiple of 8"
        elif isinstance(b, ZbudPool):
            in_page = h & (b.page_size - 1)
            if h % b.chunk_size or not (in_page == b.zhdr_size_aligned
                                        or in_page >= b.zhdr_size_aligned + b.chunk_size):
                return f"zbud handle {h:#x} is not page+64 or page+4096-64*k"
        else:
            assert isinstance(b, Z3foldPool)
            headless = len(data) > b.headless_threshold()
            if headless != bool(h & 1):
                return (f"z3fold handle {h:#x} for {len(data)} bytes: odd={bool(h & 1)}, "
                        f"headless={headless}")
            if not headless and h % 64 not in (0, 8, 16, 24):
                return f"z3fold slot handle {h:#x} is not slots + 8*idx"
    return None


def _read(z: Zpool, h: int, n: int) -> bytes:
    addr = z.zpool_map_handle(h, ZpoolMapMode.ZPOOL_MM_RO)
    try:
        return z.backend.space.read(addr, n)
    finally:
        z.zpool_unmap_handle(h)


def inv_contents(z: Zpool, oracle: dict[int, bytes]) -> str | None:
    """Each live handle maps to the bytes last written through it."""
    for h, data in oracle.items():
        if _read(z, h, len(data)) != data:
            return f"handle {h:#x}: mapped bytes differ from what was written"
    return None


def inv_no_overlap(z: Zpool, oracle: dict[int, bytes]) -> str | None:
    """Live objects' bytes (at their mapped addresses) never overlap."""
    spans: list[tuple[int, int, int]] = []
    for h, data in oracle.items():
        addr = z.zpool_map_handle(h, ZpoolMapMode.ZPOOL_MM_RO)
        z.zpool_unmap_handle(h)
        if isinstance(z.backend, ZsPool):
            spans.extend((a, b, h) for a, b in z.backend.object_extents(h, len(data)))
        else:
            spans.append((addr, addr + len(data), h))
    spans.sort()
    for (_a1, b1, h1), (a2, _b2, h2) in itertools.pairwise(spans):
        if a2 < b1 and h1 != h2:
            return f"handles {h1:#x} and {h2:#x} overlap at {a2:#x}"
    return None


def inv_total_size(z: Zpool, oracle: dict[int, bytes]) -> str | None:
    """zpool_get_total_size counts exactly the pages live objects occupy (zbud, z3fold) or
    the zspages' pages (zsmalloc)."""
    b = z.backend
    if isinstance(b, ZsPool):
        pages = sum(c.pages_per_zspage for c, _z in b.zspages())
    else:
        psize = b.page_size
        used: set[int] = set()
        for h in oracle:
            addr = z.zpool_map_handle(h, ZpoolMapMode.ZPOOL_MM_RO)
            z.zpool_unmap_handle(h)
            used.add(addr & ~(psize - 1))
        pages = len(used)
    if z.zpool_get_total_size() != pages * b.page_size:
        return f"zpool_get_total_size {z.zpool_get_total_size()} for {pages} pages in use"
    return None


INVARIANTS: dict[str, Callable[[Zpool, dict[int, bytes]], str | None]] = {
    "encoding": inv_encoding,
    "contents": inv_contents,
    "no_overlap": inv_no_overlap,
    "total_size": inv_total_size,
}


class ZpoolMachine(RuleBasedStateMachine):
    """Drives one zpool of ``TYPE`` (``zsmalloc``, ``zbud`` or ``z3fold``)."""

    TYPE: str = "zbud"
    FACTORY: ZpoolFactory = staticmethod(default_zpool)
    CHECKS: tuple[str, ...] = tuple(INVARIANTS)
    last_steps: ClassVar[list[str]] = []

    def __init__(self) -> None:
        super().__init__()
        self.space = AddressSpace(get_abi("x86_64"))
        self.ctx = KernelContext()
        self.zpool = type(self).FACTORY(self.TYPE, self.space, self.ctx)
        self.oracle: dict[int, bytes] = {}
        self.order: list[int] = []
        self.steps: list[str] = []
        type(self).last_steps = self.steps

    @staticmethod
    def _payload(seed: int, n: int) -> bytes:
        return PATTERN[seed:seed + n]

    @rule(size=SIZES, mode=st.sampled_from([ZpoolMapMode.ZPOOL_MM_WO, ZpoolMapMode.ZPOOL_MM_RW]),
          seed=st.integers(0, 255))
    def malloc(self, size: int, mode: ZpoolMapMode, seed: int) -> None:
        self.steps.append(f"malloc({size})")
        before = 0x5A5A5A5A  # what *handle held before the call
        r = self.zpool.zpool_malloc(size, GFP_KERNEL, before)
        want = expected_failure(self.TYPE, size, self.zpool.backend)
        assert r.ret == want, f"zpool_malloc({size}) returned {r.ret}, expected {want}"
        if r.ret:
            expect_handle = 0 if self.TYPE == "zsmalloc" else before
            assert r.handle == expect_handle, f"*handle after failure is {r.handle:#x}"
            return
        data = self._payload(seed, size)
        addr = self.zpool.zpool_map_handle(r.handle, mode)
        self.space.write(addr, data)
        self.zpool.zpool_unmap_handle(r.handle)
        self.oracle[r.handle] = data
        self.order.append(r.handle)

    @precondition(lambda self: bool(self.order))
    @rule(i=st.integers(0, 1 << 16))
    def free(self, i: int) -> None:
        self.steps.append("free")
        h = self.order.pop(i % len(self.order))
        self.zpool.zpool_free(h)
        del self.oracle[h]

    @precondition(lambda self: bool(self.order))
    @rule(i=st.integers(0, 1 << 16), write=st.booleans(), seed=st.integers(0, 255))
    def access(self, i: int, write: bool, seed: int) -> None:
        self.steps.append(f"access(write={write})")
        h = self.order[i % len(self.order)]
        n = len(self.oracle[h])
        addr = self.zpool.zpool_map_handle(h, ZpoolMapMode.ZPOOL_MM_RW)
        assert self.space.read(addr, n) == self.oracle[h]
        if write:
            data = self._payload(seed, n)
            self.space.write(addr, data)
            self.oracle[h] = data
        self.zpool.zpool_unmap_handle(h)

    @invariant()
    def invariants_hold(self) -> None:
        for name in self.CHECKS:
            problem = INVARIANTS[name](self.zpool, self.oracle)
            assert problem is None, f"invariant {name}: {problem}"


def zpool_machine_for(type_: str, factory: ZpoolFactory | None = None,
                      checks: tuple[str, ...] | None = None) -> type[ZpoolMachine]:
    attrs: dict[str, object] = {"TYPE": type_}
    if factory is not None:
        attrs["FACTORY"] = staticmethod(factory)
    if checks is not None:
        attrs["CHECKS"] = checks
    return type(f"ZpoolMachine_{type_}", (ZpoolMachine,), attrs)


# --------------------------------------------------------------------------- mutants
class _Z3foldMiddleOffByOne(Z3foldPool):
    """The MIDDLE buddy starts one chunk early (``first_chunks + ZHDR_CHUNKS - 1``): into the
    FIRST buddy's last chunk."""

    __slots__ = ()

    def z3fold_alloc(self, size: int, gfp: int) -> tuple[int, int]:
        ret, handle = super().z3fold_alloc(size, gfp)
        if ret == 0 and not handle & 1:
            z, bud = self._lookup(handle, "z3fold_alloc")
            if bud == MIDDLE:
                z.start_middle -= 1
        return ret, handle


class _ZbudPagesNeverGiveBack(ZbudPool):
    """zbud_free forgets ``pool->pages_nr--`` when it frees an empty page."""

    __slots__ = ()

    def zbud_free(self, handle: int) -> None:
        before = self.pages_nr
        super().zbud_free(handle)
        self.pages_nr = before


class _Z3foldCompactionForgetsToMove(Z3foldPool):
    """z3fold_compact_page updates the header but never moves the middle buddy's bytes."""

    __slots__ = ()

    def z3fold_compact_page(self, z: Z3foldHeader) -> bool:
        region = self.space.region_at(z.frame.addr)
        assert region is not None
        saved = bytes(region.data)
        moved = super().z3fold_compact_page(z)
        region.data[:] = saved
        return moved


def _retyped(cls: type) -> ZpoolFactory:
    def make(type_: str, space: AddressSpace, ctx: KernelContext) -> Zpool:
        z = default_zpool(type_, space, ctx)
        z.backend.__class__ = cls
        return z
    return make


def _zbud_with_72_byte_header(type_: str, space: AddressSpace, ctx: KernelContext) -> Zpool:
    """ZHDR_SIZE_ALIGNED computed as 72 instead of one chunk: internally consistent, but the
    handles are no longer chunk-aligned."""
    z = default_zpool(type_, space, ctx)
    assert isinstance(z.backend, ZbudPool)
    z.backend.zhdr_size_aligned = 72
    return z


#: name -> (zpool type, factory, the invariant that catches it)
MUTANTS: dict[str, tuple[str, ZpoolFactory, str]] = {
    "z3fold_middle_off_by_one": ("z3fold", _retyped(_Z3foldMiddleOffByOne), "no_overlap"),
    "zbud_header_not_chunk_aligned": ("zbud", _zbud_with_72_byte_header, "encoding"),
    "zbud_pages_never_given_back": ("zbud", _retyped(_ZbudPagesNeverGiveBack), "total_size"),
    "z3fold_compaction_forgets_to_move": ("z3fold", _retyped(_Z3foldCompactionForgetsToMove),
                                          "contents"),
}
