"""Measure the catalogue with mutation testing: the share of mutants of ``model/designs/``
that ``dyndiet check``'s properties kill, with cosmic-ray (pinned in the dev extras).

cosmic-ray mutates files in place, so the run happens in a copy of the committed tree
(``git archive HEAD``), never in the working tree::

    python tools/mutation.py init  [--workdir DIR] [--from-worktree] [--sample N]
                                    # copy HEAD (or the working tree), config, cosmic-ray
                                    # init, the unmutated verdicts
    python tools/mutation.py exec  [--workdir DIR]   # cosmic-ray exec (hours: out of CI)
    python tools/mutation.py report [--workdir DIR]  # score and the surviving mutants

``kill`` is cosmic-ray's test command (run by ``exec`` inside the copy, one mutant applied):
it finds the files the mutant changed (against the hashes ``init`` kept), the built-in designs
that run their code, and checks each of them as ``dyndiet check`` does first: one derandomized
exploration of every equivalence and kernel-rules property at once (``Check("all")``), then
``saves-what-it-claims`` for a design that claims a saving.  A mutant is *killed* when a
verdict differs from the unmutated tree's (a property that passed fails or errs, one that
failed passes or fails another way: type, message without addresses, observation), or the
design no longer builds, or its ``footprint()`` stops (or starts) agreeing with the measured
footprint (a finding of the footprint table).  Exit 0: survived; 1: killed.  A mutant that
changes only the table's figures is reported as such (output, not a verdict).

Operators: comparison swaps, one replacement per arithmetic and bitwise operator, numbers
+/- 1, booleans, ``not`` added or removed, loops that run zero times, break/continue swapped;
not the 10-way operator cross products (they add hours and rarely a new survivor).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "dyndiet-mutation"
TARGET_DIR = "model/designs"
#: The joint exploration of each design: derandomized, test cases and steps per case.
EXAMPLES, STEPS = 25, 12

KEEP_BINARY = ("Add_Sub", "Sub_Add", "Mul_Add", "FloorDiv_Mul", "Mod_FloorDiv", "BitAnd_BitOr",
               "BitOr_BitAnd", "BitXor_BitOr", "LShift_RShift", "RShift_LShift")
KEEP_COMPARISON = ("Eq_NotEq", "NotEq_Eq", "Lt_LtE", "LtE_Lt", "Gt_GtE", "GtE_Gt", "Is_IsNot",
                   "IsNot_Is", "In_NotIn", "NotIn_In")
EXCLUDE = (
    rf"core/ReplaceBinaryOperator_(?!({'|'.join(KEEP_BINARY)})$)",
    rf"core/ReplaceComparisonOperator_(?!({'|'.join(KEEP_COMPARISON)})$)",
    r"core/ReplaceUnaryOperator_(?!Not_Delete$)",
    r"core/RemoveDecorator", r"core/ExceptionReplacer", r"core/ReplaceAndWithOr",
    r"core/ReplaceOrWithAnd", r"core/VariableReplacer", r"core/VariableInserter",
)

CONFIG = """[cosmic-ray]
module-path = "{target}"
timeout = 900.0
excluded-modules = ["{target}/__init__.py"]
test-command = "{python} tools/mutation.py kill"

[cosmic-ray.distributor]
name = "local"

