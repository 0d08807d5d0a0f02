"""A linker model: where the strings and ``struct _ddebug`` records of callsites end up.

Two ways a callsite reaches memory, as in a real kernel:

* **vmlinux** (:func:`link_vmlinux`): one final link of every built-in translation unit.  GNU ld
  (bfd/merge.c, binutils 2.40) merges the ``SHF_MERGE|SHF_STRINGS`` sections across all TUs:
  identical strings share one copy, and a string that is the tail of another (``"econd\\n"`` of
  ``"second\\n"``) points into it, as long as the offset keeps the section's alignment.
* **loadable modules** (:func:`link_module`): ``ld -r`` concatenates the objects' sections without
  merging, so each object file keeps its own copy of ``KBUILD_MODNAME``; the module loader
  (kernel/module.c:layout_sections, v5.8) then groups text / rodata / data, each group starting
  on a page, each section at its ``sh_addralign``.

What one translation unit contains follows GCC 12 (checked in ``tests/test_linker.py`` against
``gcc -O2``/``-Os`` + GNU ld on x86-64, i386, aarch64, arm and s390x): a TU is one ``filename``;
GCC's varpool emits the literals and ``__func__`` arrays last-defined first (the literals in the
order those reversed callsites use them: modname, filename, format; each ``__func__`` array at
:func:`model.sections.func_array_align`); the ``__dyndbg`` records come out in the same reverse
order on x86 (the reason v6.1 walks callsites backwards, commit 773beabbb8e8) but in definition
order where section anchors place them (:func:`model.sections.emits_in_reverse`).  Not modelled: riscv64 puts
``__func__`` arrays of at most 8 bytes in ``.srodata`` (small data).
Literals go to ``.rodata.str1.<align>`` by :func:`model.sections.string_section`.

Everything is written as bytes into a :class:`~model.memory.AddressSpace`; the result is a frozen
:class:`ModuleImage`.  :func:`image_from_placements` builds one from explicit pointers and strings
(records read out of a real ELF) instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import attrs

from model.abi import Abi, align_up
from model.builtin_layouts import KEY_ENABLED, KEY_TYPE, ddebug_layout
from model.eras import _DPRINTK_CLASS_DFLT, layout_era
from model.errors import InputError
from model.layout import Layout
from model.memory import AddressSpace
from model.sections import (
    FUNC_SECTION,
    RECORD_ALIGN,
    dyndbg_section,
    emits_in_reverse,
    func_array_align,
    string_section,
)
from model.source import CallsiteSpec, ClassMapSpec, ModuleSpec

#: ``_DPRINTK_FLAGS_PRINT``: a callsite compiled with ``DEBUG`` starts enabled.
_PRINT = 1
#: Bytes of ``.text`` the model gives each function (only the page count of text matters).
TEXT_PER_FUNCTION = 64
#: Where vmlinux' ``.rodata`` starts, from ``abi.kernel_base`` (x86-64's is 16 MiB in).
VMLINUX_RODATA_OFFSET = 0x1000000
#: ``lineno:18``.
MAX_LINENO = (1 << 18) - 1


def cbytes(text: str, what: str) -> bytes:
    """A C string's bytes: model strings are latin-1 (one character per byte), without NUL."""
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        raise InputError(f"{what} {text!r} is not a byte string (latin-1)") from None
    if b"\0" in data:
        raise InputError(f"{what} {text!r} contains a NUL byte")
    return data


@attrs.frozen
class StringPlacement:
    """One string object as linked: its text, address and input-section kind.

    ``kind`` is ``modname``/``filename``/``format`` (literals) or ``function`` (a ``__func__``
    array); ``owner`` is the address of the stored string holding it when it is a shared tail
    (or an exact duplicate of another TU's copy), else ``None``.
    """

    text: str
    addr: int
    section: str
    kind: str
    owner: int | None = None


@attrs.frozen
class CallsitePlacement:
    """One callsite as linked: its spec, its record's address, its four pointers."""

    spec: CallsiteSpec
    record: int
    modname: int
    function: int
    filename: int
    format: int


@attrs.frozen
class LinkedSection:
    """An output section (or module layout group member) in the address space."""

    name: str
    base: int
    size: int
    align: int


