"""The tagging schemes under CrossHair (the bounded, separate ``crosshair`` job).

* ``crosshair check`` proves the PEP 316 contracts of model/tagging.py within a bounded time per
  condition, refutes exactly the known-unsafe claims of model/tagging_claims.py, and catches a
  mutated helper (meta-test).
* ``crosshair diffbehavior`` (through dyndiet.crosshair) finds the inputs where two versions of a
  helper differ, and none where they agree.
* The Hypothesis properties under ``backend="crosshair"`` find the same minimal counterexamples
  as the default backend, and stay quiet where it does.
"""

from __future__ import annotations

import inspect
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings

import model.tagging_claims as claims
from dyndiet.crosshair import check, crosshair_command, diffbehavior
from model.abi import get_abi
from model.domains import (
    Domain,
    ddebug_records,
    func_arrays,
    handle_domains,
    long_values,
    slab_objects,
    table_indices,
    value_domains,
    zsmalloc_handles,
)
from model.errors import InputError
from model.tagging import get_scheme
from model.tagging_patches import PATCHES, WORD
from properties.tagging import domain_words, find_counterexample
from tests.helpers import require_tool

pytestmark = pytest.mark.crosshair

ROOT = Path(__file__).resolve().parent.parent
X86 = get_abi("x86_64")
#: Per-condition budget of ``crosshair check`` (seconds).
PER_CONDITION = 0.5


@pytest.fixture(autouse=True)
def _crosshair_installed() -> None:
    try:
        crosshair_command()          # the venv's crosshair, next to this interpreter
    except InputError:
        require_tool("crosshair", "symbolic checks of the tagging helpers")


def test_crosshair_check_proves_the_tagging_contracts() -> None:
    t = time.perf_counter()
    result = check([str(ROOT / "model" / "tagging.py")], per_condition_timeout=PER_CONDITION)
    assert result.returncode == 0, result.output
    assert result.errors == ()
    assert time.perf_counter() - t < 90


def _function_at(line: int) -> str:
    for name, fn in inspect.getmembers(claims, inspect.isfunction):
        if fn.__module__ != claims.__name__:
            continue
        lines, start = inspect.getsourcelines(fn)
        if start <= line < start + len(lines):
            return name
    raise AssertionError(f"no claim at line {line}")


def test_crosshair_refutes_exactly_the_known_unsafe_claims() -> None:
    result = check([str(ROOT / "model" / "tagging_claims.py")], per_condition_timeout=2.0)
    refuted = {_function_at(e.line) for e in result.errors}
    assert refuted == set(claims.UNSAFE_CLAIMS), result.output
    assert result.returncode == 1
    by_name = {_function_at(e.line): e.message for e in result.errors}
    # the 2020 finding, refuted with an odd .rodata.str1.1 address
    m = re.search(r"odd_tag_spares_short_strings\((\d+)\)", by_name["odd_tag_spares_short_strings"])
    assert m is not None
    p = int(m.group(1))
    assert p % 2 == 1 and claims.STR_LO <= p <= claims.STR_HI
    # z3fold headless: CrossHair names the broken assumption (zhandle_tag's precondition)
    assert 'Precondition "h % 2 == 0"' in by_name["odd_tag_round_trips_z3fold_headless"]
    assert "xa_mk_value" in by_name["xarray_round_trips_longs"]


def test_crosshair_check_catches_a_mutated_helper(tmp_path: Path) -> None:
    """Meta-test: ``zhandle_tag`` returning ``h + 2`` breaks its own postcondition."""
    src = (ROOT / "model" / "tagging.py").read_text()
    assert "    return h + 1\n" in src
    mutant = tmp_path / "tagging_mutant.py"
    mutant.write_text(src.replace("    return h + 1\n", "    return h + 2\n"))
    line = next(i for i, text in enumerate(src.splitlines(), 1)
                if text.startswith("def zhandle_tag("))
    result = check([f"{mutant}:{line}"], per_condition_timeout=PER_CONDITION)
    assert result.returncode == 1
    assert any("zhandle_tag" in e.message for e in result.errors), result.output


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.what)
def test_diffbehavior_shows_where_two_helper_versions_differ(patch: object) -> None:
    from model.tagging_patches import Patch

    assert isinstance(patch, Patch)
    result = diffbehavior(patch.old, patch.new, timeout=60)
    assert (not result.same) == patch.differs, result.output
    assert bool(result.differences) == patch.differs
    old = _resolve(patch.old)
    new = _resolve(patch.new)
    for diff in result.differences:
        arg = int(re.search(r"=(-?\d+)", diff.given).group(1))  # type: ignore[union-attr]
        assert old(arg) != new(arg), diff
        assert old(arg & WORD) != new(arg & WORD), diff


def _resolve(dotted: str) -> object:
    import importlib

    mod, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(mod), name)


# --- hypothesis-crosshair ------------------------------------------------------------------------

UNSAFE = [
    ("odd", value_domains(X86), "str-short"),
    ("odd", handle_domains(X86), "z3fold-headless"),
    ("static_key", (func_arrays(X86, True), func_arrays(X86, False)), "func-short"),
    ("xarray", (table_indices(X86), long_values(X86)), "long"),
]


@pytest.mark.parametrize(("scheme_key", "domains", "expect"), UNSAFE,
                         ids=[f"{s}-{e}" for s, _, e in UNSAFE])
def test_both_engines_find_the_same_minimal_counterexample(
        scheme_key: str, domains: tuple[Domain, ...], expect: str) -> None:
    scheme = get_scheme(X86, scheme_key)
    t = time.perf_counter()
    symbolic = find_counterexample(scheme, domains, max_examples=30, backend="crosshair")
    assert time.perf_counter() - t < 60
    default = find_counterexample(scheme, domains, max_examples=100)
    assert symbolic is not None and default is not None
    assert symbolic.domain.key == default.domain.key == expect
    assert symbolic.word == default.word


@pytest.mark.parametrize(("scheme_key", "domains"), [
    ("odd", (zsmalloc_handles(X86), ddebug_records(X86), slab_objects(X86))),
    ("xarray", (table_indices(X86),)),
])
def test_both_engines_stay_quiet_on_correct_combinations(scheme_key: str,
                                                         domains: tuple[Domain, ...]) -> None:
    scheme = get_scheme(X86, scheme_key)
    assert find_counterexample(scheme, domains, max_examples=30, backend="crosshair") is None
    assert find_counterexample(scheme, domains, max_examples=100) is None


def test_the_crosshair_backend_is_live() -> None:
    """The solver finds one exact handle among 2**33 that random generation misses: proof that
    ``backend="crosshair"`` really ran (a fallback to the default backend would miss it)."""
    d = zsmalloc_handles(X86)
    needle = d.nth(123457)
    outcomes = {}
    for backend in ("hypothesis", "crosshair"):
        @settings(backend=backend, max_examples=100, derandomize=True, database=None,
                  deadline=None)
        @given(domain_words(d))
        def prop(word: int) -> None:
            assert word != needle

        try:
            prop()
            outcomes[backend] = "missed"
        except AssertionError:
            outcomes[backend] = "found"
    assert outcomes == {"hypothesis": "missed", "crosshair": "found"}
