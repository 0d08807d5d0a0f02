"""The figures ``dyndiet analyze`` reports on real callsite tables (the engine of
:mod:`dyndiet.commands.analyze`).

Per table (a vmlinux or a module, :class:`model.elf.DyndbgTable`) and in total:

* per pointer member (``modname``, ``function``, ``filename``, ``format``): **adjacent repeats**,
  the 2020 series' own metric (Jim Cromie, "[PATCH 2/7] dyndbg: motivate a diet plan", v5.8:
  ``dynamic_debug_init()`` counts ``prev->modname == iter->modname``, pointer identity, over the
  records in link order); the same by string content; distinct pointers; distinct strings; odd
  pointers (``addr % 2``) and the ``addr % 8`` histogram of Cromie's November-2020 patch 3/7;
* the largest line number (``lineno:18`` holds up to 262143);
* bytes of distinct strings (each distinct content once, with its NUL; and each distinct pointer
  target once);
* per-object compression as zram's backends would apply it to each object alone
  (``drivers/block/zram/backend_{lz4,zstd,deflate}.c``: ``LZ4_compress_default``; zstd level 3,
  a frame without checksum or content size; raw deflate, level 6, window bits 11, memLevel 9),
  with an object kept raw when compression does not shrink it, on the full record and on the
  August-2020 ``struct _ddebug_callsite``; and the record array cut into pages, each compressed
  on its own, as zram stores a page.

Adjacent repeats never count across tables: each module is its own ``ddebug_table`` in the
kernel, so a module's first record repeats nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import lz4.block
import zstandard

from model.abi import Abi
from model.builtin_layouts import ddebug_split_layouts
from model.context import KernelContext
from model.corpus import corpus_from_tables, corpus_images
from model.designs import builtin_designs
from model.designs.protocol import Footprint
from model.elf import POINTER_FIELDS, DyndbgTable
from model.eras import get_era, layout_era
from model.errors import KernelBug
from model.linker import ModuleImage, image_from_placements
from model.memory import AddressSpace
from model.zsmalloc_classes import ClassTable, class_table

#: Compressors as zram's backends configure them, by the names zram's ``comp_algorithm`` uses;
#: ``none`` stores each object as it is (the 2020 zs-pool copy).
COMPRESSORS: tuple[str, ...] = ("none", "lz4", "zstd", "deflate")

@attrs.frozen
class PoolFootprint:
    """What a fresh zs_pool spends on a set of objects allocated and never freed."""

    objects: int
    #: ``zs_get_total_pages()`` after the allocations.
    pages: int
    page_size: int
    #: ``(class size, objects)`` for each size class used, ascending.
    classes: tuple[tuple[int, int], ...]

    @property
    def bytes(self) -> int:
        return self.pages * self.page_size

    def as_json(self) -> dict[str, object]:
        return {"objects": self.objects, "pages": self.pages, "bytes": self.bytes,
                "classes": [{"size": size, "objects": n} for size, n in self.classes]}


def zs_class_table(abi: Abi, era: str) -> ClassTable:
    """The class table ``zs_create_pool`` builds for ``abi`` in kernel era ``era``, in the
    zsmalloc era the designs' pool runs on (:attr:`model.eras.Era.zsmalloc`: each era's own
    allocator, the current one for v6.19)."""
    return class_table(get_era(era).zsmalloc.name, abi.page_size, bits_per_long=abi.bits_per_long,
                       physmem_bits=52 if abi.bits_per_long == 64 else 32)


def pool_footprint(sizes: Iterable[int], table: ClassTable, handle_size: int) -> PoolFootprint:
    """Pages a fresh pool uses for objects of ``sizes``, allocated in order and never freed.

    Mirrors mm/zsmalloc.c:zs_malloc (``size += ZS_HANDLE_SIZE``, ``get_size_class_index``, a
    partly used zspage first, else ``alloc_zspage`` adding ``pages_per_zspage`` to
    ``pages_allocated``) in both eras: with no frees every zspage of a class fills before the
    next is allocated, so a class holding ``n`` objects uses ``ceil(n / objs_per_zspage)``
    zspages.  ``tests/test_analyze.py`` checks this against :mod:`model.zsmalloc`'s pool."""
    per_class: dict[int, int] = {}
    spec_of = {}
    count = 0
    for size in sizes:
        spec = table.class_for_request(size, handle_size)
        per_class[spec.index] = per_class.get(spec.index, 0) + 1
        spec_of[spec.index] = spec
        count += 1
    pages = sum(-(-n // spec_of[i].objs_per_zspage) * spec_of[i].pages_per_zspage
                for i, n in per_class.items())
    classes = tuple((spec_of[i].size, per_class[i]) for i in sorted(per_class))
    return PoolFootprint(count, pages, table.page_size, classes)


@attrs.frozen
class FieldFigures:
    """Figures of one pointer member over a sequence of records."""

    #: Records whose pointer equals the previous record's (the 2020 "rep-prev ptr").
    adjacent_repeats: int
    #: Records whose string equals the previous record's ("rep-prev str").
    adjacent_repeats_by_string: int
    #: Distinct pointer values.
    distinct: int
    #: Distinct string contents.
    distinct_strings: int
    #: Pointers with bit 0 set.
    odd: int
    #: ``addr % 8`` counts, index 0..7 (Cromie, Nov 2020, patch 3/7 ``alignments[i][p & 7]``).
    mod8: tuple[int, ...]
    #: Pointers that point at no string the file holds.
    unresolved: int

    def as_json(self) -> dict[str, int]:
        """The four keys of ``dyndiet.analyze/1``'s per-field object."""
        return {"adjacent_repeats": self.adjacent_repeats, "distinct": self.distinct,
                "distinct_strings": self.distinct_strings, "odd": self.odd}


@attrs.frozen
class Compression:
    """One compressor on one kind of object: what storing each object compressed alone costs."""

    method: str
    #: ``record`` (the whole ``struct _ddebug``), ``callsite`` (``struct _ddebug_callsite``) or
    #: ``page`` (the record array in ``page_size`` pieces).
    unit: str
    objects: int
    raw_bytes: int
    #: Sum over objects of ``min(compressed, raw)``.
    stored_bytes: int
    #: Objects that did not shrink and are kept raw.
    kept_raw: int
    #: The stored objects in a fresh zs_pool of the table's era and ABI.
    pool: PoolFootprint

    @property
    def saved_bytes(self) -> int:
        return self.raw_bytes - self.stored_bytes

    def as_json(self) -> dict[str, object]:
        return {"method": self.method, "unit": self.unit, "objects": self.objects,
                "raw_bytes": self.raw_bytes, "stored_bytes": self.stored_bytes,
                "kept_raw": self.kept_raw, "pool": self.pool.as_json()}


@attrs.frozen
class TableFigures:
    """Every figure of one table (or of the total, ``kind`` ``"total"``)."""

    path: str
    kind: str
    abi: str
    era: str
    detected: str
    assumption: str
    record_size: int
    records: int
    bytes: int
    max_lineno: int
    fields: tuple[tuple[str, FieldFigures], ...]
    #: Each distinct string content once, with its NUL.
    string_bytes: int
    #: Each distinct pointer target once, with its NUL (tail-merged targets counted whole).
    string_bytes_by_pointer: int
    compression: tuple[Compression, ...]
    designs: tuple[DesignProjection, ...] = ()

    def field(self, name: str) -> FieldFigures:
        for n, f in self.fields:
            if n == name:
                return f
        raise KeyError(name)


def field_figures(tables: Sequence[DyndbgTable], field: str) -> FieldFigures:
    """Figures of pointer member ``field`` over ``tables``, each in link order; repeats never
    cross a table boundary (mirrors the adjacent-repeat loop of Cromie's patch 2/7 in
    lib/dynamic_debug.c:dynamic_debug_init, v5.8, applied per ``ddebug_table``)."""
    reps = reps_str = odd = unresolved = 0
    mod8 = [0] * 8
    pointers: set[tuple[int, int]] = set()
    strings: set[bytes] = set()
    for t_index, table in enumerate(tables):
        prev_p: int | None = None
        prev_s: bytes | None = None
        for rec in table.records:
            p = rec.pointer(field)
            s = table.string_at(p)
            if prev_p is not None and p == prev_p:
                reps += 1
            if prev_p is not None and s is not None and s == prev_s:
                reps_str += 1
            prev_p, prev_s = p, s
            # Each file is its own image (modules may sit at the same synthetic addresses).
            pointers.add((t_index, p))
            if s is None:
                unresolved += 1
            else:
                strings.add(s)
            odd += p & 1
            mod8[p & 7] += 1
    return FieldFigures(reps, reps_str, len(pointers), len(strings), odd, tuple(mod8), unresolved)


def string_bytes(tables: Iterable[DyndbgTable]) -> tuple[int, int]:
    """``(by content, by pointer)``: bytes of the distinct strings the records point at, each
    with its NUL."""
    by_content: set[bytes] = set()
    by_pointer = 0
    for table in tables:
        seen: set[int] = set()
        for rec in table.records:
            for field in POINTER_FIELDS:
                p = rec.pointer(field)
                s = table.string_at(p)
                if s is None:
                    continue
                by_content.add(s)
                if p not in seen:
                    seen.add(p)
                    by_pointer += len(s) + 1
    return sum(len(s) + 1 for s in by_content), by_pointer


def compressor(method: str) -> Callable[[bytes], bytes]:
    """The compressor zram's backend ``method`` runs on a buffer.

    Mirrors drivers/block/zram/backend_lz4.c (``LZ4_compress_default``), backend_zstd.c
    (``ZSTD_CLEVEL_DEFAULT`` = 3; no checksum, no content size in the frame) and
    backend_deflate.c (``zlib_deflateInit2(level 6, Z_DEFLATED, -DEFLATE_DEF_WINBITS = -11,
    MAX_MEM_LEVEL, Z_DEFAULT_STRATEGY)``), v6.12+."""
    if method == "none":
        return bytes
    if method == "lz4":
        def _lz4(data: bytes) -> bytes:
            out: bytes = lz4.block.compress(data, mode="default", store_size=False)
            return out
        return _lz4
    if method == "zstd":
        cctx = zstandard.ZstdCompressor(level=3, write_checksum=False, write_content_size=False)

        def _zstd(data: bytes) -> bytes:
            out: bytes = cctx.compress(data)
            return out
        return _zstd
    if method == "deflate":
        def _deflate(data: bytes) -> bytes:
            c = zlib.compressobj(6, zlib.DEFLATED, -11, 9, zlib.Z_DEFAULT_STRATEGY)
            return c.compress(data) + c.flush()
        return _deflate
    raise ValueError(f"unknown compressor {method!r} (known: {', '.join(COMPRESSORS)})")


def compress_each(method: str, unit: str, objects: Sequence[bytes], table: ClassTable,
                  handle_size: int) -> Compression:
    """Compress each object alone and store it in a zs_pool.  A record or callsite that does
    not shrink is kept raw; a page is kept raw (``PAGE_SIZE`` bytes) when its compressed length
    reaches ``huge_class_size`` (drivers/block/zram/zram_drv.c:zram_write_page)."""
    fn = compressor(method)
    raw = stored = kept = 0
    sizes: list[int] = []
    for obj in objects:
        n = len(fn(obj))
        raw += len(obj)
        limit = table.huge_class_size if unit == "page" else len(obj)
        if method != "none" and n >= limit:
            kept += 1
            n = len(obj)
        elif method == "none":
            n = len(obj)
        stored += n
        sizes.append(n)
    return Compression(method, unit, len(objects), raw, stored, kept,
                       pool_footprint(sizes, table, handle_size))


def callsite_objects(table: DyndbgTable) -> tuple[bytes, ...]:
    """Each record as the August-2020 ``struct _ddebug_callsite`` (the four pointers and
    ``lineno:16``) would hold it: the object Cromie's patch 5/7 copies into the zs-pool."""
    _dd, site = ddebug_split_layouts(table.abi, table.jump_label)
    return tuple(site.encode({"modname": r.modname, "function": r.function,
                              "filename": r.filename, "format": r.format,
                              "lineno": r.lineno & 0xFFFF})
                 for r in table.records)


def compression_figures(tables: Sequence[DyndbgTable]) -> tuple[Compression, ...]:
    """Per-object compression of records, callsites and record pages, for every compressor, in
    the zs_pool of the first table's ABI and era."""
    if not tables:
        return ()
    abi, era = tables[0].abi, tables[0].era
    zs = zs_class_table(abi, era)
    records = [r.raw for t in tables for r in t.records]
    sites = [s for t in tables for s in callsite_objects(t)]
    pages: list[bytes] = []
    for t in tables:
        blob = b"".join(r.raw for r in t.records)
        step = t.abi.page_size
        pages.extend(blob[i: i + step] for i in range(0, len(blob), step))
    out: list[Compression] = []
    for method in COMPRESSORS:
        out.append(compress_each(method, "record", records, zs, abi.pointer_size))
        out.append(compress_each(method, "callsite", sites, zs, abi.pointer_size))
        if method != "none":
            out.append(compress_each(method, "page", pages, zs, abi.pointer_size))
    return tuple(out)


def analyze_tables(tables: Sequence[DyndbgTable], *, path: str = "", kind: str = "",
                   designs: bool = True) -> TableFigures:
    """The figures of ``tables`` taken together (one table: that file's figures);
    ``designs=False`` skips the per-design projections (the slowest part)."""
    if not tables:
        raise ValueError("analyze_tables needs at least one table")
    first = tables[0]
    by_content, by_pointer = string_bytes(tables)
    sizes = {t.record_size for t in tables if t.records}
    abis = {t.abi.name for t in tables}
    eras = {t.era for t in tables if t.records} or {first.era}
    return TableFigures(
        path=path or first.path,
        kind=kind or first.kind,
        abi=first.abi.name if len(abis) == 1 else "mixed",
        era=first.era if len(eras) == 1 else "mixed",
        detected=first.detected if len(tables) == 1 else "",
        assumption=first.assumption if len(tables) == 1 else "",
        record_size=sizes.pop() if len(sizes) == 1 else (first.record_size if not sizes else 0),
        records=sum(len(t.records) for t in tables),
        bytes=sum(t.section_bytes for t in tables),
        max_lineno=max((r.lineno for t in tables for r in t.records), default=0),
        fields=tuple((f, field_figures(tables, f)) for f in POINTER_FIELDS),
        string_bytes=by_content,
        string_bytes_by_pointer=by_pointer,
        compression=compression_figures(tables),
        designs=design_projections(tables) if designs else (),
    )


# ---------------------------------------------------------------------------------------------
# Projections per built-in design


@attrs.frozen
class DesignProjection:
    """One built-in design run on the real records: its footprint against the ``section``
    baseline, the pool's size classes, or the kernel failure it hit."""

    name: str
    footprint: Footprint | None
    #: Baseline resident bytes minus this design's (negative: the design costs more).
    saved_bytes: int
    #: ``(class size, objects in use)`` of every zs_pool class the design's pool uses.
    size_classes: tuple[tuple[int, int], ...]
    #: The first line of the model kernel's failure, if the design fell over on these records.
    failure: str = ""

    def as_json(self) -> dict[str, object]:
        if self.footprint is None:
            return {"failure": self.failure}
        fp = self.footprint
        return {"resident_bytes": fp.resident_bytes, "saved_bytes": self.saved_bytes,
                "section_bytes": fp.section_bytes, "reclaimed_bytes": fp.reclaimed_bytes,
                "pool_pages": fp.pool_pages, "pool_bytes": fp.pool_bytes,
                "handle_bytes": fp.handle_bytes, "table_bytes": fp.table_bytes,
                "other_bytes": fp.other_bytes,
                "size_classes": [{"size": size, "objects": n} for size, n in self.size_classes]}


def _pool_classes(design: object) -> tuple[tuple[int, int], ...]:
    """Size classes in use of every zs_pool the design holds (``class_stats``, the
    ``/sys/kernel/debug/zsmalloc/<pool>/classes`` lines)."""
    out: dict[int, int] = {}
    seen: set[int] = set()
    # The pool is an attribute of the design or of a store it holds (``design.zpool.pool``).
    candidates = list(getattr(design, "__dict__", {}).values())
    candidates += [getattr(v, "pool", None) for v in candidates]
    for value in candidates:
        stats = getattr(value, "class_stats", None)
        if not callable(stats) or id(value) in seen:
            continue
        seen.add(id(value))
        for c in stats():
            if c.obj_used:
                out[c.size] = out.get(c.size, 0) + c.obj_used
    return tuple(sorted(out.items()))


@attrs.frozen
class _Linked:
    """The records as images, linked once, and the bytes of the address space they occupy:
    every design boots on a fresh copy of those regions."""

    abi: Abi
    era: str
    jump_label: bool
    regions: tuple[tuple[int, bytes, str, bool], ...]
    images: tuple[ModuleImage, ...]


def _link(tables: Sequence[DyndbgTable]) -> _Linked:
    first = tables[0]
    space = AddressSpace(first.abi)
    images = corpus_images(corpus_from_tables(tables), space, first.era, first.jump_label)
    if not any(i.builtin for i in images):
        empty = image_from_placements(space, first.era, first.jump_label, "vmlinux", True,
                                      first.abi.kernel_base, [], {})
        images = (empty, *images)
    regions = tuple((r.base, bytes(r.data), r.name, r.writable) for r in space.regions())
    return _Linked(first.abi, first.era, first.jump_label, regions, images)


def _run_design(cls: Any, linked: _Linked) -> tuple[Footprint, object]:
    """Boot a model kernel with ``cls`` on the linked records: ``dynamic_debug_init`` with the
    builtin ones (early_initcall), ``late_init`` (late_initcall), then ``add_module`` for each
    module in order, a second module of the same name refused as ``load_module`` does
    (-EEXIST)."""
    abi, era, jump_label = linked.abi, linked.era, linked.jump_label
    space = AddressSpace(abi)
    for base, data, name, writable in linked.regions:
        space.map(base, len(data), name, writable=writable, data=data)
    ctx = KernelContext(nr_cpus=2, space=space)
    design = cls(abi, era, jump_label, space, ctx)
    for image in linked.images:
        if image.builtin:
            design.dynamic_debug_init(image)
    design.late_init()
    loaded: set[str] = set()
    for image in linked.images:
        if not image.builtin and image.name not in loaded:
            loaded.add(image.name)
            design.add_module(image)
    footprint: Footprint = design.footprint()
    return footprint, design


def design_projections(tables: Sequence[DyndbgTable]) -> tuple[DesignProjection, ...]:
    """Every built-in design (model.designs) on the records of ``tables`` (one ABI, one
    record layout), against the ``section`` baseline.  A design that hits a kernel failure
    on real records (say a ``% 2`` test meeting an odd string pointer) reports it instead of
    a footprint: that is a finding about the design."""
    tables = [t for t in tables if t.records]
    if not tables or len({(t.abi.name, layout_era(t.era), t.jump_label) for t in tables}) > 1:
        return ()
    linked = _link(tables)
    runs: list[tuple[str, Footprint | None, object, str]] = []
    for name, cls in builtin_designs().items():
        try:
            fp, design = _run_design(cls, linked)
        except KernelBug as exc:
            runs.append((name, None, None, exc.message.splitlines()[0]))
            continue
        except Exception as exc:  # a defect of the design itself: report it, analyse on
            runs.append((name, None, None,
                         f"design error: {type(exc).__name__}: {exc}".splitlines()[0]))
            continue
        runs.append((name, fp, design, ""))
    baseline = next((got.resident_bytes for name, got, _d, _f in runs
                     if name == "section" and got is not None), None)
    out: list[DesignProjection] = []
    for name, got, design, failure in runs:
        if got is None:
            out.append(DesignProjection(name, None, 0, (), failure))
            continue
        saved = 0 if baseline is None else baseline - got.resident_bytes
        out.append(DesignProjection(name, got, saved, _pool_classes(design)))
    return tuple(out)
