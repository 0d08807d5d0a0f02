"""A campaign's memory and its scheduler: what each (property, design) job has run and found,
kept on disk after every chunk, and which job runs next.

A campaign lives in its output directory: ``state/campaign.json`` (the campaign's seed and its
runs, one a night) and ``state/jobs/SLUG.json`` (one file per job: the chunks it finished, its
test cases, rule counts, the behaviours it has seen, its timeline, and its finding or error).  A
job's file is rewritten, atomically, after each of its chunks: a campaign killed at any moment
keeps every chunk that finished, and the next ``dyndiet fuzz`` on the same directory continues
where it stopped.  Chunk ``n`` of a job always runs with the same seed (derived from the
campaign's seed, the job and ``n``), so a chunk that finished is never run again and one that
was cut short runs again as it would have.

The scheduler (:func:`pick`) is HypoFuzz's idea on Hypothesis' public API: every job gets a
first chunk before any gets a second; after that a job's turn depends on how likely its next
chunk is to show behaviour it has not shown before (a rule that never ran, a branch of the model
or the design never taken), estimated the Good-Turing way (:meth:`JobRecord.novelty`), with one
pick in :data:`FAIR_EVERY` going to the job with the fewest chunks so no job starves.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import os
import pickle
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from model.errors import InputError
from properties.runner import PropertyResult

STATE_SCHEMA = "dyndiet.campaign-state/1"
#: One pick in this many goes to the job with the fewest chunks, whatever the estimates say.
FAIR_EVERY = 3
#: Timeline points kept per job (older points are thinned, every other one dropped).
TIMELINE_POINTS = 400


@attrs.frozen
class JobSpec:
    """One property on one design and target, as plain data a worker on another machine can
    resolve (``source``: ``built-in`` or the design file's absolute path)."""

    property: str
    design: str
    source: str
    era: str = "v6.1"
    abi: str = "x86_64"
    corpus: str | None = None

    @builtins.property
    def key(self) -> str:
        where = "" if self.source == "built-in" else f" ({self.source})"
        return f"{self.property} on {self.design}{where} [{self.era} {self.abi}]" + (
            f" corpus {self.corpus}" if self.corpus else "")

    @builtins.property
    def slug(self) -> str:
        """A file name for the job: readable, made unique by a hash of the key."""
        digest = hashlib.blake2b(self.key.encode(), digest_size=4).hexdigest()
        stem = "".join(c if c.isalnum() else "_" for c in f"{self.design}_{self.property}")
        return f"{stem[:60]}_{digest}"

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def chunk_seed(campaign_seed: int, job: JobSpec, index: int) -> int:
    """The seed of chunk ``index`` of ``job``: the same in every run of the campaign."""
    data = f"{campaign_seed}|{job.key}|{index}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "big")


@attrs.frozen
class ChunkOutcome:
    """What one finished chunk tells the campaign."""

    index: int
    run: int
    result: PropertyResult
    #: Behaviours the chunk showed: ``rule:NAME`` and, on a traced chunk, ``arc:HASH``.
    behaviours: frozenset[str]
    traced: bool
    started: float
    seconds: float
    steps: int
    worker: str = ""
    hang: bool = False
    #: The chunk was left stuck on its worker: the worker must be replaced.
    replace_worker: bool = False
    #: A failure it found was shrunk (a job's first chunk does not shrink).
    shrunk: bool = True


def _pickled(value: Any) -> str | None:
    return None if value is None else base64.b64encode(pickle.dumps(value)).decode()


def _unpickled(text: str | None, path: Path) -> Any:
    if text is None:
        return None
    try:
        return pickle.loads(base64.b64decode(text))
    except Exception as exc:
        raise InputError(f"campaign state written by another dyndiet ({type(exc).__name__}); "
                         "start a new campaign with another --output", path=str(path)) from None


@attrs.define(slots=True)
class JobRecord:
    """What the campaign knows of one job, over all its runs."""

    spec: JobSpec
    done_chunks: set[int] = attrs.field(factory=set)
    test_cases: int = 0
    seconds: float = 0.0
    steps: int = 0
    rule_counts: Counter[str] = attrs.field(factory=Counter)
    #: Behaviour -> in how many chunks it was seen (the Good-Turing estimate needs the counts).
    seen: dict[str, int] = attrs.field(factory=dict)
    traced_chunks: int = 0
    #: One point per chunk: campaign clock, run, test cases and behaviours so far, steps/s.
    timeline: list[dict[str, Any]] = attrs.field(factory=list)
    last: PropertyResult | None = None
    failure: PropertyResult | None = None
    error: PropertyResult | None = None
    #: The run in which the finding (or error) was first seen.
    found_in_run: int | None = None
    #: The last chunk that showed a behaviour the job had never shown.
    last_new_chunk: int = -1
    #: The failure is shrunk (a first chunk's is not: a later chunk replays and shrinks it).
    shrunk: bool = True
    #: Rules of the job's machine and those with a precondition (from its results).
    rules: tuple[str, ...] = ()
    guarded_rules: tuple[str, ...] = ()

    @property
    def chunks(self) -> int:
        return len(self.done_chunks)

    @property
    def done(self) -> bool:
        """A counterexample found and shrunk, or an error of the design: nothing more to run."""
        return (self.failure is not None and self.shrunk) or self.error is not None

    @property
    def to_shrink(self) -> bool:
        """A first chunk's failure waits for a chunk that shrinks it."""
        return self.failure is not None and not self.shrunk

    @property
    def status(self) -> str:
        if self.failure is not None:
            return "failed" if self.shrunk else "failed (not yet shrunk)"
        if self.error is not None:
            return "error"
        return "passed" if self.chunks else "never reached"

    def next_index(self, in_flight: Iterable[int] = ()) -> int:
        """The first chunk neither finished nor running."""
        busy = self.done_chunks | set(in_flight)
        n = 0
        while n in busy:
            n += 1
        return n

    def novelty(self, in_flight: int = 0) -> float:
        """The Good-Turing estimate of the chance that the next chunk shows a behaviour never
        seen: behaviours seen in exactly one chunk over the chunks run (plus one, so a job that
        has found nothing new for long still has a small chance; running chunks count as run).
        """
        singletons = sum(1 for n in self.seen.values() if n == 1)
        return min(1.0, (singletons + 1) / (self.chunks + in_flight + 1))

    def add(self, out: ChunkOutcome, clock: float) -> int:
        """Record a finished chunk; return how many behaviours were new."""
        if out.index in self.done_chunks:
            return 0
        r = out.result
        self.done_chunks.add(out.index)
        self.test_cases += r.test_cases
        self.seconds += out.seconds
        self.steps += out.steps
        self.rule_counts.update(dict(r.rule_counts))
        self.rules = r.rules or self.rules
        self.guarded_rules = r.guarded_rules or self.guarded_rules
        self.traced_chunks += out.traced
        new = 0
        for b in out.behaviours:
            count = self.seen.get(b, 0)
            new += count == 0
            self.seen[b] = count + 1
        if new:
            self.last_new_chunk = out.index
        self.last = r
        if r.status == "failed" and (self.failure is None or not self.shrunk):
            if self.failure is None:
                self.found_in_run = out.run
            self.failure, self.shrunk = r, out.shrunk
        elif r.status == "error" and self.error is None and self.failure is None:
            self.error, self.found_in_run = r, out.run
        self.timeline.append({
            "t": round(clock, 2), "run": out.run, "chunk": out.index,
            "test_cases": self.test_cases, "behaviours": len(self.seen), "new": new,
            "steps_per_second": round(out.steps / out.seconds, 1) if out.seconds > 0 else 0.0,
            "cases_per_second": round(r.test_cases / out.seconds, 1) if out.seconds > 0 else 0.0,
        })
        if len(self.timeline) > TIMELINE_POINTS:
            self.timeline = self.timeline[:1] + self.timeline[1:-1:2] + self.timeline[-1:]
        return new

    def summary(self) -> PropertyResult | None:
        """The result a report shows: the finding, else the error, else the last chunk's, with
        the test cases, seconds and rule counts of every chunk."""
        best = self.failure or self.error or self.last
        if best is None:
            return None
        return attrs.evolve(best, test_cases=self.test_cases, seconds=self.seconds,
                            rule_counts=tuple(sorted(self.rule_counts.items())))

    def as_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.as_json(), "done_chunks": sorted(self.done_chunks),
            "test_cases": self.test_cases, "seconds": round(self.seconds, 3),
            "steps": self.steps, "rule_counts": dict(sorted(self.rule_counts.items())),
            "seen": self.seen, "traced_chunks": self.traced_chunks, "timeline": self.timeline,
            "found_in_run": self.found_in_run, "last_new_chunk": self.last_new_chunk,
            "shrunk": self.shrunk,
            "rules": list(self.rules), "guarded_rules": list(self.guarded_rules),
            "last": _pickled(self.last), "failure": _pickled(self.failure),
            "error": _pickled(self.error),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], path: Path) -> JobRecord:
        try:
            return cls(
                spec=JobSpec(**doc["spec"]), done_chunks=set(doc["done_chunks"]),
                test_cases=doc["test_cases"], seconds=doc["seconds"], steps=doc["steps"],
                rule_counts=Counter(doc["rule_counts"]), seen=dict(doc["seen"]),
                traced_chunks=doc["traced_chunks"], timeline=list(doc["timeline"]),
                found_in_run=doc["found_in_run"], last_new_chunk=doc["last_new_chunk"],
                shrunk=doc.get("shrunk", True),
                rules=tuple(doc["rules"]), guarded_rules=tuple(doc["guarded_rules"]),
                last=_unpickled(doc["last"], path), failure=_unpickled(doc["failure"], path),
                error=_unpickled(doc["error"], path))
        except (KeyError, TypeError) as exc:
            raise InputError(f"not a campaign job record ({exc})", path=str(path)) from None


