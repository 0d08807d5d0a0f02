"""Nightly fuzz campaigns: many properties on many designs, on a Dask cluster, for a budget.

A campaign is one output directory.  Each ``dyndiet fuzz`` on it is a *run* (a night): it opens
the campaign's state (:mod:`dyndiet.campaign_state`), starts a Dask cluster (or joins one,
:mod:`dyndiet.campaign_engine`) and keeps every worker busy with *chunks*, a few dozen test
cases of one (property, design) job at a time, until the budget is spent, every job is done or
SIGINT/SIGTERM asks it to stop.  Every job gets a first chunk before any job gets a second; after
that the jobs still showing new behaviour get more turns.  Each finished chunk is written to the
state at once, so a run killed at any moment loses only the chunks it was running, and the next
run on the same directory continues with the chunks not yet run.

Counterexamples go to the example database (a directory, or ``redis://`` shared by every machine
of the cluster), so a failure found once is replayed first by every later chunk of that job.
At the end (and every few seconds) the run writes ``campaign.json`` (a design report with the
campaign's figures), the reports and reproducers, and ``campaign.html``
(:mod:`dyndiet.campaign_page`).
"""

from __future__ import annotations

import builtins
import random
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from dyndiet.campaign_engine import (
    HANG_AFTER,
    ChunkSpec,
    Engine,
    Running,
    open_database,
)

__all__ = ["Campaign", "Job", "campaign_text", "check_scheduler", "open_database",
           "progress_printer"]
from dyndiet.campaign_state import (
    CampaignState,
    ChunkOutcome,
    JobRecord,
    JobSpec,
    Picker,
    chunk_seed,
    write_json,
)
from dyndiet.report import DesignRun, build_document, tool_info, write_outputs
from model.errors import InputError
from properties.catalogue import DesignRef, Target
from properties.runner import PropertyResult

#: Test cases of the report's replay command (a chunk's own count varies).
CHUNK_EXAMPLES = 20
#: Test cases in a chunk before any job's speed is known.
FIRST_EXAMPLES = 2
#: What a chunk aims to take once it is (seconds), and the bounds on its test cases.
CHUNK_SECONDS = 2.0
MIN_EXAMPLES, MAX_EXAMPLES = 1, 400
#: Chunks running when the budget ends (or on SIGINT) get this long to finish (seconds).
GRACE = 3.0
#: ``campaign.json`` and the page are rewritten at most this often while running (seconds).
SAVE_EVERY = 10.0
#: How often the run looks at its chunks (seconds); the cluster's size every :data:`SIZE_EVERY`.
POLL = 0.2
SIZE_EVERY = 2.0


@attrs.frozen
class Job:
    """One property on one design and target."""

    property: str
    design: DesignRef
    target: Target

    @builtins.property
    def spec(self) -> JobSpec:
        source = self.design.source
        if source != "built-in":
            source = str(Path(source).resolve())
        return JobSpec(self.property, self.design.name, source, self.target.era,
                       self.target.abi, self.target.corpus)

    @builtins.property
    def key(self) -> str:
        return self.spec.key


def check_scheduler(address: str) -> str:
    """``--scheduler``: ``tcp://HOST:PORT`` (or ``tls://``, ``ucx://``, ``inproc://``)."""
    scheme, sep, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if not sep or scheme not in ("tcp", "tls", "ucx", "inproc") or (
            scheme != "inproc" and (not host or not port.isdigit())):
        raise InputError(f"bad scheduler address {address!r} (use tcp://HOST:PORT)")
    return address


