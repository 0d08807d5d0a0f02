"""One campaign on a real Dask cluster: a ``dask scheduler`` and two worker processes on
localhost, the counterexamples in a real redis-server; one worker killed with SIGKILL halfway
loses only the chunk it was running, and the campaign ends with one report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dyndiet.benchmarks.campaign import dask_cluster
from tests.test_fuzz import (  # noqa: F401 - redis_url is a fixture
    EXPECTED,
    counterexamples,
    redis_url,
    run_env,
    state_chunks,
)
from tests.toy_designs import TOY_DESIGN_FILE


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and a ``dask worker`` with two worker processes (one thread each)."""
    with dask_cluster(2, cwd=tmp_path) as address:
        yield address


def worker_pids(address: str) -> dict[str, int]:
    from distributed import Client

    with Client(address, timeout=10) as client:
        return {k: int(v) for k, v in client.run(os.getpid).items()}


@pytest.mark.redis
def test_one_campaign_on_a_dask_cluster_survives_a_killed_worker(
        cluster: str, redis_url: str, tmp_path: Path) -> None:  # noqa: F811
    design_file = tmp_path / "toys.py"
    design_file.write_text(TOY_DESIGN_FILE)
    out = tmp_path / "camp"
    cmd = [sys.executable, "-m", "dyndiet", "fuzz", str(design_file), "--property",
           "toy-equivalence", "--budget", "14s", "--scheduler", cluster, "--db", redis_url,
           "--output", str(out), "--steps", "10", "--format", "json"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=run_env(), cwd=tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        got = state_chunks(out) if (out / "state" / "jobs").exists() else {}
        if len(got.get("good", [])) >= 2:
            break
    pids = worker_pids(cluster)
    assert len(pids) == 2
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 1, stderr
    assert time.monotonic() - start < 60
    doc = json.loads(stdout)
    camp = doc["campaign"]
    assert camp["engine"] == cluster and camp["jobs_reached"] == 3
    assert counterexamples(out) == EXPECTED
    import redis

    assert redis.Redis.from_url(redis_url).dbsize() > 0  # the failures are in Redis
    chunks = [i for _, i in state_chunks(out)["good"]]
    assert len(chunks) == len(set(chunks))  # no chunk counted twice
    # Only chunks cut short when the budget ended may be missing (two workers: two at most);
    # the chunk the killed worker was running ran again elsewhere.
    assert len(set(range(max(chunks) + 1)) - set(chunks)) <= 2
    # The killed worker was replaced by its nanny: two workers again, one of them new.
    after = worker_pids(cluster)
    assert len(after) == 2 and victim not in after.values()
