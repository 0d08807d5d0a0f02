"""What each kernel era's dynamic debug does differently: the dynamic-debug side of
:class:`model.eras.Era` (flags, parser rules, control file, prefix), re-exported here for the
modules of ``model/dyndbg``, with the constants of lib/dynamic_debug.c.  The eras themselves are
described, and defined, in :mod:`model.eras`.
"""

from __future__ import annotations

from model.eras import (
    _DPRINTK_CLASS_DFLT,
    _DPRINTK_FLAGS_INCL_FUNCNAME,
    _DPRINTK_FLAGS_INCL_LINENO,
    _DPRINTK_FLAGS_INCL_MODNAME,
    _DPRINTK_FLAGS_INCL_SOURCENAME,
    _DPRINTK_FLAGS_INCL_STACK,
    _DPRINTK_FLAGS_INCL_TID,
    _DPRINTK_FLAGS_NONE,
    _DPRINTK_FLAGS_PRINT,
    ERA_NAMES,
    ERAS,
    V5_8,
    V6_1,
    V6_12,
    V6_19,
    Era,
    get_era,
)
from model.errnos import E2BIG, EINVAL, ENOENT, ENOMEM

__all__ = [
    "E2BIG", "EINVAL", "ENOENT", "ENOMEM", "ERAS", "ERA_NAMES", "LINENO_BITS", "UINT_MAX",
    "USER_BUF_PAGE", "V5_8", "V6_1", "V6_12", "V6_19", "_DPRINTK_CLASS_DFLT",
    "_DPRINTK_FLAGS_INCL_FUNCNAME", "_DPRINTK_FLAGS_INCL_LINENO", "_DPRINTK_FLAGS_INCL_MODNAME",
    "_DPRINTK_FLAGS_INCL_SOURCENAME", "_DPRINTK_FLAGS_INCL_STACK", "_DPRINTK_FLAGS_INCL_TID",
    "_DPRINTK_FLAGS_NONE", "_DPRINTK_FLAGS_PRINT", "Era", "ddebug_describe_flags", "get_era",
]

#: ``lineno:18``.
LINENO_BITS = 18
UINT_MAX = 0xFFFFFFFF

#: ``USER_BUF_PAGE`` of ``ddebug_proc_write``: writes of more than 4095 bytes get -E2BIG.
USER_BUF_PAGE = 4096


def ddebug_describe_flags(era: Era, flags: int) -> str:
    """lib/dynamic_debug.c:ddebug_describe_flags (all eras): the set flags' characters in
    ``opt_array`` order, ``_`` when none."""
    out = "".join(c for f, c in era.opt_array if flags & f)
    return out or "_"
