"""Reading the ``struct _ddebug`` callsite table out of real kernel binaries.

Two kinds of input (see ``shared/reference/real-kernels.md`` §1):

* a linked **vmlinux**: the records lie between ``__start___dyndbg`` and ``__stop___dyndbg``
  (``include/asm-generic/vmlinux.lds.h``, DATA_DATA: ``. = ALIGN(8); BOUNDED_SECTION_BY(__dyndbg,
  ___dyndbg)``) and hold final absolute addresses, so the parity seen in the file is the runtime
  parity (KASLR moves the kernel by ``CONFIG_PHYSICAL_ALIGN``, a multiple of 2 MiB).  A
  position-independent vmlinux (arm64 and ppc64 link with ``-pie``, arm64 even with
  ``--no-apply-dynamic-relocs``) keeps the values in ``R_*_RELATIVE`` addends, which are applied;
* a **module** (``.ko``, ``.ko.xz``, ``.ko.zst``, ``.ko.gz``): a relocatable object whose
  ``__dyndbg`` section is filled by the ``.rela__dyndbg`` (``.rel__dyndbg`` on REL targets)
  relocations.  The addresses those pointers get at runtime come from replaying the module
  loader's ``layout_sections()`` (kernel/module/main.c) and placing every memory region at a
  page-aligned synthetic base in the module area (:func:`module_layout_sections`).

Records are decoded by the layout engine (:func:`model.builtin_layouts.ddebug_layout`); this module
only finds the bytes, applies relocations and resolves the strings the pointers point at.  The
record size, the era (``v5.8`` bitfield word ``lineno:18 flags:8`` or ``v6.1`` ``lineno:18
class_id:6 flags:8``) and the ABI (``e_machine``, ``EI_CLASS``, ``EI_DATA``) are detected from
the file unless given.  Every problem with a file raises :class:`~model.errors.InputError` naming
the file.
"""

from __future__ import annotations

import bisect
import io
import lzma
import os
import stat
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import attrs
import zstandard
from elftools.common.exceptions import ELFError, ELFParseError
from elftools.elf.elffile import ELFFile

from model.abi import Abi, align_up, get_abi
from model.builtin_layouts import RECORD_LAYOUTS as LAYOUT_ERAS
from model.builtin_layouts import ddebug_layout
from model.eras import _DPRINTK_CLASS_DFLT as CLASS_DFLT
from model.eras import layout_era
from model.errors import InputError
from model.layout import Layout

Kind = Literal["vmlinux", "module"]

#: The four pointer members of ``struct _ddebug``, in declaration order.
POINTER_FIELDS: tuple[str, ...] = ("modname", "function", "filename", "format")

#: Record section names: ``__verbose`` up to v5.8, ``__dyndbg`` from v5.9-rc1 on.
RECORD_SECTIONS: tuple[str, ...] = ("__dyndbg", "__verbose")

#: Suffixes of module files a directory walk picks up (kmod's compressed module formats).
MODULE_SUFFIXES: tuple[str, ...] = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")

#: Longest string the reader follows before giving up on a missing NUL.
MAX_STRING = 4096

#: ``SHF_RO_AFTER_INIT`` (include/uapi/linux/elf.h), set by the loader, never by the toolchain.
SHF_RO_AFTER_INIT = 0x00200000
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4

#: ``enum mod_mem_type`` (include/linux/module.h, v6.4+), in allocation order.
_MOD_MEM_TYPES: tuple[str, ...] = ("MOD_TEXT", "MOD_DATA", "MOD_RODATA", "MOD_RO_AFTER_INIT",
                                   "MOD_INIT_TEXT", "MOD_INIT_DATA", "MOD_INIT_RODATA")

_MACHINES: dict[tuple[str, int, bool], str] = {
    ("EM_X86_64", 64, True): "x86_64",
    ("EM_386", 32, True): "i386",
    ("EM_AARCH64", 64, True): "aarch64",
    ("EM_ARM", 32, True): "arm",
    ("EM_RISCV", 64, True): "riscv64",
    ("EM_S390", 64, False): "s390x",
    ("EM_PPC64", 64, False): "ppc64",
}

#: (e_machine, r_type) -> width of the absolute data relocation ``S + A`` (``R_X86_64_64``,
#: ``R_386_32``, ``R_AARCH64_ABS64``, ``R_ARM_ABS32``, ``R_RISCV_64``, ``R_390_64``,
#: ``R_PPC64_ADDR64``), as each arch's ``apply_relocate{,_add}`` handles it.
_ABS_RELOCS: dict[tuple[str, int], int] = {
    ("EM_X86_64", 1): 8,
    ("EM_386", 1): 4,
    ("EM_AARCH64", 257): 8,
    ("EM_ARM", 2): 4,
    ("EM_RISCV", 2): 8,
    ("EM_S390", 22): 8,
    ("EM_PPC64", 38): 8,
}

