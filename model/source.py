"""What a ``pr_debug()`` callsite is at the source level, before any linker places it.

``DEFINE_DYNAMIC_DEBUG_METADATA`` (include/linux/dynamic_debug.h) records ``KBUILD_MODNAME``,
``__func__``, ``__FILE__``, the format, ``__LINE__``, the class and the default flags; a module
is its callsites in link order, with the class maps it declares.  Plain values on the ground
floor: the linker model, the corpus reader, dynamic debug and the designs all start from them.
"""

from __future__ import annotations

import attrs

from model.eras import _DPRINTK_CLASS_DFLT


@attrs.frozen
class CallsiteSpec:
    """One ``pr_debug()`` callsite as its source states it."""

    modname: str
    function: str
    filename: str
    format: str
    lineno: int
    class_id: int = _DPRINTK_CLASS_DFLT
    flags: int = 0


@attrs.frozen
class ClassMapSpec:
    """``DECLARE_DYNDBG_CLASSMAP(_var, _maptype, _base, ...)`` (v6.1+): ``class_names[j]`` is
    class ``base + j`` of the declaring module (``struct ddebug_class_map``)."""

    base: int
    class_names: tuple[str, ...]
    map_type: str = "DD_CLASS_TYPE_DISJOINT_BITS"


@attrs.frozen
class ModuleSpec:
    """A module's callsites in link order; ``builtin`` ones live in vmlinux' ``__dyndbg``."""

    name: str
    callsites: tuple[CallsiteSpec, ...]
    builtin: bool = False
    #: ``__dyndbg_classes`` of the module (v6.1+); empty in most modules.
    classes: tuple[ClassMapSpec, ...] = ()
