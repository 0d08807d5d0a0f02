"""mm/zpool.c (v5.8): one front-end over the zsmalloc, zbud and z3fold drivers.

zpool passes handles through unchanged, so a handle means what its backend makes it mean:
zsmalloc's are 8-aligned slab addresses, zbud's are 64-aligned data addresses, z3fold's are
slot addresses (``% 64`` in 0/8/16/24) or, for headless pages, ``page | 1``: odd.

``zpool_malloc`` returns ``0`` or a negative value and writes the handle through a pointer; the
model returns both as a :class:`ZpoolAlloc` and reproduces what each driver leaves in
``*handle`` on failure (zsmalloc overwrites it with 0 and returns -1; zbud and z3fold leave it
untouched and return an errno).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from model.context import KernelContext
from model.errnos import EINVAL
from model.errors import InputError
from model.memory import AddressSpace
from model.z3fold import Z3foldPool, z3fold_create_pool
from model.zbud import ZbudPool, zbud_create_pool
from model.zsmalloc import ERA_V58, ZsMapMode, ZsPool, zs_create_pool

ZPOOL_TYPES: tuple[str, ...] = ("zsmalloc", "zbud", "z3fold")


class ZpoolMapMode(enum.IntEnum):
    """include/linux/zpool.h ``enum zpool_mapmode``."""

    ZPOOL_MM_RW = 0
    ZPOOL_MM_RO = 1
    ZPOOL_MM_WO = 2
    ZPOOL_MM_DEFAULT = 0


@attrs.frozen
class ZpoolAlloc:
    """``zpool_malloc``'s return value and what it left in ``*handle``."""

    ret: int
    handle: int


@attrs.frozen
class ZpoolShrink:
    ret: int
    reclaimed: int


@attrs.define(slots=True, eq=False)
class Zpool:
    """``struct zpool``: the driver type and its pool."""

    type: str
    name: str
    backend: ZsPool | ZbudPool | Z3foldPool
    evict: Callable[[int], int] | None = None

    def zpool_get_type(self) -> str:
        """mm/zpool.c:zpool_get_type."""
        return self.type

    def zpool_malloc_support_movable(self) -> bool:
        """mm/zpool.c:zpool_malloc_support_movable: true only for zsmalloc."""
        return self.type == "zsmalloc"

    def zpool_evictable(self) -> bool:
        """mm/zpool.c:zpool_evictable: ``driver->shrink && ops && ops->evict``."""
        return self.type != "zsmalloc" and self.evict is not None

    def zpool_malloc(self, size: int, gfp: int, handle: int = 0) -> ZpoolAlloc:
        """mm/zpool.c:zpool_malloc: ``driver->malloc``; ``handle`` is ``*handle`` before."""
        b = self.backend
        if isinstance(b, ZsPool):
            h = b.zs_malloc(size, gfp)  # zs_zpool_malloc: *handle = zs_malloc(); -1 on 0
            return ZpoolAlloc(0 if h else -1, h)
        if isinstance(b, ZbudPool):
            ret, h = b.zbud_alloc(size, gfp)
        else:
            ret, h = b.z3fold_alloc(size, gfp)
        return ZpoolAlloc(ret, h if ret == 0 else handle)

    def zpool_free(self, handle: int) -> None:
        """mm/zpool.c:zpool_free."""
        b = self.backend
        if isinstance(b, ZsPool):
            b.zs_free(handle)
        elif isinstance(b, ZbudPool):
            b.zbud_free(handle)
        else:
            b.z3fold_free(handle)

    def zpool_map_handle(self, handle: int,
                         mm: ZpoolMapMode | int = ZpoolMapMode.ZPOOL_MM_RW) -> int:
        """mm/zpool.c:zpool_map_handle (zs_zpool_map maps RO/WO/RW onto ZS_MM_*)."""
        b = self.backend
        if isinstance(b, ZsPool):
            return b.zs_map_object(handle, ZsMapMode(int(mm)) if int(mm) in (0, 1, 2)
                                   else ZsMapMode.ZS_MM_RW)
        if isinstance(b, ZbudPool):
            return b.zbud_map(handle)
        return b.z3fold_map(handle)

    def zpool_unmap_handle(self, handle: int) -> None:
        """mm/zpool.c:zpool_unmap_handle."""
        b = self.backend
        if isinstance(b, ZsPool):
            b.zs_unmap_object(handle)
        elif isinstance(b, ZbudPool):
            b.zbud_unmap(handle)
        else:
            b.z3fold_unmap(handle)

    def zpool_get_total_size(self) -> int:
        """mm/zpool.c:zpool_get_total_size: bytes (pages << PAGE_SHIFT)."""
        b = self.backend
        if isinstance(b, ZsPool):
            return b.zs_get_total_pages() * b.page_size
        if isinstance(b, ZbudPool):
            return b.zbud_get_pool_size() * b.page_size
        return b.z3fold_get_pool_size() * b.page_size

    def zpool_shrink(self, pages: int) -> ZpoolShrink:
        """mm/zpool.c:zpool_shrink: -EINVAL when the driver has no ``shrink`` (zsmalloc) or
        (model) no evict callback; zbud reclaims LRU pages through ``evict``."""
        b = self.backend
        if not isinstance(b, ZbudPool) or b.evict is None:
            return ZpoolShrink(-EINVAL, 0)
        reclaimed = 0
        ret = 0
        while reclaimed < pages:
            ret = b.zbud_reclaim_page(8)
            if ret < 0:
                break
            reclaimed += 1
        return ZpoolShrink(ret, reclaimed)

    def live_handles(self) -> frozenset[int]:
        return self.backend.live_handles()


#: The pool class of each driver.
_DRIVERS: dict[str, type[ZsPool | ZbudPool | Z3foldPool]] = {
    "zsmalloc": ZsPool, "zbud": ZbudPool, "z3fold": Z3foldPool}


def zpool_has_pool(type_: str) -> bool:
    """mm/zpool.c:zpool_has_pool (every driver of the model is built in)."""
    return type_ in ZPOOL_TYPES


def zpool_create_pool(type_: str, name: str, gfp: int, space: AddressSpace,
                      ctx: KernelContext, *, evict: Callable[[int], int] | None = None,
                      driver_class: type[ZsPool | ZbudPool | Z3foldPool] | None = None
                      ) -> Zpool | None:
    """mm/zpool.c:zpool_create_pool, v5.8: NULL (None) when the pool cannot be created.

    zsmalloc ignores ``gfp`` and the ops; zbud keeps ``evict`` for ``zpool_shrink``.
    ``driver_class`` is a subclass of the driver's pool overriding some of its kernel functions:
    how a meta-test breaks one driver and shows that a property catches it.
    """
    if type_ not in ZPOOL_TYPES:
        raise InputError(f"unknown zpool type {type_!r} (known: {', '.join(ZPOOL_TYPES)})")
    backend: ZsPool | ZbudPool | Z3foldPool | None
    cls: Any = driver_class
    if cls is not None and not issubclass(cls, _DRIVERS[type_]):
        raise InputError(f"{cls.__name__} is not a {_DRIVERS[type_].__name__}")
    if type_ == "zsmalloc":
        backend = zs_create_pool(name, space, ctx, era=ERA_V58, pool_class=cls)
    elif type_ == "zbud":
        backend = zbud_create_pool(space, ctx, gfp, evict, pool_class=cls)
    else:
        backend = z3fold_create_pool(space, ctx, gfp, pool_class=cls)
    if backend is None:
        return None
    return Zpool(type_, name, backend, evict)
