"""Run built kernel code in a child process: a fork server, one fresh kernel per test case.

``KernelServer`` starts ``python -m kernel.server`` once per built library: the server loads the
library and the area's binding, then forks one *worker* per :meth:`KernelServer.new_kernel`.  The
worker is a pristine kernel (nothing ran in the server but ``dlopen``); every call of a step goes
to it over the server's pipe, and its answer carries the harness events of the call.  A fault,
``BUG()`` or watchdog inside kernel code comes back as a fatal event (the harness returns with
``siglongjmp``); a worker that dies anyway (a corrupted stack, ``abort()``) or stops answering
(the parent's deadline) is reported by the server, and the next kernel is a new fork.  The
Python process running Hypothesis never loads kernel code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from functools import lru_cache
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs

from kernel.build import Built
from model.errors import BadAccess, BugOn, KernelBug, SleepingInInvalidContext

#: harness.h: enum harness_event_kind.
EVENT_KINDS: tuple[str, ...] = ("log", "splat", "warn", "bug", "oops", "hang")
FATAL_KINDS = frozenset({"bug", "oops", "hang"})


@attrs.frozen
class Event:
    """One harness event: a printk line (``line`` is the log level), a splat, a WARN, or a
    fatal event with the kernel file:line (BUG) or the faulting pc resolved to file:line."""

    kind: str
    message: str
    file: str = ""
    line: int = 0
    addr: int = 0

    @property
    def site(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""


class KernelOops(BadAccess):
    """A fault inside kernel code: ``BUG: unable to handle page fault for address: ...``."""

    def __init__(self, message: str, site: str = "", addr: int = 0) -> None:
        super().__init__(message, site)
        self.addr = addr


class KernelHang(KernelBug):
    """Kernel code ran past the watchdog (an endless loop): the soft-lockup splat."""


class KernelDied(KernelBug):
    """The worker ended outside the harness (a signal it could not return from, ``abort()``)."""


class KernelSplat(SleepingInInvalidContext):
    """A splat the kernel survives, raised only where a check makes it fatal."""


def fatal_error(ev: Event, log: tuple[Event, ...] = ()) -> KernelBug:
    """The typed :mod:`model.errors` failure of a fatal event, the kernel's lines as notes."""
    exc: KernelBug
    if ev.kind == "bug":
        exc = BugOn(ev.message, ev.site)
    elif ev.kind == "oops":
        exc = KernelOops(ev.message, ev.site, ev.addr)
    else:
        exc = KernelHang(ev.message, ev.site)
    for e in log[-8:]:
        if e is not ev:
            exc.add_note(e.message)
    return exc


@attrs.frozen
class CallResult:
    """What a call returned and the events it left (printk lines, splats, WARNs)."""

    value: Any
    events: tuple[Event, ...]

    @property
    def log(self) -> tuple[str, ...]:
        return tuple(e.message for e in self.events if e.kind == "log")

    @property
    def splats(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind in ("splat", "warn"))


@lru_cache(maxsize=4096)
def _addr2line(lib: str, pc: int) -> tuple[str, int, str]:
    """(file, line, function) of ``pc`` (an offset in ``lib``), innermost inlined frame."""
    try:
        out = subprocess.run(["addr2line", "-f", "-i", "-e", lib, hex(pc)], capture_output=True,
                             text=True, timeout=30, check=False).stdout.split("\n")
    except (OSError, subprocess.TimeoutExpired):
        return "", 0, ""
    if len(out) < 2 or ":" not in out[1]:
        return "", 0, ""
    fn, loc = out[0], out[1]
    path, _, line = loc.rpartition(":")
    line = line.split()[0] if line else "0"
    return path, int(line) if line.isdigit() else 0, fn


def _short(path: str, built: Built) -> str:
    for root in filter(None, (built.overlay, built.source.root)):
        prefix = f"{root}/"
        if path.startswith(prefix):
            return path[len(prefix):]
    return path.replace(str(Path(__file__).resolve().parent) + "/", "kernel/")


