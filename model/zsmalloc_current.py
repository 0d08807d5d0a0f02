"""The parts of :mod:`model.zsmalloc` that differ enough per era to stand apart: the current
era's compaction and the debugfs ``classes`` rendering of both eras.

The rendering keeps the kernel's ``seq_printf`` formats verbatim, hence printf-style ``%``.
"""
# ruff: noqa: UP031

from __future__ import annotations

from typing import TYPE_CHECKING

from model.zsmalloc_classes import ERA_V58, OBJ_ALLOCATED_TAG

if TYPE_CHECKING:
    from model.zsmalloc import SizeClass, Zspage, ZsPool

ZS_INUSE_RATIO_0 = 0
ZS_INUSE_RATIO_10 = 1
ZS_INUSE_RATIO_99 = 10
ZS_INUSE_RATIO_100 = 11


def isolate_src_zspage(pool: ZsPool, class_: SizeClass) -> Zspage | None:
    """mm/zsmalloc.c:isolate_src_zspage (current): the head of the emptiest non-empty group,
    scanning ZS_INUSE_RATIO_10 up to ZS_INUSE_RATIO_99."""
    for fg in range(ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_99 + 1):
        lst = class_.fullness_list[fg]
        if lst:
            zspage = lst[-1]
            pool.remove_zspage(class_, zspage, fg)
            return zspage
    return None


def isolate_dst_zspage(pool: ZsPool, class_: SizeClass) -> Zspage | None:
    """mm/zsmalloc.c:isolate_dst_zspage (current): scanning ZS_INUSE_RATIO_99 down to _10."""
    for fg in range(ZS_INUSE_RATIO_99, ZS_INUSE_RATIO_10 - 1, -1):
        lst = class_.fullness_list[fg]
        if lst:
            zspage = lst[-1]
            pool.remove_zspage(class_, zspage, fg)
            return zspage
    return None


def migrate_zspage_current(pool: ZsPool, class_: SizeClass, src: Zspage, dst: Zspage) -> None:
    """mm/zsmalloc.c:migrate_zspage (current): move objects until ``dst`` is full or ``src``
    empty; no pinning (the pool write lock excludes zs_free, the zspage lock readers)."""
    s_page = src.pages[0]
    obj_idx = 0
    size = class_.size
    psize = pool.page_size
    while True:
        page = s_page
        offset = page.first_obj_offset + size * obj_idx
        handle = 0
        while offset < psize:
            head = pool._obj_head(page, offset)
            if head & OBJ_ALLOCATED_TAG:
                handle = head & ~OBJ_ALLOCATED_TAG
                break
            offset += size
            obj_idx += 1
        if not handle:
            nxt = None if page.huge else page.next
            if nxt is None:
                break
            s_page = nxt
            obj_idx = 0
            continue
        used_obj = pool.handle_to_obj(handle)
        free_obj = pool.obj_malloc(class_, dst, handle)
        pool.zs_object_copy(class_, free_obj, used_obj)
        obj_idx += 1
        pool.record_obj(handle, free_obj)
        pool.obj_free(class_, used_obj)
        if dst.inuse == class_.objs_per_zspage:
            break
        if src.inuse == 0:
            break


def __zs_compact_current(pool: ZsPool, class_: SizeClass) -> int:
    """mm/zsmalloc.c:__zs_compact (current, 7.1.5)."""
    src: Zspage | None = None
    dst: Zspage | None = None
    pages_freed = 0
    while pool.zs_can_compact(class_):
        if dst is None:
            dst = isolate_dst_zspage(pool, class_)
            if dst is None:
                break
        src = isolate_src_zspage(pool, class_)
        if src is None:
            break
        if src.readers:  # !zspage_write_trylock(src_zspage)
            break
        migrate_zspage_current(pool, class_, src, dst)
        fg = pool.putback_zspage(class_, src)
        if fg == ZS_INUSE_RATIO_0:
            pool.free_zspage(class_, src)
            pages_freed += class_.pages_per_zspage
        src = None
        if pool.get_fullness_group(class_, dst) == ZS_INUSE_RATIO_100:
            pool.putback_zspage(class_, dst)
            dst = None
            pool.ctx.cond_resched("mm/zsmalloc.c:__zs_compact")
    if src is not None:
        pool.putback_zspage(class_, src)
    if dst is not None:
        pool.putback_zspage(class_, dst)
    return pages_freed


def zs_compact_current(pool: ZsPool) -> int:
    """mm/zsmalloc.c:zs_compact (current): the pages freed by this call, added to
    ``pages_compacted``; 0 at once when a compaction is already in progress."""
    if pool.compaction_in_progress:
        return 0
    pool.compaction_in_progress = True
    try:
        pages_freed = 0
        for class_ in reversed(pool.classes):
            pages_freed += __zs_compact_current(pool, class_)
        pool.pages_compacted += pages_freed
        return pages_freed
    finally:
        pool.compaction_in_progress = False


def render_classes(pool: ZsPool) -> str:
    """mm/zsmalloc.c:zs_stats_size_show: /sys/kernel/debug/zsmalloc/<pool>/classes."""
    stats = pool.class_stats()
    out: list[str] = []
    if pool.era == ERA_V58:
        out.append(" %5s %5s %11s %12s %13s %10s %10s %16s %8s" % (
            "class", "size", "almost_full", "almost_empty", "obj_allocated", "obj_used",
            "pages_used", "pages_per_zspage", "freeable"))
        tot = [0] * 6
        for s in stats:
            af, ae = s.fullness[2], s.fullness[1]
            out.append(" %5u %5u %11u %12u %13u %10u %10u %16d %8u" % (
                s.index, s.size, af, ae, s.obj_allocated, s.obj_used, s.pages_used,
                s.pages_per_zspage, s.freeable))
            for i, v in enumerate((af, ae, s.obj_allocated, s.obj_used, s.pages_used,
                                   s.freeable)):
                tot[i] += v
        out.append("")
        out.append(" %5s %5s %11u %12u %13u %10u %10u %16s %8u" % (
            "Total", "", tot[0], tot[1], tot[2], tot[3], tot[4], "", tot[5]))
        return "\n".join(out) + "\n"
    groups = ("10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "99%", "100%")
    out.append(" %5s %5s" % ("class", "size") + "".join(" %9s" % g for g in groups)
               + " %13s %10s %10s %16s %16s" % ("obj_allocated", "obj_used", "pages_used",
                                                 "pages_per_zspage", "freeable"))
    totals = [0] * len(groups)
    tot = [0] * 4
    for s in stats:
        fg = s.fullness[ZS_INUSE_RATIO_10:]
        out.append(" %5u %5u" % (s.index, s.size) + "".join(" %9u" % v for v in fg)
                   + " %13u %10u %10u %16d %16u" % (s.obj_allocated, s.obj_used, s.pages_used,
                                                    s.pages_per_zspage, s.freeable))
        for i, v in enumerate(fg):
            totals[i] += v
        for i, v in enumerate((s.obj_allocated, s.obj_used, s.pages_used, s.freeable)):
            tot[i] += v
    out.append("")
    out.append(" %5s %5s" % ("Total", "") + "".join(" %9u" % v for v in totals)
               + " %13u %10u %10u %16s %16u" % (tot[0], tot[1], tot[2], "", tot[3]))
    return "\n".join(out) + "\n"
