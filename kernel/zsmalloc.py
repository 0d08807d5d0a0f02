"""The real ``mm/zsmalloc.c`` (Linux 6.1 and 6.12) built in user space, and its typed binding.

Three layers:

* :func:`zsmalloc_area` -- what :func:`kernel.build.build` compiles: ``kernel/shim/zsmalloc/
  glue.c`` (which ``#include``-s the tree's ``mm/zsmalloc.c``) and ``shim.c`` against the shim
  headers of ``kernel/shim/zsmalloc/include``.  The features of the tree are read from its
  source text (:func:`features`), never from a version number.
* The worker side (:func:`load` and one function per operation, each taking the state first and
  plain picklable arguments): runs inside the forked kernel of :class:`kernel.process.Kernel`.
* :class:`RealZsPool` -- the parent's typed API over one :class:`~kernel.process.Kernel`.

Sizes, stat vectors and struct fields are always asked of C (``h_zs_*`` accessors); nothing
here mirrors a kernel struct.  What the shims approximate (locks as checked counters, the page
array, the migration caller of mm/migrate.c) is written where it is, in ``kernel/shim/zsmalloc``.
"""

from __future__ import annotations

import ctypes
import re
from typing import Any

import attrs

from kernel.build import Area
from kernel.process import CallResult, Kernel
from kernel.sources import KernelSource
from model.errnos import MAX_ERRNO
from model.errors import InputError

#: harness_set_context's kinds.
CONTEXTS: dict[str, int] = {"process": 0, "softirq": 1, "hardirq": 2}
#: include/linux/zsmalloc.h enum zs_mapmode.
MAP_MODES: dict[str, int] = {"rw": 0, "ro": 1, "wo": 2}
#: CONFIG_ZSMALLOC_CHAIN_SIZE: mm/Kconfig's default (Debian's configs keep it).
CHAIN_SIZE = 8
_MASK64 = (1 << 64) - 1


@attrs.frozen
class ZsFeatures:
    """What a tree's ``mm/zsmalloc.c`` has, read from its text."""

    #: ``zs_map_object``/``zs_unmap_object`` with ``enum zs_mapmode`` (removed in 6.15).
    map_api: bool
    #: ``ZS_INUSE_RATIO_*`` fullness groups (12) instead of ``ZS_EMPTY``..``ZS_FULL`` (4).
    fine_fullness: bool
    #: per-class ``spinlock_t lock`` and ``pool->migrate_lock`` instead of one ``pool->lock``.
    class_lock: bool
    #: ``CONFIG_ZSMALLOC_CHAIN_SIZE`` and ``calculate_zspage_chain_size``.
    chain_size: bool
    #: ``zs_malloc`` returns ``ERR_PTR(-ENOSPC)`` above ``ZS_MAX_ALLOC_SIZE`` (else -EINVAL).
    enospc: bool
    #: ``obj_to_location`` shifts the obj by ``OBJ_TAG_BITS`` (the obj keeps a tag bit).
    obj_tag_shift: bool
    #: ``shrinker_alloc`` (6.7+) instead of an embedded ``struct shrinker``.
    shrinker_alloc: bool
    #: the ``PageZsmalloc`` page type.
    page_type: bool
    #: ``zspage->isolated`` counts pages isolated for migration.
    isolation_count: bool
    #: ``zs_lookup_class_index``.
    lookup_class_index: bool

    def as_dict(self) -> dict[str, bool]:
        return attrs.asdict(self)


def features(source: KernelSource) -> ZsFeatures:
    """The features of ``source``'s ``mm/zsmalloc.c``."""
    try:
        text = source.path("mm/zsmalloc.c").read_text(errors="replace")
    except OSError as exc:
        raise InputError(f"{source.root}: no mm/zsmalloc.c ({exc.strerror})") from None
    return ZsFeatures(
        map_api=re.search(r"^void \*zs_map_object\(", text, re.M) is not None,
        fine_fullness="ZS_INUSE_RATIO_0" in text,
        class_lock=re.search(r"spin_lock\(&class->lock\)", text) is not None,
        chain_size="CONFIG_ZSMALLOC_CHAIN_SIZE" in text,
        enospc="ERR_PTR(-ENOSPC)" in text,
        obj_tag_shift=re.search(r"obj >>= OBJ_TAG_BITS;", text) is not None,
        shrinker_alloc="shrinker_alloc(" in text,
        page_type="PageZsmalloc(" in text,
        isolation_count="inc_zspage_isolation" in text,
        lookup_class_index="zs_lookup_class_index" in text,
    )


