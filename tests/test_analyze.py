"""model.analysis and ``dyndiet analyze``: every figure against what the fixture source says.

The expected figures are computed from the callsites the ``.c`` files state (tests/dd_fixtures.py)
and from how the toolchain treats them: in a linked image identical strings share one pointer
(SHF_MERGE), each ``__func__`` is its own array; ``ld -r`` keeps one copy of a string per object
file (real-kernels.md §3).  Odd pointers of the vmlinux stand-in come from the running program.
"""

from __future__ import annotations

import itertools
import json
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import lz4.block
import pytest
import zstandard

from dyndiet import analysis
from dyndiet.analysis import (
    COMPRESSORS,
    analyze_tables,
    compressor,
    pool_footprint,
    zs_class_table,
)
from dyndiet.cli import main
from model.abi import get_abi
from model.context import KernelContext
from model.designs.protocol import ddebug_table_size
from model.designs.section import SectionDesign
from model.elf import POINTER_FIELDS, DyndbgTable, read_dyndbg
from model.eras import get_era
from model.errors import BadHandle
from model.linker import ModuleImage
from model.memory import AddressSpace
from model.zsmalloc import zs_create_pool
from tests.dd_fixtures import build_module, build_vmlinux, runtime_records
from tests.helpers import require_tool

pytestmark = pytest.mark.gcc


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("gcc", "compiles the dyndbg fixtures")
    require_tool("ld", "links the module stand-in with ld -r")
    out = tmp_path_factory.mktemp("dd-analyze")
    return {"vmlinux": build_vmlinux("", out), "module": build_module("", out)}


Row = tuple[str, str, str, str, int]


def rows(table: DyndbgTable) -> list[Row]:
    """(unit, modname, function, filename, format) per record, from the strings."""
    def s(p: int) -> str:
        got = table.string_at(p)
        assert got is not None
        return got.decode()
    return [(s(r.filename).removesuffix(".c"), s(r.modname), s(r.function), s(r.filename),
             r.lineno) for r in table.records]


def identity(table: DyndbgTable, linked: bool) -> dict[str, list[object]]:
    """The object each record's pointer points at, per field, as the toolchain makes them: in a
    linked image a string literal is one object per text; ``ld -r`` keeps one per object file
    (unit); a ``__func__`` is its own array in every unit either way."""
    out: dict[str, list[object]] = {f: [] for f in POINTER_FIELDS}
    for rec in table.records:
        text = {f: table.string_at(rec.pointer(f)) for f in POINTER_FIELDS}
        unit = text["filename"]
        for f in POINTER_FIELDS:
            per_unit = f == "function" or not linked
            out[f].append((unit, text[f]) if per_unit else text[f])
    return out


def adjacent(keys: list[object]) -> int:
    return sum(1 for a, b in itertools.pairwise(keys) if a == b)


@pytest.mark.parametrize("kind", ["vmlinux", "module"])
def test_every_field_figure_matches_the_source(built: dict[str, Path], kind: str) -> None:
    table = read_dyndbg(str(built[kind]))
    fig = analyze_tables([table], designs=False)
    ident = identity(table, linked=kind == "vmlinux")
    texts = {f: [table.string_at(r.pointer(f)) for r in table.records] for f in POINTER_FIELDS}
    n = len(table.records)
    assert (fig.records, fig.bytes, fig.record_size) == (n, 56 * n, 56)
    assert fig.max_lineno == 4000  # gamma.c's `#line 4000`
    for f in POINTER_FIELDS:
        ff = fig.field(f)
        assert ff.adjacent_repeats == adjacent(ident[f]), f
        assert ff.adjacent_repeats_by_string == adjacent(list(texts[f])), f
        assert ff.distinct == len(set(ident[f])), f
        assert ff.distinct_strings == len(set(texts[f])), f
        assert ff.unresolved == 0
        assert sum(ff.mod8) == n
    every = {t for f in POINTER_FIELDS for t in texts[f] if t is not None}
    assert fig.string_bytes == sum(len(t) + 1 for t in every)


