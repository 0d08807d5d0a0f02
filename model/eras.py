"""Kernel eras: one value per era, carrying everything the era decides.

An :class:`Era` is what the model knows of one kernel: the ``struct _ddebug`` it lays out
(:attr:`Era.record`), its record section, how its lib/dynamic_debug.c behaves (flags, parser
rules, control file, prefix), and the mm/zsmalloc.c its pooled designs and ``dyndiet analyze``
run on (:attr:`Era.zsmalloc`, a :class:`ZsmallocEra`).  The model branches on these facts, never
on an era's name.  Errno values are :mod:`model.errnos`'.

The dynamic-debug eras, read from ``lib/dynamic_debug.c`` and ``include/linux/dynamic_debug.h``:

* ``v5.8`` (mainline of July 2020, what the 2020 diet series was written against): flags
  ``p m f l t _``; no ``file foo.c:func`` syntax, no ``^`` anchor, no ``class``; a
  ``$mod.dyndbg=`` module name is set before parsing, so a ``module`` keyword in the query is
  a duplicate; ``ddebug_change()`` flips the static key on the *modifier* flags (``flags &
  _DPRINTK_FLAGS_PRINT``), so ``+m`` on an enabled callsite disables its key (fixed by
  ee879be38bc8 in 6.1); tables are ``list_add_tail()``-ed and walked 0..N; the control file
  escapes ``\\t\\r\\n"`` in octal (``seq_escape``); messages carry ``pr_fmt`` =
  ``"dynamic_debug:<function>: "``; ``dynamic_emit_prefix()`` always runs; ``PREFIX_SIZE`` 64.
  Records in ``__verbose``.  zsmalloc: the v5.8 allocator.
* ``v6.1`` (driver-core-6.1-rc1): ``class_id:6`` in the record and the ``class`` keyword,
  ``file:func`` / ``file:N-M``, ``format ^anchored``, static-key fix, ``list_add_tail()``
  again (2ad556f70043 undid 5.9's LIFO ``list_add()``) and the reversed callsite walk
  (773beabbb8e8), ``ESCAPE_SPACE`` in the control file (47ea6f99d06e), the query's module
  overriding ``$mod.dyndbg`` (e75ef56f7496), ``pr_fmt`` ``"dyndbg: "``, the prefix skipped when
  no decoration flag is set (``_DPRINTK_FLAGS_INCL_ANY``).  Flags ``p m f l t _``.  zsmalloc:
  6.1's own (Debian's 6.1.192, held against the real file by ``dyndiet fidelity``): v5.8's
  class sizing and map API, with ``local_lock`` and ``migrate_read_lock`` where v5.8 pins
  the handle, and ``ERR_PTR`` failures.
* ``v6.12`` (Debian's linux-source-6.12, checked against the real file by ``dyndiet
  fidelity``): v6.1 plus ``s`` (``_DPRINTK_FLAGS_INCL_SOURCENAME``, ~6.4) in ``opt_array``
  between ``f`` and ``l``, and ``PREFIX_SIZE`` 128.  zsmalloc: 6.12's own (still
  ``zs_map_object``, with ``calculate_zspage_chain_size`` classes).
* ``v6.19``: v6.1 plus ``s`` and ``d`` (``_DPRINTK_FLAGS_INCL_STACK``, 6.19); ``PREFIX_SIZE``
  128.  Same record layout as v6.1.  zsmalloc: the current allocator (``zs_obj_read_begin``
  / ``zs_obj_write``; ``zs_map_object`` went in 6.15).

Not a difference: ``line N-`` (an empty, or 0, last line number) means N..``UINT_MAX`` in every
era.  v5.8.1's ``ddebug_parse_query`` has the "special case for last lineno not specified"
inline in its ``line`` branch (lines 365-367); 5.9 moved it unchanged into ``parse_linerange``
(6.1: lines 369-371, 6.12: lines 370-372).
"""

from __future__ import annotations

import attrs

