"""model.elf: reading ``__dyndbg`` out of linked images and relocatable modules built by GCC.

Every expectation comes from the fixture sources (tests/dd_fixtures.py reads the ``pr_debug``
lines), and, for the native vmlinux stand-in, from the running program printing its own records.
"""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pytest
import zstandard

from model.abi import get_abi
from model.elf import (
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    DyndbgTable,
    expand_paths,
    module_layout_sections,
    read_dyndbg,
    read_dyndbg_bytes,
)
from model.errors import InputError
from tests.dd_fixtures import (
    MODULE_NAME,
    UNITS,
    all_callsites,
    build_module,
    build_vmlinux,
    compile_unit,
    runtime_records,
)
from tests.helpers import require_tool

pytestmark = pytest.mark.gcc


@pytest.fixture(scope="session")
def native(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("gcc", "compiles the dyndbg fixtures")
    require_tool("ld", "links the module stand-in with ld -r")
    out = tmp_path_factory.mktemp("dd-native")
    ko = build_module("", out)
    built = {
        "vmlinux": build_vmlinux("", out),
        "pie": build_vmlinux("", out, pie=True),
        "lds": build_vmlinux("", out, lds=True),
        "module": ko,
        "nojl": build_vmlinux("", out, extra=("-DDD_NO_JUMP_LABEL",)),
        "v58": build_module("", out, extra=("-DDD_V58",)),
    }
    xz = out / "mods" / "kernel" / "a" / f"{MODULE_NAME}.ko.xz"
    xz.parent.mkdir(parents=True)
    xz.write_bytes(lzma.compress(ko.read_bytes(), format=lzma.FORMAT_XZ))
    zst = out / "mods" / "kernel" / "b" / f"{MODULE_NAME}.ko.zst"
    zst.parent.mkdir(parents=True)
    zst.write_bytes(zstandard.ZstdCompressor().compress(ko.read_bytes()))
    gz = out / "mods" / "kernel" / "c" / f"{MODULE_NAME}.ko.gz"
    gz.parent.mkdir(parents=True)
    gz.write_bytes(gzip.compress(ko.read_bytes()))
    built["xz"], built["zst"], built["gz"], built["mods"] = xz, zst, gz, out / "mods"
    return built


def strings_of(table: DyndbgTable) -> list[tuple[str, str, str, str, int, int]]:
    def s(p: int) -> str:
        got = table.string_at(p)
        assert got is not None, f"pointer {p:#x} resolves to no string"
        return got.decode()
    return [(s(r.modname), s(r.function), s(r.filename), s(r.format), r.lineno, r.flags)
            for r in table.records]


def source_rows(builtin: bool) -> list[tuple[str, str, str, str, int, int]]:
    modname = {unit: (mod if builtin else MODULE_NAME) for unit, mod, _d in UNITS}
    return [(modname[c.unit], c.function, c.filename, c.format, c.lineno, int(c.debug))
            for c in all_callsites()]


def check_link_order(rows: list[tuple[str, str, str, str, int, int]],
                     want: list[tuple[str, str, str, str, int, int]]) -> None:
    """Same callsites; each unit's records contiguous and the units in link order (ld
    concatenates input ``__dyndbg`` sections; GCC may emit a unit's records in any order)."""
    assert sorted(rows) == sorted(want)
    files = [r[2] for r in rows]
    runs = [f for i, f in enumerate(files) if i == 0 or files[i - 1] != f]
    assert runs == [f"{u}.c" for u, _m, _d in UNITS]


def test_vmlinux_records_match_the_source_and_the_running_program(native: dict[str, Path]) -> None:
    table = read_dyndbg(str(native["vmlinux"]))
    assert table.kind == "vmlinux"
    assert (table.abi.name, table.era, table.jump_label, table.record_size) == \
        ("x86_64", "v6.1", True, 56)
    assert table.section_bytes == 56 * len(all_callsites())
    rows = strings_of(table)
    check_link_order(rows, source_rows(builtin=True))
    assert all(r.class_id == 63 for r in table.records)
    # The running program walks the same records in the same order and sees the same parity.
    run = runtime_records(native["vmlinux"])
    assert [r[:6] for r in run] == rows
    assert [r[6] for r in run] == [
        (r.modname & 1, r.function & 1, r.filename & 1, r.format & 1) for r in table.records]


def test_records_found_by_the_bounding_symbols_alone(native: dict[str, Path]) -> None:
    """As in a real vmlinux, the records sit inside another output section (``.data`` there,
    ``.data.dd`` here): only ``__start___dyndbg``/``__stop___dyndbg`` say where."""
    table = read_dyndbg(str(native["lds"]))
    assert table.section_bytes == 56 * len(all_callsites())
    rows = strings_of(table)
    check_link_order(rows, source_rows(builtin=True))
    run = runtime_records(native["lds"])
    assert [r[:6] for r in run] == rows
    assert [r[6] for r in run] == [
        (r.modname & 1, r.function & 1, r.filename & 1, r.format & 1) for r in table.records]


def test_debug_records_carry_a_true_static_key(native: dict[str, Path]) -> None:
    table = read_dyndbg(str(native["vmlinux"]))
    layout = table.layout
    for rec in table.records:
        debug = table.string_at(rec.modname) == b"beta"
        assert rec.flags == int(debug)
        assert layout.get(rec.raw, "key.dd_key_true.key.enabled.counter") == int(debug)
        assert layout.get(rec.raw, "key.dd_key_true.key.type") == int(debug)


def test_pie_relative_relocations_give_the_same_records(native: dict[str, Path]) -> None:
    pie = read_dyndbg(str(native["pie"]))
    assert pie.kind == "vmlinux"
    check_link_order(strings_of(pie), source_rows(builtin=True))


def test_without_jump_label_the_record_is_40_bytes(native: dict[str, Path]) -> None:
    table = read_dyndbg(str(native["nojl"]))
    assert (table.record_size, table.jump_label) == (40, False)
    check_link_order(strings_of(table), source_rows(builtin=True))


def test_module_records_are_relocated_into_the_loader_layout(native: dict[str, Path]) -> None:
    table = read_dyndbg(str(native["module"]))
    assert table.kind == "module"
    assert (table.record_size, table.era) == (56, "v6.1")
    check_link_order(strings_of(table), source_rows(builtin=False))
    abi = get_abi("x86_64")
    by_name = {p.name: p for p in table.placements}
    # Strings and __func__ arrays are read-only data, the records are data: separate regions.
    assert by_name[".rodata.str1.1"].mem_type == "MOD_RODATA"
    assert by_name["__dyndbg"].mem_type == "MOD_DATA"
    assert table.address == by_name["__dyndbg"].address
    for p in table.placements:
        assert p.address >= abi.module_base
        assert p.offset % max(p.align, 1) == 0
    # ld -r keeps one copy of KBUILD_MODNAME per object file (real-kernels.md §3).
    assert len({r.modname for r in table.records}) == len(UNITS)


def test_v58_records_are_detected(native: dict[str, Path]) -> None:
    table = read_dyndbg(str(native["v58"]))
    assert table.era == "v5.8"
    assert "era v5.8 detected" in table.detected
    assert "v5.8: one core_layout" in table.assumption
    assert all(r.class_id is None for r in table.records)
    check_link_order(strings_of(table), source_rows(builtin=False))
    assert {r.flags for r in table.records} == {0, 1}


def test_compressed_modules_and_directories(native: dict[str, Path]) -> None:
    plain = strings_of(read_dyndbg(str(native["module"])))
    assert strings_of(read_dyndbg(str(native["xz"]))) == plain
    assert strings_of(read_dyndbg(str(native["zst"]))) == plain
    assert strings_of(read_dyndbg(str(native["gz"]))) == plain
    files, errors = expand_paths([str(native["mods"])])
    assert errors == ()
    assert files == (str(native["xz"]), str(native["zst"]), str(native["gz"]))


def test_era_and_abi_can_be_given(native: dict[str, Path]) -> None:
    table = read_dyndbg(str(native["vmlinux"]), abi="x86_64", era="v6.1")
    assert "as given" in table.detected
    with pytest.raises(InputError, match="32-bit"):
        read_dyndbg(str(native["vmlinux"]), abi="i386")


@pytest.mark.parametrize(("prefix", "abi", "size"), [
    ("s390x-linux-gnu-", "s390x", 56),
    ("i686-linux-gnu-", "i386", 32),
    ("arm-linux-gnueabihf-", "arm", 32),
    ("aarch64-linux-gnu-", "aarch64", 56),
    ("powerpc64-linux-gnu-", "ppc64", 56),
    ("riscv64-linux-gnu-", "riscv64", 56),
])
def test_cross_abi_records_decode(prefix: str, abi: str, size: int,
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    require_tool(f"{prefix}gcc", f"cross-compiles the dyndbg fixtures for {abi}")
    out = tmp_path_factory.mktemp(f"dd-{abi}")
    for builtin, path in ((True, build_vmlinux(prefix, out)), (False, build_module(prefix, out))):
        table = read_dyndbg(str(path))
        assert (table.abi.name, table.record_size, table.era) == (abi, size, "v6.1")
        check_link_order(strings_of(table), source_rows(builtin=builtin))
        assert all(r.class_id == 63 for r in table.records)


# ---------------------------------------------------------------------------------------------
# The loader replay


def test_layout_sections_follows_the_kernel() -> None:
    """kernel/module/main.c:layout_sections by hand: masks in order (text, rodata,
    ro_after_init, data), ELF order within a mask, ALIGN(size, sh_addralign), .init* apart,
    .modinfo and __versions dropped; v6.4+ gives each mem type its own page-aligned region."""
    a, w, x = SHF_ALLOC, SHF_WRITE, SHF_EXECINSTR
    sections = [
        (1, ".text", a | x, 0x31, 16),
        (2, ".rodata.str1.1", a, 0x23, 1),
        (3, "__dyndbg", a | w, 0x70, 8),
        (4, ".rodata", a, 0x11, 32),
        (5, ".init.text", a | x, 0x10, 16),
        (6, ".modinfo", a, 0x40, 1),
        (7, ".data..ro_after_init", a | w, 0x8, 8),
        (8, ".rodata.str1.8", a, 0x30, 8),
        (9, ".comment", 0, 0x10, 1),
    ]
    got = {p.name: (p.mem_type, p.offset, p.address)
           for p in module_layout_sections(sections, "v6.1", 0x10000, 4096)}
    assert got == {
        ".text": ("MOD_TEXT", 0, 0x10000),
        ".rodata.str1.1": ("MOD_RODATA", 0, 0x12000),
        ".rodata": ("MOD_RODATA", 0x40, 0x12040),
        ".rodata.str1.8": ("MOD_RODATA", 0x58, 0x12058),
        ".data..ro_after_init": ("MOD_RO_AFTER_INIT", 0, 0x13000),
        "__dyndbg": ("MOD_DATA", 0, 0x11000),
        ".init.text": ("MOD_INIT_TEXT", 0, 0x14000),
    }
    old = {p.name: (p.mem_type, p.offset)
           for p in module_layout_sections(sections, "v5.8", 0x10000, 4096)}
    # v5.8: one core_layout, each group page-aligned by debug_align() (STRICT_MODULE_RWX).
    assert old[".rodata.str1.1"] == ("core", 0x1000)
    assert old[".rodata"] == ("core", 0x1040)
    assert old[".data..ro_after_init"] == ("core", 0x2000)
    assert old["__dyndbg"] == ("core", 0x3000)
    assert old[".init.text"] == ("init", 0)


# ---------------------------------------------------------------------------------------------
# Bad input


def test_not_elf(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello\n")
    with pytest.raises(InputError, match=r"notes.txt: not an ELF file"):
        read_dyndbg(str(p))


@pytest.mark.parametrize("keep", [16, 64, 200, 0.5, 0.9])
def test_truncated_elf_is_one_clean_error(native: dict[str, Path], keep: float) -> None:
    data = native["module"].read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    with pytest.raises(InputError) as info:
        read_dyndbg_bytes(data[:n], "cut.ko")
    assert str(info.value).startswith("cut.ko: ")
    assert "\n" not in str(info.value)


def test_corrupt_section_header_is_one_clean_error(native: dict[str, Path]) -> None:
    data = bytearray(native["module"].read_bytes())
    # e_shoff points past the end of the file.
    data[0x28:0x30] = (len(data) + 1000).to_bytes(8, "little")
    with pytest.raises(InputError, match="truncated ELF"):
        read_dyndbg_bytes(bytes(data), "bad.ko")


def test_no_records_is_not_an_error(tmp_path: Path) -> None:
    require_tool("gcc", "compiles a file without callsites")
    src = tmp_path / "empty.c"
    src.write_text("int x = 1;\n")
    obj = tmp_path / "empty.ko"
    import subprocess
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    table = read_dyndbg(str(obj))
    assert table.records == ()
    assert table.section_bytes == 0


def test_record_size_matching_no_layout(native: dict[str, Path], tmp_path: Path) -> None:
    """A module whose __dyndbg records are 48 bytes (an unknown struct) is refused."""
    require_tool("gcc", "compiles an odd-sized record")
    src = tmp_path / "odd.c"
    src.write_text(
        'struct rec { const char *a, *b, *c, *d; long e, f; };\n'
        'static struct rec r __attribute__((used, section("__dyndbg"))) = '
        '{ "m", "fn", "f.c", "x" };\n')
    import subprocess
    obj = tmp_path / "odd.ko"
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    with pytest.raises(InputError, match="record size matches no known layout"):
        read_dyndbg(str(obj))


def test_unreadable_and_missing_paths(tmp_path: Path) -> None:
    files, errors = expand_paths([str(tmp_path / "nope"), str(tmp_path)])
    assert files == ()
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'nope'}: no such file or directory",
        f"{tmp_path}: directory holds no kernel modules (.ko, .ko.xz, .ko.zst, .ko.gz)",
    ]


@pytest.mark.parametrize("kind", ["vmlinux", "module"])
def test_corrupted_files_give_a_table_or_one_input_error(native: dict[str, Path],
                                                         kind: str) -> None:
    """Seeded random byte damage (headers mostly) and truncation: never a traceback."""
    import random
    data = native[kind].read_bytes()
    rng = random.Random(20200725)
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 2, 8, 32])):
            pos = rng.randrange(min(len(damaged), 0x1000) if rng.random() < 0.5 else len(damaged))
            damaged[pos] = rng.randrange(256)
        if rng.random() < 0.2:
            damaged = damaged[: rng.randrange(len(damaged))]
        try:
            read_dyndbg_bytes(bytes(damaged), "damaged")
        except InputError as exc:
            assert str(exc).startswith("damaged: ") and "\n" not in str(exc)


def test_classmap_section_decides_the_era(tmp_path: Path) -> None:
    """Every callsite of classed.c has a class (0 or 1), so no record shows class_id 63; the
    __dyndbg_classes section (v6.1+) still says v6.1.  Without it the bitfield word alone reads
    as v5.8, and --era v6.1 is the way out (docs/analyze.md says so)."""
    require_tool("gcc", "compiles the classed fixture")
    gcc = "gcc"
    obj = compile_unit(gcc, "classed", "classed", False, tmp_path)
    table = read_dyndbg(str(obj))
    assert table.era == "v6.1" and "__dyndbg_classes present" in table.detected
    assert sorted(r.class_id for r in table.records) == [0, 0, 1]
    bare = compile_unit(gcc, "classed", "classed", False, tmp_path, ("-DDD_NO_CLASSMAP",))
    assert read_dyndbg(str(bare)).era == "v5.8"
    given = read_dyndbg(str(bare), era="v6.1")
    assert sorted(r.class_id for r in given.records) == [0, 0, 1]