#: Where might_alloc() is: the slab and page allocators' "sleeping function called from
#: invalid context" splat names its might_sleep_if() line.
MIGHT_ALLOC_HEADER = "include/linux/sched/mm.h"


def might_alloc_line(source: KernelSource) -> int:
    """The line of ``might_sleep_if(gfpflags_allow_blocking(gfp_mask))`` in the tree's
    ``include/linux/sched/mm.h`` (0 when it is not there)."""
    try:
        lines = source.path(MIGHT_ALLOC_HEADER).read_text(errors="replace").splitlines()
    except OSError:
        return 0
    return next((i for i, ln in enumerate(lines, 1)
                 if "might_sleep_if(gfpflags_allow_blocking(gfp_mask))" in ln), 0)


def zsmalloc_area(source: KernelSource) -> Area:
    """The build of ``source``'s ``mm/zsmalloc.c`` (features from its text)."""
    feats = features(source)
    if not feats.map_api:
        raise InputError(f"{source.label}: mm/zsmalloc.c has no zs_map_object (the "
                         "zs_obj_read_begin/zs_obj_write API of 6.15+ is not bound)")
    cflags = ['-DKBUILD_MODNAME="zsmalloc"', "-DCONFIG_64BIT=1", "-DCONFIG_MMU=1",
              "-DCONFIG_COMPACTION=1", "-DCONFIG_MIGRATION=1", "-DCONFIG_DEBUG_VM=1"]
    if feats.chain_size:
        cflags.append(f"-DCONFIG_ZSMALLOC_CHAIN_SIZE={CHAIN_SIZE}")
    if feats.fine_fullness:
        cflags.append("-DDD_ZS_FINE_FULLNESS=1")
    if feats.class_lock:
        cflags.append("-DDD_ZS_CLASS_LOCK=1")
    line = might_alloc_line(source)
    if line:
        cflags.append(f"-DDD_MIGHT_ALLOC_LINE={line}")
    return Area(name="zsmalloc", glue=("zsmalloc/glue.c", "zsmalloc/shim.c"), kernel_units=(),
                kernel_files=("mm/zsmalloc.c", "include/linux/zsmalloc.h", MIGHT_ALLOC_HEADER),
                shim_include=("zsmalloc/include",), binding="kernel.zsmalloc",
                cflags=tuple(cflags))


# --- values the worker returns (picklable) --------------------------------------------------


@attrs.frozen
class ZsLeftovers:
    """What a destroyed pool left: pages still allocated, lock misuses (and locks still held),
    pages freed in a bad state, slab objects still live (the per-CPU copy buffers of
    ``zs_cpu_prepare`` stay: 2), the NR_ZSPAGES counter."""

    pages_in_use: int
    lock_errors: int
    locks_held: int
    bad_pages: int
    live_allocs: int
    zspages: int


@attrs.frozen
class ZsCpuState:
    """One CPU's state behind "one mapping per CPU" (``h_zs_cpu_state``)."""

    cpu: int
    local_lock_depth: int
    preempt_count: int
    pagefault_disabled: int
    kmap_depth: int
    vm_mm: int
    open_mappings: int


@attrs.frozen
class ZsLocation:
    """Where a handle's object is, decoded by the real ``handle_to_obj``/``obj_to_location``."""

    class_index: int
    #: Page-array index of the zspage's first page (the zspage's identity).
    zspage_first_page: int
    #: Index, within its zspage, of the page the object starts in.
    page_in_zspage: int
    obj_idx: int
    #: Page-array index of the page the object starts in.
    page_index: int
    obj: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.class_index, self.zspage_first_page, self.page_in_zspage, self.obj_idx)


# --- the worker side ------------------------------------------------------------------------

