"""Tagging schemes against the value domains: the model's facts, the exact search, and the
Hypothesis properties with their meta-tests (each known thinko found and shrunk to one value,
correct combinations quiet)."""

from __future__ import annotations

import time

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.abi import ABI_NAMES, get_abi
from model.domains import (
    Domain,
    all_domains,
    ddebug_records,
    error_values,
    func_arrays,
    function_pointers,
    get_domain,
    handle_domains,
    long_values,
    null_pointer,
    slab_objects,
    string_literals,
    table_indices,
    to_word,
    value_domains,
    z3fold_handles,
    z3fold_headless_handles,
    zbud_handles,
    zs_malloc_errors,
    zsmalloc_handles,
)
from model.errors import InputError
from model.sections import func_array_align, string_section
from model.tagging import (
    Scheme,
    Slot,
    _candidate_indices,
    get_scheme,
    schemes,
    smallest_counterexample,
    verdicts,
    violation,
    xa_mk_value,
    xa_to_value,
    zhandle_tag,
    zhandle_untag,
)
from properties.tagging import Drawn, check, drawn_from, find_counterexample

X86 = get_abi("x86_64")
#: The CI budget of one meta-test search.
BUDGET = 100
BUDGET_SECONDS = 10.0


# --- domains --------------------------------------------------------------------------------------

def test_handle_domains_have_the_allocators_alignment() -> None:
    assert zsmalloc_handles(X86).align == 8
    assert zbud_handles(X86).align == 64
    assert z3fold_handles(X86).align == 8
    assert z3fold_handles(X86).residues == (0, 8, 16, 24)
    headless = z3fold_headless_handles(X86)
    assert headless.align == 1
    assert all(headless.nth(k) % 2 == 1 for k in range(100))
    assert all(headless.nth(k) % X86.page_size == 1 for k in range(100))
    ppc = get_abi("ppc64")
    assert zbud_handles(ppc).align == 1024          # CHUNK_SIZE = 64K >> 6
    assert zsmalloc_handles(get_abi("i386")).align == 8


def test_error_domains() -> None:
    errs = zs_malloc_errors(X86)
    assert {to_word(-12, 64), to_word(-22, 64), to_word(-28, 64)} == set(errs.listed)
    assert all(v % 2 == 0 for v in errs.listed)
    ev = error_values(X86)
    assert ev.nth(0) == (1 << 64) - 1 and ev.nth(ev.count - 1) == (1 << 64) - 4095
    assert ev.index((1 << 64) - 4096) is None


def test_long_values_zigzag() -> None:
    lv = long_values(get_abi("i386"))
    assert [lv.nth(k) for k in range(4)] == [0, 0xFFFFFFFF, 1, 0xFFFFFFFE]
    assert lv.index(0xFFFFFFFE) == 3


@pytest.mark.parametrize("abi_name", ABI_NAMES)
def test_pointer_domains_take_alignment_from_model_sections(abi_name: str) -> None:
    abi = get_abi(abi_name)
    for optimize_size in (False, True):
        short = string_literals(abi, False, optimize_size)
        assert short.align == min(string_section(abi, n, optimize_size).align
                                  for n in range(2, 31))
        assert short.section == string_section(abi, 2, optimize_size).name
        func = func_arrays(abi, False, optimize_size)
        assert func.align == min(func_array_align(abi, n, optimize_size) for n in range(2, 8))
    assert ddebug_records(abi).align >= 8
    assert slab_objects(abi).align >= 8


def test_odd_strings_are_an_x86_and_size_optimised_fact() -> None:
    """real-kernels.md §4.1 / model.sections: short literals are byte-aligned on x86 -O2, and
    everywhere but riscv64/s390x under -Os."""
    assert string_literals(X86, False).align == 1
    assert string_literals(X86, True).align == 8
    assert string_literals(get_abi("aarch64"), False).align == 8
    assert string_literals(get_abi("aarch64"), False, optimize_size=True).align == 1
    assert string_literals(get_abi("s390x"), False, optimize_size=True).align == 2
    assert function_pointers(get_abi("arm"), thumb=True).nth(0) % 2 == 1