#: (e_machine, r_type) of ``R_*_RELATIVE`` (``B + A``) in a position-independent vmlinux.
_RELATIVE_RELOCS: dict[tuple[str, int], int] = {
    ("EM_X86_64", 8): 8,
    ("EM_386", 8): 4,
    ("EM_AARCH64", 1027): 8,
    ("EM_ARM", 23): 4,
    ("EM_RISCV", 3): 8,
    ("EM_S390", 12): 8,
    ("EM_PPC64", 22): 8,
}


@attrs.frozen
class SectionPlacement:
    """Where the module loader puts one SHF_ALLOC section: ``mem_type`` (``MOD_TEXT``,
    ``MOD_RODATA``, ...; ``core`` and ``init`` layouts in v5.8), ``offset`` in that region, and
    the resulting runtime ``address``."""

    index: int
    name: str
    mem_type: str
    offset: int
    address: int
    size: int
    align: int


@attrs.frozen
class StringBlock:
    """Bytes the records' pointers point into: one or more NUL-terminated strings, maximal runs
    of overlapping or adjacent targets (a tail-merged string shares its block)."""

    address: int
    data: bytes

    @property
    def end(self) -> int:
        return self.address + len(self.data)


@attrs.frozen
class DdebugRecord:
    """One ``struct _ddebug`` as the running kernel would see it (pointers relocated)."""

    modname: int
    function: int
    filename: int
    format: int
    lineno: int
    #: ``None`` in the v5.8 layout, which has no ``class_id``.
    class_id: int | None
    flags: int
    #: The record's bytes in target order, pointers relocated.
    raw: bytes

    def pointer(self, field: str) -> int:
        """The pointer member ``field`` (one of :data:`POINTER_FIELDS`)."""
        if field not in POINTER_FIELDS:
            raise InputError(f"not a pointer member of struct _ddebug: {field!r}")
        value: int = getattr(self, field)
        return value


@attrs.frozen
class DyndbgTable:
    """The callsite table of one file: records in link order, and the strings they point at."""

    path: str
    kind: Kind
    abi: Abi
    era: str
    #: How the era, record size and ABI were found (a phrase for the report).
    detected: str
    jump_label: bool
    record_size: int
    #: Bytes of the table: ``__stop___dyndbg - __start___dyndbg``, or the section size.
    section_bytes: int
    #: Runtime address of the first record.
    address: int
    records: tuple[DdebugRecord, ...]
    strings: tuple[StringBlock, ...]
    #: The loader replay for a module; empty for vmlinux.
    placements: tuple[SectionPlacement, ...] = ()
    #: What the pointer values assume (stated in the report).
    assumption: str = ""

    _starts: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    @_starts.default
    def _strings_starts(self) -> tuple[int, ...]:
        return tuple(b.address for b in self.strings)

    def string_at(self, address: int) -> bytes | None:
        """The NUL-terminated string at ``address`` (without the NUL), if the file holds it."""
        return string_in_blocks(self.strings, self._starts, address)

    @property
    def layout(self) -> Layout:
        return ddebug_layout(self.abi, layout_era(self.era), self.jump_label)


def string_in_blocks(blocks: Sequence[StringBlock], starts: Sequence[int],
                     address: int) -> bytes | None:
    """The string at ``address`` in sorted, disjoint ``blocks`` (``starts`` their addresses)."""
    i = bisect.bisect_right(starts, address) - 1
    if i < 0 or address >= blocks[i].end:
        return None
    block = blocks[i]
    data = block.data[address - block.address: address - block.address + MAX_STRING]
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


# --------------------------------------------------------------------------------------------
# Opening files


def expand_paths(paths: Sequence[str]) -> tuple[tuple[str, ...], tuple[InputError, ...]]:
    """Files to analyse: each path as given, a directory walked recursively for modules
    (:data:`MODULE_SUFFIXES`) in sorted path order; problems (missing paths, empty directories)
    are returned, not raised, so the other files are still read."""
    files: list[str] = []
    errors: list[InputError] = []
    for path in paths:
        if os.path.isdir(path):
            found: list[str] = []
            for root, dirs, names in os.walk(path, onerror=lambda e: errors.append(
                    InputError(f"cannot read directory: {e.strerror}", path=e.filename))):
                dirs.sort()
                found.extend(os.path.join(root, n) for n in names if n.endswith(MODULE_SUFFIXES))
            if not found:
                errors.append(InputError("directory holds no kernel modules "
                                         f"({', '.join(MODULE_SUFFIXES)})", path=path))
            files.extend(sorted(found))
        elif os.path.exists(path):
            files.append(path)
        else:
            errors.append(InputError("no such file or directory", path=path))
    return tuple(files), tuple(errors)


