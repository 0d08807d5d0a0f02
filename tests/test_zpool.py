"""model.zpool over zsmalloc, zbud and z3fold (v5.8): handle encodings, failure returns, the
machine, and its meta-tests."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from model.abi import get_abi
from model.context import KernelContext
from model.errors import BadHandle, DoubleFree, InputError, UseAfterFree
from model.gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL
from model.memory import AddressSpace
from model.z3fold import Z3foldPool
from model.zbud import ZbudPool
from model.zpool import ZPOOL_TYPES, Zpool, ZpoolMapMode, zpool_create_pool, zpool_has_pool
from properties.tracing import failed_run
from properties.zpool_machine import INVARIANTS, MUTANTS, zpool_machine_for


def make(type_: str) -> tuple[AddressSpace, Zpool]:
    space = AddressSpace(get_abi("x86_64"))
    z = zpool_create_pool(type_, "t", GFP_KERNEL, space, KernelContext())
    assert z is not None
    return space, z


def test_types() -> None:
    assert all(zpool_has_pool(t) for t in ZPOOL_TYPES) and not zpool_has_pool("zram")
    with pytest.raises(InputError):
        make("zram")
    _, z = make("zsmalloc")
    assert z.zpool_get_type() == "zsmalloc" and z.zpool_malloc_support_movable()
    assert not z.zpool_evictable()
    assert z.zpool_shrink(1).ret == -22


@pytest.mark.parametrize(("type_", "size", "ret", "handle_kept"), [
    ("zsmalloc", 0, -1, False), ("zsmalloc", 4097, -1, False),
    ("zbud", 0, -22, True), ("zbud", 3969, -28, True), ("zbud", 4096, -28, True),
    ("z3fold", 0, -22, True), ("z3fold", 4097, -28, True),
])
def test_failure_returns_and_out_parameter(type_: str, size: int, ret: int,
                                           handle_kept: bool) -> None:
    _, z = make(type_)
    r = z.zpool_malloc(size, GFP_KERNEL, handle=0xDEAD)
    assert r.ret == ret
    assert r.handle == (0xDEAD if handle_kept else 0)


def test_zbud_rejects_highmem() -> None:
    _, z = make("zbud")
    assert z.zpool_malloc(100, GFP_HIGHUSER_MOVABLE).ret == -22
    _, z3 = make("z3fold")
    assert z3.zpool_malloc(100, GFP_HIGHUSER_MOVABLE).ret == 0  # v5.8 z3fold allows HIGHMEM


def test_zbud_handles_are_chunk_aligned_data_addresses() -> None:
    _space, z = make("zbud")
    b = z.backend
    assert isinstance(b, ZbudPool)
    first = z.zpool_malloc(100, GFP_KERNEL).handle
    last = z.zpool_malloc(200, GFP_KERNEL).handle
    page = first & ~4095
    assert first == page + 64 and last == page + 4096 - 4 * 64
    assert z.zpool_map_handle(first) == first  # zbud_map returns the handle
    assert b.max_alloc() == 3968
    # a tagged handle makes zbud_free pick the other buddy: the model refuses it
    with pytest.raises(BadHandle):
        z.zpool_free(first + 1)
    z.zpool_free(first)
    with pytest.raises(DoubleFree) as twice:
        z.zpool_free(first)
    assert twice.value.value == first
    with pytest.raises(UseAfterFree) as used:
        z.zpool_map_handle(first)
    assert not isinstance(used.value, DoubleFree) and used.value.value == first


def test_z3fold_slots_and_odd_headless_handles() -> None:
    _space, z = make("z3fold")
    b = z.backend
    assert isinstance(b, Z3foldPool)
    assert b.zhdr_size_aligned == 128 and b.headless_threshold() == 3904
    hs = [z.zpool_malloc(n, GFP_KERNEL).handle for n in (100, 200, 300)]
    assert [h % 64 for h in hs] == [8, 24, 16]  # FIRST, LAST, MIDDLE slots (first_num 0)
    headless = z.zpool_malloc(3905, GFP_KERNEL).handle
    assert headless & 1 and z.zpool_map_handle(headless) == headless - 1
    z.zpool_unmap_handle(headless)
    assert z.zpool_malloc(3904, GFP_KERNEL).handle % 2 == 0
    # the "+1 makes it odd" tag collides with z3fold's own headless bit
    assert (headless + 1) % 2 == 0


def test_z3fold_middle_moves_but_its_handle_stays_valid() -> None:
    space, z = make("z3fold")
    first, last, middle = (z.zpool_malloc(n, GFP_KERNEL).handle for n in (100, 200, 300))
    addr = z.zpool_map_handle(middle, ZpoolMapMode.ZPOOL_MM_WO)
    space.write(addr, b"M" * 300)
    z.zpool_unmap_handle(middle)
    z.zpool_free(first)
    z.zpool_free(last)  # z3fold_compact_page moves the middle buddy to FIRST
    new = z.zpool_map_handle(middle)
    assert new != addr and space.read(new, 300) == b"M" * 300
    z.zpool_unmap_handle(middle)


def test_total_size_and_zbud_shrink() -> None:
    evicted: list[int] = []
    space = AddressSpace(get_abi("x86_64"))
    box: list[Zpool] = []

    def evict(handle: int) -> int:
        """zpool_ops->evict, as zswap's: write back, then zpool_free."""
        evicted.append(handle)
        box[0].zpool_free(handle)
        return 0

    z = zpool_create_pool("zbud", "t", GFP_KERNEL, space, KernelContext(), evict=evict)
    assert z is not None and z.zpool_evictable()
    box.append(z)
    hs = [z.zpool_malloc(2000, GFP_KERNEL).handle for _ in range(4)]
    assert z.zpool_get_total_size() == 4 * 4096
    r = z.zpool_shrink(1)
    assert (r.ret, r.reclaimed) == (0, 1) and evicted == [hs[0]]
    assert z.zpool_get_total_size() == 3 * 4096


