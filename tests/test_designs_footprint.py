"""The footprint table: "the structs/unions must be reworked to actually save any ram" (the July
2020 cover letter), as the layout engine and the pool model compute it for each design."""

from __future__ import annotations

import pytest

from model.abi import get_abi
from model.designs import builtin_designs
from model.designs.split import SPLIT_C
from model.designs.storage import c_layout
from model.linker import record_layout
from model.zsmalloc_classes import class_table
from properties.catalogue import DesignRef, Target
from properties.footprint import boot_workload, measure

TARGET = Target(era="v6.1", abi="x86_64")


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, int]]:
    return {n: measure(DesignRef(n, "built-in", c), TARGET) for n, c in builtin_designs().items()}


def test_no_seed_design_saves_ram(table: dict[str, dict[str, int]]) -> None:
    base = table["section"]["resident_bytes"]
    assert table["section"]["saved_bytes"] == 0
    for name, row in table.items():
        assert row["baseline_resident_bytes"] == base
        if name != "section":
            assert row["resident_bytes"] > base, name  # every 2020 design costs more


def test_split_costs_a_pointer_and_padding(table: dict[str, dict[str, int]]) -> None:
    abi = get_abi("x86_64")
    head = c_layout(SPLIT_C, "_ddebug", abi, True, "", (("DYNDIET_CLASS_ID", "1"),))
    body = c_layout(SPLIT_C, "_ddebug_callsite", abi, True, "", (("DYNDIET_CLASS_ID", "1"),))
    n = table["split"]["callsites"]
    assert (head.size, body.size, record_layout(abi, "v6.1", True).size) == (32, 40, 56)
    assert table["split"]["section_bytes"] == n * (head.size + body.size)
    assert table["section"]["section_bytes"] == n * 56


def test_zpool_copy_uses_more_than_it_reclaims(table: dict[str, dict[str, int]]) -> None:
    row = table["zpool-copy"]
    n = row["callsites"]
    assert row["reclaimed_bytes"] == n * 40  # the __dyndbg_callsites section, given back
    assert row["handle_bytes"] == n * 8  # one zs_handle slab object per callsite
    assert row["pool_bytes"] + row["handle_bytes"] > row["reclaimed_bytes"]
    assert row["resident_bytes"] > table["section"]["resident_bytes"]


def test_zpool_copy_cannot_win_until_the_head_shrinks() -> None:
    """Per callsite: the head (site, zhandle, flags, key) + the smallest zsmalloc class the
    object can land in + its handle, against the 56-byte record it replaces."""
    abi = get_abi("x86_64")
    head = c_layout(SPLIT_C, "_ddebug", abi, True, "",
                    (("DYNDIET_CLASS_ID", "1"), ("DYNDIET_ZHANDLE", "1")))
    classes = class_table("v5.8")
    body = c_layout(SPLIT_C, "_ddebug_callsite", abi, True, "", (("DYNDIET_CLASS_ID", "1"),))
    slot = classes.classes[classes.slot_class[classes.get_size_class_index(body.size + 8)]]
    assert (head.size, slot.size) == (40, 48)
    assert head.size + slot.size + abi.long_size > record_layout(abi, "v6.1", True).size
    # even a body compressed to nothing lands in the 32-byte minimum class
    assert head.size + classes.min_alloc_size + abi.long_size > 56


def test_the_union_saves_the_zhandle_word(table: dict[str, dict[str, int]]) -> None:
    n = table["union-flag"]["callsites"]
    before, union = table["odd-tag-before"], table["union-flag"]
    assert before["section_bytes"] - union["section_bytes"] == n * 8
    assert union["pool_pages"] == before["pool_pages"]
    assert table["flags-vector"]["other_bytes"] == n  # one byte of flags per callsite


def test_odd_tag_after_skips_records_it_misreads(table: dict[str, dict[str, int]]) -> None:
    """% 2 says "already copied" for every record whose modname pointer is odd: those never
    reach the pool (fewer handles than callsites)."""
    k = boot_workload(builtin_designs()["odd-tag-after"], TARGET)
    odd = sum(1 for img in (k.vmlinux, *k.modules.values())
              for c in img.callsites if c.modname % 2)
    assert odd > 0
    row = table["odd-tag-after"]
    assert row["handle_bytes"] == (row["callsites"] - odd) * 8


def test_pool_pages_are_the_pool_models(table: dict[str, dict[str, int]]) -> None:
    k = boot_workload(builtin_designs()["zpool-copy"], TARGET)
    pool = k.design.zpool.pool
    assert pool is not None
    used = sum(s.pages_used for s in pool.class_stats())
    assert table["zpool-copy"]["pool_pages"] == pool.zs_get_total_pages() == used
