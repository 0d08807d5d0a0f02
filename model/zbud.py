"""mm/zbud.c (v5.8): at most two buddies per page, handles that are data addresses.

A zbud page starts with its ``struct zbud_header`` (``ZHDR_SIZE_ALIGNED`` = one chunk); the FIRST
buddy follows the header, the LAST buddy ends at the end of the page.  The handle *is* the data
address (``zbud_map`` returns it unchanged): ``page + ZHDR_SIZE_ALIGNED`` or
``page + PAGE_SIZE - (last_chunks << CHUNK_SHIFT)``, so always a multiple of ``CHUNK_SIZE`` (64
with 4 KiB pages): never odd, never 0.  ``zbud_free`` tells the buddies apart by
``(handle - ZHDR_SIZE_ALIGNED) & ~PAGE_MASK``, so a tagged handle frees the wrong buddy.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from model.context import KernelContext
from model.errnos import EAGAIN, EINVAL, ENOMEM, ENOSPC
from model.errors import BadAccess, BadHandle, DoubleFree, KernelBug, UseAfterFree
from model.gfp import GFP_HIGHMEM_BIT
from model.memory import AddressSpace, PageFrame

NCHUNKS_ORDER = 6
FIRST, LAST = 0, 1


@attrs.define(slots=True, eq=False)
class ZbudHeader:
    """``struct zbud_header`` (its fields; the header's bytes stay reserved in the page)."""

    frame: PageFrame
    first_chunks: int = 0
    last_chunks: int = 0
    under_reclaim: bool = False


@attrs.define(slots=True, eq=False)
class ZbudPool:
    """``struct zbud_pool``: unbuddied lists by free chunks, the buddied list and the LRU
    (each list's head is its last element)."""

    space: AddressSpace
    ctx: KernelContext
    page_size: int
    chunk_shift: int
    chunk_size: int
    zhdr_size_aligned: int
    nchunks: int
    unbuddied: list[list[ZbudHeader]]
    buddied: list[ZbudHeader] = attrs.field(factory=list)
    lru: list[ZbudHeader] = attrs.field(factory=list)
    pages_nr: int = 0
    evict: Callable[[int], int] | None = None
    _pages: dict[int, ZbudHeader] = attrs.field(factory=dict)
    _live: set[int] = attrs.field(factory=set)
    _freed: set[int] = attrs.field(factory=set)

    def size_to_chunks(self, size: int) -> int:
        """mm/zbud.c:size_to_chunks."""
        return (size + self.chunk_size - 1) >> self.chunk_shift

    def num_free_chunks(self, zhdr: ZbudHeader) -> int:
        """mm/zbud.c:num_free_chunks."""
        return self.nchunks - zhdr.first_chunks - zhdr.last_chunks

    def encode_handle(self, zhdr: ZbudHeader, bud: int) -> int:
        """mm/zbud.c:encode_handle."""
        handle = zhdr.frame.addr
        if bud == FIRST:
            return handle + self.zhdr_size_aligned
        return handle + self.page_size - (zhdr.last_chunks << self.chunk_shift)

    def max_alloc(self) -> int:
        return self.page_size - self.zhdr_size_aligned - self.chunk_size

    def zbud_alloc(self, size: int, gfp: int) -> tuple[int, int]:
        """mm/zbud.c:zbud_alloc, v5.8: ``(0, handle)`` or ``(-errno, 0)``: -EINVAL for 0 bytes
        or ``__GFP_HIGHMEM``, -ENOSPC above ``PAGE_SIZE - 2 * CHUNK_SIZE``, -ENOMEM."""
        if not size or gfp & GFP_HIGHMEM_BIT:
            return -EINVAL, 0
        if size > self.max_alloc():
            return -ENOSPC, 0
        chunks = self.size_to_chunks(size)
        zhdr: ZbudHeader | None = None
        bud = FIRST
        for i in range(chunks, self.nchunks):
            if self.unbuddied[i]:
                zhdr = self.unbuddied[i].pop()
                bud = FIRST if zhdr.first_chunks == 0 else LAST
                break
        if zhdr is None:
            frame = self.ctx.alloc_page(gfp, "zbud page")
            if frame is None:
                return -ENOMEM, 0
            self.pages_nr += 1
            zhdr = ZbudHeader(frame)
            self._pages[frame.addr] = zhdr
            bud = FIRST
        if bud == FIRST:
            zhdr.first_chunks = chunks
        else:
            zhdr.last_chunks = chunks
        if zhdr.first_chunks == 0 or zhdr.last_chunks == 0:
            self.unbuddied[self.num_free_chunks(zhdr)].append(zhdr)
        else:
            self.buddied.append(zhdr)
        if zhdr in self.lru:
            self.lru.remove(zhdr)
        self.lru.append(zhdr)
        handle = self.encode_handle(zhdr, bud)
        self._live.add(handle)
        self._freed.discard(handle)
        return 0, handle

    def _header(self, handle: int, op: str) -> ZbudHeader:
        if handle not in self._live:
            if handle in self._freed:
                freed = DoubleFree if op == "zbud_free" else UseAfterFree
                raise freed(f"{op}: zbud handle {handle:#x} was already freed",
                            f"mm/zbud.c:{op}", value=handle)
            raise BadHandle(f"{op}: {handle:#x} is not a live zbud handle", f"mm/zbud.c:{op}",
                            value=handle)
        zhdr = self._pages.get(handle & ~(self.page_size - 1))
        if zhdr is None:
            raise BadAccess(f"BUG: unable to handle page fault: zbud handle {handle:#x} lies in "
                            "no zbud page", f"mm/zbud.c:{op}", value=handle)
        return zhdr

    def zbud_free(self, handle: int) -> None:
        """mm/zbud.c:zbud_free."""
        zhdr = self._header(handle, "zbud_free")
        self._live.remove(handle)
        self._freed.add(handle)
        if (handle - self.zhdr_size_aligned) & (self.page_size - 1):
            zhdr.last_chunks = 0
        else:
            zhdr.first_chunks = 0
        if zhdr.under_reclaim:
            return
        self._list_del_buddy(zhdr)
        if zhdr.first_chunks == 0 and zhdr.last_chunks == 0:
            self.lru.remove(zhdr)
            del self._pages[zhdr.frame.addr]
            self.ctx.free_page(zhdr.frame)
            self.pages_nr -= 1
        else:
            self.unbuddied[self.num_free_chunks(zhdr)].append(zhdr)

    def _list_del_buddy(self, zhdr: ZbudHeader) -> None:
        if zhdr in self.buddied:
            self.buddied.remove(zhdr)
            return
        for lst in self.unbuddied:
            if zhdr in lst:
                lst.remove(zhdr)
                return

    def zbud_map(self, handle: int) -> int:
        """mm/zbud.c:zbud_map: ``(void *)handle``."""
        self._header(handle, "zbud_map")
        return handle

    def zbud_unmap(self, handle: int) -> None:
        """mm/zbud.c:zbud_unmap: nothing to undo."""
        self._header(handle, "zbud_unmap")

    def zbud_get_pool_size(self) -> int:
        """mm/zbud.c:zbud_get_pool_size: pages."""
        return self.pages_nr

    def zbud_reclaim_page(self, retries: int) -> int:
        """mm/zbud.c:zbud_reclaim_page: evict the buddies of the LRU's oldest page through
        ``ops->evict``; 0 when a page was freed, -EINVAL without evict, -EAGAIN otherwise."""
        if self.evict is None or not self.lru:
            return -EINVAL
        for _ in range(retries):
            zhdr = self.lru.pop(0)
            self._list_del_buddy(zhdr)
            zhdr.under_reclaim = True
            first = self.encode_handle(zhdr, FIRST) if zhdr.first_chunks else 0
            last = self.encode_handle(zhdr, LAST) if zhdr.last_chunks else 0
            for h in (first, last):
                if h and self.evict(h):
                    break
            zhdr.under_reclaim = False
            if zhdr.first_chunks == 0 and zhdr.last_chunks == 0:
                del self._pages[zhdr.frame.addr]
                self.ctx.free_page(zhdr.frame)
                self.pages_nr -= 1
                return 0
            if zhdr.first_chunks == 0 or zhdr.last_chunks == 0:
                self.unbuddied[self.num_free_chunks(zhdr)].append(zhdr)
            else:
                self.buddied.append(zhdr)
            self.lru.append(zhdr)
            if not self.lru:
                break
        return -EAGAIN

    def live_handles(self) -> frozenset[int]:
        return frozenset(self._live)


def zbud_create_pool(space: AddressSpace, ctx: KernelContext, gfp: int = 0,
                     evict: Callable[[int], int] | None = None, *,
                     pool_class: type[ZbudPool] | None = None) -> ZbudPool:
    """mm/zbud.c:zbud_create_pool, v5.8 (``CHUNK_SHIFT = PAGE_SHIFT - NCHUNKS_ORDER``);
    ``pool_class`` is a subclass overriding some of its kernel functions (a meta-test's
    broken zbud)."""
    ctx.attach(space)
    psize = space.abi.page_size
    shift = psize.bit_length() - 1 - NCHUNKS_ORDER
    chunk = 1 << shift
    nchunks = (psize - chunk) >> shift
    if ctx.in_atomic():
        raise KernelBug("zbud_create_pool: kzalloc(GFP_KERNEL) in atomic context",
                        "mm/zbud.c:zbud_create_pool")
    return (pool_class or ZbudPool)(space, ctx, psize, shift, chunk, chunk, nchunks,
                    [[] for _ in range(nchunks)], evict=evict)
