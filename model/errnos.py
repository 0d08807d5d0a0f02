"""The errno values the model returns, defined once: include/uapi/asm-generic/errno-base.h
(the same numbers on every ABI the model knows) and ``MAX_ERRNO`` of include/linux/err.h.

A kernel function fails with ``-ENOMEM``; an ``ERR_PTR`` handle is ``(unsigned long)-errno``,
which :func:`is_err_value` recognises as include/linux/err.h's ``IS_ERR_VALUE`` does.
"""

from __future__ import annotations

ENOENT = 2
E2BIG = 7
EAGAIN = 11
ENOMEM = 12
EBUSY = 16
EINVAL = 22
ENOSPC = 28

#: include/linux/err.h: the highest errno an ``ERR_PTR`` may carry.
MAX_ERRNO = 4095


def err_value(errno: int, bits_per_long: int) -> int:
    """``(unsigned long)ERR_PTR(-errno)`` on a ``bits_per_long``-bit kernel."""
    return (-errno) & ((1 << bits_per_long) - 1)


def is_err_value(value: int, bits_per_long: int) -> bool:
    """include/linux/err.h:IS_ERR_VALUE: ``value >= (unsigned long)-MAX_ERRNO``."""
    return value >= (1 << bits_per_long) - MAX_ERRNO