from model.errnos import EINVAL, ENOSPC
from model.errors import InputError
from model.gfp import SITE_MIGHT_ALLOC_V61, SITE_MIGHT_ALLOC_V612, SITE_SLAB_PRE_ALLOC

__all__ = [
    "ERAS", "ERA_NAMES", "ZSMALLOC_ERAS", "ZSMALLOC_ERA_NAMES", "Era", "ZsmallocEra",
    "get_era", "get_zsmalloc_era", "layout_era",
]

# --- include/linux/dynamic_debug.h ---------------------------------------------------------
_DPRINTK_FLAGS_NONE = 0
_DPRINTK_FLAGS_PRINT = 1 << 0
_DPRINTK_FLAGS_INCL_MODNAME = 1 << 1
_DPRINTK_FLAGS_INCL_FUNCNAME = 1 << 2
_DPRINTK_FLAGS_INCL_LINENO = 1 << 3
_DPRINTK_FLAGS_INCL_TID = 1 << 4
_DPRINTK_FLAGS_INCL_SOURCENAME = 1 << 5
_DPRINTK_FLAGS_INCL_STACK = 1 << 6
#: ``_DPRINTK_CLASS_DFLT``: ``(1 << CLS_BITS) - 1`` with ``CLS_BITS`` 6 (v6.1 on); the model
#: gives v5.8 records, which have no ``class_id``, the same value.
_DPRINTK_CLASS_DFLT = 63


