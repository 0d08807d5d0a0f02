"""The campaign's memory and scheduler (dyndiet/campaign_state.py): every job a first chunk
before any a second; jobs still finding new behaviour get more turns, none starves; state kept
on disk reads back the same, chunk seeds do not change, chunks never run twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import attrs
import pytest

from dyndiet.campaign_state import (
    FAIR_EVERY,
    CampaignState,
    ChunkOutcome,
    JobRecord,
    JobSpec,
    Picker,
    chunk_seed,
)
from model.errors import InputError
from properties.catalogue import Target
from properties.runner import Counterexample, PropertyResult
from properties.tracing import Step


def specs(n: int) -> list[JobSpec]:
    return [JobSpec(f"prop-{i % 11}", f"design-{i // 11}", "built-in") for i in range(n)]


def result(spec: JobSpec, status: str = "passed", cases: int = 20) -> PropertyResult:
    cx = None
    if status == "failed":
        cx = Counterexample("BUG: planted", "KernelBug", (Step("push", (("v", 3),)),))
    return PropertyResult(spec.property, "equivalence", "claim", spec.design, Target(),
                          status, cases, 1.0, counterexample=cx,  # type: ignore[arg-type]
                          rule_counts=(("push", 40),), rules=("pop", "push"))


def outcome(spec: JobSpec, index: int, behaviours: set[str], status: str = "passed",
            run: int = 0) -> ChunkOutcome:
    return ChunkOutcome(index, run, result(spec, status), frozenset(behaviours), False, 0.0,
                        1.0, 40)


def simulate(picker: Picker, records: list[JobRecord], picks: int, slots: int,
             behaviours: dict[str, object]) -> list[str]:
    """Run ``picks`` chunks with ``slots`` running at once; ``behaviours[key](index)`` is what
    a chunk of that job shows.  Returns the order of the picks."""
    running: list[tuple[JobRecord, int]] = []
    order: list[str] = []
    while len(order) < picks:
        while len(running) < slots and len(order) < picks:
            in_flight = Counter(r.spec.key for r, _ in running)
            rec = picker.pick(records, in_flight)
            assert rec is not None
            index = rec.next_index(i for r, i in running if r is rec)
            running.append((rec, index))
            order.append(rec.spec.key)
        rec, index = running.pop(0)
        show = behaviours.get(rec.spec.key, lambda i: {"rule:push"})
        rec.add(outcome(rec.spec, index, show(index)), 0.0)  # type: ignore[operator]
    return order


def test_every_job_gets_a_first_chunk_before_any_gets_a_second() -> None:
    records = [JobRecord(s) for s in specs(84)]
    order = simulate(Picker(), records, 84, 2, {})
    assert len(set(order)) == 84


def first_round_is_fair(pick_order: list[str], jobs: int) -> bool:
    return len(set(pick_order[:jobs])) == jobs


def test_the_fairness_check_catches_a_scheduler_that_repeats_a_job() -> None:
    keys = [s.key for s in specs(5)]
    assert first_round_is_fair(keys, 5)
    assert not first_round_is_fair([keys[0], *keys[:4]], 5)


def favours_the_finder(order: list[str], finder: str, stale: str) -> bool:
    """The job still finding new behaviour got at least twice the chunks of the stale one,
    and the stale one still got its share of the fair picks."""
    got = Counter(order)
    return got[finder] >= 2 * got[stale] and got[stale] >= len(order) // (3 * FAIR_EVERY)


def test_jobs_still_finding_new_behaviour_get_more_turns() -> None:
    finder, stale = specs(2)
    records = [JobRecord(finder), JobRecord(stale)]
    order = simulate(Picker(), records, 60, 2,
                     {finder.key: lambda i: {"rule:push", f"arc:{i}"},
                      stale.key: lambda i: {"rule:push"}})
    assert favours_the_finder(order, finder.key, stale.key), Counter(order)


def test_the_feedback_check_catches_round_robin() -> None:
    finder, stale = specs(2)
    assert not favours_the_finder([finder.key, stale.key] * 30, finder.key, stale.key)


def test_done_jobs_are_not_picked_and_none_left_is_none() -> None:
    a, b = specs(2)
    ra, rb = JobRecord(a), JobRecord(b)
    ra.add(outcome(a, 0, {"rule:push"}, status="failed"), 1.0)
    assert ra.done and ra.status == "failed"
    picker = Picker()
    assert picker.pick([ra, rb], Counter()) is rb
    rb.add(outcome(b, 0, set(), status="failed"), 1.0)
    assert picker.pick([ra, rb], Counter()) is None


def test_novelty_falls_while_nothing_new_is_found() -> None:
    (s,) = specs(1)
    rec = JobRecord(s)
    rec.add(outcome(s, 0, {"rule:push", "rule:pop"}), 0.0)
    first = rec.novelty()
    for i in range(1, 6):
        rec.add(outcome(s, i, {"rule:push", "rule:pop"}), float(i))
    assert rec.novelty() < first
    rec.add(outcome(s, 6, {"rule:push", "rule:pop", "arc:new"}), 6.0)
    assert rec.last_new_chunk == 6 and rec.timeline[-1]["new"] == 1


def test_a_chunk_is_counted_once_and_next_index_skips_done_and_running() -> None:
    (s,) = specs(1)
    rec = JobRecord(s)
    rec.add(outcome(s, 0, {"rule:push"}), 0.0)
    rec.add(outcome(s, 2, {"rule:push"}), 0.0)
    assert rec.add(outcome(s, 2, {"arc:x"}), 0.0) == 0  # a chunk reported twice
    assert rec.chunks == 2 and rec.test_cases == 40
    assert rec.next_index() == 1
    assert rec.next_index([1]) == 3


def test_chunk_seeds_are_stable_and_distinct() -> None:
    a, b = specs(2)
    assert chunk_seed(7, a, 0) == chunk_seed(7, a, 0)
    seeds = {chunk_seed(7, a, i) for i in range(50)} | {chunk_seed(7, b, i) for i in range(50)}
    assert len(seeds) == 100
    assert chunk_seed(8, a, 0) != chunk_seed(7, a, 0)


def test_state_reads_back_the_same(tmp_path: Path) -> None:
    a, b = specs(2)
    state = CampaignState.open(tmp_path, seed=99)
    ra = state.record(a)
    ra.add(outcome(a, 0, {"rule:push", "arc:1"}), 1.5)
    ra.add(outcome(a, 1, {"rule:push"}, status="failed", run=0), 3.0)
    state.runs.append({"run": 0, "started": 100.0, "ended": 130.0})
    state.save_meta()
    state.save_job(ra)
    again = CampaignState.open(tmp_path, seed=1)
    assert again.seed == 99 and again.runs == state.runs
    rb = again.records[a.key]
    blobs = ("last", "failure", "error")  # pickles: equal values, not always equal bytes
    assert ({k: v for k, v in rb.as_json().items() if k not in blobs}
            == {k: v for k, v in ra.as_json().items() if k not in blobs})
    assert (rb.last, rb.failure, rb.error) == (ra.last, ra.failure, ra.error)
    assert rb.failure is not None and rb.found_in_run == 0
    assert again.record(b).chunks == 0
    assert again.clock_before(1) == 30.0


def test_state_of_another_kind_is_one_input_error(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "campaign.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(InputError, match=r"not a dyndiet\.campaign-state/1 file"):
        CampaignState.open(tmp_path, seed=1)
    (tmp_path / "state" / "campaign.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read the campaign state"):
        CampaignState.open(tmp_path, seed=1)


def test_job_slugs_are_file_names_and_unique() -> None:
    a = JobSpec("control-file", "odd/tag", "/x/y.py")
    b = attrs.evolve(a, era="v6.12")
    assert "/" not in a.slug and a.slug != b.slug


def test_a_first_chunks_failure_is_shrunk_by_the_next_turn_before_second_shares() -> None:
    a, b = specs(2)
    ra, rb = JobRecord(a), JobRecord(b)
    ra.add(attrs.evolve(outcome(a, 0, {"rule:push"}, status="failed"), shrunk=False), 1.0)
    rb.add(outcome(b, 0, {"rule:push", "arc:1", "arc:2"}), 1.0)
    assert ra.to_shrink and not ra.done and ra.status == "failed (not yet shrunk)"
    assert Picker().pick([ra, rb], Counter()) is ra  # before b's promising second chunk
    ra.add(outcome(a, 1, {"rule:push"}, status="failed"), 2.0)
    assert ra.done and ra.status == "failed" and ra.found_in_run == 0