_UL = ctypes.c_ulong
_L = ctypes.c_long
_I = ctypes.c_int
_U = ctypes.c_uint
_P = ctypes.c_char_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "h_zs_nr_stats": (_I, []), "h_zs_stat_name": (_P, [_I]), "h_zs_nr_fullness": (_I, []),
    "h_zs_size_classes": (_I, []), "h_zs_obj_index_bits": (_I, []),
    "h_zs_min_alloc_size": (_I, []), "h_zs_max_alloc_size": (_I, []),
    "h_zs_max_pages_per_zspage": (_I, []), "h_zs_handle_size": (_I, []),
    "h_zs_nr_pages": (_I, []), "h_zs_pfn_base": (_UL, []),
    "h_zs_stat_allocated": (_I, []), "h_zs_stat_used": (_I, []),
    "h_zs_set_nr_pages": (_I, [_L]), "h_zs_create": (_I, [_P]), "h_zs_destroy": (_I, []),
    "h_zs_pages_in_use": (_L, []), "h_zs_bad_pages": (_L, []), "h_zs_lock_errors": (_L, []),
    "h_zs_locks_held": (_L, []), "h_zs_zspages_stat": (_L, []), "h_zs_live_allocs": (_L, []),
    "h_zs_fail_page_allocs": (None, [_I]),
    "h_zs_malloc": (_UL, [_UL, _U]), "h_zs_free": (_I, [_UL]),
    "h_zs_payload_size": (_L, [_UL]),
    "h_zs_map": (_UL, [_UL, _I, ctypes.POINTER(_I)]), "h_zs_unmap": (_I, [_UL]),
    "h_zs_mapped_copy": (_I, [_UL, ctypes.c_char_p, _L, _I]),
    "h_zs_access": (_I, [_UL, ctypes.c_char_p, _L, _I, _I]),
    "h_zs_compact": (_UL, []), "h_zs_pages_compacted": (_L, []),
    "h_zs_shrink": (_I, [ctypes.POINTER(_UL)]), "h_zs_migrate": (_I, [_L]),
    "h_zs_total_pages": (_UL, []), "h_zs_huge_class_size": (_UL, []),
    "h_zs_slot_class": (_I, [_I]), "h_zs_class_info": (_I, [_I, ctypes.POINTER(_UL)]),
    "h_zs_location": (_I, [_UL, ctypes.POINTER(_UL)]),
    "h_zs_cpu_state": (_I, [_I, ctypes.POINTER(_L)]),
    "harness_set_context": (_I, [_I, _I]), "harness_set_fail_allocs": (None, [_I]),
}


@attrs.define
class ZsState:
    """The worker's handle on the library (made once in the fork server)."""

    lib: ctypes.CDLL
    stat_names: tuple[str, ...]
    nr_cpus: int = 2


def load(lib: ctypes.CDLL) -> ZsState:
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    n = lib.h_zs_nr_stats()
    names = tuple(lib.h_zs_stat_name(i).decode() for i in range(n))
    return ZsState(lib, names)


def _context(state: ZsState, context: str, cpu: int) -> None:
    """Every CPU back in process context, then ``cpu`` in ``context`` (the step's CPU)."""
    kind = CONTEXTS.get(context)
    if kind is None or not 0 <= cpu < state.nr_cpus:
        raise ValueError(f"bad context {context!r} on CPU {cpu}")
    for c in range(state.nr_cpus):
        state.lib.harness_set_context(0, c)
    state.lib.harness_set_context(kind, cpu)


def _signed(value: int) -> int:
    """An ``IS_ERR_VALUE`` unsigned long as its negative errno; any other value as it is."""
    return value - (1 << 64) if value >= (1 << 64) - MAX_ERRNO else value


def constants(state: ZsState) -> dict[str, int]:
    lib = state.lib
    return {"ZS_SIZE_CLASSES": lib.h_zs_size_classes(), "OBJ_INDEX_BITS":
            lib.h_zs_obj_index_bits(), "ZS_MIN_ALLOC_SIZE": lib.h_zs_min_alloc_size(),
            "ZS_MAX_ALLOC_SIZE": lib.h_zs_max_alloc_size(),
            "ZS_MAX_PAGES_PER_ZSPAGE": lib.h_zs_max_pages_per_zspage(),
            "ZS_HANDLE_SIZE": lib.h_zs_handle_size(), "NR_STATS": lib.h_zs_nr_stats(),
            "NR_FULLNESS": lib.h_zs_nr_fullness(), "STAT_ALLOCATED": lib.h_zs_stat_allocated(),
            "STAT_USED": lib.h_zs_stat_used(), "NR_PAGES": lib.h_zs_nr_pages(),
            "PFN_BASE": lib.h_zs_pfn_base()}


def stat_names(state: ZsState) -> tuple[str, ...]:
    return state.stat_names