# --- mm/zsmalloc.c ---------------------------------------------------------------------------
@attrs.frozen
class ZsmallocEra:
    """What one era of mm/zsmalloc.c does.  Each field is one fact, named for what the code
    does; the line numbers are those of Debian's 6.1.192 and 6.12.118 trees."""

    #: ``v5.8``, ``v6.1``, ``v6.12`` or ``current``.
    name: str
    #: The kernel the era follows.
    kernel: str
    # --- classes and the obj encoding --------------------------------------------------------
    #: The class table from ``calculate_zspage_chain_size`` with up to
    #: ``CONFIG_ZSMALLOC_CHAIN_SIZE`` pages (6.12 :2099; current); else ``get_pages_per_zspage``
    #: with ``ZS_MAX_PAGES_PER_ZSPAGE`` 4 (v5.8; 6.1 :777).
    chain_size: bool
    #: ``location_to_obj`` shifts the obj left by ``OBJ_TAG_BITS`` and ``OBJ_INDEX_BITS`` gives
    #: that bit up (v5.8; 6.1 :117, :843); 6.12 (:116, :780) and current do not.
    obj_tag_shift: bool
    #: The twelve ``ZS_INUSE_RATIO_*`` fullness groups (6.12 :159; current); else
    #: ``ZS_EMPTY`` .. ``ZS_FULL`` with the 3/4 threshold (v5.8; 6.1 :149, :690).
    fine_fullness: bool
    #: ``insert_zspage`` puts a zspage with fewer objects in use than the list head second
    #: (v5.8; 6.1 :704, :718); 6.12 (:693) and current always add at the head.
    insert_by_inuse: bool
    #: ``obj_free`` of a huge object clears ``page->index`` and writes no free link into the
    #: page (6.1 :1476; 6.12 :1435; current); v5.8 writes the link over the object's bytes.
    huge_free_clears_handle: bool
    # --- API -----------------------------------------------------------------------------------
    #: ``zs_map_object`` / ``zs_unmap_object`` with ``ZS_MM_RO/WO/RW`` (v5.8; 6.1 :1229;
    #: 6.12 :1191; removed in 6.15); else ``zs_obj_read_begin/end`` and ``zs_obj_write``
    #: (current).
    map_api: bool
    #: ``zs_malloc(pool, size, gfp, nid)`` (current); v5.8, 6.1 (:1397) and 6.12 (:1359) have
    #: no ``nid``.
    malloc_nid: bool
    #: ``zs_malloc`` fails with ``ERR_PTR(-errno)`` (6.1 :1405-1434; 6.12 :1367-1395; current)
    #: and ``zs_free`` ignores ``IS_ERR_OR_NULL`` handles (6.1 :1490; 6.12 :1450); v5.8 returns
    #: 0 and ignores 0 only.
    err_ptr: bool
    #: A size above ``ZS_MAX_ALLOC_SIZE`` is ``-ENOSPC`` (6.12 :1370; current); 6.1 says
    #: ``-EINVAL`` for it as for 0 bytes (:1405).
    enospc: bool
    #: ``zs_lookup_class_index`` (6.12 :1160; current).
    lookup_class_index: bool
    #: ``zs_page_migrate`` takes ``MIGRATE_SYNC_NO_COPY`` and refuses it with ``-EINVAL``
    #: (v5.8; 6.1 :1859); the mode is gone by 6.12.
    rejects_sync_no_copy: bool
    # --- what a mapping holds, and what waits for it ---------------------------------------
    #: A mapping pins the handle (``HANDLE_PIN_BIT``, a bit spin lock in ``*handle``): a second
    #: map of it or ``zs_free`` spins, compaction skips it (v5.8; gone since 5.17).  Else a
    #: mapping holds ``migrate_read_lock(zspage)`` (6.1 :1261; 6.12 :1223) and nothing else:
    #: one handle maps on two CPUs at once and ``zs_free`` of a mapped handle goes unnoticed.
    handle_pin: bool
    #: ``zs_page_isolate`` takes the zspage off its fullness list and the putback puts it back
    #: (v5.8); since 5.17 (6.1 :1820; 6.12 :1759) isolation leaves the lists alone.
    isolate_unlists: bool
    #: ``zs_page_migrate`` of a zspage someone holds gives up with ``-EBUSY`` (current's
    #: ``zspage_write_trylock``); 6.1 (:1877) and 6.12 (:1804) wait in
    #: ``migrate_write_lock(zspage)``.
    migrate_trylock: bool
    #: ``__zs_compact`` isolates a destination first and fills it from the emptiest sources
    #: (6.12 :1947; current); else sources from ALMOST_EMPTY into destinations from
    #: ALMOST_FULL (v5.8; 6.1 :2031).
    compact_dst_first: bool
    #: Compaction stops at a source zspage someone holds (current's trylock); 6.1 (:2046)
    #: and 6.12 (:1973) wait in ``migrate_write_lock(src_zspage)``.
    compact_trylock_src: bool
    #: Compaction also write-locks each destination (``migrate_write_lock_nested``, 6.1
    #: :2055); 6.12 and current lock the source only.
    compact_locks_dst: bool
    #: ``zs_compact`` returns the pages this call freed, after adding them to
    #: ``pages_compacted``, and 0 at once while another compaction runs
    #: (``compaction_in_progress``; 6.1 :2112-2124; 6.12 :2021-2033; current); v5.8 returns
    #: the running total ``pages_compacted``.
    compact_returns_freed: bool
    # --- where the kernel complains -----------------------------------------------------------
    #: ``BUG_ON(in_interrupt())`` in ``zs_map_object`` ("" without the map API).
    bug_map_in_interrupt: str
    #: The ``might_sleep`` line of the handle's slab allocation (``kmem_cache_alloc``).
    might_alloc_site: str
    #: ``local_lock(&zs_map_area.lock)`` in ``zs_map_object``, where lockdep reports a nested
    #: mapping on one CPU ("" where the per-CPU area is ``get_cpu_var``'ed or absent).
    nested_map_site: str
    #: ``migrate_write_lock(zspage)`` in ``zs_page_migrate``, where migration waits for a
    #: mapping ("" where it does not wait there).
    migrate_lock_site: str
    #: ``migrate_write_lock(src_zspage)`` and ``migrate_write_lock_nested(dst_zspage)`` in
    #: ``__zs_compact`` ("" where compaction does not wait there).
    compact_src_lock_site: str
    compact_dst_lock_site: str
    #: ``write_lock(&zspage->lock)`` in ``migrate_write_lock`` and ``write_lock_nested`` in
    #: ``migrate_write_lock_nested``: where a wait for a mapping spins, the line a lockup
    #: report names ("" where there is no such lock).
    write_lock_site: str
    write_lock_nested_site: str
    #: The width of the ``freeable`` column of the debugfs ``classes`` file.
    freeable_width: int

    @property
    def obj_rw_api(self) -> bool:
        """``zs_obj_read_begin/end`` and ``zs_obj_write`` instead of the map API."""
        return not self.map_api

    def malloc_errno(self, size: int) -> int:
        """The errno of ``zs_malloc(size)`` for a size it refuses (0 bytes, or more than
        ``ZS_MAX_ALLOC_SIZE``): ``-ENOSPC`` for a big one where :attr:`enospc`, else
        ``-EINVAL`` (the value of an ``ERR_PTR`` handle; v5.8 returns 0 instead)."""
        return ENOSPC if size and self.enospc else EINVAL




