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
    from invalid context at mm/slab.h:567``); ``site`` names the kernel source it comes from.
    """

    def __init__(self, message: str, site: str = "") -> None:
        self.message = message
        self.site = site
        super().__init__(message if not site else f"{message} [{site}]")


class SleepingInInvalidContext(KernelBug):
    """``___might_sleep()``: a sleeping call with preemption off or in interrupt context."""


class BugOn(KernelBug):
    """A ``BUG_ON(cond)`` fired: ``kernel BUG at FILE:LINE!``."""


class BadHandle(KernelBug):
    """Use of a handle that is not live: freed, never allocated, or a foreign value."""


class DoubleFree(BadHandle):
    """A handle freed twice."""


class BadAccess(KernelBug):
    """A load or store to an address the model address space has not mapped (an oops)."""