def set_nr_pages(state: ZsState, n: int) -> int:
    return int(state.lib.h_zs_set_nr_pages(n))


def create(state: ZsState, name: str) -> int:
    _context(state, "process", 0)
    return int(state.lib.h_zs_create(name.encode()))


def destroy(state: ZsState) -> ZsLeftovers:
    _context(state, "process", 0)
    lib = state.lib
    lib.h_zs_destroy()
    return ZsLeftovers(lib.h_zs_pages_in_use(), lib.h_zs_lock_errors(), lib.h_zs_locks_held(),
                       lib.h_zs_bad_pages(), lib.h_zs_live_allocs(), lib.h_zs_zspages_stat())


def leftovers(state: ZsState) -> ZsLeftovers:
    lib = state.lib
    return ZsLeftovers(lib.h_zs_pages_in_use(), lib.h_zs_lock_errors(), lib.h_zs_locks_held(),
                       lib.h_zs_bad_pages(), lib.h_zs_live_allocs(), lib.h_zs_zspages_stat())


def malloc(state: ZsState, size: int, gfp: int, context: str = "process", cpu: int = 0) -> int:
    _context(state, context, cpu)
    return _signed(int(state.lib.h_zs_malloc(size, gfp)))


def free(state: ZsState, handle: int, context: str = "process", cpu: int = 0) -> int:
    _context(state, context, cpu)
    return int(state.lib.h_zs_free(handle & _MASK64))


def malloc_write(state: ZsState, size: int, gfp: int, data: bytes, context: str = "process",
                 cpu: int = 0) -> int:
    """``zs_malloc`` and, when it succeeded, a ``ZS_MM_WO`` write of ``data``: the handle."""
    handle = malloc(state, size, gfp, context, cpu)
    if handle > 0 and data:
        rc = write(state, handle, data, context, cpu)
        if rc:
            raise ValueError(f"write of {len(data)} bytes into a {size}-byte object: {rc}")
    return handle


def payload_size(state: ZsState, handle: int) -> int:
    _context(state, "process", 0)
    return int(state.lib.h_zs_payload_size(handle & _MASK64))


def write(state: ZsState, handle: int, data: bytes, context: str = "process",
          cpu: int = 0) -> int:
    _context(state, context, cpu)
    return int(state.lib.h_zs_access(handle & _MASK64, data, len(data), MAP_MODES["wo"], 1))


def read(state: ZsState, handle: int, n: int, context: str = "process",
         cpu: int = 0) -> bytes | int:
    _context(state, context, cpu)
    buf = ctypes.create_string_buffer(max(n, 1))
    rc = int(state.lib.h_zs_access(handle & _MASK64, buf, n, MAP_MODES["ro"], 0))
    return buf.raw[:n] if rc == 0 else rc


def map_object(state: ZsState, handle: int, mode: str, context: str,
               cpu: int) -> tuple[int, bool]:
    _context(state, context, cpu)
    spans = ctypes.c_int(0)
    addr = int(state.lib.h_zs_map(handle & _MASK64, MAP_MODES[mode], ctypes.byref(spans)))
    return _signed(addr), bool(spans.value)


def unmap_object(state: ZsState, handle: int, context: str, cpu: int) -> int:
    _context(state, context, cpu)
    return int(state.lib.h_zs_unmap(handle & _MASK64))


def mapped_read(state: ZsState, handle: int, n: int, cpu: int) -> bytes | int:
    state.lib.harness_set_context(0, cpu)
    buf = ctypes.create_string_buffer(max(n, 1))
    rc = int(state.lib.h_zs_mapped_copy(handle & _MASK64, buf, n, 0))
    return buf.raw[:n] if rc == 0 else rc


def mapped_write(state: ZsState, handle: int, data: bytes, cpu: int) -> int:
    state.lib.harness_set_context(0, cpu)
    return int(state.lib.h_zs_mapped_copy(handle & _MASK64, data, len(data), 1))


def compact(state: ZsState) -> int:
    _context(state, "process", 0)
    return int(state.lib.h_zs_compact())


def pages_compacted(state: ZsState) -> int:
    return int(state.lib.h_zs_pages_compacted())


def shrink(state: ZsState) -> tuple[int, int]:
    _context(state, "process", 0)
    out = (_UL * 2)()
    state.lib.h_zs_shrink(out)
    return int(out[0]), int(out[1])


