"""``cache``: enabled callsites kept mapped between uses.

Jim Cromie, "[PATCH 7/7] dyndbg: enable 'cache' of active pr_debug callsites" (LKML, 7 Aug 2020;
again as 7/7 of "WIP dyndbg diet plan, paging Dr Zram.", linux-mm, 25 Nov 2020): the zpool-copy
design whose ``put`` returns early for an enabled callsite::

    if (dp->flags & _DPRINTK_FLAGS_PRINT)
            return; /* keep maps of enabled pr_debugs */

The posted kernels died at boot with "BUG: sleeping function called from invalid context at
mm/slab.h:567" (Aug) / "... mm/slab.h:506 ... zs_map_object+0x7b/0x2b0" (Nov): zs_map_object
returns with preemption disabled and allows one mapping per CPU (mm/zsmalloc.c, v5.8).
"""

from __future__ import annotations

from typing import ClassVar

from model.designs import register
from model.designs.protocol import DdebugTable
from model.designs.zpool_copy import ZpoolCopyDesign
from model.dyndbg.era import _DPRINTK_FLAGS_PRINT


@register
class CacheDesign(ZpoolCopyDesign):
    """Aug/Nov-2020 patch 7/7 (module docstring)."""

    name: ClassVar[str] = "cache"
    title: ClassVar[str] = "enabled callsites stay mapped between uses, like a cache"
    source: ClassVar[str] = ("Jim Cromie, [PATCH 7/7] dyndbg: enable 'cache' of active "
                             "pr_debug callsites (LKML 7 Aug 2020; linux-mm 25 Nov 2020)")

    def keep_mapped(self, dt: DdebugTable, i: int) -> bool:
        return bool(self.head_get(dt, i, "flags") & _DPRINTK_FLAGS_PRINT)
