"""Run CrossHair's command line (``crosshair check`` / ``crosshair diffbehavior``) with bounded
time and read its reports into values.

CrossHair 0.0.112 prints one ``<file>:<line>: error: <message>`` line per refuted condition for
``check``, and ``Given: (<args>),`` followed by one ``<function> : <result>`` line per function
for each difference ``diffbehavior`` finds; exit status 0 means nothing found, 1 found, 2 error
(pbt.md §2.3).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs

from model.errors import InputError

_CHECK_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: (?P<message>.*)$")


def crosshair_command() -> list[str]:
    """``crosshair`` next to this interpreter, else on PATH."""
    exe = Path(sys.executable).with_name("crosshair")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("crosshair")
    if found is None:
        raise InputError("crosshair not found (pip install crosshair-tool; setup.sh does)")
    return [found]


def _run(args: list[str], timeout: float, cwd: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        return subprocess.run(crosshair_command() + args, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd or root, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"crosshair {args[0]} did not finish in {timeout:g} s") from exc


@attrs.frozen
class CheckError:
    """One condition CrossHair refuted."""

    path: str
    line: int
    message: str


@attrs.frozen
class CheckResult:
    returncode: int
    errors: tuple[CheckError, ...]
    output: str


def check(targets: list[str], *, per_condition_timeout: float = 1.0,
          timeout: float = 300.0) -> CheckResult:
    """``crosshair check --per_condition_timeout=T TARGET...``."""
    proc = _run(["check", f"--per_condition_timeout={per_condition_timeout:g}", *targets],
                timeout, None)
    if proc.returncode not in (0, 1):
        raise InputError(f"crosshair check failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    errors = []
    for line in proc.stdout.splitlines():
        m = _CHECK_LINE.match(line.strip())
        if m:
            errors.append(CheckError(m["path"], int(m["line"]), m["message"]))
    return CheckResult(proc.returncode, tuple(errors), proc.stdout)


@attrs.frozen
class Difference:
    """One input on which the two functions differ: the arguments as CrossHair prints them,
    and each function's result."""

    given: str
    results: tuple[tuple[str, str], ...]


@attrs.frozen
class DiffResult:
    old: str
    new: str
    differences: tuple[Difference, ...]
    returncode: int
    output: str

    @property
    def same(self) -> bool:
        return self.returncode == 0


def diffbehavior(old: str, new: str, *, timeout: float = 120.0,
                 max_uninteresting_iterations: int | None = None) -> DiffResult:
    """``crosshair diffbehavior OLD NEW``: the inputs where two helper versions differ."""
    args = ["diffbehavior", old, new]
    if max_uninteresting_iterations is not None:
        args.insert(1, f"--max_uninteresting_iterations={max_uninteresting_iterations}")
    proc = _run(args, timeout, None)
    if proc.returncode not in (0, 1):
        raise InputError(f"crosshair diffbehavior failed: "
                         f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    diffs: list[Difference] = []
    given: str | None = None
    results: list[tuple[str, str]] = []
    for raw in proc.stdout.splitlines():
        line = raw.strip()
        if line.startswith("Given:"):
            if given is not None:
                diffs.append(Difference(given, tuple(results)))
            given = line.removeprefix("Given:").strip().rstrip(",")
            results = []
        elif given is not None and " : " in line:
            fn, _, res = line.partition(" : ")
            results.append((fn.strip(), res.strip()))
    if given is not None:
        diffs.append(Difference(given, tuple(results)))
    return DiffResult(old, new, tuple(diffs), proc.returncode, proc.stdout)
