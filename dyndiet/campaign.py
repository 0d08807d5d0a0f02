"""Nightly fuzz campaigns: many properties on many designs, in parallel, for a time budget.

The budget is divided among the (property, design) jobs; worker processes take jobs from a
queue and run each in short chunks, every chunk with a fresh seed and the campaign's example
database, so the next night starts from what this one found (Hypothesis replays saved failures
first).  After every chunk a worker sends its result to the parent, which rewrites
``campaign.json`` at once: an interrupted campaign loses nothing it had found.  SIGINT or SIGTERM
asks the workers to stop after their current chunk.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from dyndiet.report import DesignRun, build_document, tool_info, write_outputs
from model.errors import InputError
from properties.catalogue import DesignRef, Target, get_property
from properties.runner import Budget, PropertyResult, run_property

CHUNK_EXAMPLES = 20


@attrs.frozen
class Job:
    """One property on one design and target."""

    property: str
    design: DesignRef
    target: Target

    @property
    def key(self) -> str:
        return f"{self.property} on {self.design.name} ({self.design.source})"


def open_database(spec: str) -> ExampleDatabase:
    """A directory path, or ``redis://HOST:PORT[/DB]``; :class:`InputError` if unusable."""
    if spec.startswith("redis://"):
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase

        client = redis.Redis.from_url(spec, socket_connect_timeout=3)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise InputError(f"cannot reach the example database {spec}: {exc}") from None
        return RedisExampleDatabase(client)
    path = Path(spec)
    if path.exists() and not path.is_dir():
        raise InputError("not an example database (a file, not a directory)", path=spec)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the example database: {exc.strerror}",
                         path=spec) from None
    return DirectoryBasedExampleDatabase(path)


@attrs.define(slots=True)
class JobState:
    """What a campaign knows of one job so far."""

    job: Job
    test_cases: int = 0
    seconds: float = 0.0
    chunks: int = 0
    last: PropertyResult | None = None
    failure: PropertyResult | None = None
    error: PropertyResult | None = None
    rule_counts: Counter[str] = attrs.field(factory=Counter)
    done: bool = False

    def add(self, result: PropertyResult) -> None:
        self.test_cases += result.test_cases
        self.seconds += result.seconds
        self.chunks += 1
        self.rule_counts.update(dict(result.rule_counts))
        self.last = result
        if result.status == "failed" and self.failure is None:
            self.failure = result
        if result.status == "error" and self.error is None:
            self.error = result

    def summary(self) -> PropertyResult | None:
        best = self.failure or self.error or self.last
        if best is None:
            return None
        return attrs.evolve(best, test_cases=self.test_cases, seconds=self.seconds,
                            rule_counts=tuple(sorted(self.rule_counts.items())))