@attrs.define
class Campaign:
    """A campaign's plan for this run and its running state."""

    jobs: list[Job]
    budget_seconds: float
    workers: int
    db_spec: str
    outdir: Path
    steps: int = 30
    command: list[str] = attrs.field(factory=list)
    scheduler: str | None = None
    seed: int | None = None
    #: Every ``trace_every``-th chunk of a job records branch coverage (0: never).
    trace_every: int = 4
    hang_after: float = HANG_AFTER
    #: A chunk running longer than this has its worker restarted (seconds): past Hypothesis'
    #: own five minutes of shrinking, so only a design stuck where the watchdog cannot reach.
    chunk_limit: float = 420.0
    state: CampaignState | None = None
    records: list[JobRecord] = attrs.field(factory=list)
    run_index: int = 0
    interrupted: bool = False
    finished: bool = False
    started: float = 0.0
    running: list[Running] = attrs.field(factory=list)
    where: str = ""
    _last_save: float = 0.0

    # ---- figures ----

    def elapsed(self) -> float:
        return time.monotonic() - self.started if self.started else 0.0

    def clock(self) -> float:
        """The campaign clock: seconds run over every run so far."""
        assert self.state is not None
        return self.state.clock_before(self.run_index) + self.elapsed()

    def _rate(self, rec: JobRecord) -> float | None:
        """Test cases per second of ``rec``'s chunks, else of its property's other jobs."""
        if rec.seconds > 0 and rec.test_cases:
            return rec.test_cases / rec.seconds
        same = [r.test_cases / r.seconds for r in self.records
                if r.seconds > 0 and r.test_cases and r.spec.property == rec.spec.property]
        every = [r.test_cases / r.seconds for r in self.records if r.seconds > 0 and r.test_cases]
        pool = same or every
        return statistics.median(pool) if pool else None

    def chunk_examples(self, rec: JobRecord, remaining: float, capacity: int) -> int:
        """Test cases for ``rec``'s next chunk: about :data:`CHUNK_SECONDS` of work, less while
        some jobs still wait for a first chunk that the rest of the budget must fit."""
        target = CHUNK_SECONDS
        unreached = sum(1 for r in self.records if r.chunks == 0 and not r.done)
        if unreached:
            target = min(target, max(0.2, 0.6 * remaining * max(1, capacity) / unreached))
        rate = self._rate(rec)
        if rate is None:  # nothing measured yet: a small chunk measures it
            return FIRST_EXAMPLES
        return max(MIN_EXAMPLES, min(MAX_EXAMPLES, round(rate * target)))

    # ---- running ----

    def _spec(self, rec: JobRecord, remaining: float, capacity: int) -> ChunkSpec:
        assert self.state is not None
        index = rec.next_index(r.spec.index for r in self.running if r.spec.job == rec.spec)
        trace = self.trace_every > 0 and index % self.trace_every == self.trace_every - 1
        return ChunkSpec(rec.spec, index, self.run_index,
                         chunk_seed(self.state.seed, rec.spec, index),
                         self.chunk_examples(rec, remaining, capacity), self.steps,
                         self.db_spec, trace, self.hang_after, shrink=rec.chunks > 0)

    def _take(self, run: Running, out: ChunkOutcome, engine: Engine | None = None) -> None:
        assert self.state is not None
        rec = self.state.record(run.spec.job)
        rec.add(out, self.clock())
        self.state.save_job(rec)
        if out.replace_worker and engine is not None:
            engine.restart([out.worker])

    def _lost(self, run: Running, text: str) -> None:
        """A chunk that could not finish: an error of its design."""
        from dyndiet.campaign_engine import _error_result

        out = ChunkOutcome(run.spec.index, self.run_index,
                           _error_result(run.spec.job, run.spec.job.design, text,
                                         time.monotonic() - run.submitted),
                           frozenset(), False, time.time(), time.monotonic() - run.submitted, 0,
                           hang=True)
        self._take(run, out)

    def _collect(self, engine: Engine) -> None:
        """Take the results of finished chunks; restart the workers of chunks past their
        limit."""
        still: list[Running] = []
        stuck: list[Running] = []
        for run in self.running:
            fut = run.future
            if fut.status == "finished":
                self._take(run, fut.result(), engine)
            elif fut.status == "error":
                exc = fut.exception()
                if isinstance(exc, InputError):
                    raise exc
                name = type(exc).__name__
                if name == "KilledWorker":
                    self._lost(run, f"kills its worker: chunk {run.spec.index} took down the "
                                    "worker process each time it ran")
                else:
                    self._lost(run, f"chunk {run.spec.index} failed on its worker: {name}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''}")
            elif fut.status == "cancelled":
                continue  # a chunk this run gave up on: it runs again next time
            elif time.monotonic() - run.submitted > self.chunk_limit:
                stuck.append(run)
            else:
                still.append(run)
        if stuck:
            engine.give_up(stuck)
            for run in stuck:
                self._lost(run, f"hangs: chunk {run.spec.index} ran past {self.chunk_limit:g} s "
                                "where the watchdog could not interrupt it; its worker was "
                                "replaced")
        self.running = still

    def run(self, progress: Callable[[Campaign], None] | None = None,
            engine: Engine | None = None) -> dict[str, Any]:
        """Run to the end of the budget, of every job, or to a stop signal; return the final
        document."""
        open_database(self.db_spec)  # fail early, before any work, on a bad database
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.state = CampaignState.open(
            self.outdir, self.seed if self.seed is not None else random.SystemRandom().getrandbits(32))
        self.records = [self.state.record(j.spec) for j in self.jobs]
        self.run_index = len(self.state.runs)
        engine = engine or Engine(self.workers, self.scheduler)
        self.where = engine.where

        def request_stop(signum: int, frame: Any) -> None:
            self.interrupted = True

        old = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        picker = Picker()
        started = False
        try:
            engine.start()  # the budget counts from when the workers are up and warm
            if self.records:
                first = self.records[0].spec
                engine.warm(ChunkSpec(first, -1, self.run_index, 0, 1, self.steps, self.db_spec,
                                      hang_after=self.hang_after, shrink=False))
            self.started = time.monotonic()
            deadline = self.started + self.budget_seconds
            self.state.runs.append({"run": self.run_index, "started": time.time(),
                                    "ended": None, "budget_seconds": self.budget_seconds,
                                    "workers": self.workers, "engine": self.where,
                                    "interrupted": False})
            self.state.save_meta()
            started = True
            self.save()
            capacity, sized = engine.capacity(), time.monotonic()
            while not self.interrupted and time.monotonic() < deadline:
                if time.monotonic() - sized >= SIZE_EVERY:
                    capacity, sized = engine.capacity(), time.monotonic()
                while len(self.running) < capacity:
                    in_flight = Counter(r.spec.job.key for r in self.running)
                    rec = picker.pick(self.records, in_flight)
                    if rec is None:
                        break
                    remaining = deadline - time.monotonic()
                    self.running.append(engine.submit(self._spec(rec, remaining, capacity)))
                if not self.running and all(r.done for r in self.records):
                    self.finished = True
                    break
                time.sleep(POLL)
                self._collect(engine)
                if progress:
                    progress(self)
                if time.monotonic() - self._last_save >= SAVE_EVERY:
                    self.save()
            end = time.monotonic() + GRACE
            while self.running and time.monotonic() < end:
                time.sleep(POLL)
                self._collect(engine)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if started:
                self.state.runs[self.run_index].update(ended=time.time(),
                                                       interrupted=self.interrupted)
                self.state.save_meta()
            engine.close(abandoned=self.running)  # cut short: they run again next time
            self.running = []
        if not started:
            raise KeyboardInterrupt
        doc = self.save()
        write_outputs(doc, self.outdir)
        write_json(self.outdir / "campaign.json", doc)
        self._write_page(doc)
        return doc

    # ---- reporting ----

    def save(self) -> dict[str, Any]:
        self._last_save = time.monotonic()
        doc = self.document()
        write_json(self.outdir / "campaign.json", doc)
        self._write_page(doc)
        return doc

    def _write_page(self, doc: dict[str, Any]) -> None:
        from dyndiet.campaign_page import render_page

        assert self.state is not None
        timelines = {r.spec.key: r.timeline for r in self.records}
        page = render_page(doc, timelines, self.state.runs)
        tmp = self.outdir / "campaign.html.tmp"
        tmp.write_text(page)
        tmp.replace(self.outdir / "campaign.html")

    def document(self) -> dict[str, Any]:
        """``campaign.json``: a design report of every job's result plus the campaign's
        figures (every job with its chunks and test cases, the jobs never reached)."""
        runs: dict[tuple[str, str], list[PropertyResult]] = {}
        designs: dict[tuple[str, str], Job] = {}
        for job, rec in zip(self.jobs, self.records, strict=True):
            key = (job.design.name, job.design.source)
            designs.setdefault(key, job)
            summary = rec.summary()
            if summary is not None:
                runs.setdefault(key, []).append(summary)
        doc = build_document(
            [DesignRun(designs[k].design, designs[k].target, tuple(v)) for k, v in runs.items()],
            tool_info(command=self.command, profile="nightly", max_examples=CHUNK_EXAMPLES,
                      steps=self.steps, seed=self.state.seed if self.state else None))
        doc["campaign"] = self._figures(doc)
        return doc

    def _figures(self, doc: dict[str, Any]) -> dict[str, Any]:
        assert self.state is not None
        headlines = _finding_headlines(doc)
        table = []
        seen: set[tuple[str, str, str, str]] = set()
        distinct = []
        coverage: dict[str, dict[str, Any]] = {}
        for rec in self.records:
            s = rec.spec
            row: dict[str, Any] = {
                "key": s.key, "property": s.property, "design": s.design, "source": s.source,
                "status": rec.status, "chunks": rec.chunks, "test_cases": rec.test_cases,
                "seconds": round(rec.seconds, 2),
                "steps_per_second": round(rec.steps / rec.seconds, 1) if rec.seconds else 0.0,
                "behaviours": len(rec.seen), "traced_chunks": rec.traced_chunks,
                "novelty": round(rec.novelty(), 3), "last_new_chunk": rec.last_new_chunk,
                "found_in_run": rec.found_in_run,
                "new_this_run": sum(p["new"] for p in rec.timeline
                                    if p["run"] == self.run_index),
                "finding": headlines.get((s.design, s.property)),
                "error": rec.error.error if rec.error is not None else None,
                "rules": list(rec.rules), "rule_counts": dict(sorted(rec.rule_counts.items())),
            }
            table.append(row)
            f = rec.failure
            if f is not None and f.counterexample is not None:
                k = (f.property, f.design, f.counterexample.error_type, f.counterexample.message)
                if k not in seen:
                    seen.add(k)
                    distinct.append({"property": f.property, "design": f.design,
                                     "message": f.counterexample.message,
                                     "headline": row["finding"] or f.counterexample.message,
                                     "step_count": f.counterexample.step_count,
                                     "found_in_run": rec.found_in_run})
            cov = coverage.setdefault(s.property, {"test_cases": 0, "runs": Counter(),
                                                   "rules": set(), "guarded": set()})
            cov["test_cases"] += rec.test_cases
            cov["runs"].update(rec.rule_counts)
            cov["rules"].update(rec.rules)
            cov["guarded"].update(rec.guarded_rules)
        never = [row["key"] for row in table if row["status"] == "never reached"]
        return {
            "budget_seconds": self.budget_seconds,
            "elapsed_seconds": round(self.elapsed(), 1),
            "workers": self.workers,
            "engine": self.where,
            "database": self.db_spec,
            "seed": self.state.seed,
            "run": self.run_index,
            "runs": self.state.runs,
            "interrupted": self.interrupted,
            "finished": self.finished,
            "jobs": len(self.records),
            "jobs_reached": len(self.records) - len(never),
            "jobs_done": sum(r.done for r in self.records),
            "never_reached": never,
            "test_cases": sum(r.test_cases for r in self.records),
            "chunks": sum(r.chunks for r in self.records),
            "by_job": table,
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


def _finding_headlines(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(design, property) -> the headline of the finding that property's failure belongs to
    (``/2`` documents), else its counterexample's message (``/1``)."""
    out: dict[tuple[str, str], str] = {}
    for d in doc.get("designs", []):
        by_id = {f.get("id"): f for f in d.get("findings", [])}
        for p in d.get("properties", []):
            f = by_id.get(p.get("finding"))
            if f is not None:
                out[(d["name"], p["name"])] = f.get("headline") or f.get("message", "")
            elif p.get("counterexample"):
                out[(d["name"], p["name"])] = p["counterexample"].get("message", "")
    return out


def campaign_text(doc: dict[str, Any]) -> str:
    """The campaign's part of the text report: every job with its chunks and test cases, and
    the jobs the run never reached."""
    c = doc["campaign"]
    lines = ["", "-" * 72,
             f"campaign: run {c['run'] + 1}, {c['jobs_reached']}/{c['jobs']} jobs reached, "
             f"{c['chunks']} chunks, {c['test_cases']:,} test cases ({c['engine']})"]
    if c["never_reached"]:
        lines.append(f"never reached ({len(c['never_reached'])}): "
                     + "; ".join(c["never_reached"]))
    else:
        lines.append("every job got at least one chunk")
    width = max([len(r["design"]) for r in c["by_job"]] + [6])
    pwidth = max([len(r["property"]) for r in c["by_job"]] + [8])
    lines.append(f"{'design':<{width}}  {'property':<{pwidth}}  {'chunks':>6}  "
                 f"{'cases':>7}  status")
    for r in c["by_job"]:
        lines.append(f"{r['design']:<{width}}  {r['property']:<{pwidth}}  {r['chunks']:>6}  "
                     f"{r['test_cases']:>7}  {r['status']}")
    return "\n".join(lines) + "\n"


def progress_printer(stream: Any = None) -> Callable[[Campaign], None]:
    """A progress bar on a terminal, a plain line every 10 s otherwise."""
    out = stream or sys.stderr
    tty = out.isatty()
    last = [0.0]

    def show(c: Campaign) -> None:
        now = time.monotonic()
        elapsed = c.elapsed()
        reached = sum(1 for r in c.records if r.chunks)
        cases = sum(r.test_cases for r in c.records)
        found = sum(r.failure is not None for r in c.records)
        frac = min(1.0, elapsed / c.budget_seconds) if c.budget_seconds else 1.0
        text = (f"{elapsed:5.0f}s/{c.budget_seconds:.0f}s jobs {reached}/{len(c.records)} "
                f"reached, cases {cases} counterexamples {found}")
        if tty:
            bar = "#" * int(24 * frac)
            out.write(f"\r[{bar:<24}] {text}")
            out.flush()
        elif now - last[0] >= 10:
            last[0] = now
            out.write(f"dyndiet fuzz: {text}\n")
            out.flush()

    return show
