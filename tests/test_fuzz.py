"""``dyndiet fuzz`` campaigns on toy designs: parallel workers, a kept database, clean stops
on SIGINT that lose nothing, resumption, a Redis-backed database shared by two runs."""

from __future__ import annotations

import json
import os
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


def test_campaign_finds_and_reports(design_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "camp"
    proc = subprocess.run(fuzz_cmd(design_file, out, "4s", "--format", "json"),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    camp = doc["campaign"]
    assert camp["jobs"] == 3 and camp["jobs_done"] == 3 and not camp["interrupted"]
    assert counterexamples(out) == EXPECTED
    cov = camp["properties"]["toy-equivalence"]
    assert cov["rule_runs"]["push"] > 0 and cov["rules_never_run"] == []
    assert sorted(p.name for p in out.glob("test_repro_*.py")) == [
        "test_repro_lossy_toy_equivalence_v6_1_x86_64.py",
        "test_repro_sleepy_toy_equivalence_v6_1_x86_64.py"]
    assert "3/3 jobs, 2 distinct counterexample(s)" in proc.stderr


def test_sigint_halfway_saves_and_next_run_resumes(design_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "camp"
    proc = subprocess.Popen(fuzz_cmd(design_file, out, "60s"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=run_env(), cwd=tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (out / "campaign.json").exists() and counterexamples(out) == EXPECTED:
            break
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    doc = json.loads((out / "campaign.json").read_text())
    assert doc["campaign"]["interrupted"] is True
    assert doc["campaign"]["elapsed_seconds"] < 60
    assert counterexamples(out) == EXPECTED
    assert "counterexample found" in stdout
    assert any((out / "db").iterdir())  # the failures are in the example database
    # The next night: a fresh output directory, the same database.
    out2 = tmp_path / "camp2"
    proc2 = subprocess.run(fuzz_cmd(design_file, out2, "3s", "--db", str(out / "db")),
                           capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc2.returncode == 1, proc2.stderr
    assert counterexamples(out2) == EXPECTED


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
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", "3s", "--db", str(db)),
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

    first = subprocess.run(fuzz_cmd(design_file, tmp_path / "m1", "3s", "--db", redis_url),
                           capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert redis.Redis.from_url(redis_url).dbsize() > 0  # the failures are in Redis
    second = subprocess.run(fuzz_cmd(design_file, tmp_path / "m2", "3s", "--db", redis_url),
                            capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert second.returncode == 1, second.stderr
    assert counterexamples(tmp_path / "m1") == counterexamples(tmp_path / "m2") == EXPECTED


def test_unreachable_redis_is_one_line(design_file: Path, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_free_port()}"
    proc = subprocess.run(fuzz_cmd(design_file, tmp_path / "o", "2s", "--db", url),
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot reach the example database" in proc.stderr