ZSMALLOC_ERAS: dict[str, ZsmallocEra] = {e.name: e for e in (
    ZsmallocEra(
        "v5.8", "5.8", chain_size=False, obj_tag_shift=True, fine_fullness=False,
        insert_by_inuse=True, huge_free_clears_handle=False, map_api=True, malloc_nid=False,
        err_ptr=False, enospc=False, lookup_class_index=False, rejects_sync_no_copy=True,
        handle_pin=True, isolate_unlists=True, migrate_trylock=False, compact_dst_first=False,
        compact_trylock_src=False, compact_locks_dst=False, compact_returns_freed=False,
        # line 1313 of the stored 5.9-rc blob c36fdff9a371 (docs/zsmalloc.md)
        bug_map_in_interrupt="mm/zsmalloc.c:1313", might_alloc_site=SITE_SLAB_PRE_ALLOC,
        nested_map_site="", migrate_lock_site="mm/zsmalloc.c:zs_page_migrate",
        compact_src_lock_site="", compact_dst_lock_site="", write_lock_site="",
        write_lock_nested_site="", freeable_width=8),
    ZsmallocEra(
        "v6.1", "6.1.192 (Debian linux-source-6.1 6.1.192-3)", chain_size=False,
        obj_tag_shift=True, fine_fullness=False, insert_by_inuse=True,
        huge_free_clears_handle=True, map_api=True, malloc_nid=False, err_ptr=True,
        enospc=False, lookup_class_index=False, rejects_sync_no_copy=True, handle_pin=False,
        isolate_unlists=False, migrate_trylock=False, compact_dst_first=False,
        compact_trylock_src=False, compact_locks_dst=True, compact_returns_freed=True,
        bug_map_in_interrupt="mm/zsmalloc.c:1247", might_alloc_site=SITE_MIGHT_ALLOC_V61,
        nested_map_site="mm/zsmalloc.c:1267", migrate_lock_site="mm/zsmalloc.c:1877",
        compact_src_lock_site="mm/zsmalloc.c:2046", compact_dst_lock_site="mm/zsmalloc.c:2055",
        write_lock_site="mm/zsmalloc.c:1770", write_lock_nested_site="mm/zsmalloc.c:1775",
        freeable_width=8),
    ZsmallocEra(
        "v6.12", "6.12.118 (Debian linux-source-6.12 6.12.118-1~deb12u1)", chain_size=True,
        obj_tag_shift=False, fine_fullness=True, insert_by_inuse=False,
        huge_free_clears_handle=True, map_api=True, malloc_nid=False, err_ptr=True,
        enospc=True, lookup_class_index=True, rejects_sync_no_copy=False, handle_pin=False,
        isolate_unlists=False, migrate_trylock=False, compact_dst_first=True,
        compact_trylock_src=False, compact_locks_dst=False, compact_returns_freed=True,
        bug_map_in_interrupt="mm/zsmalloc.c:1209", might_alloc_site=SITE_MIGHT_ALLOC_V612,
        nested_map_site="mm/zsmalloc.c:1229", migrate_lock_site="mm/zsmalloc.c:1804",
        compact_src_lock_site="mm/zsmalloc.c:1973", compact_dst_lock_site="",
        write_lock_site="mm/zsmalloc.c:1724", write_lock_nested_site="", freeable_width=8),
    ZsmallocEra(
        "current", "7.1.5", chain_size=True, obj_tag_shift=False, fine_fullness=True,
        insert_by_inuse=False, huge_free_clears_handle=True, map_api=False, malloc_nid=True,
        err_ptr=True, enospc=True, lookup_class_index=True, rejects_sync_no_copy=False,
        handle_pin=False, isolate_unlists=False, migrate_trylock=True, compact_dst_first=True,
        compact_trylock_src=True, compact_locks_dst=False, compact_returns_freed=True,
        # 7.1.5's might_alloc line is not pinned: the v5.8 slab site stands in for it
        bug_map_in_interrupt="", might_alloc_site=SITE_SLAB_PRE_ALLOC, nested_map_site="",
        migrate_lock_site="", compact_src_lock_site="", compact_dst_lock_site="",
        write_lock_site="", write_lock_nested_site="", freeable_width=16),
)}