@attrs.frozen
class ModuleImage:
    """What the linker produced for vmlinux or one module: records, strings, sections.

    ``callsites`` are in record (section) order; record ``k`` is at
    ``records_addr + k * record_size``.  For vmlinux, ``classes`` pairs each builtin module
    name with its class maps.
    """

    name: str
    builtin: bool
    abi: Abi
    era: str
    jump_label: bool
    section: str
    records_addr: int
    record_size: int
    callsites: tuple[CallsitePlacement, ...]
    strings: tuple[StringPlacement, ...]
    sections: tuple[LinkedSection, ...]
    classes: tuple[tuple[str, ClassMapSpec], ...] = ()

    @property
    def count(self) -> int:
        return len(self.callsites)

    @property
    def records_size(self) -> int:
        return self.count * self.record_size

    def record_addr(self, k: int) -> int:
        if not 0 <= k < self.count:
            raise IndexError(f"{self.name} has {self.count} records, not {k + 1}")
        return self.records_addr + k * self.record_size

    def module_names(self) -> tuple[str, ...]:
        """Distinct ``modname`` strings in record order (one for a loadable module)."""
        seen: dict[str, None] = {}
        for c in self.callsites:
            seen.setdefault(c.spec.modname, None)
        return tuple(seen)

    def class_maps(self, modname: str) -> tuple[ClassMapSpec, ...]:
        return tuple(m for n, m in self.classes if n == modname)


# --- records ---------------------------------------------------------------------------------

def record_layout(abi: Abi, era: str, jump_label: bool) -> Layout:
    """``struct _ddebug`` of the era (v6.19 = v6.1) for ``abi``."""
    return ddebug_layout(abi, layout_era(era), jump_label)


def encode_record(layout: Layout, era: str, jump_label: bool, *, modname: int, function: int,
                  filename: int, format: int, lineno: int, class_id: int, flags: int) -> bytes:
    """The bytes ``DEFINE_DYNAMIC_DEBUG_METADATA`` initialises (include/linux/dynamic_debug.h,
    v5.8 / v6.1): the four pointers, ``lineno``, ``flags`` (``_DPRINTK_FLAGS_DEFAULT``),
    ``class_id`` (v6.1+) and, under ``CONFIG_JUMP_LABEL``, ``STATIC_KEY_TRUE_INIT`` for a
    callsite compiled with ``DEBUG`` (flags has ``p``) or ``STATIC_KEY_FALSE_INIT``."""
    if not 0 <= lineno <= MAX_LINENO:
        raise InputError(f"lineno {lineno} does not fit lineno:18")
    if not 0 <= flags <= 0xFF:
        raise InputError(f"flags {flags:#x} do not fit flags:8")
    values: dict[str, int] = {"modname": modname, "function": function, "filename": filename,
                              "format": format, "lineno": lineno, "flags": flags}
    if layout_era(era) != "v5.8":
        if not 0 <= class_id <= _DPRINTK_CLASS_DFLT:
            raise InputError(f"class_id {class_id} does not fit class_id:6 "
                             "(BUILD_BUG_ON_MSG: classid value overflow)")
        values["class_id"] = class_id
    if jump_label:
        on = 1 if flags & _PRINT else 0
        values[KEY_ENABLED] = on  # STATIC_KEY_TRUE_INIT: .enabled = 1, .type = JUMP_TYPE_TRUE
        values[KEY_TYPE] = on
    return layout.encode(values)


# --- one translation unit, as GCC 12 emits it -------------------------------------------------

@attrs.frozen
class _Literal:
    text: bytes
    kind: str


@attrs.frozen
class _TU:
    """One object file: its callsites in record order and its input sections' contents."""

    filename: str
    records: tuple[CallsiteSpec, ...]
    #: (function name, alignment) in emission order, for ``.rodata``.
    funcs: tuple[tuple[str, int], ...]
    #: (section name, alignment, literals in emission order), sections in emission order.
    strsecs: tuple[tuple[str, int, tuple[_Literal, ...]], ...]