@settings(max_examples=50)
@given(st.sampled_from(all_domains(X86) + all_domains(get_abi("arm"))), st.data())
def test_nth_and_index_are_inverse(domain: Domain, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, domain.count - 1))
    word = domain.nth(k)
    assert 0 <= word < 1 << domain.bits
    assert domain.index(word) == k
    assert domain.contains(word)
    if domain.order == "up":
        assert word % domain.align == domain.nth(0) % domain.align


def test_domain_input_errors() -> None:
    with pytest.raises(InputError, match="unknown domain 'nope'"):
        get_domain(X86, "nope")
    with pytest.raises(InputError, match="outside domain"):
        null_pointer(X86).nth(1)
    with pytest.raises(InputError, match="Thumb"):
        function_pointers(X86, thumb=True)
    with pytest.raises(InputError, match="unknown tagging scheme"):
        get_scheme(X86, "nope")


# --- the pure helpers -----------------------------------------------------------------------------

def test_pure_helpers_mirror_the_kernel() -> None:
    assert zhandle_tag(0xFFFF888000001000) == 0xFFFF888000001001
    assert zhandle_untag(0xFFFF888000001001) == 0xFFFF888000001000
    assert xa_mk_value(5, 64) == 11 and xa_to_value(11) == 5
    # a negative long loses its sign bit: why xa_mk_value() has WARN_ON((long)v < 0)
    assert xa_to_value(xa_mk_value((1 << 64) - 1, 64)) == (1 << 63) - 1


# --- the exact search -----------------------------------------------------------------------------

def _brute(scheme: Scheme, domain: Domain) -> int | None:
    for k in range(domain.count):
        if violation(scheme, domain, domain.nth(k)) is not None:
            return k
    return None


def _synthetic(abi_name: str, order: str, base: int, step: int, residues: tuple[int, ...],
               count: int) -> Domain:
    abi = get_abi(abi_name)
    if order == "down":
        return Domain("t", "t", "value", abi.name, abi.bits_per_long, "t", "t", "down", count,
                      base=base)
    if order == "zigzag":
        return Domain("t", "t", "value", abi.name, abi.bits_per_long, "t", "t", "zigzag", count)
    return Domain("t", "t", "handle", abi.name, abi.bits_per_long, "t", "t", "up", count,
                  base, step, residues)


@st.composite
def small_domains(draw: st.DrawFn) -> tuple[str, Domain]:
    """Small domains placed near the schemes' thresholds (PAGE_OFFSET, LONG_MAX + 1)."""
    abi_name = draw(st.sampled_from(("x86_64", "s390x", "arm", "i386")))
    abi = get_abi(abi_name)
    bits = abi.bits_per_long
    role = draw(st.sampled_from(("handle", "value")))
    order = draw(st.sampled_from(("up", "up", "down", "zigzag")))
    step = draw(st.sampled_from((1, 2, 4, 8, 64, abi.page_size)))
    residues = tuple(sorted(draw(st.sets(st.integers(0, step - 1), min_size=1, max_size=3))))
    count = draw(st.integers(1, 600))
    anchor = draw(st.sampled_from((0, abi.page_offset, 1 << (bits - 1), (1 << bits) - 1)))
    room = count * step
    base = draw(st.integers(max(0, anchor - room), max(0, min(anchor + 16, (1 << bits) - 1 - room))))
    if order == "down":
        base = max(base, count)
    d = _synthetic(abi_name, order, base, step, residues, count)
    return abi_name, attrs.evolve(d, role=role)


def _check_exact(search: object, pair: tuple[str, Domain]) -> None:
    abi_name, domain = pair
    for scheme in schemes(get_abi(abi_name)):
        found = search(scheme, domain)  # type: ignore[operator]
        got = None if found is None else found.index
        assert got == _brute(scheme, domain), (scheme.key, domain)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(small_domains())
def test_smallest_counterexample_is_exact(pair: tuple[str, Domain]) -> None:
    """The windowed search equals a brute force over the whole domain."""
    _check_exact(smallest_counterexample, pair)


