"""Real callsite tables as a corpus the state machines draw modules from (``--corpus PATH``).

``load_corpus(PATH)`` reads a vmlinux, a module or a directory of modules with
:mod:`model.elf` and returns a :class:`Corpus`: one :class:`CorpusModule` per ``ddebug_table``
the kernel would build.  A vmlinux's builtin records are split where the module name changes,
as ``lib/dynamic_debug.c:dynamic_debug_init`` does (v5.8 and v6.1: a new table whenever
``strcmp(modname, iter->modname)``... differs, relying on the linker keeping each module's
records together); a loadable module is one table.

Each :class:`CorpusModule` carries the records two ways:

* ``spec``: the source-level view (:class:`~model.dyndbg.callsite.ModuleSpec`: module name,
  function, file, format, line, class, flags), for a linker model to lay out on any ABI;
* ``records`` / ``strings`` / ``record_address``: the real bytes at their real (vmlinux) or
  loader-replayed (module) addresses, pointers included, for an image with explicit placements
  on the corpus's own ABI, so pointer parity and string sharing are exactly the binary's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import attrs

from model.abi import Abi
from model.elf import (
    DdebugRecord,
    DyndbgTable,
    StringBlock,
    expand_paths,
    module_image_end,
    read_dyndbg,
    string_in_blocks,
)
from model.eras import _DPRINTK_CLASS_DFLT
from model.errors import InputError
from model.linker import (
    ExplicitRecord,
    ModuleImage,
    image_from_placements,
    link_module,
    link_vmlinux,
)
from model.memory import AddressSpace
from model.source import CallsiteSpec, ModuleSpec


@attrs.frozen
class CorpusModule:
    """One ``ddebug_table``'s worth of real records."""

    spec: ModuleSpec
    #: The file the records come from.
    path: str
    abi: Abi
    era: str
    jump_label: bool
    record_size: int
    #: Runtime address of ``records[0]``.
    record_address: int
    records: tuple[DdebugRecord, ...]
    #: The strings the records point at, at their addresses (shared with the other builtin
    #: modules of the same vmlinux).
    strings: tuple[StringBlock, ...]
    _starts: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    @_starts.default
    def _strings_starts(self) -> tuple[int, ...]:
        return tuple(b.address for b in self.strings)

    @property
    def record_bytes(self) -> bytes:
        """The module's slice of ``__dyndbg``, pointers relocated."""
        return b"".join(r.raw for r in self.records)

    def string_at(self, address: int) -> bytes | None:
        """The string at ``address`` (see :meth:`model.elf.DyndbgTable.string_at`)."""
        return string_in_blocks(self.strings, self._starts, address)

    def span(self) -> tuple[int, int]:
        """Lowest and one-past-highest address of the records and the strings they use."""
        lo, hi = self.record_address, self.record_address + len(self.records) * self.record_size
        for rec in self.records:
            for p in (rec.modname, rec.function, rec.filename, rec.format):
                text = self.string_at(p)
                if text is not None:
                    lo, hi = min(lo, p), max(hi, p + len(text) + 1)
        return lo, hi


@attrs.frozen
class Corpus:
    """Every table of the files under one path, in sorted path order."""

    path: str
    abi: Abi
    modules: tuple[CorpusModule, ...]
    #: Files that could not be read (the others are still in the corpus).
    errors: tuple[InputError, ...] = ()

    @property
    def builtin(self) -> tuple[CorpusModule, ...]:
        return tuple(m for m in self.modules if m.spec.builtin)

    @property
    def loadable(self) -> tuple[CorpusModule, ...]:
        return tuple(m for m in self.modules if not m.spec.builtin)

    def specs(self) -> tuple[ModuleSpec, ...]:
        return tuple(m.spec for m in self.modules)

    @property
    def records(self) -> int:
        return sum(len(m.records) for m in self.modules)


def _text(table: DyndbgTable, pointer: int, what: str) -> str:
    raw = table.string_at(pointer)
    if raw is None:
        raise InputError(f"{what} pointer {pointer:#x} points at no string in the file",
                         path=table.path)
    # Model strings are latin-1: one character per byte, as model.linker.cbytes reads them.
    return raw.decode("latin-1")