def _translation_units(abi: Abi, callsites: Sequence[CallsiteSpec],
                       optimize_size: bool) -> list[_TU]:
    """Group callsites into TUs (one per ``(modname, filename)``: an object file has one
    ``KBUILD_MODNAME``), in first-appearance order, and emit each as GCC does."""
    by_file: dict[tuple[str, str], list[CallsiteSpec]] = {}
    for c in callsites:
        by_file.setdefault((c.modname, c.filename), []).append(c)
    tus: list[_TU] = []
    for (_, filename), sites in by_file.items():
        # varpool order: last-defined first, for the literals and the __func__ arrays
        backwards = tuple(reversed(sites))
        records = backwards if emits_in_reverse(abi) else tuple(sites)
        functions: dict[str, None] = {}
        for c in backwards:
            functions.setdefault(c.function, None)
        funcs = tuple((f, func_array_align(abi, len(cbytes(f, "function name")) + 1,
                                           optimize_size))
                      for f in functions)
        secs: dict[str, tuple[int, dict[bytes, _Literal]]] = {}
        for c in backwards:
            for kind, text in (("modname", c.modname), ("filename", c.filename),
                               ("format", c.format)):
                data = cbytes(text, kind)
                kindsec = string_section(abi, len(data) + 1, optimize_size)
                _, lits = secs.setdefault(kindsec.name, (kindsec.align, {}))
                lits.setdefault(data, _Literal(data, kind))
        strsecs = tuple((name, align, tuple(lits.values())) for name, (align, lits) in secs.items())
        tus.append(_TU(filename, records, funcs, strsecs))
    return tus


@attrs.define(slots=True)
class _Entry:
    """A ``sec_merge_hash_entry`` of bfd/merge.c."""

    text: bytes
    kind: str
    section: int
    alignment: int
    suffix_of: _Entry | None = None
    index: int = 0

    @property
    def length(self) -> int:
        return len(self.text) + 1


def merge_strings(entries: list[_Entry]) -> None:
    """bfd/merge.c:merge_strings (binutils 2.40): sort by reversed string (``strrevcmp``, or
    ``strrevcmp_align`` when the section is aligned), walk from the longest and make each string
    a suffix of the last kept one when it is its tail at an offset the alignment allows."""
    if not entries:
        return
    align = max(e.alignment for e in entries)

    def key(e: _Entry) -> tuple[int, bytes]:
        tail = (len(e.text) & (align - 1)) if align > 1 else 0
        return (tail, e.text[::-1])

    order = sorted(entries, key=key)
    e = order[-1]
    for cmp in reversed(order[:-1]):
        if (e.alignment >= cmp.alignment
                and (e.length - cmp.length) % cmp.alignment == 0
                and e.length > cmp.length
                and e.text.endswith(cmp.text)):
            cmp.suffix_of = e
        else:
            e = cmp


# --- placing sections ------------------------------------------------------------------------

@attrs.frozen
class _Placed:
    """Where every string object of every TU landed; keys are (tu index, kind, text)."""

    func_addr: dict[tuple[int, str], int]
    str_addr: dict[tuple[int, bytes], int]
    strings: tuple[StringPlacement, ...]
    blob: bytes
    end: int


