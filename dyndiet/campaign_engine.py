"""Campaign chunks as Dask distributed tasks: a ``LocalCluster`` of worker processes on one
machine, or the workers of a running scheduler (``tcp://HOST:PORT``) on many.

A *chunk* is a few dozen test cases of one job with a seed of its own
(:func:`dyndiet.campaign_state.chunk_seed`), run by :func:`run_chunk` on a worker with the
campaign's example database.  What a design does there stays there:

- an exception of any kind (``SystemExit`` and ``KeyboardInterrupt`` included) is the design's
  error, returned as the chunk's result;
- a design that stops making progress (no new step, no new test case) for ``hang_after`` seconds
  is interrupted where it is stuck by the chunk's watchdog thread, and the chunk returns
  "hangs in FUNCTION (FILE:LINE) after these steps: ...";
- a design stuck where Python cannot interrupt it (in C, in a sleep) or one that kills its
  process: the client (:class:`Engine`) restarts that worker through its nanny once the chunk is
  past ``chunk_limit``; a worker that dies (SIGKILL, the OOM killer) loses only the chunk it was
  running, which Dask runs again on another worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import attrs
from hypothesis import Phase
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from dyndiet.campaign_state import ChunkOutcome, JobSpec
from dyndiet.generation import settle_constants
from model.errors import InputError
from properties.catalogue import DesignRef, Target, get_property
from properties.runner import Budget, PropertyResult, run_property
from properties.tracing import TracedMachine

#: Seconds without a new step or test case before a chunk's design counts as hung.
HANG_AFTER = 5.0
#: Imported once by the server local workers are forked from.
PRELOAD = ("distributed", "dask", "hypothesis", "model.designs", "properties.catalogue",
           "properties.dyndbg_properties", "properties.runner", "dyndiet.campaign_engine")
#: Seconds without progress outside any machine (Hypothesis, imports) before a chunk hangs.
OUTSIDE_AFTER = 30.0
_OUTSIDE = ("outside a machine",)
#: How often the watchdog looks at the chunk's thread (seconds).
_POLL = 0.25


@attrs.frozen
class ChunkSpec:
    """One chunk of one job, as plain data for a worker."""

    job: JobSpec
    index: int
    run: int
    seed: int
    examples: int
    steps: int
    db_spec: str
    trace: bool = False
    hang_after: float = HANG_AFTER
    #: Shrink (and normalise) a failure; a job's first chunk does not, so that every job gets
    #: its first share before any failure's shrinking takes a second one.
    shrink: bool = True


def open_database(spec: str) -> ExampleDatabase:
    """A directory path, or ``redis://[:PASSWORD@]HOST:PORT[/DB]``; :class:`InputError` if
    unusable (checked before any work)."""
    if spec.startswith(("redis://", "rediss://", "unix://")):
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase

        try:
            client = redis.Redis.from_url(spec, socket_connect_timeout=3, socket_timeout=10)
        except ValueError as exc:
            raise InputError(f"bad example database URL {spec!r}: {exc}") from None
        try:
            client.ping()
        except (redis.RedisError, OSError, ValueError) as exc:
            raise InputError(f"cannot reach the example database {spec}: {exc}") from None
        return RedisExampleDatabase(client)
    if "://" in spec:
        raise InputError(f"bad example database {spec!r} (a directory or redis://HOST:PORT)")
    path = Path(spec)
    if path.exists() and not path.is_dir():
        raise InputError("not an example database (a file, not a directory)", path=spec)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the example database: {exc.strerror}",
                         path=spec) from None
    return DirectoryBasedExampleDatabase(path)


# ---- the worker side ---------------------------------------------------------------------------

_DESIGNS: dict[tuple[str, str], DesignRef] = {}
_DATABASES: dict[str, Any] = {}


def _design(job: JobSpec) -> DesignRef:
    from dyndiet.designs import resolve_design

    key = (job.design, job.source)
    if key not in _DESIGNS:
        _DESIGNS[key] = resolve_design(job.design,
                                       None if job.source == "built-in" else job.source)
    return _DESIGNS[key]


def _database(spec: str) -> Any:
    if spec not in _DATABASES:
        _DATABASES[spec] = open_database(spec)
    return _DATABASES[spec]


class ChunkHang(BaseException):
    """Raised by the watchdog inside design code that stopped making progress.  A
    ``BaseException`` that is not an ``Exception``: Hypothesis passes it through at once instead
    of shrinking a run that would hang again."""


def _machine_in(frame: FrameType | None) -> TracedMachine | None:
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, TracedMachine):
            return candidate
        frame = frame.f_back
    return None


def _stuck_at(frame: FrameType | None, own_files: frozenset[str]) -> tuple[str, str]:
    """The function and ``file:line`` a stuck thread is in: its innermost frame in the design's
    own files, else in ``model/``, else the innermost."""
    stack = traceback.extract_stack(frame) if frame is not None else []
    pick = (next((f for f in reversed(stack) if f.filename in own_files), None)
            or next((f for f in reversed(stack) if f"{os.sep}model{os.sep}" in f.filename), None)
            or (stack[-1] if stack else None))
    if pick is None:
        return "?", "?"
    return pick.name, f"{pick.filename}:{pick.lineno}"


@attrs.define
class HangWatch:
    """Watches the thread running a chunk: when neither a step nor a test case has started
    for ``hang_after`` seconds while design code runs (inside a machine; outside one, after
    :data:`OUTSIDE_AFTER`), :meth:`check` raises :class:`ChunkHang` in that thread (where
    the design is stuck) and remembers where that was."""

    target: int
    hang_after: float
    own_files: frozenset[str] = frozenset()
    report: str | None = None
    #: Set (under the lock) once the chunk has its outcome: no ChunkHang after that.
    done: bool = False
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    _last: tuple[Any, ...] = ()
    _since: float = attrs.field(factory=time.monotonic)
    _cls: type[TracedMachine] | None = None

    def _progress(self) -> tuple[Any, ...]:
        """The chunk's machine class's counters (test cases started, rules run); the class is
        found once, on the chunk thread's stack."""
        if self._cls is None:
            machine = _machine_in(sys._current_frames().get(self.target))
            if machine is None:
                return _OUTSIDE
            self._cls = type(machine)
        return (self._cls.test_cases, self._cls.rule_counts.total())

    def check(self) -> bool:
        """Look once; ``True`` when the thread was found stuck (and :class:`ChunkHang` raised
        in it)."""
        now = self._progress()
        if now != self._last:
            self._last, self._since = now, time.monotonic()
            return False
        stuck = time.monotonic() - self._since
        if stuck < self.hang_after:
            return False
        # Design code runs inside a machine (building the design, the rules); elsewhere the
        # chunk is in Hypothesis or an import, which may be slow on a loaded machine.
        inside = _machine_in(sys._current_frames().get(self.target)) is not None
        if not inside and stuck < max(OUTSIDE_AFTER, 6 * self.hang_after):
            return False
        self._since = time.monotonic()  # stuck again after that: raise it again
        with self.lock:
            if self.done:
                return False
            frame = sys._current_frames().get(self.target)
            function, where = _stuck_at(frame, self.own_files)
            machine = _machine_in(frame)
            steps = [s.call_text() for s in getattr(machine, "steps", ())]
            after = ("after these steps: " + "; ".join(steps)) if steps else "before any step"
            self.report = (f"hangs in {function} ({where}) {after} (no progress for "
                           f"{stuck:.0f} s)")
            exc_type = type("ChunkHang", (ChunkHang,), {})
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target),
                                                       ctypes.py_object(exc_type))
        return True