def callsite_spec(table: DyndbgTable, rec: DdebugRecord) -> CallsiteSpec:
    """The source-level callsite a record was made from."""
    return CallsiteSpec(
        modname=_text(table, rec.modname, "modname"),
        function=_text(table, rec.function, "function"),
        filename=_text(table, rec.filename, "filename"),
        format=_text(table, rec.format, "format"),
        lineno=rec.lineno,
        class_id=_DPRINTK_CLASS_DFLT if rec.class_id is None else rec.class_id,
        flags=rec.flags,
    )


def table_modules(table: DyndbgTable) -> tuple[CorpusModule, ...]:
    """The ``ddebug_table``s of one file.  For vmlinux: split on modname change, as
    lib/dynamic_debug.c:dynamic_debug_init does (v5.8, v6.1); a module file is one table named
    by its first record's modname (the kernel names it ``mod->name``, which kbuild makes equal
    to ``KBUILD_MODNAME``)."""
    if not table.records:
        return ()
    groups: list[list[tuple[DdebugRecord, CallsiteSpec]]] = []
    for rec in table.records:
        spec = callsite_spec(table, rec)
        same_table = bool(groups) and (table.kind == "module"
                                       or groups[-1][-1][1].modname == spec.modname)
        if same_table:
            groups[-1].append((rec, spec))
        else:
            groups.append([(rec, spec)])
    out = []
    offset = 0
    for group in groups:
        recs = tuple(r for r, _s in group)
        specs = tuple(s for _r, s in group)
        out.append(CorpusModule(
            spec=ModuleSpec(specs[0].modname, specs, builtin=table.kind == "vmlinux"),
            path=table.path, abi=table.abi, era=table.era, jump_label=table.jump_label,
            record_size=table.record_size,
            record_address=table.address + offset * table.record_size,
            records=recs, strings=table.strings))
        offset += len(recs)
    return tuple(out)


def corpus_from_tables(tables: Sequence[DyndbgTable], path: str = "",
                       errors: Sequence[InputError] = ()) -> Corpus:
    """A corpus of tables already read (all of one ABI; modules at non-overlapping addresses,
    as :func:`load_corpus` and ``dyndiet analyze`` place them)."""
    abis = {t.abi.name for t in tables}
    if len(abis) > 1:
        raise InputError(f"the files are of several ABIs ({', '.join(sorted(abis))})", path=path)
    if not tables:
        raise InputError("no kernel binaries", path=path)
    modules = [m for t in tables for m in table_modules(t)]
    return Corpus(path, tables[0].abi, tuple(modules), tuple(errors))


def load_corpus(path: str, *, abi: str | None = None, era: str | None = None) -> Corpus:
    """The corpus under ``path`` (a vmlinux, a module, or a directory of modules).

    Unreadable files are kept in ``errors``; if nothing at all can be read, or the files are of
    several ABIs, an :class:`InputError` says so.  Modules are placed one after another in the
    module area, as if all were loaded."""
    files, errors = expand_paths([path])
    errs = list(errors)
    tables: list[DyndbgTable] = []
    base: int | None = None
    for f in files:
        try:
            table = read_dyndbg(f, abi=abi, era=era, module_base=base)
            if tables and table.abi != tables[0].abi:
                raise InputError(f"ABI {table.abi.name} differs from the corpus's "
                                 f"{tables[0].abi.name}", path=f)
            if table.kind == "module" and table.placements:
                base = module_image_end(table.placements, table.abi.page_size)
            table_modules(table)  # every pointer must resolve
            tables.append(table)
        except InputError as exc:
            errs.append(exc)
    if not tables:
        if errs:
            raise errs[0]
        raise InputError("no kernel binaries found", path=path)
    corpus = corpus_from_tables(tables, path, errs)
    if not corpus.modules:
        raise InputError("no dynamic-debug records in the corpus", path=path)
    return corpus


@lru_cache(maxsize=8)
def load_corpus_cached(path: str) -> Corpus:
    """:func:`load_corpus` once per path in a process: the command line reads it up front and
    the state machines (and forked campaign workers) reuse it."""
    return load_corpus(path)


# ---------------------------------------------------------------------------------------------
# Module images for the state machines


