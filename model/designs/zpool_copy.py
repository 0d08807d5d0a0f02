"""``zpool-copy``: the callsite bodies copied into a zs-pool at late init, the section reclaimed.

Jim Cromie, "[PATCH 5/7] dyndbg: WIP replace __dyndbg_callsite section with a zs-pool copy."
(LKML, 7 Aug 2020, the working successor of the July "[PATCH 1/3] dyndbg: WIP replace __dyndbg
section with a zs-pool copy."), transcribed function by function:

* ``struct _ddebug { struct _ddebug_callsite *site; long unsigned int zhandle; flags; key; }``;
* ``ddebug_zpool_init()`` (``late_initcall``): ``zs_create_pool("dyndbg_callsites")``, then
  ``ddebug_zpool_add()`` for every builtin callsite: ``zs_malloc``, map ``ZS_MM_WO``, ``memcpy``,
  ``dp->site = NULL``, unmap; on a failed ``zs_malloc`` it logs ``pool malloc failed on %s`` and
  returns, leaving ``dp->site`` where it was;
* ``ddebug_add_module()`` copies a module's callsites once the pool exists;
* ``ddebug_callsite_get()`` returns ``dp->site`` if set, else maps ``dp->zhandle`` ``ZS_MM_RO``
  into it; ``ddebug_callsite_put()`` unmaps and clears it (``if (!dp->site || !dp->zhandle)
  return``); ``ddebug_change()`` holds the site from the top of the loop to ``skipsite:``;
* ``ddebug_zpool_remove()`` at ``ddebug_remove_module()``: unmap if mapped, ``zs_free``.

What the patch left for later and the model does now, as the issue asks: the
``__dyndbg_callsites`` section is reclaimed after the copy (builtin at late init, a module's after
its copy), so a ``dp->site`` still aimed there is a pointer into freed memory.
"""

from __future__ import annotations

from typing import Any, ClassVar

from model.designs import register
from model.designs.protocol import DdebugSite, DdebugTable
from model.designs.split import SplitDesign
from model.designs.storage import PooledDesign, PoolStore, Relinked
from model.eras import _DPRINTK_CLASS_DFLT
from model.zsmalloc import ZsMapMode

SITE_ZPOOL_ADD = "lib/dynamic_debug.c:ddebug_add_module"


@register
class ZpoolCopyDesign(PooledDesign, SplitDesign):
    """Aug-2020 patch 5/7 (module docstring)."""

    name: ClassVar[str] = "zpool-copy"
    title: ClassVar[str] = ("callsites copied into a zs-pool at late init, mapped on demand, "
                            "the section reclaimed")
    source: ClassVar[str] = ("Jim Cromie, [PATCH 5/7] dyndbg: WIP replace __dyndbg_callsite "
                             "section with a zs-pool copy (LKML, 7 Aug 2020); July [PATCH 1/3]")
    saves_against: ClassVar[str | None] = "section"
    zhandle: ClassVar[bool] = True

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.zpool = PoolStore(self)

    # --- lifecycle -----------------------------------------------------------------------------

    def late_init(self) -> None:
        """lib/dynamic_debug.c:ddebug_zpool_init (late_initcall): create the pool, copy every
        builtin callsite, then reclaim ``__dyndbg_callsites``."""
        super().late_init()
        if self.zpool.create() is None:
            self.log.append("dyndbg: zs_create_pool failed")
            return
        for dt in self._tables:
            for i in range(dt.num_ddebugs):
                self.ddebug_zpool_add(dt, i)
        self.reclaim("vmlinux")

    def reclaim(self, image: str) -> None:
        """Give back an image's ``__dyndbg_callsites`` (free_reserved_area)."""
        rel = self.relinked.get(image)
        if rel is None or rel.count == 0 or rel.bodies_reclaimed:
            return
        self.space.unmap(rel.bodies)
        rel.bodies_reclaimed = True

    def on_add_table(self, dt: DdebugTable) -> None:
        """ddebug_add_module: ``if (dd_callsite_zpool)`` copy the module's callsites (under
        ``ddebug_lock``); the module's callsite section is then reclaimed."""
        if self.zpool.pool is None or dt.builtin:
            return
        self.ctx.mutex_lock(SITE_ZPOOL_ADD)
        for i in range(dt.num_ddebugs):
            self.ddebug_zpool_add(dt, i)
        self.reclaim(dt.mod_name)

    def on_remove_table(self, dt: DdebugTable) -> None:
        for i in range(dt.num_ddebugs):
            self.ddebug_zpool_remove(dt, i)

    def ddebug_zpool_add(self, dt: DdebugTable, i: int) -> None:
        """lib/dynamic_debug.c:ddebug_zpool_add (Aug 2020 5/7)."""
        assert self.body is not None
        head = self.read_head(dt, i)
        data = self.space.read(head["site"], self.body.size)
        handle = self.zpool.store(data)
        if not handle:
            fn = self.space.read_cstring(self.body.get(data, "function")).decode("latin-1")
            self.log.append(f"dynamic_debug:ddebug_zpool_add: pool malloc failed on {fn}")
            return
        self.head_set(dt, i, {"zhandle": handle, "site": 0})

    def ddebug_zpool_remove(self, dt: DdebugTable, i: int) -> None:
        """lib/dynamic_debug.c:ddebug_zpool_remove (Aug 2020 5/7)."""
        head = self.read_head(dt, i)
        if head["site"]:
            if head["zhandle"]:
                self.log.append("dynamic_debug:ddebug_zpool_remove: zhandle shouldnt be mapped now")
            self.zpool.unmap(head["zhandle"])
        if not head["zhandle"]:
            self.log.append("dynamic_debug:ddebug_zpool_remove: zhandle already cleared !")
        else:
            self.zpool.free(head["zhandle"])

    # --- ddebug_callsite_get / put ---------------------------------------------------------------

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite:
        """lib/dynamic_debug.c:ddebug_callsite_get: ``dp->site``, else map ``dp->zhandle``."""
        assert self.body is not None
        head = self.read_head(dt, i)
        site = head["site"]
        if not site:
            site = self.zpool.map(head["zhandle"], self.body.size, ZsMapMode.ZS_MM_RO)
            self.head_set(dt, i, {"site": site})
        b = self.read_body(site)
        return DdebugSite(b["modname"], b["function"], b["filename"], b["format"], b["lineno"],
                          b.get("class_id", _DPRINTK_CLASS_DFLT), head["flags"])

    def keep_mapped(self, dt: DdebugTable, i: int) -> bool:
        """Whether ``put`` leaves the site mapped (the cache); never here."""
        return False

    def put_site(self, dt: DdebugTable, i: int) -> None:
        """lib/dynamic_debug.c:ddebug_callsite_put: ``if (!dp->site || !dp->zhandle) return``;
        unmap; ``dp->site = NULL``."""
        head = self.read_head(dt, i)
        if not head["site"] or not head["zhandle"]:
            return
        if self.keep_mapped(dt, i):
            return
        self.zpool.unmap(head["zhandle"])
        self.head_set(dt, i, {"site": 0})



__all__ = ["Relinked", "ZpoolCopyDesign"]