def test_known_counts_of_the_fixture(built: dict[str, Path]) -> None:
    """The figures a reader of the three .c files can state without any tool: 13 callsites in 3
    units and 4 functions (two named ``ab``), 11 distinct formats."""
    v = analyze_tables([read_dyndbg(str(built["vmlinux"]))], designs=False)
    m = analyze_tables([read_dyndbg(str(built["module"]))], designs=False)
    assert v.records == m.records == 13
    assert v.field("modname").distinct == 3 and v.field("modname").adjacent_repeats == 10
    assert v.field("filename").distinct == 3 and v.field("filename").adjacent_repeats == 10
    assert v.field("function").distinct == 5 and v.field("function").distinct_strings == 4
    assert v.field("format").distinct == v.field("format").distinct_strings == 11
    # ld -r: one "fixmod" per object file, so 3 pointers for 1 string (real-kernels.md §3).
    assert (m.field("modname").distinct, m.field("modname").distinct_strings) == (3, 1)
    assert m.field("modname").adjacent_repeats == 10
    assert m.field("modname").adjacent_repeats_by_string == 12
    # "literal\n" is in alpha.c and beta.c: merged in the link, two copies after ld -r.
    assert (m.field("format").distinct, m.field("format").distinct_strings) == (12, 11)


def test_odd_pointers_are_what_the_running_program_sees(built: dict[str, Path]) -> None:
    table = read_dyndbg(str(built["vmlinux"]))
    fig = analyze_tables([table], designs=False)
    run = runtime_records(built["vmlinux"])
    for i, f in enumerate(POINTER_FIELDS):
        assert fig.field(f).odd == sum(r[6][i] for r in run), f


def test_total_never_counts_a_repeat_across_files(built: dict[str, Path]) -> None:
    v, m = read_dyndbg(str(built["vmlinux"])), read_dyndbg(str(built["module"]))
    total = analyze_tables([v, m], kind="total", designs=False)
    fv, fm = analyze_tables([v], designs=False), analyze_tables([m], designs=False)
    for f in POINTER_FIELDS:
        assert total.field(f).adjacent_repeats == \
            fv.field(f).adjacent_repeats + fm.field(f).adjacent_repeats
        assert total.field(f).distinct == fv.field(f).distinct + fm.field(f).distinct
        assert total.field(f).odd == fv.field(f).odd + fm.field(f).odd
    assert total.records == 26 and total.bytes == fv.bytes + fm.bytes
    # "fixmod" joins alpha/beta/gamma: 4 distinct modname strings in all.
    assert total.field("modname").distinct_strings == 4


# ---------------------------------------------------------------------------------------------
# Compression and the pool


_DECOMPRESS: dict[str, Callable[[bytes, int], bytes]] = {
    "none": lambda data, n: data,
    "lz4": lambda data, n: bytes(lz4.block.decompress(data, uncompressed_size=n)),
    "zstd": lambda data, n: bytes(zstandard.ZstdDecompressor().decompress(
        data, max_output_size=n)),
    "deflate": lambda data, n: zlib.decompressobj(-11).decompress(data),
}


@pytest.mark.parametrize("method", COMPRESSORS)
def test_compressors_round_trip_on_records(built: dict[str, Path], method: str) -> None:
    table = read_dyndbg(str(built["vmlinux"]))
    fn = compressor(method)
    for rec in table.records:
        assert _DECOMPRESS[method](fn(rec.raw), len(rec.raw)) == rec.raw


