"""The floors hold: no module imports a floor above its own (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {"model": 0, "kernel": 1, "properties": 2, "dyndiet": 3}


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for pkg, floor in FLOORS.items():
        for path in sorted((root / pkg).rglob("*.py")):
            for line, name in imports(path):
                top = name.split(".")[0]
                if top in FLOORS and FLOORS[top] > floor:
                    bad.append(f"{path.relative_to(root)}:{line}: {pkg} imports {name}")
    return bad


def test_no_import_runs_up_a_floor() -> None:
    assert violations() == []


def test_the_check_catches_an_import_up_a_floor(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "bad.py").write_text("from properties.runner import Budget\n")
    for pkg in ("model", "properties", "dyndiet"):
        (tmp_path / pkg).mkdir()
    assert violations(tmp_path) == ["kernel/bad.py:1: kernel imports properties.runner"]