def _origin(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    pick = next((f for f in reversed(frames) if f"{os.sep}model{os.sep}" in f.filename
                 or (f.filename.endswith(".py") and "site-packages" not in f.filename)), None)
    where = f"{pick.filename}:{pick.lineno}: " if pick is not None else ""
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{where}{type(exc).__name__}: {text}".rstrip(": ")


def _arc_id(filename: str, arc: tuple[int, int], roots: tuple[str, ...]) -> str:
    name = filename
    for root in roots:
        if filename.startswith(root):
            name = filename[len(root):]
            break
    data = f"{name}:{arc[0]}:{arc[1]}".encode()
    return "arc:" + hashlib.blake2b(data, digest_size=6).hexdigest()


@contextlib.contextmanager
def _branches(trace: bool, design: DesignRef, arcs: set[str]) -> Iterator[None]:
    """Branch coverage of the model and the design's file while the block runs (when
    ``trace``), added to ``arcs`` as stable ids."""
    if not trace:
        yield
        return
    import coverage

    import model

    model_dir = str(Path(model.__file__).resolve().parent)
    sources = [model_dir]
    if design.source != "built-in":
        sources.append(str(Path(design.source).resolve().parent))
    cov = coverage.Coverage(branch=True, data_file=None, source=sources, config_file=False)
    cov.start()
    try:
        yield
    finally:
        cov.stop()
        data = cov.get_data()
        roots = (str(Path(model_dir).parent) + os.sep, str(Path(design.source).parent) + os.sep)
        for f in data.measured_files():
            for a in data.arcs(f) or ():
                arcs.add(_arc_id(f, a, roots))


def _error_result(job: JobSpec, design: str, text: str, seconds: float) -> PropertyResult:
    try:
        prop = get_property(job.property)
        kind, claim = prop.kind, prop.claim
    except KeyError:
        kind, claim = "equivalence", ""
    return PropertyResult(job.property, kind, claim, design,
                          Target(job.era, job.abi, job.corpus), "error", 0, seconds,
                          error=text)


#: A first chunk's phases: what the database holds, then new test cases; no shrinking.
_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
#: After raising ChunkHang in a stuck chunk, how long to wait for it to land (seconds).
_LAND = 2.0


def _outcome(spec: ChunkSpec, result: PropertyResult, arcs: set[str], started: float,
             seconds: float, hang: bool = False, replace: bool = False) -> ChunkOutcome:
    counts = Counter(dict(result.rule_counts))
    behaviours = frozenset({f"rule:{r}" for r, n in counts.items() if n} | arcs)
    return ChunkOutcome(spec.index, spec.run, result, behaviours, spec.trace, started, seconds,
                        sum(counts.values()), _worker_name(), hang, replace, spec.shrink)


def _body(spec: ChunkSpec, design: DesignRef, watch: HangWatch, box: dict[str, Any]) -> None:
    """The chunk itself, in a thread of its own: every exception becomes the outcome."""
    started, t0 = time.time(), time.perf_counter()
    job = spec.job
    arcs: set[str] = set()
    try:
        try:
            prop = get_property(job.property)
            budget = Budget(max_examples=spec.examples, stateful_step_count=spec.steps,
                            seed=spec.seed, database=_database(spec.db_spec),
                            derandomize=False, normalise=spec.shrink,
                            phases=None if spec.shrink else _NO_SHRINK)
            with _branches(spec.trace, design, arcs):
                result = run_property(prop, design, Target(job.era, job.abi, job.corpus),
                                      budget)
            if watch.report is not None and result.status == "error":
                result = attrs.evolve(result, error=watch.report)
            out = _outcome(spec, result, arcs, started, time.perf_counter() - t0,
                           hang=watch.report is not None)
        except InputError as exc:
            box["input_error"] = exc
            return
        except ChunkHang:
            out = _outcome(spec, _error_result(job, design.name, watch.report or "hangs",
                                               time.perf_counter() - t0),
                           arcs, started, time.perf_counter() - t0, hang=True)
        except BaseException as exc:  # the design's KeyboardInterrupt, SystemExit ...
            out = _outcome(spec, _error_result(job, design.name, _origin(exc),
                                               time.perf_counter() - t0),
                           arcs, started, time.perf_counter() - t0)
        with watch.lock:
            watch.done = True
            box["outcome"] = out
    except ChunkHang:  # raised just as the chunk ended: run_chunk reports the hang
        pass


def run_chunk(spec: ChunkSpec) -> ChunkOutcome:
    """Run one chunk on this worker; whatever the design does, return its outcome.

    The chunk runs in a thread of its own, watched by this one (:class:`HangWatch`).  A chunk
    stuck where :class:`ChunkHang` cannot reach it (a sleep, a C loop that releases the GIL) is
    left behind: its outcome says so (``replace_worker``) and the client restarts this worker.
    :class:`~model.errors.InputError` (a design file or corpus this worker cannot read)
    propagates: the campaign stops with its one line."""
    started, t0 = time.time(), time.perf_counter()
    settle_constants()
    design = _design(spec.job)
    own = frozenset(str(Path(f).resolve()) for f in
                    ([design.source] if design.source != "built-in" else []))
    box: dict[str, Any] = {}
    watch = HangWatch(0, spec.hang_after, own)
    inner = threading.Thread(target=_body, args=(spec, design, watch, box),
                             name=f"dyndiet-chunk-{spec.index}", daemon=True)
    inner.start()
    assert inner.ident is not None
    watch.target = inner.ident
    while inner.is_alive():
        inner.join(_POLL)
        if inner.is_alive() and watch.check():
            inner.join(_LAND)
            if inner.is_alive():  # out of Python's reach: leave it, replace the worker
                with watch.lock:
                    watch.done = True
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(inner.ident),
                                                               None)
                text = (watch.report or "hangs") + " (stuck outside Python code; worker replaced)"
                return _outcome(spec, _error_result(spec.job, design.name, text,
                                                    time.perf_counter() - t0),
                                set(), started, time.perf_counter() - t0, hang=True,
                                replace=True)
    if "input_error" in box:
        raise box["input_error"]
    if "outcome" in box:
        out: ChunkOutcome = box["outcome"]
        return out
    return _outcome(spec, _error_result(spec.job, design.name, watch.report or "hangs",
                                        time.perf_counter() - t0),
                    set(), started, time.perf_counter() - t0, hang=True)