def test_compression_keeps_raw_what_does_not_shrink(built: dict[str, Path]) -> None:
    fig = analyze_tables([read_dyndbg(str(built["vmlinux"]))], designs=False)
    for c in fig.compression:
        assert c.stored_bytes <= c.raw_bytes
        assert c.pool.objects == c.objects
        if c.method == "none":
            assert c.stored_bytes == c.raw_bytes and c.kept_raw == 0
    # 40-byte callsites plus the 8-byte handle land in the 48-byte class (Cromie, Aug 2020).
    site = next(c for c in fig.compression if (c.method, c.unit) == ("none", "callsite"))
    assert site.pool.classes == ((48, 13),)
    rec = next(c for c in fig.compression if (c.method, c.unit) == ("none", "record"))
    assert rec.pool.classes == ((64, 13),)


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.12", "v6.19"])
@pytest.mark.parametrize("sizes", [[40] * 13, [56] * 200, [20, 40, 60, 100, 300, 3000] * 40])
def test_pool_footprint_equals_the_zsmalloc_model(era: str, sizes: list[int]) -> None:
    """The arithmetic of :func:`pool_footprint` against a real model pool doing zs_malloc, in
    the zsmalloc era the designs' pool (``PoolStore``) runs in for ``era``."""
    abi = get_abi("x86_64")
    space = AddressSpace(abi)
    ctx = KernelContext()
    pool = zs_create_pool("dyndbg_callsites", space, ctx, era=get_era(era).zsmalloc.name)
    assert pool is not None
    for size in sizes:
        assert pool.zs_malloc(size)
    got = pool_footprint(sizes, zs_class_table(abi, era), abi.pointer_size)
    assert got.pages == pool.zs_get_total_pages()


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.12", "v6.19"])
def test_the_figures_and_the_designs_pool_use_one_zsmalloc_era(era: str) -> None:
    """``analyze``'s pool figures and the pooled designs (model/designs/storage.py) take their
    zsmalloc era from the one value, so a report never mixes two allocators."""
    table = zs_class_table(get_abi("x86_64"), era)
    assert table.era == get_era(era).zsmalloc.name


def test_v6_1_records_go_to_the_6_1_allocator() -> None:
    """Linux 6.1's mm/zsmalloc.c sizes classes as v5.8 did: ``ZS_MAX_ZSPAGE_ORDER`` 2 (at
    most 4 pages per zspage, ``get_pages_per_zspage``) and ``OBJ_TAG_BITS`` inside
    ``OBJ_INDEX_BITS`` (``BITS_PER_LONG - _PFN_BITS - OBJ_TAG_BITS``); the current model's
    chain of up to ``CONFIG_ZSMALLOC_CHAIN_SIZE`` (8) pages came with 6.3."""
    abi = get_abi("x86_64")
    table = zs_class_table(abi, "v6.1")
    assert table.max_pages_per_zspage == 4
    assert max(c.pages_per_zspage for c in table.classes) == 4
    assert table.obj_index_bits == 64 - (52 - 12) - 1
    # a 208-byte object (and its 8-byte handle) in the 224-byte class: a zspage of 4 pages
    # (73 objects) in 6.1, of 7 pages (128 objects, no waste) with a chain of 8
    assert pool_footprint([208], table, abi.pointer_size).pages == 4
    assert pool_footprint([208], zs_class_table(abi, "v6.19"), abi.pointer_size).pages == 7


# ---------------------------------------------------------------------------------------------
# The command