def _free_range(space: AddressSpace, lo: int, hi: int, start: int) -> int:
    """The smallest page-multiple shift that moves ``[lo, hi)`` to or above ``start`` without
    overlapping any region of ``space`` (module load randomisation is page-granular, so a page
    multiple keeps every pointer's parity and low bits)."""
    page = space.abi.page_size
    size = hi - (lo - lo % page)
    base = max(start - start % page, lo - lo % page)
    for region in sorted(space.regions(), key=lambda r: r.base):
        if region.end <= base:
            continue
        if region.base >= base + size:
            break
        base = -(-region.end // page) * page
    if base + size - 1 > space.abi.max_address:
        raise InputError("module area exhausted")
    return base - (lo - lo % page)


def _explicit(mods: Sequence[CorpusModule], space: AddressSpace, name: str, builtin: bool,
              delta: int) -> ModuleImage:
    records: list[ExplicitRecord] = []
    strings: dict[int, str] = {}
    for m in mods:
        for rec in m.records:
            for p in (rec.modname, rec.function, rec.filename, rec.format):
                text = m.string_at(p)
                if text is not None:
                    strings[p + delta] = text.decode("latin-1")
            records.append(ExplicitRecord(
                rec.modname + delta, rec.function + delta, rec.filename + delta,
                rec.format + delta, rec.lineno, rec.flags,
                _DPRINTK_CLASS_DFLT if rec.class_id is None else rec.class_id))
    first = mods[0]
    return image_from_placements(space, first.era, first.jump_label, name, builtin,
                                 first.record_address + delta, records, strings)


def corpus_images(corpus: Corpus, space: AddressSpace, era: str,
                  jump_label: bool = True) -> tuple[ModuleImage, ...]:
    """Module images of the corpus in ``space``: the builtin tables of each vmlinux as one
    ``vmlinux`` image, then each loadable module.

    When ``space`` has the corpus's ABI and ``era`` its record layout, the images hold the real
    records at their real addresses (:func:`model.linker.image_from_placements`): vmlinux
    unmoved when it fits, modules shifted by whole pages into free module-area ranges, so every
    pointer keeps its parity.  Otherwise the linker model lays the corpus's callsites out for
    ``space``'s ABI and ``era`` (:func:`model.linker.link_vmlinux` / ``link_module``): the
    strings, lines and order are the corpus's, the addresses the model's."""
    abi = space.abi
    out: list[ModuleImage] = []
    same = abi == corpus.abi and all(
        (m.era == "v5.8") == (era == "v5.8") and m.jump_label == jump_label
        for m in corpus.modules)
    by_file: dict[str, list[CorpusModule]] = {}
    for m in corpus.builtin:
        by_file.setdefault(m.path, []).append(m)
    for mods in by_file.values():
        if same:
            lo = min(m.span()[0] for m in mods)
            hi = max(m.span()[1] for m in mods)
            delta = _free_range(space, lo, hi, lo)
            out.append(_explicit(mods, space, "vmlinux", True, delta))
        else:
            out.append(link_vmlinux(space, era, jump_label, [m.spec for m in mods]))
    for m in corpus.loadable:
        if same:
            lo, hi = m.span()
            delta = _free_range(space, lo, hi, abi.module_base)
            out.append(_explicit([m], space, m.spec.name, False, delta))
        else:
            out.append(link_module(space, era, jump_label, m.spec))
    return tuple(out)


def vmlinux_image(corpus: Corpus, space: AddressSpace, era: str,
                  jump_label: bool = True) -> ModuleImage:
    """The builtin image to boot with: the corpus's vmlinux tables (see :func:`corpus_images`),
    or, for a corpus of modules only, an empty vmlinux (no builtin callsites)."""
    images = corpus_images(attrs.evolve(corpus, modules=corpus.builtin), space, era, jump_label)
    if images:
        return images[0]
    return image_from_placements(space, era, jump_label, "vmlinux", True,
                                 space.abi.kernel_base, [], {})


def module_image(corpus: Corpus, which: int, space: AddressSpace, era: str,
                 jump_label: bool = True) -> ModuleImage | None:
    """Loadable module ``which`` (modulo their number) as an image in ``space``; ``None`` when
    the corpus has no loadable modules (a vmlinux alone)."""
    if not corpus.loadable:
        return None
    m = corpus.loadable[which % len(corpus.loadable)]
    return corpus_images(attrs.evolve(corpus, modules=(m,)), space, era, jump_label)[0]
