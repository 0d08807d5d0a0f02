"""model.linker against GCC 12 + GNU ld 2.40, and the parity facts it must reproduce."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from model.abi import get_abi
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.errors import InputError
from model.linker import (
    ExplicitRecord,
    image_from_placements,
    link_module,
    link_vmlinux,
    merge_strings,
)
from model.memory import AddressSpace
from tests.helpers import require_tool

FORMATS = ("probe %d\n", "robe %d\n", "e %d\n", "done\n", "one\n", "%s: ready\n",
           "a rather long format string that is aligned %d\n",
           "ther long format string that is aligned %d\n")
FUNCS = ("ab", "f", "probe", "do_it", "module_init_function", "xyz_handle_interrupt_event",
         "a_very_long_function_name_exceeding_32_bytes")
FILES = ("a.c", "b.c", "drivers/net/ethernet/intel/e1000e/netdev.c", "lib/x.c", "kernel/y.c")


def random_modules(seed: int) -> list[ModuleSpec]:
    """Builtin modules whose files and functions are contiguous (so a C file can say them)."""
    rng = random.Random(seed)
    files = list(FILES)
    rng.shuffle(files)
    modules: list[ModuleSpec] = []
    line = 10
    for m in range(rng.randint(1, 3)):
        name = rng.choice(("moda", "e1000e", "i2c_core", f"m{m}"))
        name = f"{name}{m}" if any(x.name == name for x in modules) else name
        sites = []
        for _ in range(rng.randint(1, 2)):
            if not files:
                break
            filename = files.pop()
            funcs = rng.sample(FUNCS, rng.randint(1, 3))
            for func in funcs:
                for _ in range(rng.randint(1, 3)):
                    line += rng.randint(1, 9)
                    sites.append(CallsiteSpec(name, func, filename, rng.choice(FORMATS), line))
        if sites:
            modules.append(ModuleSpec(name, tuple(sites), builtin=True))
    return modules


DD_H = r"""
struct static_key { int enabled; union { unsigned long type; void *entries; }; };
struct _ddebug {
	const char *modname; const char *function; const char *filename; const char *format;
	unsigned int lineno:18; unsigned int class_id:6; unsigned int flags:8;
	union { struct static_key dd_key_true; struct static_key dd_key_false; } key;
} __attribute__((aligned(8)));
#define PRD(fmt, ln) do { static struct _ddebug __attribute__((aligned(8))) \
	__attribute__((section("__dyndbg"))) _d = { KBUILD_MODNAME, __func__, __FILE__, fmt, ln, 63 }; \
	asm volatile("" :: "r"(&_d)); } while (0)
"""

LDS = """SECTIONS {
 . = 0x10000;
 .text : { *(.text) *(.text.*) }
 . = 0x200000;
 .rodata : { *(.rodata) *(.rodata.*) }
 . = 0x400000;
 .data : { __start___dyndbg = .; KEEP(*(__dyndbg)) __stop___dyndbg = .; *(.data) }
 /DISCARD/ : { *(.note*) *(.comment) *(.eh_frame) *(.opd) *(.toc) *(.got*) *(.sdata*) }
}
"""


def c_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def build_real(tmp: Path, triplet: str, modules: list[ModuleSpec], opt: str) -> tuple[bytes, int]:
    """Compile one C file per TU, link with the kernel-like script; the records' fields."""
    (tmp / "dd.h").write_text(DD_H)
    objs = []
    files: dict[str, list[CallsiteSpec]] = {}
    for m in modules:
        for c in m.callsites:
            files.setdefault(c.filename, []).append(c)
    for n, (filename, sites) in enumerate(files.items()):
        src = tmp / filename
        src.parent.mkdir(parents=True, exist_ok=True)
        funcs: dict[str, list[CallsiteSpec]] = {}
        for c in sites:
            funcs.setdefault(c.function, []).append(c)
        body = ['#include "dd.h"']
        for func, fsites in funcs.items():
            calls = " ".join(f'PRD("{c_escape(c.format)}", {c.lineno});' for c in fsites)
            body.append(f"__attribute__((used, noinline)) static void {func}(void) {{ {calls} }}")
        src.write_text("\n".join(body) + "\n")
        obj = tmp / f"tu{n}.o"
        subprocess.run([f"{triplet}-gcc", opt, "-fno-pie", "-fno-pic", "-fno-asynchronous-unwind-tables",
                        f"-I{tmp}", f'-DKBUILD_MODNAME="{sites[0].modname}"', "-c",
                        "-o", str(obj), filename], cwd=tmp, check=True)
        objs.append(str(obj))
    (tmp / "k.lds").write_text(LDS)
    out = tmp / "k.out"
    subprocess.run([f"{triplet}-ld", "-T", str(tmp / "k.lds"), "-e", "0", "--no-relax",
                    "-o", str(out), *objs], check=True, capture_output=True)
    with out.open("rb") as f:
        elf = ELFFile(f)
        sym: Any = elf.get_section_by_name(".symtab")
        start = sym.get_symbol_by_name("__start___dyndbg")[0]["st_value"]
        stop = sym.get_symbol_by_name("__stop___dyndbg")[0]["st_value"]
        data_sec: Any = elf.get_section_by_name(".data")
        raw = data_sec.data()[start - data_sec["sh_addr"]: stop - data_sec["sh_addr"]]
    return bytes(raw), int(start)


