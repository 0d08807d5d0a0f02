"""A campaign chunk on its own (dyndiet/campaign_engine.py), in this process: whatever a design
does (loop forever, sleep forever, raise SystemExit or KeyboardInterrupt), the chunk returns an
outcome naming it, within seconds; branch tracing adds behaviours only when asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dyndiet.campaign_engine import ChunkSpec, run_chunk
from dyndiet.campaign_state import JobSpec

ROOT = Path(__file__).resolve().parent.parent

#: Designs that misbehave in every way a campaign must survive (the fuzz tests use it too).
HOSTILE_DESIGN_FILE = """
import time
import tests.toy_designs  # registers the toy property
from tests.toy_designs import GoodStack, LossyStack

class Loops(GoodStack):
    name = "loops"
    def push(self, v):
        super().push(v)
        while v > 50:
            v = v + 1 - 1

class Sleeps(GoodStack):
    name = "sleeps"
    def push(self, v):
        super().push(v)
        if v > 50:
            time.sleep(100000)

class Exits(GoodStack):
    name = "exits"
    def push(self, v):
        raise SystemExit(3)

class Interrupts(GoodStack):
    name = "interrupts"
    def push(self, v):
        raise KeyboardInterrupt

class Good(GoodStack):
    name = "good"

class Picky(GoodStack):
    name = "picky"  # a good design with branches of its own
    def push(self, v):
        if v % 2:
            super().push(v)
        else:
            self.items.append(v)

class Lossy(LossyStack):
    name = "lossy"

DESIGNS = [Loops, Sleeps, Exits, Interrupts, Good, Picky, Lossy]
"""


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    p = tmp_path / "hostile.py"
    p.write_text(HOSTILE_DESIGN_FILE)
    return p


def spec(design: str, path: Path, tmp_path: Path, *, trace: bool = False,
         index: int = 0) -> ChunkSpec:
    return ChunkSpec(JobSpec("toy-equivalence", design, str(path)), index, 0, 1234 + index,
                     examples=20, steps=10, db_spec=str(tmp_path / "db"), trace=trace,
                     hang_after=1.0)


def test_a_design_looping_forever_is_a_hang_with_its_steps(hostile: Path,
                                                             tmp_path: Path) -> None:
    start = time.monotonic()
    out = run_chunk(spec("loops", hostile, tmp_path))
    assert time.monotonic() - start < 10
    assert out.hang and not out.replace_worker
    assert out.result.status == "error"
    err = out.result.error or ""
    # the loop's line (10 or 11: wherever the watchdog caught it)
    assert re.match(rf"hangs in push \({re.escape(str(hostile))}:1[01]\) after these steps: ", err)
    assert "state.push(v=" in err


def test_a_design_asleep_forever_leaves_its_worker_to_be_replaced(hostile: Path,
                                                                  tmp_path: Path) -> None:
    # In a process of its own: the thread left asleep keeps the interpreter's pending
    # asynchronous exception set, which slows (and, with a tracer, stalls) every other thread
    # of that process; a campaign replaces such a worker at once.
    code = (f"from tests.test_campaign_engine import spec; from pathlib import Path; "
            f"from dyndiet.campaign_engine import run_chunk; "
            f"o = run_chunk(spec('sleeps', Path({str(hostile)!r}), Path({str(tmp_path)!r}))); "
            f"print(o.hang, o.replace_worker); print(o.result.error)")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert time.monotonic() - start < 30, proc.stderr
    flags, error = proc.stdout.splitlines()[:2]
    assert flags == "True True", proc.stderr
    assert error.startswith("hangs in push") and "worker replaced" in error


@pytest.mark.parametrize(("design", "text"), [("exits", "SystemExit: 3"),
                                              ("interrupts", "KeyboardInterrupt")])
def test_system_exit_and_keyboard_interrupt_are_the_designs_errors(
        hostile: Path, tmp_path: Path, design: str, text: str) -> None:
    out = run_chunk(spec(design, hostile, tmp_path))
    assert out.result.status == "error" and not out.hang
    assert f"{hostile}:" in (out.result.error or "") and text in (out.result.error or "")


def test_good_and_lossy_chunks(hostile: Path, tmp_path: Path) -> None:
    good = run_chunk(spec("good", hostile, tmp_path))
    assert good.result.status == "passed" and good.result.test_cases >= 20
    assert good.behaviours == {"rule:push"} and good.steps > 0 and not good.hang
    lossy = run_chunk(spec("lossy", hostile, tmp_path))
    assert lossy.result.status == "failed"
    assert lossy.result.counterexample is not None
    assert lossy.result.counterexample.message == "stack holds [0, 0, 0], expected [0, 0, 0, 0]"


def test_branch_tracing_adds_the_designs_branches(hostile: Path, tmp_path: Path) -> None:
    traced = run_chunk(spec("picky", hostile, tmp_path, trace=True))
    arcs = {b for b in traced.behaviours if b.startswith("arc:")}
    assert traced.traced and arcs, traced.result.error
    again = run_chunk(spec("picky", hostile, tmp_path, trace=True, index=1))
    assert {b for b in again.behaviours if b.startswith("arc:")} & arcs  # stable ids
    plain = run_chunk(spec("picky", hostile, tmp_path))
    assert not {b for b in plain.behaviours if b.startswith("arc:")}
