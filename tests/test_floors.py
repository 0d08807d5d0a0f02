"""The floors hold (docs/architecture.md): no module imports a floor above its own, inside
``model/`` a module imports only its own floor or those below, every module of ``model/`` has a
floor, and no imports form a cycle, not even through an import inside a function (the usual
way to hide one).  The floors are read from the page, so the page stays true to the code."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("model", "kernel", "properties", "dyndiet")
DOC = ROOT / "docs" / "architecture.md"


@attrs.frozen
class Import:
    """``module`` imports ``target`` at ``line``; ``nested`` when inside a function."""

    module: str
    target: str
    line: int
    nested: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    return {module_name(root, p): p for pkg in PACKAGES if (root / pkg).is_dir()
            for p in sorted((root / pkg).rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _walk(node: ast.AST, nested: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield child, inner
        yield from _walk(child, inner)


def imports(root: Path) -> list[Import]:
    """Every first-party import, at module level, under ``if TYPE_CHECKING`` or in a function."""
    known = modules(root)
    out: list[Import] = []
    for mod, path in known.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node, nested in _walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                         for a in node.names]
            for name in names:
                target = _resolve(name, known) if name.split(".")[0] in PACKAGES else None
                if target is not None and target != mod:
                    out.append(Import(mod, target, getattr(node, "lineno", 0), nested))
    return out


def model_floors(doc: Path = DOC) -> dict[str, int]:
    """``model.<module> -> floor`` from the page's "Floors inside the model" table: rows
    ``| N | what | `a`, `b/`, ... |``; ``b/`` is every module of the package ``model.b``."""
    text = doc.read_text()
    section = text.split("## Floors inside the model", 1)[1].split("\n## ", 1)[0]
    floors: dict[str, int] = {}
    for row in re.finditer(r"^\|\s*(\d+)\s*\|[^|]*\|([^|]*)\|", section, re.M):
        for name in re.findall(r"`([\w/]+)`", row.group(2)):
            floors["model." + name.rstrip("/").replace("/", ".")] = int(row.group(1))
    return floors


def model_floor(mod: str, floors: dict[str, int]) -> int | None:
    name = mod
    while name:
        if name in floors:
            return floors[name]
        name = name.rpartition(".")[0]
    return None


def cycles(edges: list[Import]) -> list[list[str]]:
    """The import cycles (strongly connected components of more than one module)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.module, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(root: Path = ROOT, doc: Path = DOC) -> list[str]:
    """One line per broken rule: ``path:line: what``."""
    known = modules(root)
    floors = model_floors(doc)
    edges = imports(root)
    bad: list[str] = []
    for mod in known:
        if mod.startswith("model.") and model_floor(mod, floors) is None:
            bad.append(f"{known[mod].relative_to(root)}: {mod} has no floor in {doc.name}")
    for name in floors:
        if name not in known:
            bad.append(f"{doc.name}: {name} names no module")
    for e in edges:
        where = f"{known[e.module].relative_to(root)}:{e.line}"
        top, ttop = e.module.split(".")[0], e.target.split(".")[0]
        if PACKAGES.index(ttop) > PACKAGES.index(top):
            bad.append(f"{where}: {top} imports {e.target}, a floor above")
        elif top == ttop == "model":
            mine, theirs = model_floor(e.module, floors), model_floor(e.target, floors)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(f"{where}: {e.module} (floor {mine}) imports {e.target} "
                           f"(floor {theirs})")
    for comp in cycles(edges):
        members = set(comp)
        for e in edges:
            if e.module in members and e.target in members and e.nested:
                bad.append(f"{known[e.module].relative_to(root)}:{e.line}: {e.module} imports "
                           f"{e.target} inside a function, hiding the cycle {' -> '.join(comp)}")
        bad.append(f"import cycle: {' -> '.join(comp)}")
    return bad


# --------------------------------------------------------------------------- the house
def test_no_import_runs_up_a_floor_or_forms_a_cycle() -> None:
    assert violations() == []


def test_every_model_module_has_one_floor() -> None:
    floors = model_floors()
    assert set(floors.values()) == set(range(max(floors.values()) + 1))
    assert "model.zsmalloc_current" not in floors and "model.analysis" not in floors


# --------------------------------------------------------------------------- the checker
PAGE = """# Architecture

## Floors inside the model

| floor | what | modules |
|---|---|---|
| 0 | ground | `errors`, `abi` |
| 1 | pools | `pool`, `view`, `sub/` |

## Next
"""


def tree(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "__init__.py").write_text("")
    base = {"model/errors.py": "", "model/abi.py": "from model.errors import X\n",
            "model/pool.py": "from model.abi import A\n", "model/view.py": "",
            "model/sub/core.py": "from model.pool import P\n"}
    for rel, text in {**base, **files}.items():
        (tmp_path / rel).write_text(text)
    doc = tmp_path / "architecture.md"
    doc.write_text(PAGE)
    return tmp_path, doc


def test_the_checker_is_quiet_on_a_sound_tree(tmp_path: Path) -> None:
    assert violations(*tree(tmp_path, {"kernel/k.py": "from model.sub.core import C\n"})) == []


def test_the_checker_catches_an_import_up_a_floor(tmp_path: Path) -> None:
    root, doc = tree(tmp_path, {"kernel/bad.py": "from properties.runner import Budget\n",
                                "model/abi.py": "from model.view import V\n"})
    assert violations(root, doc) == [
        "model/abi.py:1: model.abi (floor 0) imports model.view (floor 1)",
        "kernel/bad.py:1: kernel imports properties, a floor above",
    ]


def test_the_checker_catches_a_cycle_and_the_import_that_hides_it(tmp_path: Path) -> None:
    root, doc = tree(tmp_path, {
        "model/pool.py": "from model.abi import A\n\n\ndef f():\n    from model.view import V\n",
        "model/view.py": "import typing\nif typing.TYPE_CHECKING:\n    from model.pool import P\n"})
    assert violations(root, doc) == [
        "model/pool.py:5: model.pool imports model.view inside a function, hiding the cycle "
        "model.pool -> model.view",
        "import cycle: model.pool -> model.view",
    ]


def test_the_checker_catches_a_module_without_a_floor(tmp_path: Path) -> None:
    root, doc = tree(tmp_path, {"model/stray.py": ""})
    assert violations(root, doc) == ["model/stray.py: model.stray has no floor in "
                                     "architecture.md"]
