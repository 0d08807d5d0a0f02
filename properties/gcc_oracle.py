"""The real compiler as the layout engine's oracle.

:func:`compile_facts` compiles one translation unit with the target's GCC
(``gcc -c -gdwarf-5 -O0`` for x86_64, ``<triplet>-gcc`` otherwise) and reads back, with
pyelftools, what GCC decided: every top-level struct/union named ``T<i>`` with each member's
``DW_AT_data_member_location`` / ``DW_AT_data_bit_offset`` / ``DW_AT_bit_size`` (nested members
with absolute offsets), the ``dd_sizes[]`` table of ``sizeof``/``_Alignof``, and the bytes of
each initialized global ``v<i>`` (no pointers are initialized, so there are no relocations).

:func:`differences` compares those facts with the engine's :class:`~model.layout.Layout` and
lists every disagreement in words; the differential property asserts the list is empty.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from model.abi import Abi
from model.layout import Layout, Member, RecordType
from properties.layout_gen import GenType, render_batch, render_definitions

CFLAGS: tuple[str, ...] = ("-c", "-gdwarf-5", "-O0", "-fno-common", "-std=gnu11", "-w",
                           "-fno-merge-debug-strings")


def compiler_for(abi: Abi) -> str:
    """The GCC driver for ``abi``: plain ``gcc`` on x86_64, else Debian's cross compiler."""
    return "gcc" if abi.name == "x86_64" else f"{abi.triplet}-gcc"


def have_compiler(abi: Abi) -> bool:
    return shutil.which(compiler_for(abi)) is not None


@attrs.frozen
class DwMember:
    """A member as DWARF describes it, offsets absolute from the outermost type."""

    name: str
    offset_bits: int
    size_bits: int
    bitfield: bool
    members: tuple[DwMember, ...]


@attrs.frozen
class TypeFacts:
    name: str
    size: int
    align: int
    members: tuple[DwMember, ...]
    data: bytes


class CompileError(Exception):
    """GCC rejected a generated translation unit (a generator bug, not an engine bug)."""


_CACHE: dict[tuple[str, str], bytes] = {}


