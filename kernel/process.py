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
import re
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
    #: A fatal event's call trace, innermost first: ``function file:line`` per frame.
    trace: tuple[str, ...] = ()

    @property
    def site(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""

    def kernel_frame(self) -> tuple[str, str] | None:
        """(function, file:line) of the innermost frame of the trace in a kernel file, when the
        event's own site is in a shim (a fault inside a shim is reported where the kernel
        called it); None when the site is kernel code already or no frame is."""
        if self.file and not self.file.startswith("kernel/"):
            return None
        for frame in self.trace:
            func, _, where = frame.rpartition(" ")
            if where and not where.startswith(("kernel/", "?")):
                return func, where
        return None


class KernelOops(BadAccess):
    """A fault inside kernel code: ``BUG: unable to handle page fault for address: ...``."""

    def __init__(self, message: str, site: str = "", addr: int = 0) -> None:
        super().__init__(message, site, value=addr)
        self.addr = addr


class KernelHang(KernelBug):
    """Kernel code ran past the watchdog (an endless loop): the soft-lockup splat."""


class KernelDied(KernelBug):
    """The worker ended outside the harness (a signal it could not return from, ``abort()``)."""


class KernelSplat(SleepingInInvalidContext):
    """A splat the kernel survives, raised only where a check makes it fatal."""


class KernelSanitizer(KernelOops):
    """A use-after-free or out-of-bounds access (or undefined behaviour) that the sanitizer
    build caught in kernel code, said the way KASAN/UBSAN say it."""


_ASAN_KIND = re.compile(r"ERROR: AddressSanitizer: ([\w-]+) on address (0x[0-9a-f]+)")
_FRAME = re.compile(r"#\d+ 0x[0-9a-f]+ in (\S+) (\S+?):(\d+)")
_UBSAN = re.compile(r"^(\S+?):(\d+):\d+: runtime error: (.*)$", re.M)


def sanitizer_error(report: str, built: Built) -> KernelSanitizer | None:
    """The typed failure of a sanitizer report: ``BUG: KASAN: use-after-free in FUNC`` with the
    first frame in kernel code as its site, the report's lines as notes."""
    m = _ASAN_KIND.search(report)
    if m is not None:
        frames = [f for f in _FRAME.findall(report) if "/harness.c" not in f[1]]
        func, path, line = frames[0] if frames else ("?", "", "0")
        site = f"{_short(path, built)}:{line}" if path else ""
        kind = m.group(1).replace("heap-", "")
        exc = KernelSanitizer(f"BUG: KASAN: {kind} in {func}", site, int(m.group(2), 16))
    else:
        u = _UBSAN.search(report)
        if u is None:
            return None
        exc = KernelSanitizer(f"UBSAN: {u.group(3)}", f"{_short(u.group(1), built)}:{u.group(2)}")
    for ln in _kernel_lines(report, built):
        exc.add_note(ln)
    return exc


def _kernel_lines(report: str, built: Built) -> list[str]:
    """The report's headline lines and its stack frames inside kernel code (the tree's files
    and the shims), paths shortened; the interpreter's own frames dropped."""
    roots = [str(r) for r in (built.overlay, built.source.root) if r is not None]
    roots.append(str(Path(__file__).resolve().parent))
    out: list[str] = []
    for ln in report.splitlines():
        text = ln.strip()
        frame = _FRAME.search(text)
        if frame is not None:
            if any(frame.group(2).startswith(r) for r in roots):
                out.append(f"  {frame.group(1)} {_short(frame.group(2), built)}:"
                           f"{frame.group(3)}")
        elif text and not text.startswith(("Shadow", "0x0", "=>", "  ")) and len(out) < 60 \
                and ("ERROR" in text or "READ" in text or "WRITE" in text or "located" in text
                     or "freed by" in text or "allocated by" in text
                     or "runtime error" in text or "SUMMARY" in text):
            out.append(text)
    return out


def fatal_error(ev: Event, log: tuple[Event, ...] = ()) -> KernelBug:
    """The typed :mod:`model.errors` failure of a fatal event, the kernel's lines as notes."""
    exc: KernelBug
    site, message = ev.site, ev.message
    frame = ev.kernel_frame()
    if frame is not None:
        message = re.sub(r" \(in [^)]*\)$", "", message) + f" (in {frame[0]})"
        site = frame[1]
    if ev.kind == "bug":
        exc = BugOn(message, site)
    elif ev.kind == "oops":
        exc = KernelOops(message, site, ev.addr)
    else:
        exc = KernelHang(message, site)
    for e in log[-8:]:
        if e is not ev:
            exc.add_note(e.message)
    if ev.trace:
        exc.add_note("Call Trace:")
        for line in ev.trace:
            exc.add_note(f" {line}")
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
            self.dead = sanitizer_error(tail, self.server.built) if tail else None
            if self.dead is None:
                self.dead = KernelDied(f"the kernel's worker died in {fn}: {why}", fn)
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

    def _event(self, kind: int, msg: str, file: str, line: int, addr: int, pc: int,
               trace: tuple[int, ...] = ()) -> Event:
        name = EVENT_KINDS[kind] if 0 <= kind < len(EVENT_KINDS) else "bug"
        frames = tuple(f for f in map(self._frame, trace)
                       if " kernel/shim/harness.c:" not in f)
        if pc and name in ("oops", "hang"):  # the interrupted pc itself, innermost
            at = self._frame(pc + 1)
            if not frames or frames[0] != at:
                frames = (at, *frames)
        if pc and name in ("oops", "hang"):
            path, ln, func = _addr2line(str(self.server.built.path), pc)
            if path:
                file, line = _short(path, self.server.built), ln
                msg = f"{msg} (in {func})" if func and func != "??" else msg
        elif file:
            file = _short(file, self.server.built)
        return Event(name, msg, file, line, addr, frames)

    def _frame(self, offset: int) -> str:
        """``function file:line`` of a return address (the call is the byte before it)."""
        path, ln, func = _addr2line(str(self.server.built.path), max(offset - 1, 0))
        if not path:
            return f"? +{offset:#x}"
        return f"{func} {_short(path, self.server.built)}:{ln}"

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
            import tempfile
            self._logdir = tempfile.TemporaryDirectory(prefix="dyndiet-san-")
            log = os.path.join(self._logdir.name, "report")
            env["DYNDIET_SANITIZER_LOG"] = log
            # the harness keeps SIGSEGV (an oops), the sanitizer reports into a file per worker
            env["ASAN_OPTIONS"] = (f"detect_leaks=0:abort_on_error=0:handle_segv=0:"
                                   f"handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:"
                                   f"log_path={log}")
            env["UBSAN_OPTIONS"] = f"print_stacktrace=1:halt_on_error=1:log_path={log}-ub"
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
