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
from properties.footprint import BUILTIN_MODULES, LOADABLE_MODULES, boot_workload, measure

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


# --- measured, not told -------------------------------------------------------------------------

@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.19"])
def test_every_builtin_footprint_is_what_its_allocators_hold(era: str) -> None:
    """Each built-in design's own footprint() equals the measurement of its kernel
    (sections and regions still mapped, pages, live slab objects, tables)."""
    for name, cls in builtin_designs().items():
        row = measure(DesignRef(name, "built-in", cls), Target(era=era))
        assert row["footprint_agrees"], (era, name, row)
        assert row["resident_bytes"] == row["reported_resident_bytes"]


def test_the_table_prints_the_measured_figure_of_a_design_that_under_reports() -> None:
    """A design whose footprint() leaves out what it kmallocs is not printed as saving it:
    the table's resident and saved bytes are measured, the disagreement flagged."""
    from typing import ClassVar

    from model.designs.protocol import DdebugTable
    from model.designs.section import SectionDesign
    from model.gfp import GFP_KERNEL

    class Quiet(SectionDesign):
        """Keeps a kmalloc-64 object per table and says nothing of it."""

        name: ClassVar[str] = "quiet"

        def on_add_table(self, dt: DdebugTable) -> None:
            self.ctx.kmalloc(48, GFP_KERNEL)

    row = measure(DesignRef("quiet", "tests", Quiet), TARGET)
    tables = BUILTIN_MODULES + LOADABLE_MODULES
    assert not row["footprint_agrees"]
    assert row["reported_resident_bytes"] == row["baseline_resident_bytes"]
    assert row["resident_bytes"] == row["baseline_resident_bytes"] + 64 * tables
    assert row["saved_bytes"] == -64 * tables


def test_measurement_counts_what_a_design_allocates_and_maps() -> None:
    """Pages, slab objects at their cache's size and the design's own regions count;
    zsmalloc's per-CPU mapping areas (the kernel's, whoever uses zsmalloc) do not."""
    from model.designs.harness import measure_resident

    k = boot_workload(builtin_designs()["zpool-copy"], TARGET)
    m = measure_resident(k)
    pool = k.design.zpool.pool
    assert pool is not None
    assert m.page_bytes == pool.zs_get_total_pages() * 4096
    assert m.slab_bytes == len(pool.live_handles()) * 8  # the zs_handle objects only
    assert dict(m.caches)["zs_handle"] == m.slab_bytes
    heads = sum(size for name, size in m.regions if name.endswith(":__dyndbg"))
    assert heads == m.section_bytes  # the bodies were given back
    k2 = boot_workload(builtin_designs()["section"], TARGET)
    k2.ctx.kmalloc(40, 0)  # an object the design did not report: measured all the same
    assert measure_resident(k2).slab_bytes == 64
