"""The parts of :mod:`model.zsmalloc` that differ enough per era to stand apart: the
compaction of 6.3 and later (v6.12 and current: fill a destination from the emptiest sources)
and the debugfs ``classes`` rendering of every era.

The rendering keeps the kernel's ``seq_printf`` formats verbatim, hence printf-style ``%``.
"""
# ruff: noqa: UP031

from __future__ import annotations

from typing import TYPE_CHECKING

from model.errors import KernelBug
from model.zsmalloc_classes import OBJ_ALLOCATED_TAG

if TYPE_CHECKING:
    from model.zsmalloc import SizeClass, Zspage, ZsPool

ZS_INUSE_RATIO_0 = 0
ZS_INUSE_RATIO_10 = 1
ZS_INUSE_RATIO_99 = 10
ZS_INUSE_RATIO_100 = 11


def isolate_src_zspage(pool: ZsPool, class_: SizeClass) -> Zspage | None:
    """mm/zsmalloc.c:isolate_src_zspage (v6.12 :1612, current): the head of the emptiest
    non-empty group, scanning ZS_INUSE_RATIO_10 up to ZS_INUSE_RATIO_99."""
    for fg in range(ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_99 + 1):
        lst = class_.fullness_list[fg]
        if lst:
            zspage = lst[-1]
            pool.remove_zspage(class_, zspage, fg)
            return zspage
    return None


def isolate_dst_zspage(pool: ZsPool, class_: SizeClass) -> Zspage | None:
    """mm/zsmalloc.c:isolate_dst_zspage (v6.12 :1629, current): scanning ZS_INUSE_RATIO_99
    down to _10."""
    for fg in range(ZS_INUSE_RATIO_99, ZS_INUSE_RATIO_10 - 1, -1):
        lst = class_.fullness_list[fg]
        if lst:
            zspage = lst[-1]
            pool.remove_zspage(class_, zspage, fg)
            return zspage
    return None


def migrate_zspage_current(pool: ZsPool, class_: SizeClass, src: Zspage, dst: Zspage) -> None:
    """mm/zsmalloc.c:migrate_zspage (v6.12 :1577, current): move objects until ``dst`` is full
    or ``src`` empty; no pinning (the pool's migrate_lock excludes zs_free, the source's
    zspage lock its readers)."""
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


def zs_compact_class_dst_first(pool: ZsPool, class_: SizeClass) -> int:
    """mm/zsmalloc.c:__zs_compact (v6.12 :1947, current 7.1.5): the pages it freed.  Each
    source is write-locked before its objects move: v6.12 waits in
    ``migrate_write_lock(src_zspage)`` (:1973) for a mapping, which the sequential model
    cannot (:class:`~model.zsmalloc.MigrateLockDeadlock`); current's
    ``zspage_write_trylock`` gives up and ends the class's compaction."""
    feat = pool.feat
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
        if feat.compact_trylock_src:
            if src.readers:  # !zspage_write_trylock(src_zspage)
                break
        else:
            try:
                pool._migrate_write_lock(src, "zs_compact", feat.compact_src_lock_site)
            except KernelBug:
                pool.putback_zspage(class_, src)
                pool.putback_zspage(class_, dst)
                raise
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


def render_classes(pool: ZsPool) -> str:
    """mm/zsmalloc.c:zs_stats_size_show (v5.8; v6.1 :574; v6.12 :559; current):
    /sys/kernel/debug/zsmalloc/<pool>/classes.  The ``freeable`` column is 8 wide up to v6.12
    and 16 in current (its header: 6.1 :586, 6.12 :570)."""
    stats = pool.class_stats()
    out: list[str] = []
    if not pool.feat.fine_fullness:
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
    w = pool.feat.freeable_width
    out.append(" %5s %5s" % ("class", "size") + "".join(" %9s" % g for g in groups)
               + " %13s %10s %10s %16s %*s" % ("obj_allocated", "obj_used", "pages_used",
                                                "pages_per_zspage", w, "freeable"))
    totals = [0] * len(groups)
    tot = [0] * 4
    for s in stats:
        fg = s.fullness[ZS_INUSE_RATIO_10:]
        out.append(" %5u %5u" % (s.index, s.size) + "".join(" %9u" % v for v in fg)
                   + " %13u %10u %10u %16d %*u" % (s.obj_allocated, s.obj_used, s.pages_used,
                                                   s.pages_per_zspage, w, s.freeable))
        for i, v in enumerate(fg):
            totals[i] += v
        for i, v in enumerate((s.obj_allocated, s.obj_used, s.pages_used, s.freeable)):
            tot[i] += v
    out.append("")
    out.append(" %5s %5s" % ("Total", "") + "".join(" %9u" % v for v in totals)
               + " %13u %10u %10u %16s %*u" % (tot[0], tot[1], tot[2], "", w, tot[3]))
    return "\n".join(out) + "\n"