@pytest.mark.parametrize("type_", ZPOOL_TYPES)
def test_zpool_machine_runs_clean(type_: str) -> None:
    run_state_machine_as_test(zpool_machine_for(type_), settings=settings(
        max_examples=80, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))


def test_every_zpool_invariant_has_a_mutant() -> None:
    assert {inv for _t, _c, inv in MUTANTS.values()} == set(INVARIANTS)


def meta_settings() -> settings:
    """Runs of at most 12 steps: every mutant shows within four, and Hypothesis cannot always
    delete the pointless malloc/free pairs of a longer run (z3fold_compaction_forgets_to_move
    shrank to 20 steps from runs of 30, to 6 from runs of 12; the shortest is 4)."""
    return settings(max_examples=300, stateful_step_count=12, deadline=None, derandomize=True,
                    database=None, report_multiple_bugs=False, print_blob=False,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_zpool_invariant_catches_its_mutant(mutant: str) -> None:
    type_, driver_class, invariant = MUTANTS[mutant]
    machine = zpool_machine_for(type_, driver_class, (invariant,))
    with pytest.raises(AssertionError, match=f"invariant {invariant}:") as exc:
        run_state_machine_as_test(machine, settings=meta_settings())
    run = failed_run(exc.value)
    assert run is not None and 1 <= len(run.steps) <= 6, [s.call_text() for s in run.steps]


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_zpool_invariant_is_quiet_on_the_correct_driver(mutant: str) -> None:
    type_, _cls, invariant = MUTANTS[mutant]
    run_state_machine_as_test(zpool_machine_for(type_, None, (invariant,)),
                              settings=settings(meta_settings(), max_examples=50))


def test_a_driver_class_must_be_the_types_driver() -> None:
    with pytest.raises(InputError, match="is not a ZbudPool"):
        zpool_create_pool("zbud", "t", GFP_KERNEL, AddressSpace(get_abi("x86_64")),
                          KernelContext(), driver_class=Z3foldPool)