# --- the kernel eras -------------------------------------------------------------------------
@attrs.frozen
class Era:
    """One kernel era, as data; every difference named after the commit that made it."""

    name: str
    #: The ``struct _ddebug`` of the era, as ``model.builtin_layouts.ddebug_layout`` names it
    #: (``v5.8``, or ``v6.1``: ``class_id:6`` was the last change).
    record: str
    #: The record section (``__verbose`` before 5.9).
    section: str
    #: The mm/zsmalloc.c the era's pool runs on.
    zsmalloc: ZsmallocEra
    #: ``opt_array[]``: (flag bit, character) in array order.
    opt_array: tuple[tuple[int, str], ...]
    has_class: bool
    #: ``file foo.c:func`` and ``file foo.c:N-M`` (5.9-rc1).
    file_colon: bool
    #: ``format ^prefix`` (5.9-rc1).
    format_anchor: bool
    #: ``$mod.dyndbg=`` applies only when the query names no module (e75ef56f7496, 6.1);
    #: otherwise it is set first and a ``module`` keyword is a duplicate.
    query_module_overrides: bool
    #: ``ddebug_change`` tests ``newflags`` (ee879be38bc8); otherwise the modifier flags.
    static_key_uses_newflags: bool
    #: ``list_add_tail`` (v5.8, and v6.1 again after 2ad556f70043); otherwise ``list_add``
    #: (newest table first: "dyndbg: make ddebug_tables list LIFO", 5.9 to 6.0).
    tables_in_add_order: bool
    #: ``ddebug_iter`` walks a table's callsites N-1..0 (773beabbb8e8).
    reverse_callsite_walk: bool
    #: ``seq_escape_str(.., ESCAPE_SPACE, "\\t\\r\\n\\"")`` (47ea6f99d06e); else octal
    #: ``seq_escape``.
    escape_space: bool
    #: ``dynamic_emit_prefix`` returns early unless ``flags & _DPRINTK_FLAGS_INCL_ANY``.
    prefix_fast_path: bool
    prefix_size: int
    #: ``pr_fmt``: ``"dyndbg: "`` or ``KBUILD_MODNAME ":%s: "`` with ``__func__``.
    short_pr_fmt: bool

    @property
    def layout_era(self) -> str:
        """:attr:`record` (the name ``model.builtin_layouts`` and the ELF reader use)."""
        return self.record

    @property
    def flag_chars(self) -> str:
        return "".join(c for _, c in self.opt_array)

    @property
    def incl_any(self) -> int:
        """``_DPRINTK_FLAGS_INCL_ANY`` of the era (every decoration flag it has)."""
        return sum(f for f, _ in self.opt_array if f not in (_DPRINTK_FLAGS_PRINT, 0))

    @property
    def valid_flags(self) -> int:
        return sum(f for f, _ in self.opt_array)

    def pr_err(self, function: str, text: str) -> str:
        """The line ``pr_err()`` logs from ``function`` of lib/dynamic_debug.c."""
        if self.short_pr_fmt:
            return f"dyndbg: {text}"
        return f"dynamic_debug:{function}: {text}"


