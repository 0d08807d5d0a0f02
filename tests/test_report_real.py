"""Reports on a real seed design: odd-tag-after's counterexample, the report's text and
evidence, and the reproducer file it writes, run as pytest, failing as reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dyndiet.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("odd-tag-after")
    status = main(["check", "odd-tag-after", "--property", "control-file",
                   "--property", "saves-what-it-claims", "--output", str(out),
                   "--format", "json"])
    assert status == 1
    return out


def test_report_has_a_short_counterexample_with_its_bytes(report_dir: Path) -> None:
    doc = json.loads((report_dir / "report.json").read_text())
    (design,) = doc["designs"]
    assert design["name"] == "odd-tag-after" and design["source"] == "built-in"
    ctl = next(p for p in design["properties"] if p["name"] == "control-file")
    assert ctl["status"] == "failed" and ctl["kind"] == "equivalence"
    cx = ctl["counterexample"]
    assert cx["step_count"] <= 3
    assert cx["evidence"], "the report shows the bytes involved"
    assert design["footprint"], "the footprint table is filled from the model"
    text = (report_dir / "report.txt").read_text()
    assert max(len(line) for line in text.splitlines()) <= 72
    assert "bytes involved:" in text and cx["message"][:40] in text


def test_reproducer_fails_as_reported(report_dir: Path, tmp_path: Path) -> None:
    doc = json.loads((report_dir / "report.json").read_text())
    ctl = next(p for p in doc["designs"][0]["properties"] if p["name"] == "control-file")
    cx = ctl["counterexample"]
    repro = report_dir / cx["reproducer_path"]
    assert repro.exists()
    source = repro.read_text()
    assert source.count("state.check_all_invariants()") == cx["step_count"] + 1
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(repro)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout
    assert cx["error_type"] in proc.stdout
    assert cx["message"].splitlines()[0][:60] in proc.stdout
