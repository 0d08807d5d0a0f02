"""A SLUB-like ``kmem_cache`` model: fixed-size objects carved out of order-0 pages.

Mirrors what zsmalloc and its users rely on from mm/slub.c (v5.8): an object address is aligned
as ``calculate_alignment()`` aligns it (at least ``ARCH_SLAB_MINALIGN`` =
``__alignof__(unsigned long long)``, rounded up to ``sizeof(void *)``), so a zsmalloc handle is
never 0 and always a multiple of 8 on 64-bit; a freed object is reused first (LIFO, as a SLUB
per-CPU freelist is), and the free pointer is written into the first word of the freed object
(``s->offset`` is 0 for objects of one or two words since v5.7).

Simplified: one freelist per cache (no per-CPU slabs, no partial lists), no freelist
randomization or hardening, slab pages are never given back.  The model *knows* which objects are
live, so a double free or a foreign pointer is reported (:class:`~model.errors.DoubleFree`,
:class:`~model.errors.BadHandle`) where SLUB would corrupt its freelist.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from model.errors import BadHandle, DoubleFree, InputError
from model.gfp import GFP_DIRECT_RECLAIM_BIT, GFP_ZERO_BIT, SITE_SLAB_PRE_ALLOC
from model.memory import AddressSpace, PageFrame


class PageAllocator(Protocol):
    """What a cache needs of the kernel below it (``model.context.KernelContext`` is one):
    order-0 pages (mm/page_alloc.c), the sleeping check, fault injection, the address space."""

    def address_space(self) -> AddressSpace: ...

    def might_sleep(self, site: str) -> None: ...

    def should_fail_alloc(self) -> bool: ...

    def alloc_page(self, gfp: int, name: str = "page") -> PageFrame | None: ...


def calculate_alignment(align: int, size: int, pointer_size: int) -> int:
    """mm/slab_common.c:calculate_alignment, v5.8 (no SLAB_HWCACHE_ALIGN):
    ``ALIGN(max(align, ARCH_SLAB_MINALIGN), sizeof(void *))`` with ARCH_SLAB_MINALIGN 8."""
    arch_slab_minalign = 8
    a = max(align, arch_slab_minalign)
    return (a + pointer_size - 1) // pointer_size * pointer_size


@attrs.define(slots=True, eq=False)
class KmemCache:
    """mm/slub.c ``struct kmem_cache`` (v5.8), reduced to what the model observes."""

    name: str
    object_size: int
    ctx: PageAllocator
    align: int = 0
    #: Bytes between consecutive objects in a slab page.
    stride: int = 0
    _free: list[int] = attrs.field(factory=list)
    _live: set[int] = attrs.field(factory=set)
    _freed: set[int] = attrs.field(factory=set)
    _slabs: list[PageFrame] = attrs.field(factory=list)
    #: Slab page address -> its bytes (the region's buffer), for word access without a lookup.
    _slab_data: dict[int, bytearray] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        space = self.ctx.address_space()
        ptr = space.abi.pointer_size
        self.align = calculate_alignment(self.align, self.object_size, ptr)
        size = max(self.object_size, ptr)
        self.stride = (size + self.align - 1) // self.align * self.align
        if self.stride > space.abi.page_size:
            raise InputError(f"kmem_cache {self.name}: objects of {self.object_size} bytes "
                             "do not fit an order-0 slab in the model")

    def objs_per_slab(self) -> int:
        return self.ctx.address_space().abi.page_size // self.stride

    def _allocate_slab(self, gfp: int) -> bool:
        """mm/slub.c:allocate_slab: a new slab page, its objects free in address order."""
        frame = self.ctx.alloc_page(gfp & ~GFP_ZERO_BIT, f"slab {self.name}")
        if frame is None:
            return False
        self._slabs.append(frame)
        region = self.ctx.address_space().region_at(frame.addr)
        assert region is not None
        self._slab_data[frame.addr] = region.data
        n = self.objs_per_slab()
        self._free.extend(frame.addr + i * self.stride for i in range(n - 1, -1, -1))
        return True

    def alloc(self, gfp: int) -> int:
        """mm/slub.c:kmem_cache_alloc, v5.8: an object address, or 0 (NULL) on failure.

        ``slab_pre_alloc_hook`` does ``might_sleep_if(gfpflags_allow_blocking(flags))`` first.
        """
        ctx = self.ctx
        if gfp & GFP_DIRECT_RECLAIM_BIT:  # gfpflags_allow_blocking
            ctx.might_sleep(SITE_SLAB_PRE_ALLOC)
        if ctx.should_fail_alloc():
            return 0
        if not self._free and not self._allocate_slab(gfp & ~GFP_DIRECT_RECLAIM_BIT):
            return 0
        addr = self._free.pop()
        self._live.add(addr)
        self._freed.discard(addr)
        return addr

    def free(self, addr: int) -> None:
        """mm/slub.c:kmem_cache_free: the object goes to the head of the freelist and its first
        word becomes the free pointer (the next free object's address, or 0)."""
        if addr not in self._live:
            if addr in self._freed:
                raise DoubleFree(f"kmem_cache_free({self.name}): double free of {addr:#x}",
                                 "mm/slub.c:set_freepointer", value=addr)
            raise BadHandle(f"kmem_cache_free({self.name}): {addr:#x} is not an object of this "
                            "cache", "mm/slub.c:cache_from_obj", value=addr)
        self._live.remove(addr)
        self._freed.add(addr)
        space = self.ctx.address_space()
        nxt = self._free[-1] if self._free else 0
        space.write_word(addr, nxt)
        self._free.append(addr)

    def slab_data(self, page_addr: int) -> bytearray | None:
        """The bytes of the slab page at ``page_addr`` (None if it is not one of this cache's)."""
        return self._slab_data.get(page_addr)

    def is_live(self, addr: int) -> bool:
        return addr in self._live

    def was_freed(self, addr: int) -> bool:
        return addr in self._freed

    def live_objects(self) -> frozenset[int]:
        return frozenset(self._live)

    def nr_slabs(self) -> int:
        return len(self._slabs)


#: mm/slab_common.c kmalloc caches (SLUB, v5.8) up to one page: kmalloc-8 .. kmalloc-4096.
KMALLOC_SIZES: tuple[int, ...] = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096,
                                  8192, 16384, 32768, 65536)


