"""docs/tagging.md stays true to the code: its alignment table is the model's."""

from __future__ import annotations

from pathlib import Path

from model.abi import ABI_NAMES, get_abi
from model.domains import Domain, func_arrays, function_pointers, string_literals
from model.tagging import SCHEME_KEYS

DOC = Path(__file__).resolve().parent.parent / "docs" / "tagging.md"


def _row(name: str) -> list[str]:
    abi = get_abi(name)

    def sec(d: Domain) -> str:
        return f"{d.section} {d.align}"

    return [name, sec(string_literals(abi, False)), sec(string_literals(abi, True)),
            sec(string_literals(abi, False, True)), str(func_arrays(abi, False).align),
            str(func_arrays(abi, True).align), str(function_pointers(abi).align),
            str(function_pointers(abi, True).align)]


def test_alignment_table_matches_the_model() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in ABI_NAMES:
            rows[cells[0]] = cells
    assert set(rows) == set(ABI_NAMES)
    for name in ABI_NAMES:
        assert rows[name] == _row(name), name


def test_every_scheme_has_a_section() -> None:
    text = DOC.read_text()
    for key in SCHEME_KEYS:
        assert f"### `{key}`" in text, key
