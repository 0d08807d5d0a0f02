"""mm/z3fold.c (v5.8): up to three buddies per page, handles that point at slots, and
*headless* pages whose handles are odd.

Non-headless handles are ``&slots->slot[idx]``: a word of a ``z3fold_buddy_slots`` object from
the ``z3fold_handle`` slab (``SLOTS_ALIGN`` 64), so ``handle % 64`` is 0, 8, 16 or 24; the slot
holds ``page_address + idx`` (plus ``last_chunks << BUDDY_SHIFT`` for LAST) with
``idx = (bud + first_num) & BUDDY_MASK``.  An allocation larger than
``PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE`` takes a whole *headless* page and its handle is
``page_address | 1 << PAGE_HEADLESS``: odd.  z3fold itself tells the two apart by bit 0.

``ZHDR_SIZE_ALIGNED`` is ``round_up(sizeof(struct z3fold_header), CHUNK_SIZE)``: 128 on a
non-debug 64-bit build (the header is 88 bytes), 64 on 32-bit; debug options that grow
``spinlock_t`` change it (parameter ``zhdr_size``).

Simplified: one set of unbuddied lists (the kernel keeps one per CPU and looks at other CPUs'
lists only for an exact fit), the in-page compaction that ``z3fold_free`` queues runs at once, no
stale-page reuse, no page migration.
"""

from __future__ import annotations

import attrs

from model.context import KernelContext
from model.errnos import EINVAL, ENOMEM, ENOSPC
from model.errors import BadAccess, BadHandle, DoubleFree, KernelBug, UseAfterFree
from model.gfp import GFP_HIGHMEM_BIT, GFP_MOVABLE_BIT
from model.memory import AddressSpace, PageFrame
from model.slab import KmemCache

NCHUNKS_ORDER = 6
BUDDY_MASK = 0x3
BUDDY_SHIFT = 2
SLOTS_ALIGN = 0x40
BIG_CHUNK_GAP = 3
PAGE_HEADLESS = 0
HEADLESS, FIRST, MIDDLE, LAST = 0, 1, 2, 3


@attrs.define(slots=True, eq=False)
class Z3foldHeader:
    """``struct z3fold_header`` (fields) of one page; ``headless`` is the PAGE_HEADLESS bit."""

    frame: PageFrame
    headless: bool
    slots: int = 0
    first_chunks: int = 0
    middle_chunks: int = 0
    last_chunks: int = 0
    start_middle: int = 0
    first_num: int = 0
    refcount: int = 1
    middle_mapped: bool = False