class Kernel:
    """One worker: a fresh kernel.  :meth:`call` runs a binding function in it."""

    def __init__(self, server: KernelServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.dead: KernelBug | None = None

    def call(self, fn: str, *args: Any, timeout: float | None = None) -> CallResult:
        """Run ``binding.fn(state, *args)`` in the worker; a fatal event raises its typed
        failure (and the kernel stays dead: every later call raises it again)."""
        if self.dead is not None:
            raise self.dead
        conn = self.server.conn
        conn.send(("call", fn, args))
        limit = timeout if timeout is not None else self.server.call_timeout
        if not conn.poll(limit):
            os.kill(self.pid, signal.SIGKILL)
            self.server.reap()
            self.dead = KernelHang(f"watchdog: {fn} did not return within {limit:g}s "
                                   "(the worker was killed)", f"{self.server.built.area.name}:{fn}")
            raise self.dead
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            self.dead = KernelDied("the kernel's worker closed its pipe", fn)
            raise self.dead from None
        if msg[0] == "exited":
            status, tail = msg[1], msg[2]
            self.server.worker = None
            why = (f"signal {-status} ({signal.Signals(-status).name})" if status < 0
                   else f"exit status {status}")
            self.dead = KernelDied(f"the kernel's worker died in {fn}: {why}", fn)
            if tail:
                self.dead.add_note(tail)
            raise self.dead
        if msg[0] == "error":
            raise RuntimeError(f"binding {fn} failed in the worker: {msg[1]}")
        _, value, raw = msg
        events = tuple(self._event(*r) for r in raw)
        fatal = next((e for e in events if e.kind in FATAL_KINDS), None)
        if fatal is not None:
            self.dead = fatal_error(fatal, events)
            raise self.dead
        return CallResult(value, events)

    def _event(self, kind: int, msg: str, file: str, line: int, addr: int, pc: int) -> Event:
        name = EVENT_KINDS[kind] if 0 <= kind < len(EVENT_KINDS) else "bug"
        if pc and name in ("oops", "hang"):
            path, ln, func = _addr2line(str(self.server.built.path), pc)
            if path:
                file, line = _short(path, self.server.built), ln
                msg = f"{msg} (in {func})" if func and func != "??" else msg
        elif file:
            file = _short(file, self.server.built)
        return Event(name, msg, file, line, addr)

    def close(self) -> None:
        """End the worker (a dead one is reaped)."""
        if self.server.worker is not self:
            return
        if self.dead is None:
            with contextlib.suppress(OSError):
                self.server.conn.send(("end",))
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.server.reap()


class KernelServer:
    """The fork server of one built library (module docstring)."""

    def __init__(self, built: Built, *, call_timeout: float = 10.0,
                 watchdog_ms: int = 2000) -> None:
        self.built = built
        self.call_timeout = call_timeout
        self.watchdog_ms = watchdog_ms
        self.worker: Kernel | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection = self._start()

    def _start(self) -> Connection:
        import socket
        parent, child = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        if self.built.sanitize:
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:handle_segv=0"
            libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                                     text=True, check=False).stdout.strip()
            env["LD_PRELOAD"] = libasan
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernel.server", str(child.fileno()), str(self.built.path),
             self.built.area.binding, str(self.watchdog_ms)],
            pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL)
        child.close()
        conn = Connection(parent.detach())
        if not conn.poll(60):
            raise RuntimeError("the kernel server did not start")
        ready = conn.recv()
        if ready[0] != "ready":
            raise RuntimeError(f"the kernel server failed to load {self.built.path}: {ready[1]}")
        return conn

    def new_kernel(self) -> Kernel:
        """A fresh kernel (the previous one, if any, is ended first)."""
        if self.worker is not None:
            self.worker.close()
        self.conn.send(("fork",))
        if not self.conn.poll(30):
            raise RuntimeError("the kernel server did not fork")
        msg = self.conn.recv()
        if msg[0] != "forked":
            raise RuntimeError(f"the kernel server could not fork: {msg!r}")
        self.worker = Kernel(self, msg[1])
        return self.worker

    def reap(self) -> None:
        """Read the server's word that the worker ended."""
        if self.worker is None:
            return
        while True:
            if not self.conn.poll(30):
                raise RuntimeError("the kernel server did not report its worker's end")
            msg = self.conn.recv()
            if msg[0] == "exited":
                break
        self.worker = None

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
        with contextlib.suppress(OSError):
            self.conn.send(("quit",))
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.conn.close()

    def __enter__(self) -> KernelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kernels(server: KernelServer, n: int) -> Iterator[Kernel]:
    """``n`` fresh kernels in turn (each closed when the next is made)."""
    for _ in range(n):
        yield server.new_kernel()
