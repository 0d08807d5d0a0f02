"""``dyndiet fuzz`` campaigns on toy designs: a local Dask cluster of two workers, a kept
database, every job reached and reported, clean stops on SIGINT that lose nothing, a killed
campaign that continues where it stopped without running a chunk twice, a budget and SIGINT
honoured whatever a design does, bad input in one line, a Redis database shared by two runs."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_tool
from tests.toy_designs import TOY_DESIGN_FILE

ROOT = Path(__file__).resolve().parent.parent

DESIGN_FILE = TOY_DESIGN_FILE


@pytest.fixture
def design_file(tmp_path: Path) -> Path:
    p = tmp_path / "toys.py"
    p.write_text(DESIGN_FILE)
    return p


def fuzz_cmd(design_file: Path, out: Path, budget: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dyndiet", "fuzz", str(design_file), "--property",
            "toy-equivalence", "--budget", budget, "--workers", "2", "--output", str(out),
            "--steps", "10", *extra]


def run_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def counterexamples(out: Path) -> set[tuple[str, str]]:
    doc = json.loads((out / "campaign.json").read_text())
    return {(c["design"], c["message"]) for c in doc["campaign"]["counterexamples"]}


EXPECTED = {
    ("lossy", "stack holds [0, 0, 0], expected [0, 0, 0, 0]"),
    ("sleepy", "BUG: sleeping function called from invalid context at mm/slab.h:567"),
}


def state_chunks(out: Path) -> dict[str, list[tuple[int, int]]]:
    """Each job's finished chunks as (run, chunk index), from the campaign's state."""
    got = {}
    for path in (out / "state" / "jobs").glob("*.json"):
        doc = json.loads(path.read_text())
        got[doc["spec"]["design"]] = [(p["run"], p["chunk"]) for p in doc["timeline"]]
    return got


def test_campaign_finds_and_reports(design_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "camp"
    proc = subprocess.run(fuzz_cmd(design_file, out, "6s", "--format", "json"),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    camp = doc["campaign"]
    assert camp["jobs"] == 3 and camp["jobs_reached"] == 3 and camp["never_reached"] == []
    assert not camp["interrupted"] and camp["engine"] == "local (2 worker processes)"
    assert counterexamples(out) == EXPECTED
    rows = {r["design"]: r for r in camp["by_job"]}
    assert {d: r["status"] for d, r in rows.items()} == {
        "good": "passed", "lossy": "failed", "sleepy": "failed"}
    assert all(r["chunks"] >= 1 and r["test_cases"] >= 1 for r in rows.values())
    assert sum(r["test_cases"] for r in rows.values()) == camp["test_cases"]
    cov = camp["properties"]["toy-equivalence"]
    assert cov["rule_runs"]["push"] > 0 and cov["rules_never_run"] == []
    assert sorted(p.name for p in out.glob("test_repro_*.py")) == [
        "test_repro_lossy_F1_v6_1_x86_64.py", "test_repro_sleepy_F1_v6_1_x86_64.py"]
    assert "3/3 jobs reached (every job got a chunk)" in proc.stderr
    assert "2 distinct counterexample(s)" in proc.stderr
    page = (out / "campaign.html").read_text()
    assert "stack holds [0, 0, 0], expected [0, 0, 0, 0]" in page


def test_the_text_report_lists_every_job_and_those_never_reached(design_file: Path,
                                                                 tmp_path: Path) -> None:
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "c", "6s"), capture_output=True,
                          text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "every job got at least one chunk" in proc.stdout
    for design in ("good", "lossy", "sleepy"):
        assert re.search(rf"^{design} +toy-equivalence +\d+ +\d+ +(passed|failed)$",
                         proc.stdout, re.M), proc.stdout


def test_sigint_halfway_saves_and_next_run_resumes(design_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "camp"
    proc = subprocess.Popen(fuzz_cmd(design_file, out, "60s"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=run_env(), cwd=tmp_path)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (out / "campaign.json").exists() and counterexamples(out) == EXPECTED:
            break
    time.sleep(1)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15  # within seconds
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    doc = json.loads((out / "campaign.json").read_text())
    assert doc["campaign"]["interrupted"] is True
    assert doc["campaign"]["elapsed_seconds"] < 60
    assert counterexamples(out) == EXPECTED
    assert "stack holds [0, 0, 0]" in stdout
    assert any((out / "db").iterdir())  # the failures are in the example database
    first = state_chunks(out)
    # The same campaign again: it continues (run 2) with the chunks not yet run.
    proc2 = subprocess.run(fuzz_cmd(design_file, out, "3s"), capture_output=True, text=True,
                           env=run_env(), cwd=tmp_path)
    assert proc2.returncode == 1, proc2.stderr
    assert counterexamples(out) == EXPECTED
    second = state_chunks(out)
    assert second["good"][:len(first["good"])] == first["good"]
    later = second["good"][len(first["good"]):]
    assert later and all(run == 1 for run, _ in later)
    indices = [i for _, i in second["good"]]
    assert len(indices) == len(set(indices))  # no chunk ran twice
    assert second["lossy"] == first["lossy"]  # a job that found its bug is done
    # The next night: a fresh output directory, the same database.
    out2 = tmp_path / "camp2"
    proc3 = subprocess.run(fuzz_cmd(design_file, out2, "6s", "--db", str(out / "db")),
                           capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc3.returncode == 1, proc3.stderr
    assert counterexamples(out2) == EXPECTED


def test_killed_campaign_continues_without_repeating_chunks(design_file: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "camp"
    proc = subprocess.Popen(fuzz_cmd(design_file, out, "60s"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=run_env(), cwd=tmp_path)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        time.sleep(0.5)
        got = state_chunks(out) if (out / "state" / "jobs").exists() else {}
        if len(got.get("good", [])) >= 3 and "lossy" in got and "sleepy" in got:
            break
    proc.kill()
    proc.wait(timeout=30)
    first = state_chunks(out)
    assert len(first["good"]) >= 3
    again = subprocess.run(fuzz_cmd(design_file, out, "3s", "--format", "json"),
                           capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    doc = json.loads(again.stdout)
    assert doc["campaign"]["run"] == 1 and len(doc["campaign"]["runs"]) == 2
    assert counterexamples(out) == EXPECTED
    second = state_chunks(out)
    indices = [i for _, i in second["good"]]
    assert len(indices) == len(set(indices)) > len(first["good"])
    assert set(first["good"]) <= set(second["good"])


HOSTILE_EXPECTED = {
    "loops": r"hangs in push \(.*hostile.py:1[01]\) after these steps: .*state\.push",
    "sleeps": r"hangs in push .*worker replaced",
    "exits": r"hostile.py:\d+: SystemExit: 3",
    "interrupts": r"hostile.py:\d+: KeyboardInterrupt",
}


def test_budget_is_honoured_whatever_a_design_does(tmp_path: Path) -> None:
    from tests.test_campaign_engine import HOSTILE_DESIGN_FILE

    hostile = tmp_path / "hostile.py"
    hostile.write_text(HOSTILE_DESIGN_FILE)
    start = time.monotonic()
    proc = subprocess.run(fuzz_cmd(hostile, tmp_path / "c", "12s", "--format", "json",
                                   "--hang-after", "2"),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path,
                          timeout=120)
    took = time.monotonic() - start
    assert took < 12 + 30, took  # the budget, plus starting and stopping the cluster
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = {r["design"]: r for r in json.loads(proc.stdout)["campaign"]["by_job"]}
    for design, pattern in HOSTILE_EXPECTED.items():
        assert rows[design]["status"] == "error", rows[design]
        assert re.search(pattern, rows[design]["error"]), rows[design]["error"]
    assert rows["lossy"]["status"] == "failed"  # the other jobs still ran
    assert rows["good"]["status"] == "passed" and rows["good"]["chunks"] >= 1


def test_sigint_is_honoured_while_a_design_sleeps_forever(tmp_path: Path) -> None:
    from tests.test_campaign_engine import HOSTILE_DESIGN_FILE

    hostile = tmp_path / "hostile.py"
    hostile.write_text(HOSTILE_DESIGN_FILE)
    out = tmp_path / "c"
    proc = subprocess.Popen(fuzz_cmd(hostile, out, "10m", "--hang-after", "600"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=run_env(), cwd=tmp_path)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and not (out / "state" / "jobs").exists():
        time.sleep(0.5)
    time.sleep(3)  # the loops and sleeps chunks are stuck by now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15, stderr
    assert proc.returncode in (1, 2, 130), stderr
    assert "Traceback" not in stderr
    assert json.loads((out / "campaign.json").read_text())["campaign"]["interrupted"]


def test_database_that_is_a_file_is_refused(design_file: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "db"
    bogus.write_text("not a database")
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", "2s", "--db", str(bogus)),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not an example database" in proc.stderr


def test_corrupt_database_entries_are_ignored(design_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    (db / "0123456789abcdef").mkdir(parents=True)
    (db / "0123456789abcdef" / "fedcba9876543210").write_bytes(b"\xff\x00garbage")
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", "6s", "--db", str(db)),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert counterexamples(tmp_path / "o") == EXPECTED


@pytest.mark.parametrize("budget", ["soon", "0s", "5x", ""])
def test_bad_budget_is_one_line(design_file: Path, tmp_path: Path, budget: str) -> None:
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", budget), capture_output=True,
                          text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "bad duration" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server: the one .ci/run started (DYNDIET_TEST_REDIS), else our own."""
    url = os.environ.get("DYNDIET_TEST_REDIS")
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()
        yield url
        return
    server = require_tool("redis-server", "the shared campaign database test")
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.redis
def test_two_machines_share_a_redis_campaign(design_file: Path, tmp_path: Path,
                                              redis_url: str) -> None:
    import redis

    first = subprocess.run(fuzz_cmd(design_file, tmp_path / "m1", "6s", "--db", redis_url),
                           capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert redis.Redis.from_url(redis_url).dbsize() > 0  # the failures are in Redis
    second = subprocess.run(fuzz_cmd(design_file, tmp_path / "m2", "6s", "--db", redis_url),
                            capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert second.returncode == 1, second.stderr
    assert counterexamples(tmp_path / "m1") == counterexamples(tmp_path / "m2") == EXPECTED


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--db", "redis://:notaport/x", "bad example database URL"),
    ("--db", "http://example/db", "bad example database"),
    ("--scheduler", "somewhere", "bad scheduler address"),
])
def test_bad_database_or_scheduler_is_one_line(design_file: Path, tmp_path: Path, option: str,
                                                value: str, message: str) -> None:
    start = time.monotonic()
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", "2s", option, value),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert time.monotonic() - start < 10  # refused before any work


def test_unreachable_scheduler_is_one_line(design_file: Path, tmp_path: Path) -> None:
    url = f"tcp://127.0.0.1:{_free_port()}"
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", "2s", "--scheduler", url),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot reach the Dask scheduler" in proc.stderr


def test_unreachable_redis_is_one_line(design_file: Path, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_free_port()}"
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", "2s", "--db", url),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot reach the example database" in proc.stderr