def test_json_output_has_the_issue_schema(built: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--json", str(built["vmlinux"]), str(built["module"])]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "dyndiet.analyze/1"
    assert [f["kind"] for f in doc["files"]] == ["vmlinux", "module"]
    for f in doc["files"]:
        for key in ("path", "kind", "abi", "record_size", "records", "bytes", "max_lineno",
                    "fields", "designs"):
            assert key in f
        assert (f["abi"], f["record_size"], f["records"]) == ("x86_64", 56, 13)
        assert set(f["fields"]) == set(POINTER_FIELDS)
        for ff in f["fields"].values():
            assert set(ff) == {"adjacent_repeats", "distinct", "distinct_strings", "odd"}
    assert doc["total"]["records"] == 26


def test_text_report_with_a_chart(built: dict[str, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(built["vmlinux"])]) == 0
    out = capsys.readouterr().out
    assert "13 records x 56 B = 728 B" in out
    assert "where the bytes go" in out and "#" in out
    assert "records: static key" in out


def test_bad_files_are_reported_and_the_rest_analysed(built: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.ko"
    junk.write_bytes(b"MZ not an elf at all")
    cut = tmp_path / "cut.ko.xz"
    cut.write_bytes(lzma.compress(built["module"].read_bytes()[:300]))
    missing = tmp_path / "missing.ko"
    status = main(["analyze", "--json", str(junk), str(built["vmlinux"]), str(cut),
                   str(missing)])
    captured = capsys.readouterr()
    assert status == 2
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3
    assert errors[0] == f"dyndiet analyze: {junk}: not an ELF file"
    assert errors[1].startswith(f"dyndiet analyze: {cut}: truncated")
    assert errors[2] == f"dyndiet analyze: {missing}: no such file or directory"
    doc = json.loads(captured.out)
    assert [f["path"] for f in doc["files"]] == [str(built["vmlinux"])]


# ---------------------------------------------------------------------------------------------
# Projections per design


def test_section_design_projection_is_the_records_and_tables(built: dict[str, Path]) -> None:
    v = analyze_tables([read_dyndbg(str(built["vmlinux"]))])
    m = analyze_tables([read_dyndbg(str(built["module"]))])
    table = ddebug_table_size(get_abi("x86_64"), True)
    section_v = next(d for d in v.designs if d.name == "section")
    section_m = next(d for d in m.designs if d.name == "section")
    assert section_v.footprint is not None and section_m.footprint is not None
    # vmlinux: 3 builtin tables (alpha, beta, gamma); the module: 1.
    assert section_v.footprint.resident_bytes == 13 * 56 + 3 * table
    assert section_m.footprint.resident_bytes == 13 * 56 + table
    assert section_v.saved_bytes == 0 and section_v.size_classes == ()


class _OddTagDesign(SectionDesign):
    """A deliberately broken design for the meta-test: it reads any odd modname pointer as a
    tagged zhandle, the July-2020 ``% 2`` thinko, and so oopses on real records."""

    name: ClassVar[str] = "odd-tag-meta"

    def dynamic_debug_init(self, image: ModuleImage) -> int:
        for site in image.callsites:
            if site.modname % 2:
                raise BadHandle(f"BUG: zs_map_object of odd handle {site.modname:#x}",
                                "model/meta")
        return super().dynamic_debug_init(image)


def test_a_design_that_falls_over_on_real_records_is_reported(
        built: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "builtin_designs",
                        lambda: {"section": SectionDesign, "odd-tag-meta": _OddTagDesign})
    fig = analyze_tables([read_dyndbg(str(built["vmlinux"]))])
    broken = next(d for d in fig.designs if d.name == "odd-tag-meta")
    # The fixture's vmlinux has odd modname pointers (checked against the running program).
    assert fig.field("modname").odd > 0
    assert broken.footprint is None
    assert broken.failure.startswith("BUG: zs_map_object of odd handle")
    assert broken.as_json() == {"failure": broken.failure}


def test_pool_size_classes_of_a_pool_design(built: dict[str, Path]) -> None:
    """The August-2020 zs-pool copy of 13 callsites: 40-byte objects plus the handle word land
    in the 48-byte class, as Cromie's zsmalloc stats showed."""
    if "zpool-copy" not in analysis.builtin_designs():
        pytest.skip("the zpool-copy design is not in model/designs yet")
    fig = analyze_tables([read_dyndbg(str(built["vmlinux"]))])
    copy = next(d for d in fig.designs if d.name == "zpool-copy")
    assert copy.footprint is not None, copy.failure
    assert copy.size_classes == ((48, 13),)
    assert copy.footprint.pool_pages > 0