def warm_up() -> None:
    """Import what chunks use, once per worker, before the budget's clock starts."""
    import properties.catalogue as catalogue

    catalogue.catalogue()
    import model.designs  # noqa: F401


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


# ---- the client side ---------------------------------------------------------------------------

@attrs.frozen
class Running:
    """A chunk submitted to the cluster."""

    spec: ChunkSpec
    future: Any
    submitted: float


class EngineError(Exception):
    """The cluster went away (every worker gone, the scheduler unreachable)."""


@attrs.define
class Engine:
    """The Dask client a campaign submits chunks through: its own ``LocalCluster`` of
    ``workers`` processes, or the scheduler at ``scheduler``."""

    workers: int
    scheduler: str | None = None
    client: Any = None
    cluster: Any = None

    @property
    def where(self) -> str:
        return self.scheduler or f"local ({self.workers} worker processes)"

    def start(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                     "distributed.worker", "distributed.core", "distributed.client"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        dask.config.set({"distributed.scheduler.allowed-failures": 2,
                         "distributed.admin.tick.limit": "1h",
                         # one chunk per worker thread: a free worker takes the next chunk
                         # instead of it waiting behind a busy worker's
                         "distributed.scheduler.worker-saturation": 1.0,
                         # the workers' sampling profiler walks every thread's stack 100 times
                         # a second: with Hypothesis' deep stacks it costs most of a chunk
                         "distributed.worker.profile.enabled": False,
                         # workers forked from a server that imported distributed once: a
                         # local cluster is up in about a second instead of four
                         "distributed.worker.multiprocessing-method": "forkserver"})
        if self.scheduler is None:
            from distributed.utils import get_mp_context

            # The server the workers fork from imports the model and the properties once,
            # rather than each worker importing them after it starts.
            get_mp_context().set_forkserver_preload(  # type: ignore[no-untyped-call]
                list(PRELOAD))
            self.cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=self.workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.CRITICAL)
            self.client = Client(self.cluster)  # type: ignore[no-untyped-call]
            self.client.wait_for_workers(self.workers, timeout=120)
        else:
            try:
                self.client = Client(  # type: ignore[no-untyped-call]
                    self.scheduler, timeout=10)
            except (OSError, TimeoutError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputError(f"cannot reach the Dask scheduler {self.scheduler}: "
                                 f"{reason}") from None
        with contextlib.suppress(Exception):
            self.client.run(warm_up)

    def warm(self, spec: ChunkSpec, timeout: float = 300.0) -> None:
        """Run ``spec`` (a chunk of one test case, not recorded) once on every worker: the
        first chunk in a process builds what every later one reuses (about 10 s on a loaded
        2-core machine), which is not the budget's to pay."""
        try:
            workers = list(self.client.nthreads())
            futures = [self.client.submit(run_chunk, spec, workers=[w], pure=False,
                                          allow_other_workers=False,
                                          key=f"warm-{spec.job.slug}-{n}-{os.urandom(3).hex()}")
                       for n, w in enumerate(workers)]
            from distributed import wait

            wait(futures, timeout=timeout)  # type: ignore[no-untyped-call]
        except Exception:
            return

    def capacity(self) -> int:
        """Worker threads in the cluster now (workers may come and go)."""
        try:
            return int(sum(self.client.nthreads().values()))
        except Exception:
            return 0

    def submit(self, spec: ChunkSpec) -> Running:
        key = f"chunk-{spec.job.slug}-{spec.run}-{spec.index}-{os.urandom(3).hex()}"
        fut = self.client.submit(run_chunk, spec, key=key, pure=False, retries=0)
        return Running(spec, fut, time.monotonic())

    def workers_running(self, running: list[Running]) -> list[str]:
        """The addresses of the workers running these chunks."""
        keys = {r.future.key for r in running}
        try:
            processing = self.client.processing()
        except Exception:
            return []
        return [w for w, ks in processing.items() if keys & set(ks)]

    def restart(self, addresses: list[str]) -> None:
        """Restart these workers through their nannies (a chunk left stuck on them)."""
        if addresses:
            with contextlib.suppress(Exception):
                self.client.restart_workers(addresses, timeout=30, raise_for_error=False)

    def give_up(self, running: list[Running]) -> None:
        """Cancel these chunks and restart the workers running them (a chunk stuck where the
        watchdog cannot reach it)."""
        addresses = self.workers_running(running)
        for r in running:
            with contextlib.suppress(Exception):
                r.future.cancel()
        self.restart(addresses)

    def close(self, abandoned: list[Running] | None = None) -> None:
        """Leave the cluster; a local one is shut down, its workers still running
        ``abandoned`` chunks killed first (they may be stuck)."""
        if self.cluster is not None and abandoned:
            busy = set(self.workers_running(abandoned))
            with contextlib.suppress(Exception):
                pids = self.client.run(os.getpid, workers=list(busy)) if busy else {}
                for pid in pids.values():
                    os.kill(int(pid), signal.SIGKILL)
        elif abandoned:
            for r in abandoned:
                with contextlib.suppress(Exception):
                    r.future.cancel()
        with contextlib.suppress(Exception):
            if self.client is not None:
                self.client.close(timeout=5)
        with contextlib.suppress(Exception):
            if self.cluster is not None:
                self.cluster.close(timeout=5)