def model_fields(triplet_abi: str, modules: list[ModuleSpec], opt: str) -> tuple[bytes, int]:
    space = AddressSpace(get_abi(triplet_abi))
    img = link_vmlinux(space, "v6.1", True, modules, optimize_size=opt == "-Os",
                       rodata_base=0x200000, records_base=0x400000)
    return space.read(img.records_addr, img.records_size) if img.count else b"", img.count


@pytest.mark.parametrize("abi_name,opt,seed", [
    ("x86_64", "-O2", 1), ("x86_64", "-O2", 2), ("x86_64", "-O2", 3), ("x86_64", "-Os", 4),
    ("i386", "-O2", 5), ("aarch64", "-O2", 6), ("aarch64", "-Os", 7), ("arm", "-O2", 8),
    ("s390x", "-O2", 9), ("arm", "-Os", 10), ("i386", "-Os", 11),
    *[("x86_64", "-O2", seed) for seed in range(12, 24)],
])
def test_vmlinux_link_matches_gnu_ld(abi_name: str, opt: str, seed: int, tmp_path: Path) -> None:
    """Every byte of the linked ``__dyndbg`` (the four pointers of every record included) is
    what GCC 12 and GNU ld 2.40 produce for the same translation units."""
    abi = get_abi(abi_name)
    require_tool(f"{abi.triplet}-gcc", "compiles the translation units")
    require_tool(f"{abi.triplet}-ld", "links them like vmlinux")
    modules = random_modules(seed)
    real, start = build_real(tmp_path, abi.triplet, modules, opt)
    assert start == 0x400000
    mine, count = model_fields(abi_name, modules, opt)
    assert count == sum(len(m.callsites) for m in modules)
    assert mine == real


def _x86() -> AddressSpace:
    return AddressSpace(get_abi("x86_64"))


def test_short_strings_come_out_odd_and_repeats_merge() -> None:
    mods = [ModuleSpec("moda", (CallsiteSpec("moda", "ab", "a.c", "first %d\n", 1),
                                CallsiteSpec("moda", "ab", "a.c", "second\n", 2))),
            ModuleSpec("modb", (CallsiteSpec("modb", "xy", "b.c", "first %d\n", 3),
                                CallsiteSpec("modb", "xy", "b.c", "econd\n", 4)))]
    img = link_vmlinux(_x86(), "v6.1", True, mods, rodata_base=0x1001000)
    sites = {c.spec.format: c for c in img.callsites}
    # identical formats from two TUs share one copy
    assert sites["first %d\n"].format == next(
        c.format for c in img.callsites if c.spec.modname == "modb" and c.spec.format == "first %d\n")
    # a tail shares the storage of the longer string, one byte in: odd or even by position
    assert sites["econd\n"].format == sites["second\n"].format + 1
    parities = [p % 2 for c in img.callsites for p in (c.modname, c.filename, c.format)]
    assert 1 in parities, "short strings in .rodata.str1.1 land on odd addresses"
    tails = [s for s in img.strings if s.owner is not None]
    assert [s.text for s in tails] == ["econd\n"]