def test_exactness_property_catches_a_search_that_ignores_thresholds() -> None:
    """Meta-test: a search that only looks at the first indices is caught, and the domain is
    shrunk to a handful of values."""
    def first_only(scheme: Scheme, domain: Domain) -> object:
        for k in range(min(domain.count, 4)):
            bad = violation(scheme, domain, domain.nth(k))
            if bad is not None:
                return attrs.make_class("F", ["index"])(k)
        return None

    failing: list[tuple[str, Domain]] = []

    @settings(max_examples=200, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(small_domains())
    def run(pair: tuple[str, Domain]) -> None:
        try:
            _check_exact(first_only, pair)
        except AssertionError:
            failing.append(pair)
            raise

    with pytest.raises(AssertionError):
        run()
    assert failing[-1][1].count <= 10


def test_candidates_stay_small() -> None:
    for scheme in schemes(X86):
        for d in all_domains(X86):
            assert len(_candidate_indices(scheme, d)) <= 5000


# --- the 2020 finding and the table ---------------------------------------------------------------

def test_the_2020_finding_odd_tag_unsafe_once_strings_share_the_word() -> None:
    odd = get_scheme(X86, "odd")
    # before unionization: only zhandles in the word, and those are 8-aligned slab addresses
    assert smallest_counterexample(odd, zsmalloc_handles(X86)) is None
    # after: a short string literal's pointer in the same word
    short = string_literals(X86, False)
    c = smallest_counterexample(odd, short)
    assert c is not None
    assert c.value == X86.kernel_base + (16 << 20) + 1
    assert (c.section, c.align, c.abi, c.prop) == (".rodata.str1.1", 1, "x86_64", "disjoint")
    # the explicit flag (the fix of patch 3/3) is safe over every domain of every ABI
    for name in ABI_NAMES:
        abi = get_abi(name)
        flag = get_scheme(abi, "flag")
        assert all(smallest_counterexample(flag, d) is None for d in all_domains(abi))


def test_aarch64_o2_strings_never_odd_but_os_strings_are() -> None:
    arm64 = get_abi("aarch64")
    odd = get_scheme(arm64, "odd")
    assert smallest_counterexample(odd, string_literals(arm64, False)) is None
    assert smallest_counterexample(odd, string_literals(arm64, False, True)) is not None


def test_page_offset_test_breaks_on_s390x_and_for_arm_modules() -> None:
    s390 = get_abi("s390x")
    c = smallest_counterexample(get_scheme(s390, "page_offset"), table_indices(s390))
    assert c is not None and c.value == 0 and c.prop == "tagged"
    arm = get_abi("arm")
    mod = string_literals(arm, False, module=True)
    c = smallest_counterexample(get_scheme(arm, "page_offset"), mod)
    assert c is not None and c.value == arm.module_base


def test_every_scheme_is_safe_somewhere_and_unsafe_somewhere_except_the_flag() -> None:
    table = verdicts(X86, all_domains(X86))
    for s in schemes(X86):
        cells = [v for v in table if v.scheme.key == s.key]
        assert any(v.safe for v in cells), s.key
        assert any(not v.safe for v in cells) == (s.key != "flag"), s.key


# --- Hypothesis: the properties and their meta-tests ----------------------------------------------

def _found(scheme_key: str, domains: tuple[Domain, ...]) -> tuple[Drawn, float]:
    t = time.perf_counter()
    found = find_counterexample(get_scheme(X86, scheme_key), domains, max_examples=BUDGET)
    elapsed = time.perf_counter() - t
    assert found is not None, f"{scheme_key}: no counterexample in {BUDGET} test cases"
    assert elapsed < BUDGET_SECONDS
    return found, elapsed


def _assert_minimal(scheme_key: str, found: Drawn, domains: tuple[Domain, ...]) -> None:
    """The shrunk value is the exact search's: the first breaking domain, its smallest value."""
    scheme = get_scheme(X86, scheme_key)
    first = next(d for d in domains if smallest_counterexample(scheme, d) is not None)
    exact = smallest_counterexample(scheme, first)
    assert exact is not None
    assert found.domain == first
    assert (found.word, found.index) == (exact.value, exact.index)


def test_hypothesis_finds_the_odd_tag_over_string_pointers() -> None:
    domains = value_domains(X86)
    found, _ = _found("odd", domains)
    _assert_minimal("odd", found, domains)
    assert found.domain.key == "str-short"
    assert (found.domain.section, found.domain.align) == (".rodata.str1.1", 1)
    assert found.word == found.domain.nth(0) + 1


def test_hypothesis_finds_the_odd_tag_over_z3fold_headless_handles() -> None:
    domains = handle_domains(X86)
    found, _ = _found("odd", domains)
    _assert_minimal("odd", found, domains)
    assert found.domain.key == "z3fold-headless"
    assert found.word == X86.page_offset + X86.page_size + 1


def test_hypothesis_finds_a_low_bit_tag_over_func_pointers() -> None:
    domains = (func_arrays(X86, True), func_arrays(X86, False))
    found, _ = _found("static_key", domains)
    _assert_minimal("static_key", found, domains)
    assert found.domain.key == "func-short"
    assert (found.domain.section, found.domain.align) == (".rodata (__func__)", 1)
    assert found.word % 4 == 2            # JUMP_TYPE_LINKED's bit


def test_hypothesis_finds_an_xarray_tag_with_a_negative_value() -> None:
    domains = (table_indices(X86), long_values(X86))
    found, _ = _found("xarray", domains)
    _assert_minimal("xarray", found, domains)
    assert found.domain.key == "long"
    assert found.word == (1 << 64) - 1    # (long)-1


def test_hypothesis_finds_a_decoder_that_forgets_the_mask() -> None:
    """Meta-test on a broken variant: static_key_mod without ``& ~JUMP_TYPE_MASK``."""
    sk = get_scheme(X86, "static_key")
    broken = attrs.evolve(sk, decode=lambda s: s.word)
    found = find_counterexample(broken, (zsmalloc_handles(X86),), max_examples=BUDGET)
    assert found is not None and found.index == 0


@pytest.mark.parametrize(("scheme_key", "keys"), [
    ("odd", ("zsmalloc", "zbud", "z3fold", "zs-err", "str-long", "func-long", "record", "slab",
             "funcptr", "null", "zs-free-link")),
    ("static_key", ("zsmalloc", "zbud", "z3fold", "record", "slab", "funcptr", "func-long")),
    ("xarray", ("index", "record", "slab", "str-long")),
    ("obj_allocated", ("zsmalloc", "zs-free-link")),
    ("flag", tuple(d.key for d in all_domains(X86))),
])
def test_properties_stay_quiet_on_correct_combinations(scheme_key: str,
                                                       keys: tuple[str, ...]) -> None:
    domains = tuple(get_domain(X86, k) for k in keys)
    assert find_counterexample(get_scheme(X86, scheme_key), domains,
                               max_examples=BUDGET) is None


@pytest.mark.parametrize("abi_name", ["x86_64", "s390x"])
def test_hypothesis_and_the_exact_search_agree_on_every_cell(abi_name: str) -> None:
    abi = get_abi(abi_name)
    for s in schemes(abi):
        for d in all_domains(abi):
            exact = smallest_counterexample(s, d)
            if exact is None and abi_name != "x86_64":
                continue        # safe cells: x86_64 covers the cost of the full budget
            found = find_counterexample(s, (d,), max_examples=BUDGET)
            got = None if found is None else found.word
            assert got == (None if exact is None else exact.value), (s.key, d.key)


def test_check_reports_the_domain_and_role() -> None:
    odd = get_scheme(X86, "odd")
    short = string_literals(X86, False)
    with pytest.raises(AssertionError, match="seen as a handle"):
        check(odd, Drawn(short, 1))
    check(odd, Drawn(short, 0))
    assert "str-short[1]" in repr(Drawn(short, 1))
    with pytest.raises(ValueError):
        drawn_from(())


def test_flag_scheme_keeps_the_word() -> None:
    flag = get_scheme(X86, "flag")
    assert flag.encode(7) == Slot(7, 1 << 7)
    assert not flag.is_tagged(flag.store_value(7))