def compile_object(source: str, abi: Abi, flags: Sequence[str] = ()) -> bytes:
    """The object file GCC makes of ``source`` for ``abi`` (memoized)."""
    key = (source + "\0" + " ".join(flags), abi.name)
    if key in _CACHE:
        return _CACHE[key]
    with tempfile.TemporaryDirectory(prefix="dyndiet-gcc-") as tmp:
        src = Path(tmp) / "batch.c"
        obj = Path(tmp) / "batch.o"
        src.write_text(source)
        proc = subprocess.run([compiler_for(abi), *CFLAGS, *flags, str(src), "-o", str(obj)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = source.split("\n")
            quoted = []
            for m in re.finditer(r"batch\.c:(\d+):\d+: error: (.*)", proc.stderr):
                n = int(m.group(1))
                quoted.append(f"{n}: {lines[n - 1].strip()}  <- {m.group(2)}")
            raise CompileError(f"{compiler_for(abi)} rejected the batch:\n" + "\n".join(
                quoted[:10] or [proc.stderr[-3000:]]))
        blob = obj.read_bytes()
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = blob
    return blob


def compile_facts(source: str, abi: Abi, names: Sequence[str],
                  flags: Sequence[str] = ()) -> dict[str, TypeFacts]:
    """GCC's facts about the structs/unions ``names`` in ``source`` for ``abi``.

    ``source`` defines a global ``v<i>`` of type ``names[i]`` and ``dd_sizes[]`` with
    ``sizeof`` and ``_Alignof`` of each, in that order."""
    return _read_object(compile_object(source, abi, flags), names)


def compile_table(source: str, abi: Abi) -> tuple[str, list[int]]:
    """The ELF's byte order and the ``unsigned long long dd_sizes[]`` ``source`` defines."""
    blob = compile_object(source, abi)
    elf = ELFFile(io.BytesIO(blob))
    endian = "little" if elf.little_endian else "big"
    return endian, _sizes(elf, endian)


def _sizes(elf: ELFFile, endian: str) -> list[int]:
    raw = _symbols(elf)["dd_sizes"]
    return [int.from_bytes(raw[i:i + 8], endian) for i in range(0, len(raw), 8)]  # type: ignore[arg-type]


def _symbols(elf: ELFFile) -> dict[str, bytes]:
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        raise ValueError("the object file has no symbol table")
    symbols: dict[str, bytes] = {}
    for sym in symtab.iter_symbols():
        if sym.name in ("dd_sizes",) or (sym.name.startswith("v") and sym.name[1:].isdigit()):
            sec = elf.get_section(sym["st_shndx"])
            size = sym["st_size"]
            if sec["sh_type"] == "SHT_NOBITS":
                symbols[sym.name] = bytes(size)
            else:
                off = sym["st_value"]
                symbols[sym.name] = sec.data()[off:off + size]
    return symbols


def _read_object(blob: bytes, names: Sequence[str]) -> dict[str, TypeFacts]:
    elf = ELFFile(io.BytesIO(blob))
    endian = "little" if elf.little_endian else "big"
    symbols = _symbols(elf)
    sizes = _sizes(elf, endian)
    # names are inline (-fno-merge-debug-strings) and type references CU-relative, so the
    # DWARF needs no relocation (pyelftools cannot apply every target's relocations)
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
    types: dict[str, object] = {}
    wanted = set(names)
    for cu in dwarf.iter_CUs():
        top = cu.get_top_DIE()
        for die in top.iter_children():
            if die.tag in ("DW_TAG_structure_type", "DW_TAG_union_type") and \
                    "DW_AT_name" in die.attributes:
                name = die.attributes["DW_AT_name"].value.decode()
                if name in wanted and "DW_AT_declaration" not in die.attributes:
                    types[name] = die
    out: dict[str, TypeFacts] = {}
    for i, name in enumerate(names):
        found = types.get(name)
        members = _members(found, 0) if found is not None else ()
        out[name] = TypeFacts(name, sizes[2 * i], sizes[2 * i + 1], members,
                              symbols.get(f"v{i}", b""))
    return out


def _strip(die: object) -> object:
    d = die
    while d.tag in ("DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type"):  # type: ignore[attr-defined]
        d = d.get_DIE_from_attribute("DW_AT_type")  # type: ignore[attr-defined]
    return d


def _type_bits(die: object) -> int:
    d = _strip(die)
    attrs_ = d.attributes  # type: ignore[attr-defined]
    if d.tag == "DW_TAG_array_type":  # type: ignore[attr-defined]
        elem = _type_bits(d.get_DIE_from_attribute("DW_AT_type"))  # type: ignore[attr-defined]
        return elem * _array_count(d)
    return 8 * int(attrs_["DW_AT_byte_size"].value)


def _dims(d: object) -> list[int]:
    """Element counts of each dimension of an array DIE (0 for ``[]`` and ``[0]``)."""
    out = []
    for sub in d.iter_children():  # type: ignore[attr-defined]
        if sub.tag != "DW_TAG_subrange_type":
            continue
        a = sub.attributes
        if "DW_AT_count" in a:
            out.append(int(a["DW_AT_count"].value))
        elif "DW_AT_upper_bound" in a:
            ub = a["DW_AT_upper_bound"].value
            out.append(int(ub) + 1 if isinstance(ub, int) else 0)
        else:
            out.append(0)
    return out


def _array_count(d: object) -> int:
    n = 1
    for k in _dims(d):
        n *= k
    return n


def _members(die: object, base_bits: int) -> tuple[DwMember, ...]:
    out: list[DwMember] = []
    for m in die.iter_children():  # type: ignore[attr-defined]
        if m.tag != "DW_TAG_member":
            continue
        a = m.attributes
        name = a["DW_AT_name"].value.decode() if "DW_AT_name" in a else ""
        mtype = m.get_DIE_from_attribute("DW_AT_type")
        if "DW_AT_bit_size" in a:
            width = int(a["DW_AT_bit_size"].value)
            if "DW_AT_data_bit_offset" in a:
                off = int(a["DW_AT_data_bit_offset"].value)
            else:  # a bitfield GCC found aligned like an ordinary member of its size
                off = 8 * int(a.get("DW_AT_data_member_location").value) if \
                    "DW_AT_data_member_location" in a else 0
            out.append(DwMember(name, base_bits + off, width, True, ()))
            continue
        off = 8 * int(a["DW_AT_data_member_location"].value) if \
            "DW_AT_data_member_location" in a else 0
        size = _type_bits(mtype)
        out.append(DwMember(name, base_bits + off, size, False,
                            _children(mtype, base_bits + off, name)))
    return tuple(out)


def _children(mtype: object, offset_bits: int, name: str) -> tuple[DwMember, ...]:
    t = _strip(mtype)
    if t.tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):  # type: ignore[attr-defined]
        return _members(t, offset_bits)
    if t.tag == "DW_TAG_array_type":  # type: ignore[attr-defined]
        elem = t.get_DIE_from_attribute("DW_AT_type")  # type: ignore[attr-defined]
        return _array_children(_dims(t), elem, offset_bits, name)
    return ()


def _array_children(dims: list[int], elem: object, offset_bits: int,
                    name: str) -> tuple[DwMember, ...]:
    """Element 0 of an array (a sub-array for multi-dimensional ones), as the engine shows it."""
    if not dims or dims[0] == 0:
        return ()
    rest = dims[1:]
    size = _type_bits(elem)
    for k in rest:
        size *= k
    if rest:
        return (DwMember(f"{name}[0]", offset_bits, size, False,
                         _array_children(rest, elem, offset_bits, f"{name}[0]")),)
    return (DwMember(f"{name}[0]", offset_bits, size, False,
                     _children(elem, offset_bits, f"{name}[0]")),)


# --------------------------------------------------------------------------------------------
# Comparison

Engine = Callable[[RecordType, Abi], Layout]


def _compare_members(path: str, ours: tuple[Member, ...], theirs: tuple[DwMember, ...],
                     out: list[str]) -> None:
    if len(ours) != len(theirs):
        out.append(f"{path}: engine has {len(ours)} members {[m.name for m in ours]}, "
                   f"GCC {len(theirs)} {[m.name for m in theirs]}")
        return
    for o, t in zip(ours, theirs, strict=True):
        where = f"{path}.{o.name or '<anon>'}"
        if o.name != t.name:
            out.append(f"{where}: name {o.name!r} vs GCC {t.name!r}")
            continue
        if (o.offset_bits, o.size_bits, o.bitfield) != (t.offset_bits, t.size_bits, t.bitfield):
            out.append(f"{where}: engine offset_bits={o.offset_bits} size_bits={o.size_bits}"
                       f"{' bitfield' if o.bitfield else ''}; GCC offset_bits={t.offset_bits} "
                       f"size_bits={t.size_bits}{' bitfield' if t.bitfield else ''}")
        _compare_members(where, o.members, t.members, out)


def differences(types: Mapping[str, RecordType], values: Mapping[str, tuple[tuple[str, int], ...]],
                facts: Mapping[str, TypeFacts], abi: Abi, engine: Engine) -> list[str]:
    """Every way the engine's layouts and encodings differ from GCC's, in words."""
    out: list[str] = []
    for name, rec in types.items():
        f = facts[name]
        lay = engine(rec, abi)
        if (lay.size, lay.align) != (f.size, f.align):
            out.append(f"{abi.name} {rec.kind} {name}: engine size={lay.size} align={lay.align}; "
                       f"GCC size={f.size} align={f.align}")
        _compare_members(f"{abi.name} {name}", lay.members, f.members, out)
        vals = dict(values.get(name, ()))
        if len(f.data) == lay.size:
            enc = lay.encode(vals)
            if enc != f.data:
                out.append(f"{abi.name} {name}: engine encodes {vals} as {enc.hex()}, GCC's "
                           f"v{name[1:]} holds {f.data.hex()}")
            dec = lay.decode(f.data)
            bad = {p: (dec.get(p), v) for p, v in vals.items() if dec.get(p) != v}
            if bad:
                out.append(f"{abi.name} {name}: engine decodes GCC's bytes as {bad} "
                           "(decoded, initialized)")
    return out


# --------------------------------------------------------------------------------------------
# The differential property, one batch at a time


def batch_differences(batch: tuple[GenType, ...], abi: Abi, engine: Engine,
                      check_reader: bool = True) -> list[str]:
    """Differences between GCC and ``engine`` on a generated batch, for ``abi``.

    With ``check_reader`` the rendered C also goes through the C-snippet reader, which must
    give back exactly the generated types."""
    from model.creader import PRELUDE, parse_c

    out: list[str] = []
    types: dict[str, RecordType] = {}
    parsed = parse_c(render_definitions(batch), "batch.h", {}) if check_reader else {}
    for i, g in enumerate(batch):
        got = parsed.get(f"T{i}")
        if check_reader and got != g.type:
            out.append(f"reader: T{i} read back as {got!r}, generated {g.type!r}")
        types[f"T{i}"] = g.type
    src = render_batch(batch, PRELUDE)
    facts = compile_facts(src, abi, list(types))
    values = {f"T{i}": g.values for i, g in enumerate(batch)}
    out.extend(differences(types, values, facts, abi, engine))
    return out


#: Kernel macros the built-in headers use, for GCC (the reader knows them already).
KERNEL_MACROS = """\
#define __aligned(x) __attribute__((aligned(x)))
#define __packed __attribute__((packed))
"""


def header_source(header: str, names: Sequence[tuple[str, str]],
                  values: Mapping[str, Mapping[str, int]]) -> str:
    """A translation unit including built-in ``header`` that defines ``v<i>`` of each
    ``(kind, name)`` in ``names``, initialized with ``values[name]``, and ``dd_sizes[]``."""
    from model.creader import PRELUDE

    out = [PRELUDE, KERNEL_MACROS, f'#include "{header}"']
    for i, (kind, name) in enumerate(names):
        init = ", ".join(f".{p} = {v}" for p, v in values.get(name, {}).items())
        out.append(f"{kind} {name} v{i} = {{ {init} }};")
    sizes = ", ".join(f"sizeof({k} {n}), _Alignof({k} {n})" for k, n in names)
    out.append(f"unsigned long long dd_sizes[] = {{ {sizes} }};")
    return "\n".join(out) + "\n"