def test_long_literals_and_func_arrays_are_aligned_on_x86_64() -> None:
    long_fmt = "x" * 40 + "\n"
    mods = [ModuleSpec("m", tuple(CallsiteSpec("m", f"function_{i}", f"f{i}.c", long_fmt, i + 1)
                                  for i in range(5)))]
    img = link_vmlinux(_x86(), "v6.1", True, mods)
    assert all(c.format % 8 == 0 for c in img.callsites)
    assert all(c.function % 8 == 0 for c in img.callsites)  # >= 8-byte __func__ arrays


def test_modules_keep_one_modname_copy_per_object() -> None:
    """ld -r does not merge: a two-object module has two "e1000e" strings."""
    mod = ModuleSpec("e1000e", (CallsiteSpec("e1000e", "probe", "netdev.c", "hi\n", 1),
                                CallsiteSpec("e1000e", "rx", "rx.c", "hi\n", 2)))
    space = _x86()
    img = link_module(space, "v5.8", False, mod)
    assert len({c.modname for c in img.callsites}) == 2
    assert len({c.format for c in img.callsites}) == 2
    assert img.records_addr % space.abi.page_size == 0
    assert img.section == "__verbose"
    img2 = link_module(space, "v5.8", False, ModuleSpec("e1000e2", mod.callsites))
    assert img2.records_addr > img.records_addr  # the next free range of the module area
    for c in img.callsites:
        assert space.read_cstring(c.modname) == b"e1000e"


def test_ld_r_keeps_copies(tmp_path: Path) -> None:
    """The fact test_modules_keep_one_modname_copy_per_object relies on, checked on GNU ld."""
    require_tool("gcc", "compiles two objects")
    ld = shutil.which("ld") or require_tool("ld", "ld -r")
    for n in range(2):
        (tmp_path / f"o{n}.c").write_text(f'const char *p{n} = "e1000e";\n')
        subprocess.run(["gcc", "-O2", "-c", "-o", str(tmp_path / f"o{n}.o"),
                        str(tmp_path / f"o{n}.c")], check=True)
    subprocess.run([ld, "-r", "-o", str(tmp_path / "m.ko"), str(tmp_path / "o0.o"),
                    str(tmp_path / "o1.o")], check=True)
    with (tmp_path / "m.ko").open("rb") as f:
        sec: Any = ELFFile(f).get_section_by_name(".rodata.str1.1")
        data = sec.data()
    assert data.count(b"e1000e\0") == 2


def test_merge_strings_respects_alignment() -> None:
    from model.linker import _Entry

    a = _Entry(b"abcdefghij", "format", 0, 8)
    b = _Entry(b"cdefghij", "format", 0, 8)  # tail at offset 2: not 8-aligned, kept apart
    c = _Entry(b"ij", "format", 0, 8)  # tail at offset 8: shares a's storage
    merge_strings([a, b, c])
    assert b.suffix_of is None
    assert c.suffix_of is a


def test_explicit_placements_round_trip() -> None:
    space = _x86()
    strings = {0x2001: "moda", 0x2007: "f", 0x200B: "a.c", 0x2010: "hello %d\n", 0x2013: "lo %d\n"}
    recs = [ExplicitRecord(0x2001, 0x2007, 0x200B, 0x2010, 5, flags=1),
            ExplicitRecord(0x2001, 0x2007, 0x200B, 0x2013, 6)]
    img = image_from_placements(space, "v6.1", True, "moda", False, 0x3000, recs, strings)
    assert img.count == 2
    assert img.callsites[1].spec.format == "lo %d\n"
    assert space.read_cstring(0x2013) == b"lo %d\n"
    with pytest.raises(InputError, match="overlap but differ"):
        image_from_placements(_x86(), "v6.1", True, "m", False, 0x3000, recs,
                              {**strings, 0x2012: "XX"})


def test_bad_input() -> None:
    with pytest.raises(InputError):
        link_vmlinux(_x86(), "v6.1", True, [ModuleSpec("m", (CallsiteSpec("m", "f", "a.c", "x",
                                                                          1 << 18),))])
    with pytest.raises(InputError):
        link_vmlinux(_x86(), "v6.1", True, [ModuleSpec("m", (CallsiteSpec("m", "f", "a.c", "\0",
                                                                          1),))])
    with pytest.raises(InputError):
        link_vmlinux(_x86(), "v6.1", True, [ModuleSpec("m", (CallsiteSpec("m", "f", "a.c", "x", 1,
                                                                          class_id=64),))])
