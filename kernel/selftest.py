"""The harness's self-test area (no kernel file): proves a fault, a BUG, a hang and a splat
come back as events, for the tests of :mod:`kernel.process`."""

from __future__ import annotations

import ctypes
from typing import Any

from kernel.build import Area

SELFTEST = Area(name="selftest", glue=("selftest/glue.c",), kernel_units=(), kernel_files=(),
                shim_include=(), binding="kernel.selftest")


def load(lib: ctypes.CDLL) -> Any:
    return lib


def run(lib: ctypes.CDLL, what: int) -> int:
    return int(lib.h_selftest(what))