def migrate(state: ZsState, page_index: int) -> int:
    _context(state, "process", 0)
    return int(state.lib.h_zs_migrate(page_index))


def total_pages(state: ZsState) -> int:
    _context(state, "process", 0)
    return int(state.lib.h_zs_total_pages())


def huge_class_size(state: ZsState) -> int:
    return int(state.lib.h_zs_huge_class_size())


def _class_rows(state: ZsState) -> list[tuple[int, ...]]:
    lib = state.lib
    width = 4 + len(state.stat_names)
    out = (_UL * width)()
    rows = []
    for i in range(lib.h_zs_size_classes()):
        if lib.h_zs_class_info(i, out) == 1:
            rows.append(tuple(int(v) for v in out))
    return rows


def class_stats(state: ZsState) -> tuple[tuple[int, ...], ...]:
    """(index, size, pages_per_zspage, objs_per_zspage, *stats) of every class with a
    non-zero stat."""
    return tuple(r for r in _class_rows(state) if any(r[4:]))


def class_table(state: ZsState) -> tuple[tuple[tuple[int, int, int, int], ...],
                                         tuple[int, ...]]:
    """Every distinct class as (index, size, pages_per_zspage, objs_per_zspage), and for
    every slot of ``pool->size_class[]`` the index of the class it points to."""
    rows = tuple((r[0], r[1], r[2], r[3]) for r in _class_rows(state))
    slots = tuple(int(state.lib.h_zs_slot_class(i))
                  for i in range(state.lib.h_zs_size_classes()))
    return rows, slots


def location(state: ZsState, handle: int) -> ZsLocation:
    _context(state, "process", 0)
    out = (_UL * 6)()
    state.lib.h_zs_location(handle & _MASK64, out)
    return ZsLocation(*(int(v) for v in out))


def fail_page_allocs(state: ZsState, n: int) -> int:
    state.lib.h_zs_fail_page_allocs(n)
    return n


def fail_allocs(state: ZsState, n: int) -> int:
    state.lib.harness_set_fail_allocs(n)
    return n


def cpu_state(state: ZsState, cpu: int) -> ZsCpuState:
    out = (_L * 6)()
    state.lib.h_zs_cpu_state(cpu, out)
    return ZsCpuState(cpu, *(int(v) for v in out))


def run_ops(state: ZsState, ops: list[tuple[Any, ...]]) -> list[Any]:
    """Several operations in one round trip: ``(name, *args)`` each, results in order."""
    table = globals()
    return [table[name](state, *args) for name, *args in ops]


# --- the parent side ----------------------------------------------------------------------


