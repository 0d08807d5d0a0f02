"""What the dynamic-debug core needs from whoever stores the callsites: the ``CallsiteStore``.

The core (:mod:`model.dyndbg.core`: ``ddebug_change``, ``ddebug_proc_show``,
``dynamic_emit_prefix``, the print decision) never touches a record's bytes itself.  It walks
``tables()`` and, for callsite ``i`` of a table, brackets every read of the callsite's fields
with ``get_site`` / ``put_site`` (as ``ddebug_callsite_get/put`` of Jim Cromie's August-2020
patch 5/7 bracket them), reads and writes ``flags`` with ``get_flags`` / ``set_flags``, and
switches the static key with ``static_branch_enable/disable``.  A design
(:mod:`model.designs`) implements this protocol; storing records differently (a pool copy, a
union, a tagged word) is then exercised by the very same core code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from model.dyndbg.era import Era
from model.memory import AddressSpace
from model.source import ClassMapSpec


class ContextLike(Protocol):
    """The part of :class:`model.context.KernelContext` the core uses."""

    cpu: int

    def in_interrupt(self) -> bool: ...

    def pid(self) -> int: ...

    def context_name(self) -> str: ...

    def might_sleep(self, site: str) -> None: ...

    def mutex_lock(self, site: str = ...) -> None: ...


@attrs.frozen
class DdebugTable:
    """``struct ddebug_table`` (lib/dynamic_debug.c) as the core sees it.

    ``descs`` is the static address of the table's first ``struct _ddebug`` (what
    ``ddebug_add_module`` is handed; callsite code refers to ``descs + i * record_size``);
    ``ident`` tells two tables of one name apart (the kzalloc'd table's identity).
    """

    mod_name: str
    num_ddebugs: int
    descs: int
    record_size: int
    builtin: bool
    ident: int
    maps: tuple[ClassMapSpec, ...] = ()

    def desc_addr(self, i: int) -> int:
        return self.descs + i * self.record_size


@attrs.frozen
class DdebugSite:
    """The fields of one ``struct _ddebug`` as ``get_site`` hands them out: pointers as
    integers (the core reads the strings through the address space), the bit-fields as ints."""

    modname: int
    function: int
    filename: int
    format: int
    lineno: int
    class_id: int
    flags: int


class CallsiteStore(Protocol):
    """The storage protocol the core calls; see the module docstring."""

    era: Era
    jump_label: bool
    space: AddressSpace
    ctx: ContextLike

    def tables(self) -> Sequence[DdebugTable]: ...

    def get_site(self, dt: DdebugTable, i: int) -> DdebugSite: ...

    def put_site(self, dt: DdebugTable, i: int) -> None: ...

    def get_flags(self, dt: DdebugTable, i: int) -> int: ...

    def set_flags(self, dt: DdebugTable, i: int, flags: int) -> None: ...

    def static_key_enabled(self, dt: DdebugTable, i: int) -> bool: ...

    def static_branch_enable(self, dt: DdebugTable, i: int) -> None: ...

    def static_branch_disable(self, dt: DdebugTable, i: int) -> None: ...
