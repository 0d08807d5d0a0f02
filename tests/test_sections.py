"""model.sections against the real GCC 12 cross compilers: section and alignment of string literals
and ``__func__`` arrays, per ABI, at -O2 and -Os."""

from __future__ import annotations

import subprocess
from pathlib import Path

import attrs
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from model.abi import ABI_NAMES, get_abi
from model.errors import InputError
from model.sections import (
    RECORD_ALIGN,
    SectionKind,
    dyndbg_section,
    func_array_align,
    string_section,
)
from tests.helpers import require_tool

STR_SIZES = range(1, 72)
FUNC_SIZES = range(2, 72)


@attrs.frozen
class Measured:
    strings: dict[int, SectionKind]
    funcs: dict[int, int]


def _source() -> str:
    lines = [f'const char *p{n} = "{chr(65 + n % 26) * (n - 1)}";' for n in STR_SIZES]
    lines += [f"const char *f{'x' * (n - 2)}(void) {{ return __func__; }}" for n in FUNC_SIZES]
    return "\n".join(lines) + "\n"


def measure(cc: str, opt: str, tmp: Path) -> Measured:
    """Compile one probe file with -fdata-sections; read each object's section and alignment."""
    src = tmp / "probe.c"
    src.write_text(_source())
    obj = tmp / f"probe{opt}.o"
    subprocess.run([cc, opt, "-fdata-sections", "-c", "-o", str(obj), str(src)], check=True)
    with obj.open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        syms = list(symtab.iter_symbols())
        funcs: dict[int, int] = {}
        strings: dict[int, SectionKind] = {}
        relocs = [s for s in elf.iter_sections() if isinstance(s, RelocationSection)]
        for s in syms:
            if s.name.startswith("__func__"):
                funcs[s["st_size"]] = elf.get_section(s["st_shndx"])["sh_addralign"]
            elif s.name[:1] == "p" and s.name[1:].isdigit() and s["st_shndx"] != "SHN_UNDEF":
                for rs in relocs:
                    if rs["sh_info"] != s["st_shndx"]:
                        continue
                    for r in rs.iter_relocations():
                        if r["r_offset"] == s["st_value"]:
                            tsec = elf.get_section(syms[r["r_info_sym"]]["st_shndx"])
                            strings[int(s.name[1:])] = SectionKind(tsec.name, tsec["sh_addralign"])
    return Measured(strings, funcs)


@pytest.mark.parametrize("opt", ["-O2", "-Os"])
@pytest.mark.parametrize("abi_name", ABI_NAMES)
def test_placement_matches_gcc(abi_name: str, opt: str, tmp_path: Path) -> None:
    abi = get_abi(abi_name)
    cc = require_tool(f"{abi.triplet}-gcc", "measures string and __func__ placement")
    got = measure(cc, opt, tmp_path)
    osize = opt == "-Os"
    assert set(got.strings) == set(STR_SIZES)
    assert set(got.funcs) == set(FUNC_SIZES)
    for n in STR_SIZES:
        assert string_section(abi, n, osize) == got.strings[n], (abi_name, opt, n)
    for n in FUNC_SIZES:
        assert func_array_align(abi, n, osize) == got.funcs[n], (abi_name, opt, n)


def test_x86_64_rules_stated_by_the_reference() -> None:
    abi = get_abi("x86_64")
    assert string_section(abi, 30) == SectionKind(".rodata.str1.1", 1)
    assert string_section(abi, 31) == SectionKind(".rodata.str1.8", 8)
    assert string_section(abi, 60, optimize_size=True) == SectionKind(".rodata.str1.1", 1)
    assert [func_array_align(abi, n) for n in (2, 7, 8, 15, 16, 32)] == [1, 1, 8, 8, 16, 32]
    assert string_section(abi, 31).mergeable_strings
    assert RECORD_ALIGN == 8


def test_bad_sizes_and_eras() -> None:
    abi = get_abi("x86_64")
    with pytest.raises(InputError):
        string_section(abi, 0)
    with pytest.raises(InputError):
        func_array_align(abi, 1)
    with pytest.raises(InputError, match="unknown era"):
        dyndbg_section("v4.0")
    assert dyndbg_section("v5.8") == "__verbose"
    assert dyndbg_section("v6.1") == "__dyndbg"