def write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` to ``path`` atomically (a reader sees the old file or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)


@attrs.define(slots=True)
class CampaignState:
    """Every job's record and the campaign's runs, kept in ``OUTDIR/state``."""

    root: Path
    seed: int
    runs: list[dict[str, Any]] = attrs.field(factory=list)
    records: dict[str, JobRecord] = attrs.field(factory=dict)

    @classmethod
    def open(cls, outdir: Path, seed: int) -> CampaignState:
        """The campaign kept in ``outdir`` (``seed`` is used only by a new campaign)."""
        root = outdir / "state"
        meta_path = root / "campaign.json"
        if not meta_path.exists():
            (root / "jobs").mkdir(parents=True, exist_ok=True)
            state = cls(root, seed)
            state.save_meta()
            return state
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the campaign state: {exc}", path=str(meta_path)) \
                from None
        if not isinstance(meta, dict) or meta.get("schema") != STATE_SCHEMA:
            raise InputError(f"not a {STATE_SCHEMA} file", path=str(meta_path))
        state = cls(root, int(meta["seed"]), list(meta.get("runs", [])))
        (root / "jobs").mkdir(parents=True, exist_ok=True)
        for path in sorted((root / "jobs").glob("*.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read the campaign state: {exc}",
                                 path=str(path)) from None
            rec = JobRecord.from_json(doc, path)
            state.records[rec.spec.key] = rec
        return state

    def record(self, spec: JobSpec) -> JobRecord:
        rec = self.records.get(spec.key)
        if rec is None:
            rec = self.records[spec.key] = JobRecord(spec)
        return rec

    def save_meta(self) -> None:
        write_json(self.root / "campaign.json",
                   {"schema": STATE_SCHEMA, "seed": self.seed, "runs": self.runs})

    def save_job(self, rec: JobRecord) -> None:
        write_json(self.root / "jobs" / f"{rec.spec.slug}.json", rec.as_json())

    def clock_before(self, run: int) -> float:
        """Seconds the campaign ran before run ``run`` (the campaign clock of the timelines)."""
        return float(sum(max(0.0, (r.get("ended") or r["started"]) - r["started"])
                         for r in self.runs[:run]))


@attrs.define(slots=True)
class Picker:
    """Chooses the job of the next chunk: first shares in order, then by novelty, one pick in
    :data:`FAIR_EVERY` to the job with the fewest chunks."""

    picks: int = 0

    def pick(self, records: Sequence[JobRecord], in_flight: Counter[str]) -> JobRecord | None:
        live = [r for r in records if not r.done]
        if not live:
            return None
        for r in live:  # every job a first chunk before any a second
            if r.chunks == 0 and in_flight[r.spec.key] == 0:
                return r
        for r in live:  # then the failures of first chunks, to be shrunk
            if r.to_shrink and in_flight[r.spec.key] == 0:
                return r
        self.picks += 1
        order = {r.spec.key: n for n, r in enumerate(live)}

        def share(r: JobRecord) -> tuple[int, int]:
            return (r.chunks + in_flight[r.spec.key], order[r.spec.key])

        if self.picks % FAIR_EVERY == 0:
            return min(live, key=share)
        return max(live, key=lambda r: (r.novelty(in_flight[r.spec.key]),
                                        -share(r)[0], -share(r)[1]))
