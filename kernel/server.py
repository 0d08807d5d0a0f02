"""The fork server's side (see :mod:`kernel.process`): ``python -m kernel.server FD LIB BINDING MS``.

Loads ``LIB`` with ctypes and asks the binding module ``BINDING`` for its state
(``binding.load(cdll)``), says ``ready``, then for each ``fork`` forks a worker.  The worker
answers ``call`` messages with ``(ok, value, events)``, where ``events`` are the harness events
the call left (and clears them); the server waits for it and reports ``exited`` with its status.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

RawEvent = tuple[int, str, str, int, int, int, tuple[int, ...]]


def harness_events(lib: ctypes.CDLL) -> list[RawEvent]:
    """Every event of the harness (harness.h accessors), then clear them."""
    n = lib.harness_nevents()
    out = []
    for i in range(n):
        trace = tuple(lib.harness_event_trace(i, j) for j in range(lib.harness_event_ntrace(i)))
        out.append((lib.harness_event_kind(i), lib.harness_event_msg(i).decode("latin-1"),
                    lib.harness_event_file(i).decode("latin-1"), lib.harness_event_line(i),
                    lib.harness_event_addr(i), lib.harness_event_pc(i), trace))
    lib.harness_clear_events()
    return out


def _declare(lib: ctypes.CDLL) -> None:
    for name in ("harness_event_msg", "harness_event_file"):
        getattr(lib, name).restype = ctypes.c_char_p
    for name in ("harness_event_addr", "harness_event_pc", "harness_event_trace"):
        getattr(lib, name).restype = ctypes.c_ulong


def serve_worker(conn: Connection, lib: ctypes.CDLL, binding: Any, state: Any) -> None:
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "end":
            return
        _, fn, args = msg
        try:
            value = getattr(binding, fn)(state, *args)
        except Exception:  # a binding bug: said, not hidden
            conn.send(("error", traceback.format_exc(limit=4)))
            harness_events(lib)
            continue
        conn.send(("ok", value, harness_events(lib)))


def main() -> None:
    fd, lib_path, binding_name, watchdog_ms = sys.argv[1:5]
    conn = Connection(int(fd))
    try:
        lib = ctypes.CDLL(lib_path)
        _declare(lib)
        lib.harness_set_watchdog_ms(int(watchdog_ms))
        binding = importlib.import_module(binding_name)
        state = binding.load(lib)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "quit":
            return
        if msg[0] != "fork":
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                conn.send(("forked", os.getpid()))
                serve_worker(conn, lib, binding, state)
            except BaseException:
                code = 71
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        conn.send(("exited", code, sanitizer_report(pid)))


def sanitizer_report(pid: int) -> str:
    """The report AddressSanitizer/UBSan wrote for worker ``pid`` (``log_path`` in
    ``ASAN_OPTIONS``/``UBSAN_OPTIONS``, set by :class:`kernel.process.KernelServer`), removed
    once read; empty without one."""
    base = os.environ.get("DYNDIET_SANITIZER_LOG")
    if not base:
        return ""
    text = ""
    for path in (f"{base}.{pid}", f"{base}-ub.{pid}"):
        try:
            with open(path, errors="replace") as f:
                text += f.read(64 * 1024)
            os.unlink(path)
        except OSError:
            continue
    return text


if __name__ == "__main__":
    main()
