"""The guide's example design file goes through the same door as a user's: ``dyndiet check
docs/examples/my_design.py`` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "my_design.py"


def test_example_design_checks_through_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dyndiet", "check", str(EXAMPLE), "--max-examples", "10",
         "--steps", "10", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (design,) = doc["designs"]
    assert design["name"] == "indexed-split"
    verdicts = {p["name"]: p["status"] for p in design["properties"]}
    assert verdicts["saves-what-it-claims"] == "passed"  # 8 bytes a callsite below the split
    assert set(verdicts.values()) == {"passed"}
    fp = design["footprint"]
    assert fp["resident_bytes"] > fp["baseline_resident_bytes"]  # still above the section