def _place_rodata(tus: list[_TU], base: int, merge: bool) -> _Placed:
    """``.rodata`` then the string sections, as ``*(.rodata) *(.rodata.*)`` (vmlinux.lds.h
    RO_DATA) lays them out; with ``merge`` (a final link) the string sections of one alignment
    are merged across TUs, otherwise (``ld -r``) each TU keeps its own copies."""
    out = bytearray()
    dot = base
    func_addr: dict[tuple[int, str], int] = {}
    str_addr: dict[tuple[int, bytes], int] = {}
    strings: list[StringPlacement] = []

    def put(addr: int, data: bytes) -> None:
        off = addr - base
        if len(out) < off:
            out.extend(bytes(off - len(out)))
        out[off:off + len(data)] = data

    # *(.rodata): each TU's __func__ arrays
    for t, tu in enumerate(tus):
        if not tu.funcs:
            continue
        dot = align_up(dot, max(a for _, a in tu.funcs))
        for name, a in tu.funcs:
            dot = align_up(dot, a)
            data = cbytes(name, "function name") + b"\0"
            put(dot, data)
            func_addr[(t, name)] = dot
            strings.append(StringPlacement(name, dot, FUNC_SECTION, "function"))
            dot += len(data)

    # *(.rodata.*): the string sections, in TU order and, inside a TU, in emission order
    entries: dict[tuple[str, bytes], _Entry] = {}
    sections: list[tuple[int, str, int, list[_Entry]]] = []  # (tu, name, align, keepers)
    refs: list[tuple[int, _Literal, _Entry]] = []
    for t, tu in enumerate(tus):
        for name, align, lits in tu.strsecs:
            keep: list[_Entry] = []
            sec_index = len(sections)
            for lit in lits:
                k = (name, lit.text) if merge else (f"{name}#{t}", lit.text)
                ent = entries.get(k)
                if ent is None:
                    ent = _Entry(lit.text, lit.kind, sec_index, align)
                    entries[k] = ent
                    keep.append(ent)
                refs.append((t, lit, ent))
            sections.append((t, name, align, keep))
    if merge:
        groups: dict[str, list[_Entry]] = {}
        for (name, _), ent in entries.items():
            groups.setdefault(name, []).append(ent)
        for group in groups.values():
            merge_strings(group)
    for _, _name, align, keep in sections:
        keepers = [e for e in keep if e.suffix_of is None]
        if not keepers:
            continue  # SEC_EXCLUDE: every string went elsewhere
        dot = align_up(dot, align)
        start = dot
        size = 0
        for ent in keepers:
            size = align_up(size, ent.alignment)
            ent.index = start + size
            put(ent.index, ent.text + b"\0")
            size += ent.length
        dot = start + size
    for ent in entries.values():
        if ent.suffix_of is not None:
            ent.index = ent.suffix_of.index + ent.suffix_of.length - ent.length
    for t, lit, ent in refs:
        str_addr[(t, lit.text)] = ent.index
    for ent in entries.values():
        owner = ent.suffix_of.index if ent.suffix_of is not None else None
        sec = sections[ent.section][1]
        strings.append(StringPlacement(ent.text.decode("latin-1"), ent.index, sec, ent.kind, owner))
    return _Placed(func_addr, str_addr, tuple(strings), bytes(out), dot)


def _emit_records(abi: Abi, era: str, jump_label: bool, tus: list[_TU], placed: _Placed,
                  records_addr: int) -> tuple[bytes, tuple[CallsitePlacement, ...]]:
    layout = record_layout(abi, era, jump_label)
    if layout.size % RECORD_ALIGN:
        raise InputError(f"struct _ddebug of {layout.size} bytes is not a multiple of 8")
    blob = bytearray()
    sites: list[CallsitePlacement] = []
    for t, tu in enumerate(tus):
        for c in tu.records:
            addr = records_addr + len(blob)
            p = CallsitePlacement(
                c, addr,
                modname=placed.str_addr[(t, cbytes(c.modname, "modname"))],
                function=placed.func_addr[(t, c.function)],
                filename=placed.str_addr[(t, cbytes(c.filename, "filename"))],
                format=placed.str_addr[(t, cbytes(c.format, "format"))])
            blob += encode_record(layout, era, jump_label, modname=p.modname,
                                  function=p.function, filename=p.filename, format=p.format,
                                  lineno=c.lineno, class_id=c.class_id, flags=c.flags)
            sites.append(p)
    return bytes(blob), tuple(sites)


def link_vmlinux(space: AddressSpace, era: str, jump_label: bool,
                 modules: Sequence[ModuleSpec], *, optimize_size: bool = False,
                 rodata_base: int | None = None, records_base: int | None = None) -> ModuleImage:
    """The final link of vmlinux: every builtin module's TUs in order, strings merged across all
    of them, ``.rodata`` at ``kernel_base + 16 MiB`` (or ``rodata_base``), ``__dyndbg`` (or
    ``__verbose``) in ``.data`` on the next page (or at ``records_base``)."""
    abi = space.abi
    specs = [c for m in modules for c in m.callsites]
    section = dyndbg_section(era)
    tus = _translation_units(abi, specs, optimize_size)
    base = abi.kernel_base + VMLINUX_RODATA_OFFSET if rodata_base is None else rodata_base
    placed = _place_rodata(tus, base, merge=True)
    if records_base is None:
        records_base = align_up(placed.end, abi.page_size)
    if records_base % RECORD_ALIGN:
        raise InputError(f"__start_{section} at {records_base:#x} is not 8-aligned")
    blob, sites = _emit_records(abi, era, jump_label, tus, placed, records_base)
    sections = []
    if placed.blob:
        space.map(base, len(placed.blob), "vmlinux:.rodata", writable=False, data=placed.blob)
        sections.append(LinkedSection(".rodata", base, len(placed.blob), abi.page_size))
    if blob:
        space.map(records_base, len(blob), f"vmlinux:{section}", data=blob)
    sections.append(LinkedSection(section, records_base, len(blob), RECORD_ALIGN))
    classes = tuple((m.name, cm) for m in modules for cm in m.classes)
    return ModuleImage("vmlinux", True, abi, era, jump_label, section, records_base,
                       record_layout(abi, era, jump_label).size, sites, placed.strings,
                       tuple(sections), classes)


