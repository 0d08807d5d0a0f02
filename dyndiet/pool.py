"""Worker processes for ``dyndiet check``: every core busy, and no design can take the tool down.

Workers are forked from the command (they inherit the designs it loaded), ignore SIGINT (the
command handles it) and run tasks one at a time: the parent sends a task descriptor down a pipe
and reads the pickled result back.  A task that outlives its time limit (design code stuck where
the in-process watchdog cannot reach it, in C) or a worker that dies (``os._exit`` in a design, a
segfault) ends as a :class:`TaskFailed` for that task only: the worker is killed and replaced and
the other tasks go on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import attrs


@attrs.frozen
class TaskFailed:
    """A task that produced no result: why, in one line."""

    reason: str


def _serve(conn: Connection, run_task: Callable[[Any], Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            os._exit(0)
        try:
            result: Any = run_task(task)
        except BaseException as exc:  # a failure of the tool itself: reported, not fatal
            last = traceback.extract_tb(exc.__traceback__)[-1:] or None
            where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
            result = TaskFailed(f"internal error: {type(exc).__name__}: {exc}{where}")
        try:
            conn.send(result)
        except Exception as exc:  # an unpicklable result
            conn.send(TaskFailed(f"internal error: result not sent: {exc}"))


@attrs.define
class _Worker:
    process: Any
    conn: Connection
    task: Any = None
    started: float = 0.0


class Pool:
    """``workers`` forked processes running ``run_task(descriptor)``; ``limit(descriptor)`` is
    the wall-time limit of a task in seconds."""

    def __init__(self, workers: int, run_task: Callable[[Any], Any],
                 limit: Callable[[Any], float]) -> None:
        self._ctx = multiprocessing.get_context("fork")
        self._run_task = run_task
        self._limit = limit
        self._queue: deque[Any] = deque()
        self._workers = [self._spawn() for _ in range(max(1, workers))]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child, self._run_task), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def submit(self, task: Any, *, first: bool = False) -> None:
        """Queue ``task`` (``first``: ahead of the others, e.g. the follow-up of a design
        already under way, so designs finish in turn)."""
        if first:
            self._queue.appendleft(task)
        else:
            self._queue.append(task)

    def _dispatch(self) -> None:
        for w in self._workers:
            if w.task is None and self._queue:
                w.task = self._queue.popleft()
                w.started = time.monotonic()
                w.conn.send(w.task)

    def _replace(self, w: _Worker) -> None:
        w.process.kill()
        w.process.join(5)
        w.conn.close()
        fresh = self._spawn()
        w.process, w.conn, w.task = fresh.process, fresh.conn, None

    def results(self) -> Iterator[tuple[Any, Any]]:
        """``(task, result)`` as tasks finish, until nothing is queued or running; tasks
        submitted meanwhile are run too."""
        while True:
            self._dispatch()
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                return
            now = time.monotonic()
            wait = min(self._limit(w.task) - (now - w.started) for w in busy)
            ready = multiprocessing.connection.wait([w.conn for w in busy],
                                                    timeout=max(0.0, min(wait, 1.0)))
            for w in busy:
                task = w.task
                if w.conn in ready:
                    try:
                        result = w.conn.recv()
                    except (EOFError, OSError):
                        w.process.join(5)
                        code = w.process.exitcode
                        self._replace(w)
                        yield task, TaskFailed(f"the worker died (exit status {code})")
                        continue
                    w.task = None
                    yield task, result
                elif time.monotonic() - w.started > self._limit(task):
                    self._replace(w)
                    yield task, TaskFailed(f"did not finish within {self._limit(task):g} s; "
                                           "the worker was killed")

    def close(self) -> None:
        for w in self._workers:
            if w.process.is_alive():
                w.process.kill()
            w.process.join(5)
            w.conn.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