#: Largest module a compressed file may inflate to: a module is megabytes (amdgpu.ko, about
#: the largest, is some tens of MiB), never gigabytes.
MAX_INFLATED = 256 << 20
#: Largest file read at all: a vmlinux with DWARF is some hundreds of MiB.
MAX_FILE = 2 << 30
#: Bytes inflated per step, so at most this much past :data:`MAX_INFLATED` is ever held.
_CHUNK = 1 << 20


def load_bytes(path: str) -> bytes:
    """The file's bytes, decompressed if it is xz, zstd or gzip (by magic, not by name).

    Decompression is streamed and stops with an :class:`InputError` once the output passes
    :data:`MAX_INFLATED` (a compressed bomb never inflates in memory); a file larger than
    :data:`MAX_FILE`, or not a regular file (a FIFO, ``/dev/zero``), is refused unread."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise InputError("not a regular file", path=path)
        if st.st_size > MAX_FILE:
            raise InputError(f"{st.st_size:,} bytes: larger than any kernel image dyndiet "
                             f"reads ({MAX_FILE >> 30} GiB)", path=path)
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    try:
        if data.startswith(b"\xfd7zXZ\x00"):
            return _inflate(data, path, "xz")
        if data.startswith(b"\x28\xb5\x2f\xfd"):
            return _inflate(data, path, "zstd")
        if data.startswith(b"\x1f\x8b"):
            return _inflate(data, path, "gzip")
    except (lzma.LZMAError, zstandard.ZstdError, zlib.error, OSError, EOFError) as exc:
        raise InputError(f"cannot decompress: {exc}", path=path) from None
    return data


def _inflate(data: bytes, path: str, method: str) -> bytes:
    """``data`` decompressed :data:`_CHUNK` at a time; concatenated xz streams and gzip
    members are read one after another (as ``xz -d`` and ``gzip -d`` do), a zstd file's first
    frame only (as ``zstd -d`` of a kernel module is)."""
    out = io.BytesIO()

    def keep(chunk: bytes) -> None:
        out.write(chunk)
        if out.tell() > MAX_INFLATED:
            raise InputError(f"inflates past {MAX_INFLATED >> 20} MiB ({method}); a kernel "
                             "module is never that large", path=path)

    if method == "zstd":
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            while chunk := reader.read(_CHUNK):
                keep(chunk)
        # the reader stops quietly at a cut frame: hold the output to the frame's header
        expected = zstandard.get_frame_parameters(data).content_size
        if out.tell() == 0 or expected not in (zstandard.CONTENTSIZE_UNKNOWN, out.tell()):
            raise EOFError("compressed data ends early")
        return out.getvalue()
    rest = data
    streams = 0
    while rest:
        dec: Any = (lzma.LZMADecompressor() if method == "xz"
                    else zlib.decompressobj(wbits=31))
        pending = rest
        try:
            while True:
                chunk = dec.decompress(pending, _CHUNK)
                pending = dec.unconsumed_tail if method == "gzip" else b""
                keep(chunk)
                if dec.eof:
                    break
                if not chunk and not pending and (method == "gzip" or dec.needs_input):
                    raise EOFError("compressed data ends early")
        except (lzma.LZMAError, zlib.error):
            if streams:
                break  # trailing garbage after a whole stream: ignored, as lzma/gzip do
            raise
        streams += 1
        rest = dec.unused_data.lstrip(b"\x00")  # stream padding
    return out.getvalue()


def detect_abi(data: bytes, path: str) -> Abi:
    """The ABI of an ELF file from ``e_machine``, ``EI_CLASS`` and ``EI_DATA``."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        raise InputError("not an ELF file", path=path)
    ei_class = {1: 32, 2: 64}.get(data[4])
    ei_data = {1: True, 2: False}.get(data[5])
    if ei_class is None or ei_data is None:
        raise InputError(f"corrupt ELF header (EI_CLASS={data[4]}, EI_DATA={data[5]})", path=path)
    e_machine_num = int.from_bytes(data[18:20], "little" if ei_data else "big")
    names = {62: "EM_X86_64", 3: "EM_386", 183: "EM_AARCH64", 40: "EM_ARM", 243: "EM_RISCV",
             22: "EM_S390", 21: "EM_PPC64"}
    machine = names.get(e_machine_num, f"e_machine {e_machine_num}")
    try:
        return get_abi(_MACHINES[(machine, ei_class, ei_data)])
    except KeyError:
        order = "little" if ei_data else "big"
        raise InputError(f"no known ABI for {machine}, {ei_class}-bit {order}-endian "
                         "(give --abi)", path=path) from None