_V58_OPTS = ((_DPRINTK_FLAGS_PRINT, "p"), (_DPRINTK_FLAGS_INCL_MODNAME, "m"),
             (_DPRINTK_FLAGS_INCL_FUNCNAME, "f"), (_DPRINTK_FLAGS_INCL_LINENO, "l"),
             (_DPRINTK_FLAGS_INCL_TID, "t"), (_DPRINTK_FLAGS_NONE, "_"))
_V619_OPTS = ((_DPRINTK_FLAGS_PRINT, "p"), (_DPRINTK_FLAGS_INCL_MODNAME, "m"),
              (_DPRINTK_FLAGS_INCL_FUNCNAME, "f"), (_DPRINTK_FLAGS_INCL_SOURCENAME, "s"),
              (_DPRINTK_FLAGS_INCL_LINENO, "l"), (_DPRINTK_FLAGS_INCL_TID, "t"),
              (_DPRINTK_FLAGS_INCL_STACK, "d"), (_DPRINTK_FLAGS_NONE, "_"))
_V612_OPTS = tuple(o for o in _V619_OPTS if o[1] != "d")

V5_8 = Era("v5.8", "v5.8", "__verbose", ZSMALLOC_ERAS["v5.8"], _V58_OPTS, has_class=False,
           file_colon=False, format_anchor=False, query_module_overrides=False,
           static_key_uses_newflags=False, tables_in_add_order=True,
           reverse_callsite_walk=False, escape_space=False, prefix_fast_path=False,
           prefix_size=64, short_pr_fmt=False)
V6_1 = Era("v6.1", "v6.1", "__dyndbg", ZSMALLOC_ERAS["v6.1"], _V58_OPTS, has_class=True,
           file_colon=True, format_anchor=True, query_module_overrides=True,
           static_key_uses_newflags=True, tables_in_add_order=True, reverse_callsite_walk=True,
           escape_space=True, prefix_fast_path=True, prefix_size=64, short_pr_fmt=True)
V6_12 = attrs.evolve(V6_1, name="v6.12", zsmalloc=ZSMALLOC_ERAS["v6.12"],
                     opt_array=_V612_OPTS, prefix_size=128)
V6_19 = attrs.evolve(V6_1, name="v6.19", zsmalloc=ZSMALLOC_ERAS["current"],
                     opt_array=_V619_OPTS, prefix_size=128)

#: Every kernel era, by name (what ``--era`` accepts).
ERAS: dict[str, Era] = {e.name: e for e in (V5_8, V6_1, V6_12, V6_19)}
ERA_NAMES: tuple[str, ...] = tuple(ERAS)
#: Every zsmalloc era's name (what ``dyndiet classes --era`` accepts).
ZSMALLOC_ERA_NAMES: tuple[str, ...] = tuple(ZSMALLOC_ERAS)


def get_era(name: str) -> Era:
    """The era called ``name``; :class:`InputError` naming the known ones otherwise."""
    try:
        return ERAS[name]
    except KeyError:
        raise InputError(f"unknown era {name!r} (known: {', '.join(ERA_NAMES)})") from None


def get_zsmalloc_era(name: str) -> ZsmallocEra:
    """The zsmalloc era called ``name``; :class:`InputError` naming the known ones otherwise."""
    try:
        return ZSMALLOC_ERAS[name]
    except KeyError:
        raise InputError(f"unknown zsmalloc era {name!r} "
                         f"(known: {', '.join(ZSMALLOC_ERA_NAMES)})") from None


def layout_era(name: str) -> str:
    """The ``struct _ddebug`` of era ``name`` as ``model.builtin_layouts`` names it."""
    return get_era(name).record
