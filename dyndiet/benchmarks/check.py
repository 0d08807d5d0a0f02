"""Speed of the main job: ``dyndiet check`` of every built-in design, wall time on all cores,
and the same as a ratio to an empty ``RuleBasedStateMachine`` running the check's test cases
and steps (measured in the same run: the empty machine's step rate times the check's steps)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from dyndiet.benchmarks import Figure
from dyndiet.benchmarks.zsmalloc import EmptyMachine, steps_per_second

AREA = "check"


def explorations(doc: dict[str, Any]) -> tuple[int, int]:
    """Test cases and rule steps the check ran: a group's one exploration counted once."""
    cases = steps = 0
    for d in doc["designs"]:
        seen: set[str] = set()
        for p in d["properties"]:
            shared = p.get("explored_with")
            if shared and shared in seen:
                continue
            if shared:
                seen.add(shared)
            cases += p["test_cases"]
            steps += sum(p.get("rule_counts", {}).values())
    return cases, steps


def run(quick: bool) -> list[Figure]:
    from dyndiet.cli import main

    args = ["check", "--format", "json"] + (["--max-examples", "30"] if quick else [])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        main([*args, "--output", tmp])
        wall = time.perf_counter() - start
        doc = json.loads((Path(tmp) / "report.json").read_text())
    cases, steps = explorations(doc)
    empty_rate = steps_per_second(EmptyMachine, 50 if quick else 200)
    empty_seconds = steps / empty_rate
    findings = sum(len(d["findings"]) for d in doc["designs"])
    return [
        Figure(AREA, f"dyndiet check, every built-in design ({os.cpu_count()} CPUs)", wall, "s",
               "< 40 s"),
        Figure(AREA, f"  test cases / steps run ({findings} findings)", float(cases), "cases"),
        Figure(AREA, "  steps run", float(steps), "steps"),
        Figure(AREA, "empty machine, the same steps", empty_seconds, "s"),
        Figure(AREA, "empty machine time / check wall time", 100.0 * empty_seconds / wall, "%"),
    ]
