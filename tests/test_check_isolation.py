"""``dyndiet check`` against design code that hangs, exits, dies or raises: every check ends in
time, a looping design is a finding (shrunk like any other), and the other designs' findings are
still reported (issue "hostile input").  Each case runs the real command in a subprocess with a
time limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

HEADER = "import os, sys\nfrom model.designs.section import SectionDesign\n\n"

DESIGNS = {
    "hangs": "    def get_site(self, dt, i):\n        while True:\n            pass\n",
    "exits": "    def late_init(self):\n        sys.exit(0)\n",
    "interrupts": "    def late_init(self):\n        raise KeyboardInterrupt\n",
    "dies": "    def late_init(self):\n        os._exit(3)\n",
    "raises-in-init": "    def __init__(self, *a, **k):\n        raise RuntimeError('no')\n",
    "bad-footprint": "    def footprint(self):\n        raise ValueError('cannot say')\n",
}


def _design_file(tmp_path: Path, name: str) -> Path:
    cls = "D_" + name.replace("-", "_")
    body = DESIGNS[name]
    p = tmp_path / f"{name}.py"
    p.write_text(f"{HEADER}class {cls}(SectionDesign):\n    name = {name!r}\n{body}\n"
                 f"DESIGNS = [{cls}]\n")
    return p


def _check(*args: str, limit: float = 150) -> tuple[int, str, str, float]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "dyndiet", "check", "--max-examples", "20",
                           "--steps", "10", *args], capture_output=True, text=True,
                          timeout=limit, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def _doc(out: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_a_looping_design_is_a_hang_finding(tmp_path: Path) -> None:
    status, out, err, _ = _check(str(_design_file(tmp_path, "hangs")), "--property",
                                 "control-file", "--deadline", "1", "--format", "json")
    assert status == 1, err
    (f,) = _doc(out)["designs"][0]["findings"]
    assert f["severity"] == "hang" and f["error_type"] == "DesignHang"
    assert "get_site" in f["headline"], f["headline"]
    assert f"{tmp_path}/hangs.py:" in f["site"]
    assert f["step_count"] <= 4
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["exits", "interrupts", "dies"])
def test_an_exiting_design_does_not_lose_the_others_findings(tmp_path: Path,
                                                             name: str) -> None:
    status, out, err, _ = _check("odd-tag-after", str(_design_file(tmp_path, name)),
                                 "--property", "control-file", "--format", "json")
    doc = _doc(out)
    odd, bad = doc["designs"]
    assert odd["name"] == "odd-tag-after" and odd["findings"], "its finding is kept"
    assert status == 1  # a counterexample was found
    assert bad["verdict"] == "error"
    error = bad["properties"][0]["error"]
    if name == "dies":
        assert "worker died" in error
    else:
        assert f"{name}.py:" in error and ("SystemExit" in error or "KeyboardInterrupt" in error)
    assert "Traceback" not in err and err.count("\n") == 1, err


@pytest.mark.parametrize("name", ["raises-in-init", "bad-footprint"])
def test_a_raising_design_is_an_error_not_a_verdict(tmp_path: Path, name: str) -> None:
    status, out, err, _ = _check(str(_design_file(tmp_path, name)), "--property",
                                 "control-file")
    assert status == 2, out + err
    assert f"{name}.py:" in err and "Traceback" not in err
    assert "every property holds" not in err
    assert "counterexample" not in out


def test_a_job_timeout_kills_only_that_job(tmp_path: Path) -> None:
    """Design code the CPU-time watchdog cannot see (here: asleep, using no CPU) is killed by
    the job's wall-time limit, its worker replaced, and the check ends."""
    p = tmp_path / "stuck.py"
    p.write_text(HEADER + "import time\n\nclass Stuck(SectionDesign):\n"
                 "    name = 'stuck'\n    def late_init(self):\n"
                 "        time.sleep(3600)\n\nDESIGNS = [Stuck]\n")
    status, out, _err, took = _check(str(p), "section", "--property", "control-file",
                                    "--job-timeout", "30", "--format", "json")
    assert took < 150
    doc = _doc(out)
    stuck = doc["designs"][0]
    assert "did not finish within 30 s" in stuck["properties"][0]["error"]
    assert doc["designs"][1]["verdict"] == "passed"
    assert status == 2