@attrs.define(slots=True, eq=False)
class KmallocCaches:
    """The generic ``kmalloc-N`` caches of one model kernel (mm/slab_common.c, v5.8)."""

    ctx: PageAllocator
    _caches: dict[int, KmemCache] = attrs.field(factory=dict)
    _owner: dict[int, KmemCache] = attrs.field(factory=dict)

    def kmalloc(self, size: int, gfp: int) -> int:
        """mm/slub.c:__kmalloc: the smallest kmalloc-N cache that holds ``size`` bytes."""
        page = self.ctx.address_space().abi.page_size
        if size <= 0:
            return 16  # ZERO_SIZE_PTR: include/linux/slab.h, ((void *)16)
        if size > page:
            raise InputError(f"kmalloc({size}) above PAGE_SIZE is not modelled")
        n = next(s for s in KMALLOC_SIZES if s >= size)
        cache = self._caches.get(n)
        if cache is None:
            cache = KmemCache(f"kmalloc-{n}", n, self.ctx, align=8)
            self._caches[n] = cache
        addr = cache.alloc(gfp)
        if addr:
            self._owner[addr] = cache
        return addr

    def kfree(self, addr: int) -> None:
        """mm/slub.c:kfree."""
        cache = self._owner.get(addr)
        if cache is None:
            raise BadHandle(f"kfree({addr:#x}): not a live kmalloc object", "mm/slub.c:kfree",
                            value=addr)
        cache.free(addr)
