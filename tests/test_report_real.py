"""Reports on real designs, as a reviewer reads them: odd-tag-after's first finding is the odd
pointer read as a zhandle (field, value, parity, string) in at most 3 steps; an equivalence
finding shows both observations; a user's design file that misreads a field gets the same
evidence a built-in design gets; the pytest reproducer works from any directory and fails as
reported; a kernel-side script is written for every finding."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dyndiet.cli import main

ROOT = Path(__file__).resolve().parent.parent

#: A design written only for this test: patch 2's odd tag, tested on the wrong word of the
#: record (``dd.filename`` where the zhandle word was meant).
MISREAD = '''
from model.designs.odd_tag import OddTagBeforeDesign


class MisreadFilename(OddTagBeforeDesign):
    name = "misread-filename"
    title = "the % 2 test on dd.filename"
    source = "a test of dyndiet's reports"

    def word(self, dt, i):
        return self.head_get(dt, i, "dd.filename")


DESIGNS = [MisreadFilename]
'''


def _check(*args: str) -> int:
    return main(["check", "--max-examples", "60", *args])


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    design = out / "misread.py"
    design.write_text(MISREAD)
    assert _check("odd-tag-after", str(design), "--output", str(out / "r"),
                  "--format", "json") == 1
    return out


def _doc(reports: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((reports / "r" / "report.json").read_text())
    return doc


def _design(reports: Path, name: str) -> dict[str, Any]:
    return next(d for d in _doc(reports)["designs"] if d["name"] == name)


def _evidence_names_the_odd_field(finding: dict[str, Any], field: str) -> None:
    ev = "\n".join(finding["evidence"])
    assert f".{field} at offset" in ev, ev
    assert "(odd)" in ev, ev
    # the string itself is whatever the shrinker settled on ('foo' unless a loaded machine cut
    # shrinking short), but it is named
    assert re.search(r"points into \.rodata\S* of \S+, the string '[^']+'", ev), ev


def test_odd_tag_after_first_finding_is_the_odd_pointer(reports: Path) -> None:
    d = _design(reports, "odd-tag-after")
    first = d["findings"][0]
    assert first["severity"] == "oops"
    assert first["step_count"] <= 3
    _evidence_names_the_odd_field(first, "modname")
    # one finding per bug: no two findings share a headline
    heads = [f["headline"] for f in d["findings"]]
    assert len(heads) == len(set(heads))
    # every failed property names its finding
    for p in d["properties"]:
        assert (p["finding"] is not None) == (p["status"] == "failed")


def test_a_users_design_file_gets_derived_evidence(reports: Path) -> None:
    d = _design(reports, "misread-filename")
    assert d["source"] == str((reports / "misread.py").resolve())
    oops = next(f for f in d["findings"] if f["severity"] == "oops")
    ev = "\n".join(oops["evidence"])
    assert ".filename at offset" in ev and "(odd)" in ev, ev


def test_text_fits_a_mail_and_reads_top_down(reports: Path) -> None:
    text = (reports / "r" / "report.txt").read_text()
    assert max(len(line) for line in text.splitlines()) <= 72
    lines = text.splitlines()
    assert lines[0].startswith("dyndiet check: 2 designs")
    summary_end = lines.index("-" * 72)
    assert any(ln.startswith("odd-tag-after ") for ln in lines[:summary_end])
    assert "[F1] oops:" in text and "state." not in text  # kernel actions, not Python calls
    assert "late_initcall" in text or "on the kernel command line" in text


def test_reproducer_from_any_directory_fails_as_reported(reports: Path,
                                                         tmp_path: Path) -> None:
    for name in ("odd-tag-after", "misread-filename"):
        f = _design(reports, name)["findings"][0]
        repro = reports / "r" / f["reproducer_path"]
        script = reports / "r" / f["kernel_script_path"]
        assert script.read_text().startswith("#!/bin/sh")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(repro)], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "1 failed" in proc.stdout
        assert f["error_type"] in proc.stdout


def test_an_equivalence_finding_shows_both_observations(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    design = tmp_path / "swapped.py"
    design.write_text("from tests.broken_designs import SwappedFileSplit\n"
                      "DESIGNS = [SwappedFileSplit]\n")
    assert _check(str(design), "--property", "callsite-metadata", "--format", "json") == 1
    doc = json.loads(capsys.readouterr().out)
    (f,) = doc["designs"][0]["findings"]
    diff = f["difference"]
    assert diff["observation"] == "callsite-metadata"
    assert diff["baseline"] != diff["design"]
    assert f["severity"] == "difference" and "differs" in f["headline"]
    assert _check(str(design), "--property", "callsite-metadata") == 1
    text = capsys.readouterr().out
    assert "what differs from the baseline (callsite-metadata):" in text
    assert "- section:" in text and "+ broken-swapped-file:" in text


def test_report_reads_version_1_documents(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    old = {"schema": "dyndiet.report/1",
           "tool": {"dyndiet": "0.1.0", "hypothesis": "6", "python": "3.11", "profile": "ci",
                    "max_examples": 10, "stateful_step_count": 5, "seed": None,
                    "command": "dyndiet check x"},
           "designs": [{"name": "x", "source": "built-in", "era": "v6.1", "abi": "x86_64",
                        "corpus": None, "footprint": {},
                        "properties": [{"name": "control-file", "kind": "equivalence",
                                        "claim": "c", "status": "failed", "test_cases": 3,
                                        "seconds": 0.1,
                                        "counterexample": {
                                            "message": "BUG: x", "error_type": "BugOn",
                                            "step_count": 1, "steps": [],
                                            "calls": ["state.boot()"], "evidence": [],
                                            "reproducer": ""}}]}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    assert main(["report", str(path)]) == 1
    assert "[F1] bug: BUG: x" in capsys.readouterr().out


def test_saved_report_validates_and_a_broken_one_is_named(reports: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    from dyndiet.schema import validate_document

    doc = _doc(reports)
    assert validate_document(doc) is True
    del doc["designs"][0]["findings"][0]["steps"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "designs[0].findings[0].steps: missing" in err
