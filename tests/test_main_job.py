"""The README's main job, ``dyndiet check`` on every built-in design, as a reviewer gets it:
at most 250 lines of at most 72 columns, the exit status of a run that found counterexamples,
and the design pages' verdicts (docs/designs) regenerated from this very run, unchanged.

The job runs as the README runs it, a fresh ``dyndiet`` process: what a test before it in the
same pytest worker left in memory cannot change its verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dyndiet import docgen


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    out = tmp_path_factory.mktemp("main-job")
    proc = subprocess.run([sys.executable, "-m", "dyndiet", "check", "--output", str(out)],
                          capture_output=True, text=True, timeout=1200, check=False)
    assert proc.stderr == "", proc.stderr  # nothing went wrong beside the findings
    return proc.returncode, (out / "report.txt").read_text(), out


def test_the_main_job_reads_top_down(main_job: tuple[int, str, Path]) -> None:
    status, text, _ = main_job
    lines = text.splitlines()
    assert status == 1  # the 2020 designs have counterexamples
    assert len(lines) <= 250, len(lines)
    assert max(len(ln) for ln in lines) <= 72
    assert lines[0].startswith("dyndiet check: ")


def test_the_design_pages_show_this_run(main_job: tuple[int, str, Path]) -> None:
    _, _, out = main_job
    status = docgen.main(["--report", str(out / "report.json"), "--check"])
    assert status == 0, "docs/designs are stale: run python -m dyndiet.docgen"
