"""The ``section`` baseline through the design protocol: conformance, what it hands the core,
and its footprint computed from the layout engine."""

from __future__ import annotations

import pytest

from model.abi import ABI_NAMES, get_abi
from model.designs import builtin_designs, seed_designs
from model.designs.harness import DyndbgKernel
from model.designs.protocol import Design, Footprint, ddebug_table_size
from model.designs.section import SectionDesign
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.linker import record_layout

SPECS = [ModuleSpec("moda", tuple(CallsiteSpec("moda", f, "drivers/a.c", fmt, n + 1)
                                  for n, (f, fmt) in enumerate([("ab", "hi\n"), ("probe", "x %d\n"),
                                                                ("probe", "y\n")])),
                    builtin=True),
         ModuleSpec("i2c_core", (CallsiteSpec("i2c_core", "i2c_transfer", "drivers/i2c/core.c",
                                              "xfer\n", 9),), builtin=True)]


def test_registry() -> None:
    assert builtin_designs()["section"] is SectionDesign
    assert "section" not in seed_designs()


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.19"])
@pytest.mark.parametrize("jump_label", [True, False])
def test_conforms_and_hands_out_the_linked_records(era: str, jump_label: bool) -> None:
    k = DyndbgKernel.boot(SectionDesign, get_abi("x86_64"), era, jump_label, SPECS)
    d = k.design
    assert isinstance(d, Design)
    placed = {c.record: c for c in k.vmlinux.callsites}
    for dt in d.tables():
        for i in range(dt.num_ddebugs):
            site = d.get_site(dt, i)
            c = placed[dt.desc_addr(i)]
            assert (site.modname, site.function, site.filename, site.format, site.lineno) == (
                c.modname, c.function, c.filename, c.format, c.spec.lineno)
            d.put_site(dt, i)


def test_odd_pointers_reach_the_core_on_x86_but_not_on_s390x() -> None:
    """The linker's parity facts survive to what the design hands out."""
    def parities(abi_name: str) -> set[int]:
        k = DyndbgKernel.boot(SectionDesign, get_abi(abi_name), "v6.1", True, SPECS)
        d = k.design
        return {p % 2 for dt in d.tables() for i in range(dt.num_ddebugs)
                for p in (d.get_site(dt, i).modname, d.get_site(dt, i).filename)}
    assert 1 in parities("x86_64")
    assert parities("s390x") == {0}


@pytest.mark.parametrize("abi_name", ABI_NAMES)
@pytest.mark.parametrize("era,jump_label", [("v5.8", True), ("v6.1", True), ("v6.1", False)])
def test_footprint_from_the_layout(abi_name: str, era: str, jump_label: bool) -> None:
    abi = get_abi(abi_name)
    k = DyndbgKernel.boot(SectionDesign, abi, era, jump_label, SPECS)
    k.insmod(ModuleSpec("e1000e", (CallsiteSpec("e1000e", "rx", "rx.c", "rx\n", 3),)))
    fp = k.design.footprint()
    size = record_layout(abi, era, jump_label).size
    assert fp == Footprint(callsites=5, section_bytes=5 * size, page_size=abi.page_size,
                           table_bytes=3 * ddebug_table_size(abi, era != "v5.8"))
    assert fp.resident_bytes == 5 * size + fp.table_bytes
    if abi_name == "x86_64":
        assert size == (56 if jump_label else 40)  # the 2020 series' 56 B/_ddebug
        assert ddebug_table_size(abi, False) == 40 and ddebug_table_size(abi, True) == 56
    k.rmmod("e1000e")
    assert k.design.footprint().section_bytes == 4 * size


def test_the_guide_example_design_matches_the_baseline() -> None:
    """docs/designs/kcopy_design.py (the protocol guide's example) shows what ``section`` shows
    in one scenario, and its footprint says what it reclaimed and what it allocated."""
    from dyndiet.designs import load_design_file

    (ref,) = load_design_file("docs/designs/kcopy_design.py")
    e1000 = ModuleSpec("e1000e", (CallsiteSpec("e1000e", "rx", "rx.c", "rx\n", 3),
                                  CallsiteSpec("e1000e", "tx", "tx.c", "tx %d\n", 4)))
    abi = get_abi("x86_64")
    runs = []
    for cls in (SectionDesign, ref.factory):
        k = DyndbgKernel.boot(cls, abi, "v6.1", True, SPECS)
        out: list[object] = [k.control_write("func probe +pmf").rc]
        k.late_init()
        k.insmod(e1000, "+pt", with_param=True)
        out.append(k.control_write("module moda -p; file tx.c =p").rc)
        out.append(k.control_read())
        out += [k.hit(name, idx, "softirq") for name, idx in k.callsites()]
        k.rmmod("e1000e")
        out.append(k.control_read())
        runs.append((out, k.design.footprint()))
    (base, base_fp), (mine, fp) = runs
    assert mine == base
    assert fp.reclaimed_bytes == 4 * 56 and fp.section_bytes == 0
    assert fp.other_bytes == 4 * 64 and base_fp.section_bytes == 4 * 56


def test_callsite_view_reads_through_the_design() -> None:
    k = DyndbgKernel.boot(SectionDesign, get_abi("x86_64"), "v6.1", True, SPECS)
    k.control_write("func i2c_transfer +pl")
    views = [k.callsite_view("vmlinux", n) for n in range(k.vmlinux.count)]
    assert [(v.module, v.function, v.lineno, v.flags) for v in views if v] == [
        (c.spec.modname, c.spec.function, c.spec.lineno, 9 if c.spec.modname == "i2c_core" else 0)
        for c in k.vmlinux.callsites]