@attrs.define(slots=True, eq=False)
class Z3foldPool:
    """``struct z3fold_pool``."""

    space: AddressSpace
    ctx: KernelContext
    page_size: int
    chunk_shift: int
    chunk_size: int
    zhdr_size_aligned: int
    c_handle: KmemCache
    unbuddied: list[list[Z3foldHeader]]
    lru: list[Z3foldHeader] = attrs.field(factory=list)
    pages_nr: int = 0
    _pages: dict[int, Z3foldHeader] = attrs.field(factory=dict)
    _live: set[int] = attrs.field(factory=set)
    _freed: set[int] = attrs.field(factory=set)

    @property
    def zhdr_chunks(self) -> int:
        return self.zhdr_size_aligned >> self.chunk_shift

    @property
    def total_chunks(self) -> int:
        return self.page_size >> self.chunk_shift

    @property
    def nchunks(self) -> int:
        return (self.page_size - self.zhdr_size_aligned) >> self.chunk_shift

    def headless_threshold(self) -> int:
        """Sizes above this take a headless page."""
        return self.page_size - self.zhdr_size_aligned - self.chunk_size

    def size_to_chunks(self, size: int) -> int:
        return (size + self.chunk_size - 1) >> self.chunk_shift

    def num_free_chunks(self, z: Z3foldHeader) -> int:
        """mm/z3fold.c:num_free_chunks."""
        if z.middle_chunks:
            before = 0 if z.first_chunks else z.start_middle - self.zhdr_chunks
            after = (0 if z.last_chunks
                     else self.total_chunks - (z.start_middle + z.middle_chunks))
            return max(before, after)
        return self.nchunks - z.first_chunks - z.last_chunks

    def get_free_buddy(self, z: Z3foldHeader, chunks: int) -> int:
        """mm/z3fold.c:get_free_buddy."""
        if z.middle_chunks:
            if not z.first_chunks and chunks <= z.start_middle - self.zhdr_chunks:
                return FIRST
            if not z.last_chunks:
                return LAST
            return HEADLESS
        if not z.first_chunks:
            return FIRST
        if not z.last_chunks:
            return LAST
        return MIDDLE

    def _word(self, addr: int) -> int:
        return self.space.read_word(addr)

    def encode_handle(self, z: Z3foldHeader, bud: int) -> int:
        """mm/z3fold.c:encode_handle."""
        h = z.frame.addr
        if bud == HEADLESS:
            return h | (1 << PAGE_HEADLESS)
        idx = (bud + z.first_num) & BUDDY_MASK
        h += idx
        if bud == LAST:
            h |= z.last_chunks << BUDDY_SHIFT
        slot = z.slots + idx * self.space.abi.long_size
        self.space.write_word(slot, h)
        return slot

    def _remove_unbuddied(self, z: Z3foldHeader) -> None:
        for lst in self.unbuddied:
            if z in lst:
                lst.remove(z)
                return

    def _add_to_unbuddied(self, z: Z3foldHeader) -> None:
        """mm/z3fold.c:add_to_unbuddied."""
        if (z.first_chunks == 0 or z.last_chunks == 0 or z.middle_chunks == 0):
            self.unbuddied[self.num_free_chunks(z)].append(z)

    def middle_start(self, z: Z3foldHeader) -> int:
        """The chunk a new MIDDLE buddy starts at: ``zhdr->first_chunks + ZHDR_CHUNKS``
        (mm/z3fold.c:z3fold_alloc, v5.8)."""
        return z.first_chunks + self.zhdr_chunks

    def z3fold_alloc(self, size: int, gfp: int) -> tuple[int, int]:
        """mm/z3fold.c:z3fold_alloc, v5.8: ``(0, handle)`` or ``(-errno, 0)``: -EINVAL for 0
        bytes, -ENOSPC above PAGE_SIZE, -ENOMEM."""
        if not size:
            return -EINVAL, 0
        if size > self.page_size:
            return -ENOSPC, 0
        chunks = self.size_to_chunks(size)
        z: Z3foldHeader | None = None
        bud = HEADLESS
        if size <= self.headless_threshold():
            for i in range(chunks, len(self.unbuddied)):
                lst = self.unbuddied[i]
                for cand in reversed(lst):
                    b = self.get_free_buddy(cand, chunks)
                    if b != HEADLESS:
                        z, bud = cand, b
                        lst.remove(cand)
                        z.refcount += 1
                        break
                if z is not None:
                    break
            if z is None:
                bud = FIRST
        if z is None:
            frame = self.ctx.alloc_page(gfp, "z3fold page")
            if frame is None:
                return -ENOMEM, 0
            z = Z3foldHeader(frame, headless=(bud == HEADLESS))
            if bud != HEADLESS:
                slots = self.c_handle.alloc(gfp & ~(GFP_HIGHMEM_BIT | GFP_MOVABLE_BIT))
                if not slots:
                    self.ctx.free_page(frame)
                    return -ENOMEM, 0
                for i in range(BUDDY_MASK + 1):
                    self.space.write_word(slots + i * self.space.abi.long_size, 0)
                z.slots = slots
            self.pages_nr += 1
            self._pages[frame.addr] = z
        if bud == FIRST:
            z.first_chunks = chunks
        elif bud == LAST:
            z.last_chunks = chunks
        elif bud == MIDDLE:
            z.middle_chunks = chunks
            z.start_middle = self.middle_start(z)
        if bud != HEADLESS:
            self._add_to_unbuddied(z)
        if z in self.lru:
            self.lru.remove(z)
        self.lru.append(z)
        handle = self.encode_handle(z, bud)
        self._live.add(handle)
        self._freed.discard(handle)
        return 0, handle

    def _lookup(self, handle: int, op: str) -> tuple[Z3foldHeader, int]:
        """(header, buddy) of a live handle: mm/z3fold.c get_z3fold_header + handle_to_buddy."""
        if handle not in self._live:
            if handle in self._freed:
                freed = DoubleFree if op == "z3fold_free" else UseAfterFree
                raise freed(f"{op}: z3fold handle {handle:#x} was already freed",
                            f"mm/z3fold.c:{op}", value=handle)
            raise BadHandle(f"{op}: {handle:#x} is not a live z3fold handle", f"mm/z3fold.c:{op}",
                            value=handle)
        pmask = ~(self.page_size - 1)
        if handle & (1 << PAGE_HEADLESS):
            z = self._pages.get(handle & pmask)
            if z is None or not z.headless:
                raise BadAccess(f"BUG: {op}: odd handle {handle:#x} names no headless page",
                                f"mm/z3fold.c:{op}", value=handle)
            return z, HEADLESS
        addr = self._word(handle)
        z = self._pages.get(addr & pmask)
        if z is None:
            raise BadAccess(f"BUG: unable to handle page fault: {op}: slot {handle:#x} holds "
                            f"{addr:#x}, in no z3fold page", f"mm/z3fold.c:{op}", value=addr)
        return z, (addr - z.first_num) & BUDDY_MASK

    def handle_to_chunks(self, handle: int) -> int:
        """mm/z3fold.c:handle_to_chunks."""
        return (self._word(handle) & (self.page_size - 1)) >> BUDDY_SHIFT

    def z3fold_map(self, handle: int) -> int:
        """mm/z3fold.c:z3fold_map: the buddy's data address (the page itself when headless)."""
        z, bud = self._lookup(handle, "z3fold_map")
        addr = z.frame.addr
        if z.headless:
            return addr
        if bud == FIRST:
            return addr + self.zhdr_size_aligned
        if bud == MIDDLE:
            z.middle_mapped = True
            return addr + (z.start_middle << self.chunk_shift)
        return addr + self.page_size - (self.handle_to_chunks(handle) << self.chunk_shift)

    def z3fold_unmap(self, handle: int) -> None:
        """mm/z3fold.c:z3fold_unmap."""
        z, bud = self._lookup(handle, "z3fold_unmap")
        if bud == MIDDLE:
            z.middle_mapped = False

    def _free_page(self, z: Z3foldHeader) -> None:
        self._remove_unbuddied(z)
        if z in self.lru:
            self.lru.remove(z)
        del self._pages[z.frame.addr]
        if z.slots:
            self.c_handle.free(z.slots)
        self.ctx.free_page(z.frame)
        self.pages_nr -= 1

    def z3fold_free(self, handle: int) -> None:
        """mm/z3fold.c:z3fold_free, then the queued in-page compaction (run at once)."""
        z, bud = self._lookup(handle, "z3fold_free")
        self._live.remove(handle)
        self._freed.add(handle)
        if z.headless:
            self._free_page(z)
            return
        if bud == FIRST:
            z.first_chunks = 0
        elif bud == MIDDLE:
            z.middle_chunks = 0
        elif bud == LAST:
            z.last_chunks = 0
        else:
            raise KernelBug(f"z3fold_free: unknown bud {bud}", "mm/z3fold.c:z3fold_free")
        self.space.write_word(handle, 0)  # free_handle: slots->slot[idx] = 0
        z.refcount -= 1
        if z.refcount == 0:
            self._free_page(z)
            return
        self._remove_unbuddied(z)
        self.z3fold_compact_page(z)
        self._add_to_unbuddied(z)

    def z3fold_compact_page(self, z: Z3foldHeader) -> bool:
        """mm/z3fold.c:z3fold_compact_page: move the middle buddy (handles stay valid because
        ``first_num`` moves with it)."""
        if z.middle_mapped or z.middle_chunks == 0:
            return False
        data = self.space.region_at(z.frame.addr)
        assert data is not None
        buf = data.data
        shift = self.chunk_shift

        def memmove(dst_chunk: int) -> None:
            src = z.start_middle << shift
            n = z.middle_chunks << shift
            buf[dst_chunk << shift:(dst_chunk << shift) + n] = bytes(buf[src:src + n])

        if z.first_chunks == 0 and z.last_chunks == 0:
            memmove(self.zhdr_chunks)
            z.first_chunks = z.middle_chunks
            z.middle_chunks = 0
            z.start_middle = 0
            z.first_num += 1  # the MIDDLE slot (page + idx) now decodes as FIRST
            return True
        if (z.first_chunks and not z.last_chunks
                and z.start_middle - (z.first_chunks + self.zhdr_chunks) >= BIG_CHUNK_GAP):
            memmove(z.first_chunks + self.zhdr_chunks)
            z.start_middle = z.first_chunks + self.zhdr_chunks
            return True
        if (z.last_chunks and not z.first_chunks
                and self.total_chunks - (z.last_chunks + z.start_middle + z.middle_chunks)
                >= BIG_CHUNK_GAP):
            new_start = self.total_chunks - z.last_chunks - z.middle_chunks
            memmove(new_start)
            z.start_middle = new_start
            return True
        return False

    def z3fold_get_pool_size(self) -> int:
        return self.pages_nr

    def live_handles(self) -> frozenset[int]:
        return frozenset(self._live)


def z3fold_create_pool(space: AddressSpace, ctx: KernelContext, gfp: int = 0, *,
                       zhdr_size: int | None = None,
                       pool_class: type[Z3foldPool] | None = None) -> Z3foldPool:
    """mm/z3fold.c:z3fold_create_pool, v5.8: the pool and its ``z3fold_handle`` slots cache;
    ``pool_class`` is a subclass overriding some of its kernel functions (a meta-test's broken
    z3fold)."""
    ctx.attach(space)
    abi = space.abi
    psize = abi.page_size
    shift = psize.bit_length() - 1 - NCHUNKS_ORDER
    chunk = 1 << shift
    if zhdr_size is None:
        zhdr_size = 88 if abi.long_size == 8 else 48
    zaligned = (zhdr_size + chunk - 1) // chunk * chunk
    slots_size = (BUDDY_MASK + 1) * abi.long_size + abi.long_size + 8
    cache = KmemCache("z3fold_handle", slots_size, ctx, align=SLOTS_ALIGN)
    nchunks = (psize - zaligned) >> shift
    return (pool_class or Z3foldPool)(space, ctx, psize, shift, chunk, zaligned, cache,
                      [[] for _ in range(nchunks + 1)])
