"""Typed failures.

Two families: :class:`KernelBug` is what the modelled kernel would print (a BUG, a splat, a bad
handle); a design that triggers one has broken a kernel rule.  :class:`InputError` is bad input
from a user (a malformed snippet, an unknown ABI, a truncated ELF): the command line prints its one
line and exits 2.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input; ``str()`` is one line, prefixed with ``file:line:`` when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.message}"


class KernelBug(Exception):
    """The model kernel hit a BUG, a WARN treated as fatal, or undefined behaviour it detects.

    ``message`` is the first line the kernel would print (e.g. ``BUG: sleeping function called
    from invalid context at mm/slab.h:567``); ``site`` names the kernel source it comes from;
    ``value`` is the handle or address the failure is about, when there is one (reports show
    what it points at; nothing parses it back out of the message).
    """

    def __init__(self, message: str, site: str = "", *, value: int | None = None) -> None:
        self.message = message
        self.site = site
        self.value = value
        super().__init__(message if not site else f"{message} [{site}]")


class SleepingInInvalidContext(KernelBug):
    """``___might_sleep()``: a sleeping call with preemption off or in interrupt context."""


class BugOn(KernelBug):
    """A ``BUG_ON(cond)`` fired: ``kernel BUG at FILE:LINE!``."""


class MapInInterrupt(BugOn):
    """``BUG_ON(in_interrupt())`` in ``zs_map_object``: a mapping taken in softirq, hardirq or
    NMI context (the ``site`` is the era's line)."""


class NestedMapping(KernelBug):
    """``zs_map_object`` on a CPU whose per-CPU ``zs_map_area`` is still in use (mm/zsmalloc.c:
    "There is no protection against nested mappings"); ``value`` is the second handle."""


class BadHandle(KernelBug):
    """Use of a handle that is not live: never allocated, or a foreign value; ``value`` is the
    handle (or object address)."""


class UseAfterFree(BadHandle):
    """A map, read, write or other object operation through a handle already freed."""


class DoubleFree(BadHandle):
    """A handle (``zs_free``, ``zpool_free``) or object (``kfree``, ``kmem_cache_free``) freed
    twice."""


class BadAccess(KernelBug):
    """A load or store to an address the model address space has not mapped (an oops);
    ``value`` is the faulting address (or the obj/handle that names no page)."""
