"""A checker's view of a zsmalloc pool, built on the pool's public accessors only: where a live
object's bytes are, where object ``k`` of a zspage starts, and the debugfs ``classes`` file.

The rendering keeps the kernel's ``seq_printf`` formats verbatim, hence printf-style ``%``.
"""
# ruff: noqa: UP031

from __future__ import annotations

from model.zsmalloc import ZS_INUSE_RATIO_10, ObjectLocation, Zspage, ZsPool


def object_extents(pool: ZsPool, handle: int, length: int | None = None,
                   loc: ObjectLocation | None = None) -> tuple[tuple[int, int], ...]:
    """The address ranges ``(start, end)`` of a live object's slot, or of its header plus
    ``length`` payload bytes (which may run past the slot when the class is too small).
    ``loc`` is the handle's :meth:`~model.zsmalloc.ZsPool.object_location` if the caller has
    it."""
    if loc is None:
        loc = pool.object_location(handle)
    psize = pool.page_size
    n = loc.size if length is None else length + (0 if loc.huge else pool.ws)
    first = min(n, psize - loc.offset)
    out = [(loc.page_addr + loc.offset, loc.page_addr + loc.offset + first)]
    rest = n - first
    page = pool.page_at(loc.page_addr)
    nxt = page.next if page is not None else None
    while rest > 0 and nxt is not None:
        k = min(rest, psize)
        out.append((nxt.frame.addr, nxt.frame.addr + k))
        rest -= k
        nxt = nxt.next
    if rest > 0:
        out.append((loc.page_addr + psize, loc.page_addr + psize + rest))
    return tuple(out)


def zspage_object_addr(pool: ZsPool, zspage: Zspage, obj_idx: int) -> int:
    """The address where object ``obj_idx`` of a zspage starts."""
    o = obj_idx * pool.size_class[zspage.class_index].size
    return zspage.pages[o >> pool.page_shift].frame.addr + (o & (pool.page_size - 1))


def debugfs_classes(pool: ZsPool) -> str:
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