def _free_module_area(space: AddressSpace, size: int) -> int:
    """module_alloc: the first page-aligned range of ``size`` bytes in the module area that no
    region covers (deterministic; the kernel randomises the base by whole pages)."""
    abi = space.abi
    base = align_up(abi.module_base, abi.page_size)
    for region in sorted(space.regions(), key=lambda r: r.base):
        if region.end <= base:
            continue
        if region.base >= base + size:
            break
        base = align_up(region.end, abi.page_size)
    if base + size - 1 > abi.max_address:
        raise InputError("module area exhausted")
    return base


_ModuleLinked = tuple[tuple[tuple[int, str, bool, bytes], ...], ModuleImage]


@lru_cache(maxsize=1024)
def _module_size(abi: Abi, era: str, module: ModuleSpec, jump_label: bool,
                 optimize_size: bool) -> int:
    """The bytes :func:`link_module` needs in the module area (text, rodata, records)."""
    tus = _translation_units(abi, module.callsites, optimize_size)
    nfuncs = sum(len(t.funcs) for t in tus)
    text_size = align_up(max(1, nfuncs) * TEXT_PER_FUNCTION, abi.page_size)
    probe = _place_rodata(tus, 0, merge=False)
    ro_size = align_up(max(1, probe.end), abi.page_size)
    layout = record_layout(abi, era, jump_label)
    data_size = align_up(max(1, len(module.callsites) * layout.size), abi.page_size)
    return text_size + ro_size + data_size


@lru_cache(maxsize=1024)
def _module_linked(abi: Abi, era: str, module: ModuleSpec, jump_label: bool,
                   optimize_size: bool, base: int) -> _ModuleLinked:
    """The regions (base, name, writable, bytes) and image of ``module`` linked at ``base``:
    the link is a pure function of these, so each (module, base) is linked once and the
    bytes mapped again for every kernel that loads it there."""
    section = dyndbg_section(era)
    tus = _translation_units(abi, module.callsites, optimize_size)
    nfuncs = sum(len(t.funcs) for t in tus)
    text_size = align_up(max(1, nfuncs) * TEXT_PER_FUNCTION, abi.page_size)
    probe = _place_rodata(tus, 0, merge=False)
    ro_size = align_up(max(1, probe.end), abi.page_size)
    layout = record_layout(abi, era, jump_label)
    ro_base = base + text_size
    placed = _place_rodata(tus, ro_base, merge=False)
    records_base = ro_base + ro_size
    blob, sites = _emit_records(abi, era, jump_label, tus, placed, records_base)
    sections = [LinkedSection(".text", base, text_size, abi.page_size)]
    regions: list[tuple[int, str, bool, bytes]] = []
    if placed.blob:
        regions.append((ro_base, f"{module.name}:.rodata", False, bytes(placed.blob)))
        sections.append(LinkedSection(".rodata", ro_base, len(placed.blob), abi.page_size))
    if blob:
        regions.append((records_base, f"{module.name}:{section}", True, bytes(blob)))
    sections.append(LinkedSection(section, records_base, len(blob), RECORD_ALIGN))
    classes = tuple((module.name, cm) for cm in module.classes)
    image = ModuleImage(module.name, False, abi, era, jump_label, section, records_base,
                        layout.size, sites, placed.strings, tuple(sections), classes)
    return tuple(regions), image


