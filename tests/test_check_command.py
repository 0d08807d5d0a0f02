"""``dyndiet check`` and ``dyndiet report`` end to end on toy designs given as design files:
exit status, report formats, reproducers that fail as reported, errors of design files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tests.toy_designs  # noqa: F401  (registers the unlisted toy property)
from dyndiet.cli import main
from tests.toy_designs import TOY_DESIGN_FILE

ROOT = Path(__file__).resolve().parent.parent

DESIGN_FILE = TOY_DESIGN_FILE


@pytest.fixture
def design_file(tmp_path: Path) -> Path:
    p = tmp_path / "my_design.py"
    p.write_text(DESIGN_FILE)
    return p


def check(*args: str) -> int:
    return main(["check", "--property", "toy-equivalence", "--steps", "10", *args])


def test_check_reports_and_exit_status(design_file: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert check(str(design_file), "--output", str(out), "--format", "json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "dyndiet.report/2"
    verdicts = {d["name"]: d["properties"][0]["status"] for d in doc["designs"]}
    assert verdicts == {"good": "passed", "lossy": "failed", "sleepy": "failed"}
    sleepy = next(d for d in doc["designs"] if d["name"] == "sleepy")
    [f] = sleepy["findings"]
    assert sleepy["properties"][0]["finding"] == f["id"] == "F1"
    assert f["severity"] == "splat" and f["properties"] == ["toy-equivalence"]
    assert f["message"].startswith("BUG: sleeping function called from invalid context")
    assert f["step_count"] == 1 and f["step_args"] == [{"rule": "push", "args": {"v": 101}}]
    assert sleepy["source"] == str(design_file.resolve())
    text = (out / "report.txt").read_text()
    assert max(len(line) for line in text.splitlines()) <= 72
    assert "steps (1):" in text and "push(v=101)" in text
    md = (out / "report.md").read_text()
    assert "## `sleepy`: failed" in md and "### F1 (splat)" in md


def test_only_passing_designs_exit_0(tmp_path: Path) -> None:
    p = tmp_path / "good.py"
    p.write_text("from tests.toy_designs import GoodStack\n"
                 "class Good(GoodStack):\n    name = 'good'\nDESIGNS = [Good]\n")
    assert check(str(p)) == 0


def test_reproducer_fails_as_reported(design_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    check(str(design_file), "--output", str(out))
    repros = sorted(out.glob("test_repro_*.py"))
    assert [r.name for r in repros] == [
        "test_repro_lossy_F1_v6_1_x86_64.py",
        "test_repro_sleepy_F1_v6_1_x86_64.py"]
    assert sorted(p.name for p in out.glob("repro_*.sh")) == [
        "repro_lossy_F1_v6_1_x86_64.sh", "repro_sleepy_F1_v6_1_x86_64.sh"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(repros[1])], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert "SleepingInInvalidContext" in proc.stdout
    assert "1 failed" in proc.stdout


def test_report_renders_saved_json(design_file: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    check(str(design_file), "--output", str(out))
    capsys.readouterr()
    assert main(["report", str(out / "report.json"), "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert "## `lossy`: failed" in md and "**F1**" in md


@pytest.mark.parametrize(("content", "expected"), [
    ("import no_such_module_xyz\n", "my_design.py:1: design file does not import: "
                                    "ModuleNotFoundError"),
    ("x = 1\n\ndef f(:\n", "my_design.py:3: design file does not import: SyntaxError"),
    ("X = 1\n", "defines no designs"),
])
def test_broken_design_file_is_one_line_exit_2(tmp_path: Path, content: str, expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "my_design.py"
    bad.write_text(content)
    good = tmp_path / "good.py"
    good.write_text("from tests.toy_designs import GoodStack\n"
                    "class Good(GoodStack):\n    name = 'good'\nDESIGNS = [Good]\n")
    assert check(str(bad), str(good)) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    assert "good" in captured.out  # the other design was still checked


def test_design_raising_inside_protocol_names_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "raises.py"
    p.write_text("class Broken:\n    name = 'broken'\n    items: list = []\n"
                 "    def push(self, v):\n        raise TypeError('push() got confused')\n"
                 "DESIGNS = [Broken]\n")
    assert check(str(p)) == 2
    err = capsys.readouterr().err
    assert f"{p}:5: TypeError: push() got confused" in err


def test_bad_report_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.json"
    p.write_text("{not json")
    assert main(["report", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dyndiet report: ") and "not JSON" in err and err.count("\n") == 1


@pytest.mark.parametrize("content", [None, b"\x7fELF\x02\x01garbage"])
def test_unreadable_corpus_is_one_line_exit_2(tmp_path: Path, content: bytes | None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vmlinux"
    if content is not None:
        path.write_bytes(content)
    assert main(["check", "section", "--corpus", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


@pytest.mark.gcc
def test_check_on_a_real_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--corpus``: the machines draw their builtin tables from records GCC and ld placed."""
    from tests.dd_fixtures import build_vmlinux
    from tests.helpers import require_tool

    require_tool("gcc", "compiles the dyndbg fixtures")
    exe = build_vmlinux("", tmp_path)
    assert main(["check", "odd-tag-after", "odd-tag-before", "--corpus", str(exe),
                 "--property", "control-file", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    verdicts = {d["name"]: d["properties"][0]["status"] for d in doc["designs"]}
    assert verdicts == {"odd-tag-after": "failed", "odd-tag-before": "passed"}
    assert all(d["corpus"] == str(exe) for d in doc["designs"])
    assert f"--corpus {exe}" in doc["tool"]["command"]
