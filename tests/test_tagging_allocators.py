"""Real handles from the allocator models (model/zpool.py over zsmalloc, zbud, z3fold; the current
era's zs_malloc) lie in the handle domains of model/domains.py, and the tagging properties see
them as the domains predict."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.abi import ABI_NAMES, get_abi
from model.context import KernelContext
from model.domains import (
    Domain,
    z3fold_handles,
    z3fold_headless_handles,
    zbud_handles,
    zs_malloc_errors,
    zsmalloc_handles,
)
from model.memory import AddressSpace
from model.tagging import get_scheme, handle_violation
from model.zpool import zpool_create_pool
from model.zsmalloc import zs_create_pool

SIZES = st.lists(st.integers(1, 4096), min_size=1, max_size=25)


def _handles(abi_name: str, backend: str, sizes: list[int]) -> list[int]:
    abi = get_abi(abi_name)
    pool = zpool_create_pool(backend, "tagging", 0, AddressSpace(abi), KernelContext())
    assert pool is not None
    out = []
    for size in sizes:
        got = pool.zpool_malloc(size, 0)
        if got.ret == 0:
            out.append(got.handle)
    return out


def _domains(abi_name: str, backend: str) -> tuple[Domain, ...]:
    abi = get_abi(abi_name)
    if backend == "zsmalloc":
        return (zsmalloc_handles(abi),)
    if backend == "zbud":
        return (zbud_handles(abi),)
    return (z3fold_handles(abi), z3fold_headless_handles(abi))


@pytest.mark.parametrize("backend", ["zsmalloc", "zbud", "z3fold"])
@pytest.mark.parametrize("abi_name", ABI_NAMES)
@settings(max_examples=15)
@given(sizes=SIZES)
def test_model_handles_lie_in_the_handle_domains(abi_name: str, backend: str,
                                                 sizes: list[int]) -> None:
    domains = _domains(abi_name, backend)
    for h in _handles(abi_name, backend, sizes):
        assert any(d.contains(h) for d in domains), (backend, hex(h), [d.key for d in domains])


def test_z3fold_model_returns_odd_headless_handles_that_break_the_odd_tag() -> None:
    """z3fold returns ``page | 1`` for allocations above its headless threshold, and the 2020
    odd tag then loses the handle: the property sees it on a real model handle."""
    abi = get_abi("x86_64")
    handles = _handles("x86_64", "z3fold", [100, 4000])
    headless = z3fold_headless_handles(abi)
    assert not headless.contains(handles[0]) and headless.contains(handles[1])
    odd = get_scheme(abi, "odd")
    assert handle_violation(odd, handles[0]) is None
    bad = handle_violation(odd, handles[1])
    assert bad is not None and bad.prop == "tagged"


@pytest.mark.parametrize("abi_name", ["x86_64", "i386"])
def test_current_zs_malloc_error_returns_are_the_zs_err_domain(abi_name: str) -> None:
    abi = get_abi(abi_name)
    pool = zs_create_pool("tagging", AddressSpace(abi), KernelContext(), era="current")
    assert pool is not None
    errs = {pool.zs_malloc(0), pool.zs_malloc(abi.page_size + 1)}
    assert all(zs_malloc_errors(abi).contains(e) for e in errs)
    assert zsmalloc_handles(abi).contains(pool.zs_malloc(64))
