"""A per-test-case deadline for design code: a design that loops forever is a finding, not a hang.

Design code is plain Python run in the machine's process, so the deadline is a CPU-time timer
(``setitimer(ITIMER_PROF)``: the process's own CPU time, so a loaded machine does not make a slow
test case a hang) whose ``SIGPROF`` raises :class:`DesignHang` at the bytecode the design was
running: the traceback names the design's function and line, the way the kernel's
soft-lockup watchdog names the function a CPU was stuck in.  The failure is shrunk like any other;
after the first hang the deadline tightens (a test case of this machine normally takes
milliseconds), so shrinking a hanging run costs fractions of a second per attempt, not seconds.

Only the main thread can take signals: elsewhere the watchdog does nothing (the ``check``
command's worker processes run machines in their main thread, and kill a worker that outlives
its job's own wall-time limit: design code that blocks without using CPU ends there).
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Iterable
from types import FrameType

import attrs

from model.errors import KernelBug

#: A test case using more CPU than this (seconds) hangs, unless the command says otherwise.
DEFAULT_DEADLINE = 5.0
#: After a hang, the deadline is this many times the slowest test case that ended in time ...
_TIGHTEN = 20.0
#: ... but never below this (seconds).
_FLOOR = 0.25


class DesignHang(KernelBug):
    """Design code did not return within the test case's deadline (a soft lockup)."""

    def __init__(self, message: str, function: str, where: str) -> None:
        super().__init__(message, where)
        self.function = function
        self.where = where


@attrs.define
class Watchdog:
    """The deadline of one machine class's test cases, and what it has seen so far."""

    deadline: float
    #: Files whose frames count as the design's own (the first of them the report names).
    design_files: tuple[str, ...] = ()
    what: str = "the design"
    slowest: float = 0.0
    hangs: int = 0
    _started: float | None = None

    @property
    def limit(self) -> float:
        if self.hangs == 0:
            return self.deadline
        return min(self.deadline, max(_FLOOR, _TIGHTEN * self.slowest))

    def start(self) -> None:
        """Arm the timer for one test case (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGPROF, self._expired)
        self._started = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, self.limit)

    def stop(self) -> None:
        """Disarm the timer; remember how long a test case that ended in time took."""
        if self._started is None:
            return
        signal.setitimer(signal.ITIMER_PROF, 0)
        took = time.process_time() - self._started
        self._started = None
        self.slowest = max(self.slowest, took)

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        self._started = None
        self.hangs += 1
        function, where = _stuck_in(frame, self.design_files)
        raise DesignHang(
            f"watchdog: {self.what} is stuck in {function}: no return within "
            f"{self.limit:g} s of CPU (a soft lockup on a real kernel)", function, where)


def _stuck_in(frame: FrameType | None, files: Iterable[str]) -> tuple[str, str]:
    """The innermost frame of the design's own files (else the innermost frame)."""
    stack = traceback.extract_stack(frame) if frame is not None else []
    own = set(files)
    pick = next((f for f in reversed(stack) if f.filename in own), None)
    if pick is None and stack:
        pick = stack[-1]
    if pick is None:
        return "?", "?"
    return pick.name, f"{pick.filename}:{pick.lineno}"
