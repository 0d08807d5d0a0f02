"""Standalone pytest files that replay a counterexample as explicit rule calls.

The file imports the design and the property by name (a built-in design) or by path (a user's
design file), builds the same machine, calls each rule with the shrunk arguments, checks the
invariants after each step as Hypothesis did, and so fails the way the report says.
"""

from __future__ import annotations

import enum
import textwrap
from typing import Any

import attrs

from dyndiet import __version__
from properties.tracing import Step


def _imports_for(value: Any, into: set[tuple[str, str]]) -> None:
    if isinstance(value, list | tuple | set | frozenset):
        for v in value:
            _imports_for(v, into)
    elif isinstance(value, dict):
        for k, v in value.items():
            _imports_for(k, into)
            _imports_for(v, into)
    elif isinstance(value, enum.Enum) or attrs.has(type(value)):
        into.add((type(value).__module__, type(value).__qualname__))
        if attrs.has(type(value)):
            for f in attrs.fields(type(value)):
                _imports_for(getattr(value, f.name), into)


def reproducer_source(*, property_name: str, property_module: str, design: str, design_source: str, era: str,
                      abi: str, corpus: str | None, steps: tuple[Step, ...], message: str,
                      error_type: str) -> str:
    """The text of a pytest file that replays ``steps`` and fails with ``error_type``."""
    imports: set[tuple[str, str]] = set()
    for step in steps:
        for _, v in step.args:
            _imports_for(v, imports)
    import_lines = "".join(f"from {m} import {n.split('.')[0]}\n" for m, n in sorted(imports))
    locate = (repr(design) if design_source == "built-in"
              else f"{design!r}, path={design_source!r}")
    body = ["state = cls()", "state.check_all_invariants()"]
    for step in steps:
        body.append(step.call_text())
        body.append("state.check_all_invariants()")
    body_text = textwrap.indent("\n".join(body), " " * 8)
    doc = (f'"""Reproducer written by dyndiet {__version__}.\n\n'
           f"Property {property_name!r} on design {design!r} ({design_source}), era {era}, "
           f"ABI {abi}.\nExpected failure: {error_type}: {message}\n\n"
           f'Run: python -m pytest THIS_FILE  (it fails the way the report says)\n"""\n')
    return (
        f"{doc}\nfrom __future__ import annotations\n\n"
        f"import {property_module}  # registers the property\n"
        "from dyndiet.designs import resolve_design\n"
        "from properties.catalogue import Target, get_property\n"
        "from properties.runner import machine_class\n"
        f"{import_lines}\n\n"
        "def test_counterexample() -> None:\n"
        f"    design = resolve_design({locate})\n"
        f"    cls = machine_class(get_property({property_name!r}), design,\n"
        f"                        Target(era={era!r}, abi={abi!r}, corpus={corpus!r}))\n"
        "    state = None\n"
        "    try:\n"
        f"{body_text}\n"
        "    finally:\n"
        "        if state is not None:\n"
        "            state.teardown()\n"
    )