def _check_abi(abi: Abi, data: bytes, path: str) -> None:
    ei_class = {1: 4, 2: 8}.get(data[4])
    endian = {1: "little", 2: "big"}.get(data[5])
    if ei_class != abi.long_size or endian != abi.endian:
        raise InputError(f"--abi {abi.name} is {abi.bits_per_long}-bit {abi.endian}-endian "
                         f"but the file is {8 * (ei_class or 0)}-bit {endian}-endian", path=path)


# --------------------------------------------------------------------------------------------
# The module loader's layout


def module_layout_sections(sections: Sequence[tuple[int, str, int, int, int]], era: str,
                           base: int, page_size: int) -> tuple[SectionPlacement, ...]:
    """Replay of the module loader's section layout; ``sections`` are ``(index, name, sh_flags,
    sh_size, sh_addralign)`` in ELF order.

    Mirrors kernel/module/main.c: ``layout_and_allocate`` / ``rewrite_section_headers`` (``.modinfo``,
    ``__versions`` and ``.data..percpu`` lose SHF_ALLOC; ``.data..ro_after_init`` and
    ``__jump_table`` gain SHF_RO_AFTER_INIT), then ``layout_sections`` /
    ``module_get_offset_and_type``: five flag masks (text, rodata, ro_after_init, data, small
    data) walked in order, each section placed at ``ALIGN(size, sh_addralign)`` in ELF order,
    ``.init*`` sections in the init layout.  Era ``v6.1`` follows v6.4+ (``mod_mem`` regions
    ``MOD_TEXT``.. ``MOD_INIT_RODATA``, each allocated on its own, page-aligned); ``v5.8`` follows
    kernel/module.c v5.8 (``core_layout`` / ``init_layout`` with ``debug_align()`` = PAGE_ALIGN
    under ``CONFIG_STRICT_MODULE_RWX`` between the groups).  ``ARCH_SHF_SMALL`` is 0 (every arch
    but ia64).  Regions are put one after another from ``base``, each at a page boundary, as
    ``module_alloc``/``execmem_alloc`` give page-granular addresses.
    """
    if layout_era(era) == "v6.1":
        era = "v6.1"
    flags_of: dict[int, int] = {}
    for index, name, flags, _size, _align in sections:
        if name in (".modinfo", "__versions", ".data..percpu"):
            flags &= ~SHF_ALLOC
        if name in (".data..ro_after_init", "__jump_table"):
            flags |= SHF_RO_AFTER_INIT
        flags_of[index] = flags
    masks = ((SHF_EXECINSTR | SHF_ALLOC, 0), (SHF_ALLOC, SHF_WRITE),
             (SHF_RO_AFTER_INIT | SHF_ALLOC, 0), (SHF_WRITE | SHF_ALLOC, 0), (SHF_ALLOC, 0))
    if era == "v6.1":
        core = ("MOD_TEXT", "MOD_RODATA", "MOD_RO_AFTER_INIT", "MOD_DATA", "MOD_DATA")
        init = ("MOD_INIT_TEXT", "MOD_INIT_RODATA", "", "MOD_INIT_DATA", "MOD_INIT_DATA")
    else:
        core = ("core",) * 5
        init = ("init",) * 5
    sizes: dict[str, int] = {}
    placed: dict[int, tuple[str, int]] = {}
    by_index = {s[0]: s for s in sections}
    for is_init in (False, True):
        for m, (need, exclude) in enumerate(masks):
            mem_type = (init if is_init else core)[m]
            for index, name, _flags, size, align in sections:
                flags = flags_of[index]
                if ((flags & need) != need or flags & exclude or index in placed
                        or is_init != name.startswith(".init") or not mem_type):
                    continue
                cur = sizes.get(mem_type, 0)
                offset = align_up(cur, align or 1)
                sizes[mem_type] = offset + size
                placed[index] = (mem_type, offset)
            if era == "v5.8" and m < 3:
                # debug_align(): each group of core_layout/init_layout starts on a page.
                key = init[0] if is_init else core[0]
                if key in sizes:
                    sizes[key] = align_up(sizes[key], page_size)
    bases: dict[str, int] = {}
    cursor = base
    # Allocated in enum mod_mem_type order (for_each_mod_mem_type), or core then init (v5.8).
    order = _MOD_MEM_TYPES if era == "v6.1" else ("core", "init")
    for mem_type in order:
        if mem_type in sizes:
            bases[mem_type] = cursor
            cursor = align_up(cursor + sizes[mem_type], page_size)
    return tuple(
        SectionPlacement(index, by_index[index][1], mem_type, offset,
                         bases[mem_type] + offset, by_index[index][3], by_index[index][4])
        for index, (mem_type, offset) in sorted(placed.items()))