[cosmic-ray.filters.operators-filter]
exclude-operators = {exclude}
"""


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / TARGET_DIR).glob("*.py"))}


def _run(cmd: list[str], cwd: Path) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


# --- what a check says about a design ---------------------------------------------------------

def _affected(changed: list[str]) -> list[str]:
    """Built-in designs whose classes come from (or build on) a changed file; every design
    when a shared file (the protocol, the harness, the registry) changed."""
    import inspect

    from model.designs import builtin_designs

    designs = builtin_designs()
    shared = {"protocol.py", "harness.py", "__init__.py"}
    if not changed or any(Path(c).name in shared for c in changed):
        return list(designs)
    out = []
    for name, cls in designs.items():
        files = {Path(inspect.getsourcefile(k) or "").name for k in cls.__mro__
                 if k.__module__.startswith("model.designs")}
        if files & {Path(c).name for c in changed}:
            out.append(name)
    return out


def _outcome(result: Any) -> list[str]:
    """A verdict: passed, error (and the error), or failed (and the failure's key)."""
    from properties.runner import failure_key

    cx = result.counterexample
    if result.status == "failed" and cx is not None:
        return ["failed", *failure_key(cx.error_type, cx.message,
                                       cx.difference.observation if cx.difference else None)]
    return [result.status, result.error or ""]


def verdicts(name: str) -> dict[str, Any]:
    """What the check says of built-in design ``name``: the joint exploration's outcome (every
    equivalence and kernel-rules property at once), the footprint claim's, the footprint
    table."""
    from hypothesis import Phase

    from model.designs import builtin_designs
    from properties.catalogue import (
        DesignRef,
        Property,
        Target,
        catalogue,
        get_property,
        group_machine,
    )
    from properties.dyndbg_properties import GROUP
    from properties.footprint import measure
    from properties.runner import Budget, run_property

    ref = DesignRef(name, "built-in", builtin_designs()[name])
    budget = Budget(max_examples=EXAMPLES, stateful_step_count=STEPS,
                    phases=(Phase.explicit, Phase.generate), normalise=False)
    every = frozenset(p.name for p in catalogue() if p.group == GROUP)
    joint = Property("all", "equivalence", "every equivalence and kernel-rules property",
                     lambda d, t: group_machine(GROUP)(d, t, every))
    out: dict[str, Any] = {}
    try:
        out["all"] = _outcome(run_property(joint, ref, Target(), budget))
        saves = get_property("saves-what-it-claims")
        if saves.applies(ref):
            out["saves"] = _outcome(run_property(saves, ref, Target(), budget))
        out["footprint"] = measure(ref, Target())
    except Exception as exc:  # the mutant broke the design's construction or the harness
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return out


# --- commands -----------------------------------------------------------------------------------

def cmd_init(workdir: Path, from_worktree: bool, sample: int) -> int:
    if workdir.exists():
        _run(["rm", "-rf", str(workdir)], ROOT)
    workdir.mkdir(parents=True)
    if from_worktree:  # the files git knows or would add, as they are now
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                                cwd=ROOT, check=True, capture_output=True).stdout
        for rel in filter(None, listed.decode().split("\0")):
            src = ROOT / rel
            if src.is_file():
                (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
                (workdir / rel).write_bytes(src.read_bytes())
    else:
        archive = workdir.with_suffix(".tar")
        _run(["git", "archive", "-o", str(archive), "HEAD"], ROOT)
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")
        archive.unlink()
    python = sys.executable
    (workdir / "mutation.toml").write_text(CONFIG.format(
        target=TARGET_DIR, python=python, exclude=json.dumps(list(EXCLUDE))))
    (workdir / "mutation-hashes.json").write_text(json.dumps(_hashes(workdir)))
    _run([python, "-m", "cosmic_ray.cli", "init", "mutation.toml", "session.sqlite"], workdir)
    _run([str(Path(python).parent / "cr-filter-operators"), "session.sqlite", "mutation.toml"],
         workdir)
    if sample:
        _sample(workdir / "session.sqlite", sample)
    _run([python, "tools/mutation.py", "baseline"], workdir)
    print("now: tools/mutation.py exec")
    return 0


def _sample(db_path: Path, n: int) -> None:
    """Keep ``n`` of the pending mutants, every file in proportion (by a hash of each
    mutant, so the same tree gives the same sample); mark the others skipped."""
    import sqlite3

    db = sqlite3.connect(db_path)
    pending = db.execute(
        "SELECT m.job_id, m.module_path, m.operator_name, m.occurrence FROM mutation_specs m "
        "LEFT JOIN work_results r ON m.job_id = r.job_id WHERE r.job_id IS NULL").fetchall()
    if len(pending) <= n:
        return

    def rank(row: tuple[str, str, str, int]) -> str:
        return hashlib.sha256(f"{row[1]}|{row[2]}|{row[3]}".encode()).hexdigest()
    by_file: dict[str, list[tuple[str, str, str, int]]] = {}
    for row in sorted(pending, key=rank):
        by_file.setdefault(row[1], []).append(row)
    keep: set[str] = set()
    for rows in by_file.values():
        keep.update(r[0] for r in rows[:max(1, round(n * len(rows) / len(pending)))])
    for job_id, *_rest in pending:
        if job_id not in keep:
            db.execute("INSERT INTO work_results (job_id, worker_outcome, output) "
                       "VALUES (?, 'SKIPPED', 'not in the sample')", (job_id,))
    db.commit()
    print(f"sample: {len(keep)} of {len(pending)} mutants, every file in proportion")


def _copy_first() -> Path:
    """Run from the copy: its modules first on the import path (not the editable install)."""
    here = Path.cwd()
    sys.path.insert(0, str(here))
    return here


def cmd_baseline() -> int:
    here = _copy_first()
    base = {name: verdicts(name) for name in _affected([])}
    (here / "mutation-baseline.json").write_text(json.dumps(base, indent=1))
    print(f"baseline of {len(base)} designs: " + ", ".join(
        f"{n} {v.get('all', ['?'])[0]}" for n, v in base.items()))
    return 0


def cmd_kill() -> int:
    here = _copy_first()
    known = json.loads((here / "mutation-hashes.json").read_text())
    changed = [f for f, h in _hashes(here).items() if known.get(f) != h]
    base = json.loads((here / "mutation-baseline.json").read_text())
    footprint_only = False
    for name in _affected(changed):
        got = json.loads(json.dumps(verdicts(name)))
        want = base.get(name, {})
        for key in ("error", "all", "saves"):
            if got.get(key) != want.get(key):
                print(f"killed: {name} {key}: {want.get(key)} -> {got.get(key)}")
                return 1
        agrees = [v.get("footprint", {}).get("footprint_agrees") for v in (want, got)]
        if agrees[0] != agrees[1]:  # footprint() against the measurement: a finding
            print(f"killed: {name} footprint_agrees: {agrees[0]} -> {agrees[1]}")
            return 1
        if got.get("footprint") != want.get("footprint"):
            footprint_only = True
    print("survived" + (" (the footprint table changed)" if footprint_only else ""))
    return 0


def cmd_exec(workdir: Path) -> int:
    _run([sys.executable, "-m", "cosmic_ray.cli", "exec", "mutation.toml", "session.sqlite"],
         workdir)
    return 0


def cmd_report(workdir: Path) -> int:
    import sqlite3

    db = sqlite3.connect(workdir / "session.sqlite")
    rows = db.execute(
        "SELECT m.module_path, m.operator_name, m.occurrence, m.start_pos_row, "
        "r.worker_outcome, r.test_outcome, r.output FROM mutation_specs m "
        "LEFT JOIN work_results r ON m.job_id = r.job_id").fetchall()
    done = [r for r in rows if r[4] == "NORMAL"]
    killed = [r for r in done if r[5] == "KILLED"]
    survived = [r for r in done if r[5] == "SURVIVED"]
    skipped = sum(1 for r in rows if r[4] == "SKIPPED")
    pending = sum(1 for r in rows if r[4] is None)
    print(f"mutants: {len(rows)} ({skipped} of excluded operators, {pending} not run yet)")
    if done:
        print(f"killed {len(killed)} of {len(done)} run: {100 * len(killed) / len(done):.1f}%")
    for path, op, occ, line, _w, _t, output in sorted(survived):
        note = " (footprint table changed)" if output and "footprint" in output else ""
        print(f"survived: {path}:{line} {op} #{occ}{note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("init", "baseline", "exec", "kill", "report"))
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--from-worktree", action="store_true",
                        help="init: copy the working tree as it is instead of HEAD")
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="init: run N of the mutants (every file in proportion), not all")
    args = parser.parse_args(argv)
    if args.command == "kill":
        return cmd_kill()
    if args.command == "baseline":
        return cmd_baseline()
    if args.command == "init":
        return cmd_init(args.workdir.resolve(), args.from_worktree, args.sample)
    if args.command == "exec":
        return cmd_exec(args.workdir.resolve())
    return cmd_report(args.workdir.resolve())


if __name__ == "__main__":
    sys.exit(main())
