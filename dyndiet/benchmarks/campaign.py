"""Speed of fuzz campaigns (dyndiet/campaign.py): test cases run in the same time by one worker
and by two, on a local Dask cluster and through a Dask scheduler with its own worker processes
(the ratio, measured in one run, is what parallel workers buy on this machine), and what branch
tracing costs a chunk."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dyndiet.benchmarks import Figure
from dyndiet.campaign import Campaign, Job
from dyndiet.campaign_engine import ChunkSpec, run_chunk
from dyndiet.campaign_state import JobSpec
from model.designs import builtin_designs
from properties.catalogue import DesignRef, Target

AREA = "campaign"
#: Jobs that keep passing (the baseline against itself), so no job ends early.
BENCH_JOBS = (("section", "control-file"), ("section", "print-decisions"),
              ("section", "callsite-metadata"), ("section", "query-results"))


def _jobs() -> list[Job]:
    designs = builtin_designs()
    return [Job(prop, DesignRef(name, "built-in", designs[name]), Target())
            for name, prop in BENCH_JOBS]


def test_cases(workers: int, seconds: float, scheduler: str | None = None) -> int:
    """Test cases a campaign of :data:`BENCH_JOBS` runs in ``seconds`` on ``workers`` worker
    processes (the cluster's start-up is not counted: the budget starts when it is up)."""
    with tempfile.TemporaryDirectory(prefix="dyndiet-bench-") as tmp:
        c = Campaign(jobs=_jobs(), budget_seconds=seconds, workers=workers,
                     db_spec=str(Path(tmp) / "db"), outdir=Path(tmp) / "out",
                     command=["dyndiet", "bench", "campaign"], scheduler=scheduler, seed=1,
                     trace_every=0)
        doc = c.run()
        return int(doc["campaign"]["test_cases"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dask_cluster(workers: int, cwd: Path | None = None) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` worker processes (one thread each) on localhost,
    importing what this process can (its ``sys.path``), run in ``cwd`` (default: here)."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
           "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": cwd}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], **quiet)]  # type: ignore[call-overload]
    procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", str(workers),
                                   "--nthreads", "1", "--no-dashboard", "--host",
                                   "127.0.0.1"], **quiet))  # type: ignore[call-overload]
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def traced_cost(chunks: int) -> float:
    """Test cases per second of untraced chunks over traced ones (in this process)."""
    with tempfile.TemporaryDirectory(prefix="dyndiet-bench-") as tmp:
        job = JobSpec("print-decisions", "section", "built-in")  # passes: nothing to shrink
        rates = {False: 0.0, True: 0.0}
        for trace in (False, True, False, True):
            cases, took = 0, 0.0
            for n in range(chunks):
                out = run_chunk(ChunkSpec(job, n, 0, n, 10, 30, str(Path(tmp) / "db"),
                                          trace=trace, shrink=False))
                cases += out.result.test_cases
                took += out.seconds
            rates[trace] = max(rates[trace], cases / took)
        return rates[False] / rates[True]


def run(quick: bool) -> list[Figure]:
    seconds = 20.0 if quick else 60.0
    figs: list[Figure] = []
    for engine in ("local", "dask scheduler"):
        got: dict[int, int] = {}
        for workers in (1, 2):
            if engine == "local":
                got[workers] = test_cases(workers, seconds)
            else:
                with dask_cluster(workers) as address:
                    got[workers] = test_cases(workers, seconds, scheduler=address)
            figs.append(Figure(AREA, f"{engine}: test cases in {seconds:g} s, {workers} "
                                     f"worker{'s' if workers > 1 else ''}",
                               float(got[workers]), "test cases"))
        figs.append(Figure(AREA, f"{engine}: 2 workers / 1 worker", got[2] / max(1, got[1]),
                           "x", ">= 1.8x"))
    figs.append(Figure(AREA, "untraced chunk speed / branch-traced chunk speed",
                       traced_cost(2 if quick else 4), "x"))
    return figs