def link_module(space: AddressSpace, era: str, jump_label: bool, module: ModuleSpec, *,
                optimize_size: bool = False, base: int | None = None) -> ModuleImage:
    """``ld -r`` of the module's objects, then the loader's layout (kernel/module.c:
    layout_sections + layout_and_allocate, v5.8, ``CONFIG_STRICT_MODULE_RWX``): text, then
    ``.rodata`` and the string sections (no merging across objects) on the next page, then
    the records section on the page after; the whole image at ``base`` or the first free
    range of the module area."""
    abi = space.abi
    if base is None:
        base = _free_module_area(space, _module_size(abi, era, module, jump_label,
                                                     optimize_size))
    elif base % abi.page_size:
        raise InputError(f"module base {base:#x} is not page-aligned")
    regions, image = _module_linked(abi, era, module, jump_label, optimize_size, base)
    for addr, name, writable, data in regions:
        space.map(addr, len(data), name, writable=writable, data=data)
    return image


# --- explicit placements (real binaries) -----------------------------------------------------

@attrs.frozen
class ExplicitRecord:
    """One record as a real binary holds it: pointer values and the other fields."""

    modname: int
    function: int
    filename: int
    format: int
    lineno: int
    flags: int = 0
    class_id: int = _DPRINTK_CLASS_DFLT


def image_from_placements(space: AddressSpace, era: str, jump_label: bool, name: str,
                          builtin: bool, records_addr: int, records: Sequence[ExplicitRecord],
                          strings: Mapping[int, str],
                          classes: Iterable[tuple[str, ClassMapSpec]] = ()) -> ModuleImage:
    """An image from explicit placements: ``strings`` maps each address a record points at to
    the NUL-terminated string there (without the NUL).  Overlapping strings (shared tails) must
    agree byte for byte; each maximal run of string bytes becomes one read-only region."""
    abi = space.abi
    section = dyndbg_section(era)
    spans: list[tuple[int, bytes]] = sorted(
        (addr, cbytes(text, f"string at {addr:#x}") + b"\0") for addr, text in strings.items())
    runs: list[tuple[int, bytearray]] = []
    for addr, data in spans:
        if runs and addr <= runs[-1][0] + len(runs[-1][1]):
            start, buf = runs[-1]
            off = addr - start
            overlap = buf[off:off + len(data)]
            if overlap != data[:len(overlap)]:
                raise InputError(f"strings at {start:#x} and {addr:#x} overlap but differ")
            buf[off:] = data if len(data) >= len(buf) - off else buf[off:]
        else:
            runs.append((addr, bytearray(data)))
    placements: list[StringPlacement] = []
    for start, buf in runs:
        space.map(start, len(buf), f"{name}:strings@{start:#x}", writable=False, data=bytes(buf))
    layout = record_layout(abi, era, jump_label)
    blob = bytearray()
    sites: list[CallsitePlacement] = []
    texts = dict(strings)
    for k, r in enumerate(records):
        for field in ("modname", "function", "filename", "format"):
            if getattr(r, field) not in texts:
                raise InputError(f"record {k}: no string given for {field} at "
                                 f"{getattr(r, field):#x}")
        spec = CallsiteSpec(texts[r.modname], texts[r.function], texts[r.filename],
                            texts[r.format], r.lineno, r.class_id, r.flags)
        sites.append(CallsitePlacement(spec, records_addr + len(blob), r.modname, r.function,
                                       r.filename, r.format))
        blob += encode_record(layout, era, jump_label, modname=r.modname, function=r.function,
                              filename=r.filename, format=r.format, lineno=r.lineno,
                              class_id=r.class_id, flags=r.flags)
    first_kind: dict[int, str] = {}
    for r in records:
        for f in ("modname", "function", "filename", "format"):
            first_kind.setdefault(getattr(r, f), f)
    for addr, text in sorted(strings.items()):
        placements.append(StringPlacement(text, addr, "explicit", first_kind.get(addr, "other")))
    if blob:
        space.map(records_addr, len(blob), f"{name}:{section}", data=bytes(blob))
    return ModuleImage(name, builtin, abi, era, jump_label, section, records_addr, layout.size,
                       tuple(sites), tuple(placements),
                       (LinkedSection(section, records_addr, len(blob), RECORD_ALIGN),),
                       tuple(classes))