class RealZsPool:
    """One pool of the real zsmalloc inside ``kernel`` (a fresh forked kernel).

    Every method returns the :class:`~kernel.process.CallResult` of its call (the value and the
    kernel's events); a BUG, an oops or a lockup raises its typed failure (``BugOn``,
    ``KernelOops``, ``KernelHang``) and leaves the kernel dead.
    """

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def _call(self, fn: str, *args: Any) -> CallResult:
        return self.kernel.call(fn, *args)

    def constants(self) -> CallResult:
        """value: dict of the build's constants (ZS_SIZE_CLASSES, OBJ_INDEX_BITS, ...)."""
        return self._call("constants")

    def stat_names(self) -> CallResult:
        """value: the names of the per-class stat vector, in order (6 on 6.1, 14 on 6.12)."""
        return self._call("stat_names")

    def set_nr_pages(self, n: int) -> CallResult:
        """The size of the machine's page array (before :meth:`create`); value 0 or -EBUSY."""
        return self._call("set_nr_pages", n)

    def create(self, name: str = "dyndiet") -> CallResult:
        """``zs_init`` (once per kernel) and ``zs_create_pool``: value 0, or -ENOMEM."""
        return self._call("create", name)

    def malloc(self, size: int, gfp: int, *, context: str = "process",
               cpu: int = 0) -> CallResult:
        """``zs_malloc``: value the handle, or the negative errno of its ``ERR_PTR``."""
        return self._call("malloc", size, gfp, context, cpu)

    def free(self, handle: int, *, context: str = "process", cpu: int = 0) -> CallResult:
        return self._call("free", handle, context, cpu)

    def payload_size(self, handle: int) -> CallResult:
        """Bytes usable at the mapped address: ``class->size - 8``, a huge class's whole size."""
        return self._call("payload_size", handle)

    def write(self, handle: int, data: bytes, *, context: str = "process",
              cpu: int = 0) -> CallResult:
        """Map ``ZS_MM_WO``, copy ``data``, unmap: value 0, or -EINVAL when ``data`` is longer
        than the object (the harness does not write past it)."""
        return self._call("write", handle, bytes(data), context, cpu)

    def read(self, handle: int, n: int, *, context: str = "process",
             cpu: int = 0) -> CallResult:
        """Map ``ZS_MM_RO``, copy ``n`` bytes out, unmap: value the bytes (or -EINVAL)."""
        return self._call("read", handle, n, context, cpu)

    def map(self, handle: int, mode: str, context: str, cpu: int) -> CallResult:
        """``zs_map_object`` left open (mode ``"rw"``, ``"ro"`` or ``"wo"``): value
        ``(address, spans)``, ``spans`` when the address is the CPU's copy buffer."""
        return self._call("map_object", handle, mode, context, cpu)

    def unmap(self, handle: int, context: str, cpu: int) -> CallResult:
        return self._call("unmap_object", handle, context, cpu)

    def mapped_read(self, handle: int, n: int, cpu: int) -> CallResult:
        """``n`` bytes through the open mapping of ``handle`` on ``cpu`` (-ENOENT if none)."""
        return self._call("mapped_read", handle, n, cpu)

    def mapped_write(self, handle: int, data: bytes, cpu: int) -> CallResult:
        return self._call("mapped_write", handle, bytes(data), cpu)

    def compact(self) -> CallResult:
        """``zs_compact``: value its return (pages freed by this call in 6.1 and 6.12)."""
        return self._call("compact")

    def pages_compacted(self) -> CallResult:
        """``zs_pool_stats``: value ``pages_compacted``."""
        return self._call("pages_compacted")

    def shrink(self) -> CallResult:
        """The registered shrinker's count_objects, then scan_objects: value (count, scan),
        as unsigned longs (scan ``SHRINK_STOP`` = 2**64 - 1 when nothing was freed)."""
        return self._call("shrink")

    def migrate(self, page_index: int) -> CallResult:
        """Isolate and migrate the page at ``page_index`` of the page array through the real
        ``zs_page_isolate``/``zs_page_migrate``/``zs_page_putback`` (glue.c: h_zs_migrate
        approximates mm/migrate.c): value 0 or -errno (-EBUSY: not an isolatable page)."""
        return self._call("migrate", page_index)

    def total_pages(self) -> CallResult:
        return self._call("total_pages")

    def huge_class_size(self) -> CallResult:
        return self._call("huge_class_size")

    def class_stats(self) -> CallResult:
        """value: (index, size, pages_per_zspage, objs_per_zspage, *stats) per class with a
        non-zero stat; the stat names are :meth:`stat_names`."""
        return self._call("class_stats")

    def class_table(self) -> CallResult:
        """value: (every distinct class as (index, size, pages_per_zspage, objs_per_zspage),
        the class index of every slot of ``pool->size_class[]``)."""
        return self._call("class_table")

    def location(self, handle: int) -> CallResult:
        """value: (class_index, zspage_first_page_index, page_in_zspage, obj_idx)."""
        res = self._call("location", handle)
        return CallResult(res.value.as_tuple(), res.events)

    def location_full(self, handle: int) -> CallResult:
        """value: the :class:`ZsLocation` (with the page index and the raw obj)."""
        return self._call("location", handle)

    def fail_page_allocs(self, n: int) -> CallResult:
        """The next ``n`` page allocations fail."""
        return self._call("fail_page_allocs", n)

    def fail_allocs(self, n: int) -> CallResult:
        """The next ``n`` slab allocations (kmalloc, kmem_cache_alloc) fail."""
        return self._call("fail_allocs", n)

    def cpu_state(self, cpu: int) -> CallResult:
        """value: the :class:`ZsCpuState` of ``cpu``."""
        return self._call("cpu_state", cpu)

    def leftovers(self) -> CallResult:
        return self._call("leftovers")

    def run(self, ops: list[tuple[Any, ...]]) -> CallResult:
        """Several worker operations in one round trip (``(name, *args)``; names of this
        module's worker functions); value their results in order."""
        return self._call("run_ops", ops)

    def destroy(self) -> CallResult:
        """``zs_destroy_pool``: value the :class:`ZsLeftovers` (pages in use and lock errors
        should be 0)."""
        return self._call("destroy")