def module_image_end(placements: Iterable[SectionPlacement], page_size: int) -> int:
    """First page boundary after every placed section (where the next module may go)."""
    end = max((p.address + p.size for p in placements), default=0)
    return align_up(end, page_size)


# --------------------------------------------------------------------------------------------
# Reading


@attrs.frozen
class _Section:
    index: int
    name: str
    flags: int
    addr: int
    size: int
    align: int
    nobits: bool
    data: bytes


def read_dyndbg(path: str, *, abi: str | None = None, era: str | None = None,
                module_base: int | None = None) -> DyndbgTable:
    """The callsite table of the file at ``path`` (see the module docstring).

    ``abi``/``era`` override detection; ``module_base`` is where a module's first region goes
    (default: the ABI's ``MODULES_VADDR``)."""
    return read_dyndbg_bytes(load_bytes(path), path, abi=abi, era=era, module_base=module_base)


def read_dyndbg_bytes(data: bytes, path: str, *, abi: str | None = None, era: str | None = None,
                      module_base: int | None = None) -> DyndbgTable:
    """:func:`read_dyndbg` on bytes already in memory (``path`` names them in messages)."""
    if era is not None:
        layout_era(era)
    target = detect_abi(data, path) if abi is None else get_abi(abi)
    if abi is not None:
        _check_abi(target, data, path)
    try:
        elf = ELFFile(io.BytesIO(data))
        sections = _sections(elf, data, path)
        if elf["e_type"] == "ET_REL":
            return _read_module(elf, sections, target, era, path,
                                target.module_base if module_base is None else module_base)
        if elf["e_type"] in ("ET_EXEC", "ET_DYN"):
            return _read_vmlinux(elf, sections, target, era, path)
        raise InputError(f"ELF type {elf['e_type']} is neither a linked kernel nor a module",
                         path=path)
    except InputError as exc:
        if exc.path is None:
            raise InputError(exc.message, path=path) from None
        raise
    except (ELFError, ELFParseError, struct.error, ValueError, IndexError, KeyError,
            AttributeError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise InputError(f"truncated or corrupt ELF ({type(exc).__name__}: {exc})",
                         path=path) from None


def _sections(elf: Any, data: bytes, path: str) -> list[_Section]:
    shoff, shnum, shentsize = elf["e_shoff"], elf["e_shnum"], elf["e_shentsize"]
    if shnum == 0 or shoff == 0:
        raise InputError("no section headers (a stripped or truncated ELF)", path=path)
    if shoff + shnum * shentsize > len(data):
        raise InputError(f"truncated ELF: section headers end at byte {shoff + shnum * shentsize}"
                         f" but the file has {len(data)}", path=path)
    out: list[_Section] = []
    for index, sec in enumerate(elf.iter_sections()):
        nobits = sec["sh_type"] == "SHT_NOBITS"
        size = sec["sh_size"]
        if not nobits and sec["sh_type"] != "SHT_NULL":
            if sec["sh_offset"] + size > len(data):
                raise InputError(f"truncated ELF: section {sec.name or index} ends at byte "
                                 f"{sec['sh_offset'] + size} but the file has {len(data)}",
                                 path=path)
            body = data[sec["sh_offset"]: sec["sh_offset"] + size]
        else:
            body = b""
        out.append(_Section(index, sec.name, sec["sh_flags"], sec["sh_addr"], size,
                            sec["sh_addralign"], nobits, body))
    return out


def _symbol(elf: Any, name: str) -> int | None:
    for tab_name in (".symtab", ".dynsym"):
        tab = elf.get_section_by_name(tab_name)
        if tab is None:
            continue
        syms = tab.get_symbol_by_name(name)
        if syms:
            value: int = syms[0]["st_value"]
            return value
    return None


def _read_vmlinux(elf: Any, sections: list[_Section], abi: Abi, era: str | None,
                  path: str) -> DyndbgTable:
    """Records of a linked image between ``__start___dyndbg`` and ``__stop___dyndbg``."""
    start = stop = None
    for sec_name in RECORD_SECTIONS:
        start, stop = _symbol(elf, f"__start_{sec_name}"), _symbol(elf, f"__stop_{sec_name}")
        if start is not None and stop is not None:
            break
    else:
        # No bounding symbols: a stripped image may still have the orphan section.
        for sec in sections:
            if sec.name in RECORD_SECTIONS and sec.flags & SHF_ALLOC:
                start, stop = sec.addr, sec.addr + sec.size
                break
    if start is None or stop is None or start == stop:
        return _empty(path, "vmlinux", abi, era, start or 0,
                      "no __start___dyndbg/__stop___dyndbg (or they are equal)")
    if stop < start:
        raise InputError(f"__stop___dyndbg ({stop:#x}) lies before __start___dyndbg "
                         f"({start:#x})", path=path)
    image = _Image(sections)
    found = image.read(start, stop - start)
    if found is None:
        raise InputError(f"__start___dyndbg..__stop___dyndbg ({start:#x}..{stop:#x}) lies in no "
                         "section with contents", path=path)
    table = _apply_relative(elf, bytearray(found), start, abi)
    size, jump_label = _vmlinux_record_size(abi, era, table, image, path)
    has_classes = _symbol(elf, "__start___dyndbg_classes") is not None
    recs, the_era, how = _decode_all(abi, era, jump_label, size, bytes(table), path,
                                     has_classes)
    strings = image.strings(recs)
    return DyndbgTable(path, "vmlinux", abi, the_era, how, jump_label, size, stop - start, start,
                       recs, strings, (),
                       "pointers are the linked addresses; KASLR moves vmlinux by a multiple of "
                       "2 MiB (CONFIG_PHYSICAL_ALIGN), so their parity is the runtime parity")


def _apply_relative(elf: Any, table: bytearray, start: int, abi: Abi) -> bytearray:
    """Apply ``R_*_RELATIVE`` (value = load bias 0 + addend) inside the table, if the image is
    position-independent with RELA relocations (arm64/ppc64 vmlinux, a PIE)."""
    if elf["e_type"] != "ET_DYN":
        return table
    machine = elf["e_machine"]
    for sec in elf.iter_sections():
        if sec["sh_type"] != "SHT_RELA":
            continue
        for rel in sec.iter_relocations():
            width = _RELATIVE_RELOCS.get((machine, rel["r_info_type"]))
            off = rel["r_offset"] - start
            if width is None or not 0 <= off <= len(table) - width:
                continue
            table[off: off + width] = abi.pack_word(rel["r_addend"], width)
    return table


def _candidates(abi: Abi, era: str | None) -> list[tuple[bool, Layout]]:
    eras = [layout_era(era)] if era is not None else list(LAYOUT_ERAS)
    out: list[tuple[bool, Layout]] = []
    for jl in (True, False):
        for e in eras:
            layout = ddebug_layout(abi, e, jl)
            if all(layout.size != have.size or jl != j for j, have in out):
                out.append((jl, layout))
    return out


def _known_sizes(abi: Abi) -> str:
    sizes = [f"{ddebug_layout(abi, 'v6.1', jl).size} ({'with' if jl else 'without'} "
             "CONFIG_JUMP_LABEL)" for jl in (True, False)]
    return ", ".join(sizes)


def _vmlinux_record_size(abi: Abi, era: str | None, table: bytearray, image: _Image,
                         path: str) -> tuple[int, bool]:
    """The record size: the candidate layout that divides the table and whose every pointer
    member points into the image (``__stop - __start`` must divide by the size, §1.1)."""
    for jump_label, layout in _candidates(abi, era):
        size = layout.size
        if len(table) % size:
            continue
        offsets = [layout.member(f).offset_bits // 8 for f in POINTER_FIELDS]
        if all(image.contains(abi.unpack_word(bytes(table[r + o: r + o + abi.pointer_size])))
               for r in range(0, len(table), size) for o in offsets):
            return size, jump_label
    raise InputError(f"record size matches no known layout: the table is {len(table)} bytes and "
                     f"no {abi.name} struct _ddebug ({_known_sizes(abi)}) fits it with every "
                     "pointer inside the image", path=path)


def _decode_all(abi: Abi, era: str | None, jump_label: bool, size: int, table: bytes,
                path: str, has_classes: bool = False,
                ) -> tuple[tuple[DdebugRecord, ...], str, str]:
    """Decode each record; detect the era when not given: a ``__dyndbg_classes`` section (or
    its ``__start___dyndbg_classes`` bound) exists only from v6.1 on; otherwise v6.1 records
    carry ``class_id`` 63 (``_DPRINTK_CLASS_DFLT``) unless a classmap is used, where v5.8 (and
    v5.9..v6.0) records have ``flags:8`` right after ``lineno:18`` and 0 in the bits above."""
    chunks = [table[i: i + size] for i in range(0, len(table), size)]
    how = f"{size}-byte records ({'with' if jump_label else 'without'} CONFIG_JUMP_LABEL), {abi.name}"
    if era is None:
        v61 = ddebug_layout(abi, "v6.1", jump_label)
        classes = [v61.decode(c).get("class_id", CLASS_DFLT) for c in chunks]
        if has_classes:
            era, why = "v6.1", "__dyndbg_classes present"
        elif not chunks or any(c == CLASS_DFLT for c in classes):
            era, why = "v6.1", "class_id 63 present" if chunks else "no records"
        else:
            v58 = ddebug_layout(abi, "v5.8", jump_label)
            era, why = "v5.8", "no record has class_id 63"
            if not all(v58.decode(c)["flags"] in (0, 1) for c in chunks):
                era, why = "v6.1", "class_ids of a classmap"
        how += f", era {era} detected ({why})"
    else:
        how += f", era {era} as given"
    layout = ddebug_layout(abi, layout_era(era), jump_label)
    recs = []
    for c in chunks:
        v = layout.decode(c)
        recs.append(DdebugRecord(v["modname"], v["function"], v["filename"], v["format"],
                                 v["lineno"], v.get("class_id") if layout_era(era) != "v5.8" else None,
                                 v["flags"], bytes(c)))
    return tuple(recs), era, how


def _empty(path: str, kind: Kind, abi: Abi, era: str | None, address: int,
           why: str) -> DyndbgTable:
    layout = ddebug_layout(abi, layout_era(era or "v6.1"), True)
    return DyndbgTable(path, kind, abi, era or "v6.1", f"no records: {why}", True, layout.size, 0,
                       address, (), ())


class _Image:
    """Allocated sections at their addresses: resolves a pointer to the bytes it points at."""

    def __init__(self, sections: Iterable[_Section],
                 addresses: dict[int, int] | None = None) -> None:
        spans = []
        for s in sections:
            if not s.flags & SHF_ALLOC or s.size == 0:
                continue
            addr = s.addr if addresses is None else addresses.get(s.index)
            if addr is None:
                continue
            spans.append((addr, s))
        spans.sort(key=lambda t: t[0])
        self._starts = [a for a, _ in spans]
        self._spans = spans

    def _find(self, address: int) -> tuple[int, _Section] | None:
        i = bisect.bisect_right(self._starts, address) - 1
        # Several sections may start at one address (empty or NOBITS ones); look back a little.
        while i >= 0:
            addr, sec = self._spans[i]
            if addr <= address < addr + sec.size:
                return addr, sec
            if addr + sec.size <= address and i < len(self._spans) - 1 and addr < address - 4096:
                break
            i -= 1
        return None

    def contains(self, address: int) -> bool:
        return self._find(address) is not None

    def read(self, address: int, n: int) -> bytes | None:
        found = self._find(address)
        if found is None:
            return None
        addr, sec = found
        if sec.nobits or address + n > addr + sec.size:
            return None
        return sec.data[address - addr: address - addr + n]

    def cstring_span(self, address: int) -> tuple[int, bytes] | None:
        found = self._find(address)
        if found is None or found[1].nobits:
            return None
        addr, sec = found
        data = sec.data[address - addr: address - addr + MAX_STRING]
        nul = data.find(b"\0")
        return address, (data if nul < 0 else data[: nul + 1])

    def strings(self, records: Iterable[DdebugRecord]) -> tuple[StringBlock, ...]:
        """Every string a record points at, merged into maximal blocks."""
        spans: dict[int, bytes] = {}
        for r in records:
            for f in POINTER_FIELDS:
                p = r.pointer(f)
                if p not in spans:
                    got = self.cstring_span(p)
                    if got is not None:
                        spans[p] = got[1]
        blocks: list[StringBlock] = []
        for addr in sorted(spans):
            data = spans[addr]
            if blocks and addr <= blocks[-1].end:
                last = blocks[-1]
                merged = last.data + data[last.end - addr:] if addr + len(data) > last.end \
                    else last.data
                blocks[-1] = StringBlock(last.address, merged)
            else:
                blocks.append(StringBlock(addr, data))
        return tuple(blocks)


def _read_module(elf: Any, sections: list[_Section], abi: Abi, era: str | None, path: str,
                 base: int) -> DyndbgTable:
    """Records of a relocatable module: ``__dyndbg`` plus its relocations, placed by the loader
    replay.  Checks (real-kernels.md §1.2): every relocation in the section is an absolute data
    relocation at a pointer member of some record."""
    dd = next((s for s in sections if s.name in RECORD_SECTIONS), None)
    if dd is None or dd.size == 0:
        return _empty(path, "module", abi, era, 0, "no __dyndbg section")
    placements = module_layout_sections(
        [(s.index, s.name, s.flags, s.size, s.align) for s in sections if s.index],
        era or "v6.1", base, abi.page_size)
    addresses = {p.index: p.address for p in placements}
    if dd.index not in addresses:
        raise InputError(f"{dd.name} is not an allocated section", path=path)
    relocs = _section_relocations(elf, dd.index, abi, addresses, path)
    size, jump_label = _module_record_size(abi, era, dd, relocs, path)
    table = bytearray(dd.data)
    for off, width, value in relocs:
        table[off: off + width] = abi.pack_word(value, width)
    has_classes = any(s.name == "__dyndbg_classes" for s in sections)
    recs, the_era, how = _decode_all(abi, era, jump_label, size, bytes(table), path,
                                     has_classes)
    if era is None and the_era != "v6.1":
        # The loader replay depends on the era: redo it for the detected one.
        redone = _read_module(elf, sections, abi, the_era, path, base)
        return attrs.evolve(redone, detected=f"{how}, {len(relocs)} relocations")
    image = _Image(sections, addresses)
    strings = image.strings(recs)
    how += f", {len(relocs)} relocations"
    return DyndbgTable(
        path, "module", abi, the_era, how, jump_label, size, dd.size, addresses[dd.index], recs,
        strings, placements,
        "pointers are where the module loader's layout_sections() would put them ("
        + ("v5.8: one core_layout, groups page-aligned under CONFIG_STRICT_MODULE_RWX"
           if layout_era(the_era) == "v5.8" else "v6.4+: one region per mod_mem type")
        + f"), each region starting on a {abi.page_size}-byte page (module load randomisation "
        f"is page-granular), the first at {base:#x}")


def _section_relocations(elf: Any, target: int, abi: Abi, addresses: dict[int, int],
                         path: str) -> list[tuple[int, int, int]]:
    """``(offset, width, value)`` for each relocation applied to section ``target``."""
    machine = elf["e_machine"]
    out: list[tuple[int, int, int]] = []
    for sec in elf.iter_sections():
        if sec["sh_type"] not in ("SHT_RELA", "SHT_REL") or sec["sh_info"] != target:
            continue
        symtab = elf.get_section(sec["sh_link"])
        data_sec = elf.get_section(target)
        body = data_sec.data()
        symbols: dict[int, Any] = {}  # a table's relocations use few symbols: parse each once
        for rel in sec.iter_relocations():
            width = _ABS_RELOCS.get((machine, rel["r_info_type"]))
            if width is None:
                raise InputError(f"relocation type {rel['r_info_type']} at {sec.name}+"
                                 f"{rel['r_offset']:#x} is not an absolute {machine} data "
                                 "relocation", path=path)
            sym = symbols.get(rel["r_info_sym"])
            if sym is None:
                sym = symbols[rel["r_info_sym"]] = symtab.get_symbol(rel["r_info_sym"])
            shndx = sym["st_shndx"]
            if not isinstance(shndx, int) or shndx not in addresses:
                raise InputError(f"relocation at {sec.name}+{rel['r_offset']:#x} refers to "
                                 f"{sym.name or 'a symbol'} outside the module's allocated "
                                 "sections", path=path)
            off = rel["r_offset"]
            if off + width > len(body):
                raise InputError(f"relocation offset {off:#x} lies outside {data_sec.name}",
                                 path=path)
            if sec["sh_type"] == "SHT_RELA":
                addend = rel["r_addend"]
            else:
                addend = abi.unpack_word(body[off: off + width])
            out.append((off, width, addresses[shndx] + sym["st_value"] + addend))
    return out


def _module_record_size(abi: Abi, era: str | None, dd: _Section,
                        relocs: list[tuple[int, int, int]], path: str) -> tuple[int, bool]:
    """The candidate layout whose pointer members are exactly the relocated words (4 per
    record, offsets in {0, 8, 16, 24} mod 56 on x86_64, §1.2)."""
    have = sorted(off for off, _w, _v in relocs)
    for jump_label, layout in _candidates(abi, era):
        size = layout.size
        if dd.size % size:
            continue
        offsets = [layout.member(f).offset_bits // 8 for f in POINTER_FIELDS]
        want = sorted(r + o for r in range(0, dd.size, size) for o in offsets)
        if have == want:
            return size, jump_label
    raise InputError(f"record size matches no known layout: {dd.name} is {dd.size} bytes with "
                     f"{len(relocs)} relocations, and no {abi.name} struct _ddebug "
                     f"({_known_sizes(abi)}) has its 4 pointers exactly there", path=path)