def _worker(jobs: list[Job], next_job: Any, results: Any, stop: Any, slice_seconds: float,
            db_spec: str, steps: int, seed: int) -> None:
    """Run jobs (taking the next index from the shared counter) in chunks until each job's
    time slice is used up.  The job list itself is inherited through ``fork``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    db = open_database(db_spec)
    rng = random.Random(seed)
    while not stop.is_set():
        with next_job.get_lock():
            index = next_job.value
            next_job.value += 1
        if index >= len(jobs):
            return
        job = jobs[index]
        prop = get_property(job.property)
        end = time.monotonic() + slice_seconds
        while not stop.is_set():
            budget = Budget(max_examples=CHUNK_EXAMPLES, stateful_step_count=steps,
                            seed=rng.getrandbits(32), database=db, derandomize=False)
            result = run_property(prop, job.design, job.target, budget)
            finished = result.status != "passed" or time.monotonic() >= end
            results.put((index, result, finished))
            if finished:
                break


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


@attrs.define(slots=True)
class Campaign:
    """A campaign's plan and its running state."""

    jobs: list[Job]
    budget_seconds: float
    workers: int
    db_spec: str
    outdir: Path
    steps: int = 30
    command: list[str] = attrs.field(factory=list)
    states: list[JobState] = attrs.field(factory=list)
    interrupted: bool = False
    started: float = 0.0

    def slice_seconds(self) -> float:
        """Each job's share of the budget: all workers busy for the whole budget."""
        return max(1.0, self.budget_seconds * self.workers / max(1, len(self.jobs)))

    def document(self) -> dict[str, Any]:
        """``campaign.json``: a ``dyndiet.report/1`` document plus the campaign's figures."""
        runs: dict[tuple[str, str], list[PropertyResult]] = {}
        designs: dict[tuple[str, str], DesignRef] = {}
        target = self.jobs[0].target if self.jobs else Target()
        for st in self.states:
            summary = st.summary()
            key = (st.job.design.name, st.job.design.source)
            designs[key] = st.job.design
            if summary is not None:
                runs.setdefault(key, []).append(summary)
        doc = build_document(
            [DesignRun(designs[k], target, tuple(v)) for k, v in runs.items()],
            tool_info(command=self.command, profile="nightly", max_examples=CHUNK_EXAMPLES,
                      steps=self.steps, seed="fresh per chunk"))
        seen: set[tuple[str, str, str, str]] = set()
        distinct = []
        coverage: dict[str, dict[str, Any]] = {}
        for st in self.states:
            f = st.failure
            if f is not None and f.counterexample is not None:
                k = (f.property, f.design, f.counterexample.error_type, f.counterexample.message)
                if k not in seen:
                    seen.add(k)
                    distinct.append({"property": f.property, "design": f.design,
                                     "message": f.counterexample.message,
                                     "step_count": f.counterexample.step_count})
            cov = coverage.setdefault(st.job.property, {"test_cases": 0, "runs": Counter(),
                                                        "rules": set(), "guarded": set()})
            cov["test_cases"] += st.test_cases
            cov["runs"].update(st.rule_counts)
            if st.last is not None:
                cov["rules"].update(st.last.rules)
                cov["guarded"].update(st.last.guarded_rules)
        doc["campaign"] = {
            "budget_seconds": self.budget_seconds,
            "elapsed_seconds": round(time.monotonic() - self.started, 1) if self.started else 0,
            "workers": self.workers,
            "database": self.db_spec,
            "interrupted": self.interrupted,
            "jobs": len(self.jobs),
            "jobs_done": sum(st.done for st in self.states),
            "counterexamples": distinct,
            "properties": {
                name: {
                    "test_cases": c["test_cases"],
                    "rule_runs": dict(sorted(c["runs"].items())),
                    "rules_never_run": sorted(c["rules"] - set(c["runs"])),
                    "preconditions_never_met": sorted(c["guarded"] - set(c["runs"])),
                }
                for name, c in coverage.items()
            },
        }
        return doc

    def save(self) -> dict[str, Any]:
        doc = self.document()
        _write_json(self.outdir / "campaign.json", doc)
        return doc

    def run(self, progress: Callable[[Campaign], None] | None = None) -> dict[str, Any]:
        """Run to the end of the budget or to a stop signal; return the final document."""
        open_database(self.db_spec)  # fail early, in the parent, on a bad database
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.states = [JobState(j) for j in self.jobs]
        ctx = mp.get_context("fork")
        next_job: Any = ctx.Value("i", 0)
        results: Any = ctx.Queue()
        stop = ctx.Event()
        seed = random.SystemRandom().getrandbits(32)
        procs = [ctx.Process(target=_worker, args=(self.jobs, next_job, results, stop,
                                                   self.slice_seconds(),
                                                   self.db_spec, self.steps, seed + n),
                             daemon=True)
                 for n in range(self.workers)]

        def request_stop(signum: int, frame: Any) -> None:
            self.interrupted = True
            stop.set()

        old = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        self.started = time.monotonic()
        deadline = self.started + self.budget_seconds
        try:
            for p in procs:
                p.start()
            self.save()
            while any(p.is_alive() for p in procs) or not results.empty():
                if time.monotonic() > deadline:
                    stop.set()
                try:
                    index, result, finished = results.get(timeout=0.5)
                except queue.Empty:
                    if progress:
                        progress(self)
                    continue
                st = self.states[index]
                st.add(result)
                st.done = st.done or finished
                self.save()
                if progress:
                    progress(self)
            for p in procs:
                p.join(timeout=5)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            for p in procs:
                if p.is_alive():
                    p.terminate()
        doc = self.save()
        write_outputs(doc, self.outdir)
        _write_json(self.outdir / "campaign.json", doc)
        return doc


def progress_printer(stream: Any = None) -> Callable[[Campaign], None]:
    """A progress bar on a terminal, a plain line every 10 s otherwise."""
    out = stream or sys.stderr
    tty = out.isatty()
    last = [0.0]

    def show(c: Campaign) -> None:
        now = time.monotonic()
        elapsed = now - c.started
        done = sum(st.done for st in c.states)
        cases = sum(st.test_cases for st in c.states)
        found = sum(st.failure is not None for st in c.states)
        frac = min(1.0, elapsed / c.budget_seconds) if c.budget_seconds else 1.0
        text = (f"{elapsed:5.0f}s/{c.budget_seconds:.0f}s jobs {done}/{len(c.jobs)} "
                f"cases {cases} counterexamples {found}")
        if tty:
            bar = "#" * int(24 * frac)
            out.write(f"\r[{bar:<24}] {text}")
            out.flush()
        elif now - last[0] >= 10:
            last[0] = now
            out.write(f"dyndiet fuzz: {text}\n")
            out.flush()

    return show
