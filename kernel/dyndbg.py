"""The real ``lib/dynamic_debug.c`` built in user space, and a typed way to drive it.

Three layers:

* the build: :func:`dyndbg_area` names the files (the kernel's ``lib/dynamic_debug.c``, included
  by ``kernel/shim/dyndbg/glue.c``; the kernel's own ``lib/string_helpers.c``,
  ``lib/kstrtox.c``, ``lib/parser.c`` and ``lib/ctype.c`` as units; the shims of
  ``kernel/shim/include``) and the flags: ``CONFIG_JUMP_LABEL`` or not, and the features the
  source text shows (:func:`features`), never a version number;
* the worker side (``load`` and one function per operation, run by :mod:`kernel.server` in a
  forked worker): plain picklable arguments in, plain values out;
* the parent side, :class:`RealDyndbg`: what the differential machines call, with model
  images (:class:`model.linker.ModuleImage`) and their :class:`model.memory.AddressSpace`.

Strings are placed as the model's linker placed them: each model region a record points
into is copied to memory at the same offset in its page, each pointer relocated into the
copy, so odd pointers stay odd and shared tails stay shared.  Records are built by the C side
field by field; their size and field offsets come from the compiler (:func:`ddebug_layout`).
"""

from __future__ import annotations

import ctypes
import re
from functools import lru_cache
from typing import Any

import attrs

from kernel.build import Area
from kernel.process import CallResult, Kernel
from kernel.sources import KernelSource
from model.linker import ModuleImage
from model.memory import AddressSpace

__all__ = [
    "CONTEXTS", "DdebugField", "RealDyndbg", "RealSite", "dyndbg_area", "features",
]

#: ``context`` of :meth:`RealDyndbg.hit`, as harness_set_context numbers them.
CONTEXTS: dict[str, int] = {"process": 0, "softirq": 1, "hardirq": 2}
#: Fields :func:`ddebug_layout` reports, in the glue's numbering (h_ddebug_field).
FIELDS: tuple[str, ...] = (
    "modname", "function", "filename", "format", "lineno", "class_id", "flags",
    "key.dd_key_true.key.enabled.counter", "key.dd_key_true.key.type",
)
_STRINGS = ("modname", "function", "filename", "format")
#: What ``h_*`` entries return when a fatal event ended the call (HARNESS_ENTER's err).
_DEAD = -1000
#: ``cat`` reads the control file 128 KiB at a time.
READ_CHUNK = 128 * 1024


# --- the build -------------------------------------------------------------------------------

@lru_cache(maxsize=16)
def features(source: KernelSource) -> tuple[str, ...]:
    """Feature macros for the glue, read from the source text: ``DYNDIET_MODULE_NOTIFIER``
    when ``lib/dynamic_debug.c`` registers ``ddebug_module_notify`` (modules come and go
    through the notifier, 6.4+; before, kernel/module calls ``ddebug_add_module`` /
    ``ddebug_remove_module``), ``DYNDIET_SOURCENAME`` when the header has the ``s`` flag,
    ``DYNDIET_CLASSES`` when the record has ``class_id``."""
    text = source.path("lib/dynamic_debug.c").read_text(errors="replace")
    header = source.path("include/linux/dynamic_debug.h").read_text(errors="replace")
    out = []
    if re.search(r"\bddebug_module_notify\b", text):
        out.append("DYNDIET_MODULE_NOTIFIER")
    if "_DPRINTK_FLAGS_INCL_SOURCENAME" in header:
        out.append("DYNDIET_SOURCENAME")
    if re.search(r"\bclass_id\s*:", header):
        out.append("DYNDIET_CLASSES")
    return tuple(out)


def dyndbg_area(source: KernelSource, jump_label: bool) -> Area:
    """The dyndbg build of ``source``, with or without ``CONFIG_JUMP_LABEL``."""
    feats = features(source)
    cflags = ["-DCONFIG_DYNAMIC_DEBUG", "-DCONFIG_DYNAMIC_DEBUG_CORE", "-DCONFIG_MODULES",
              "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types",
              "-Werror=int-conversion"]
    if jump_label:
        cflags.append("-DCONFIG_JUMP_LABEL")
    cflags += [f"-D{f}" for f in feats]
    return Area(
        name="dyndbg-jl" if jump_label else "dyndbg",
        glue=("dyndbg/glue.c", "dyndbg/mem.c", "include/kshim.c"),
        kernel_units=("lib/string_helpers.c", "lib/kstrtox.c", "lib/parser.c", "lib/ctype.c"),
        kernel_files=("lib/dynamic_debug.c", "include/linux/dynamic_debug.h"),
        shim_include=("include",),
        binding="kernel.dyndbg",
        cflags=tuple(cflags),
    )


# --- the worker side -------------------------------------------------------------------------

_C = ctypes
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "h_image_new": (_C.c_int, [_C.c_char_p, _C.c_int, _C.c_ulong, _C.c_int]),
    "h_region_map": (_C.c_int, [_C.c_int, _C.c_ulong, _C.c_char_p, _C.c_ulong]),
    "h_image_set": (_C.c_int, [_C.c_int, _C.c_int, _C.c_ulong, _C.c_ulong, _C.c_ulong,
                               _C.c_ulong, _C.c_uint, _C.c_uint, _C.c_uint]),
    "h_image_add_class": (_C.c_int, [_C.c_int, _C.c_char_p, _C.c_int, _C.c_int, _C.c_char_p,
                                     _C.c_int]),
    "h_boot": (_C.c_int, [_C.c_int, _C.c_char_p]),
    "h_set_verbose": (_C.c_int, [_C.c_int]),
    "h_exec_queries": (_C.c_int, [_C.c_char_p, _C.c_char_p]),
    "h_control_write": (_C.c_long, [_C.c_char_p, _C.c_ulong]),
    "h_control_read": (_C.c_long, [_C.c_void_p, _C.c_ulong, _C.c_ulong]),
    "h_insmod": (_C.c_int, [_C.c_int, _C.c_int, _C.c_char_p]),
    "h_rmmod": (_C.c_int, [_C.c_int]),
    "h_site_listed": (_C.c_int, [_C.c_int, _C.c_int]),
    "h_hit": (_C.c_int, [_C.c_int, _C.c_int, _C.c_int, _C.c_int, _C.c_int, _C.c_char_p,
                         _C.c_void_p, _C.c_int]),
    "h_site_str": (_C.c_char_p, [_C.c_int, _C.c_int, _C.c_int]),
    "h_site_addr": (_C.c_ulong, [_C.c_int, _C.c_int, _C.c_int]),
    "h_site_ptr": (_C.c_ulong, [_C.c_int, _C.c_int, _C.c_int]),
    "h_site_int": (_C.c_long, [_C.c_int, _C.c_int, _C.c_int]),
    "h_site_record": (_C.c_ulong, [_C.c_int, _C.c_int]),
    "h_sizeof_ddebug": (_C.c_ulong, []),
    "h_alignof_ddebug": (_C.c_ulong, []),
    "h_ddebug_field": (_C.c_int, [_C.c_int, _C.c_int]),
    "h_late_init": (_C.c_int, []),
}
#: Entries of the zsmalloc part, present when the build links the real zsmalloc in
#: (``dyndbg_area(...).with_part(zsmalloc_area(...))``).
_ZS_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "h_zs_init": (_C.c_int, []),
    "h_zs_shrink": (_C.c_int, [_C.c_void_p]),
    "h_zs_fail_page_allocs": (None, [_C.c_int]),
    "h_zs_pages_in_use": (_C.c_long, []),
}


@attrs.define
class State:
    """The worker's view: the library and which image slot holds which image."""

    lib: ctypes.CDLL
    images: dict[str, int] = attrs.field(factory=dict)


def load(lib: ctypes.CDLL) -> State:
    """Declare the glue's entry points (run once in the server, before any fork)."""
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    for name, (res, args) in _ZS_SIGNATURES.items():
        if hasattr(lib, name):
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
    return State(lib)


def has_zsmalloc(state: State) -> bool:
    """Whether the real zsmalloc is linked into this build."""
    return hasattr(state.lib, "h_zs_init")


#: One image as plain values: (name, builtin, records_addr, regions [(base, bytes)],
#: records [(modname, function, filename, format, lineno, class_id, flags)],
#: classes [(mod_name, base, map_type, names)]).
ImageData = tuple[str, bool, int, list[tuple[int, bytes]],
                  list[tuple[int, int, int, int, int, int, int]],
                  list[tuple[str, int, int, tuple[str, ...]]]]

_MAP_TYPES = {"DD_CLASS_TYPE_DISJOINT_BITS": 0, "DD_CLASS_TYPE_LEVEL_NUM": 1,
              "DD_CLASS_TYPE_DISJOINT_NAMES": 2, "DD_CLASS_TYPE_LEVEL_NAMES": 3}


def _place(state: State, data: ImageData) -> int:
    name, builtin, records_addr, regions, records, classes = data
    lib = state.lib
    img = int(lib.h_image_new(name.encode("latin-1"), int(builtin), records_addr, len(records)))
    if img < 0:
        raise RuntimeError(f"h_image_new({name}): {img}")
    for base, blob in regions:
        rc = int(lib.h_region_map(img, base, blob, len(blob)))
        if rc < 0:
            raise RuntimeError(f"h_region_map({name}, {base:#x}): {rc}")
    for k, (m, f, fn, fmt, line, cls, flags) in enumerate(records):
        rc = int(lib.h_image_set(img, k, m, f, fn, fmt, line, cls, flags))
        if rc < 0:
            raise RuntimeError(f"record {k} of {name}: a pointer into no region ({rc})")
    for mod_name, base, map_type, names in classes:
        blob = b"".join(n.encode("latin-1") + b"\0" for n in names)
        lib.h_image_add_class(img, mod_name.encode("latin-1"), base, map_type, blob, len(names))
    state.images[name] = img
    return img


def _cstr(text: str | None) -> bytes | None:
    return None if text is None else text.encode("latin-1")


def boot(state: State, vmlinux: ImageData, cmdline: str, verbose: int) -> int:
    img = _place(state, vmlinux)
    if verbose:
        state.lib.h_set_verbose(verbose)
    if has_zsmalloc(state):  # zsmalloc's module_init comes first (device_initcall < ...)
        rc = int(state.lib.h_zs_init())
        if rc:
            return rc
    return int(state.lib.h_boot(img, cmdline.encode("latin-1")))


def late_init(state: State) -> int:
    """Every registered ``late_initcall``; the number run."""
    return int(state.lib.h_late_init())


def shrink(state: State) -> tuple[int, int]:
    """The zsmalloc pool's shrinker (count, then scan: ``zs_compact``); (0, 0) without one."""
    if not has_zsmalloc(state):
        return (0, 0)
    out = (ctypes.c_ulong * 2)()
    state.lib.h_zs_shrink(out)
    return (int(out[0]), int(out[1]))


def resident(state: State) -> tuple[int, int, int]:
    """What the kernel holds now: (slab objects, slab bytes, zsmalloc pages in use)."""
    lib = state.lib
    lib.harness_live_bytes.restype = ctypes.c_ulong
    lib.harness_live_allocs.restype = ctypes.c_ulong
    pages = int(lib.h_zs_pages_in_use()) if has_zsmalloc(state) else 0
    return int(lib.harness_live_allocs()), int(lib.harness_live_bytes()), pages


def fail_page_allocs(state: State, n: int) -> int:
    """The next ``n`` zsmalloc page allocations fail (nothing without zsmalloc linked in)."""
    if has_zsmalloc(state):
        state.lib.h_zs_fail_page_allocs(n)
    return n


def fail_allocs(state: State, n: int) -> int:
    """The next ``n`` slab allocations (kmalloc, kmem_cache_alloc) fail."""
    state.lib.harness_set_fail_allocs(n)
    return n


def exec_queries(state: State, text: str, modname: str | None) -> int:
    return int(state.lib.h_exec_queries(text.encode("latin-1"), _cstr(modname)))


def control_write(state: State, data: bytes) -> int:
    return int(state.lib.h_control_write(data, len(data)))


def control_read(state: State, chunk: int = READ_CHUNK) -> str | int:
    cap = 1 << 16
    while True:
        buf = ctypes.create_string_buffer(cap)
        n = int(state.lib.h_control_read(buf, cap, chunk))
        if n < 0:
            return n
        if n < cap:
            return buf.raw[:n].decode("latin-1")
        cap *= 4


def insmod(state: State, image: ImageData, dyndbg: str | None, with_param: bool) -> int:
    img = _place(state, image)
    return int(state.lib.h_insmod(img, int(with_param), _cstr(dyndbg)))


def rmmod(state: State, name: str) -> int:
    img = state.images.pop(name, None)
    if img is None:
        return -2  # -ENOENT: not loaded
    return int(state.lib.h_rmmod(img))


def hit(state: State, name: str, k: int, context: int, cpu: int, pid: int,
        text: str) -> str | int | None:
    img = state.images.get(name)
    if img is None:
        return None
    out = ctypes.create_string_buffer(4096)
    n = int(state.lib.h_hit(img, k, context, cpu, pid, text.encode("latin-1"), out, 4096))
    if n == -1 or n == -2:
        return None
    if n < 0:
        return n
    return out.raw[:n].decode("latin-1")


def site(state: State, name: str, k: int) -> tuple[Any, ...] | None:
    img = state.images.get(name)
    lib = state.lib
    if img is None or not lib.h_site_listed(img, k):
        return None
    strs = tuple(lib.h_site_str(img, k, w).decode("latin-1") for w in range(4))
    ints = tuple(int(lib.h_site_int(img, k, w)) for w in range(4))
    return (*strs, *ints)


def site_addrs(state: State, name: str, k: int) -> tuple[int, ...] | None:
    """(record address here, each string pointer here, each as the model address)."""
    img = state.images.get(name)
    lib = state.lib
    if img is None:
        return None
    return (int(lib.h_site_record(img, k)),
            *(int(lib.h_site_ptr(img, k, w)) for w in range(4)),
            *(int(lib.h_site_addr(img, k, w)) for w in range(4)))


def layout(state: State) -> tuple[int, int, tuple[tuple[str, int, int], ...]]:
    """(sizeof, alignof, ((field, bit offset, bit size), ...)) of struct _ddebug."""
    lib = state.lib
    fields = []
    for i, name in enumerate(FIELDS):
        off = int(lib.h_ddebug_field(i, 0))
        if off >= 0:
            fields.append((name, off, int(lib.h_ddebug_field(i, 1))))
    return int(lib.h_sizeof_ddebug()), int(lib.h_alignof_ddebug()), tuple(fields)


# --- the parent side -------------------------------------------------------------------------

@attrs.frozen
class RealSite:
    """One callsite as the real code holds it (``key_enabled`` None without jump labels)."""

    modname: str
    function: str
    filename: str
    format: str
    lineno: int
    class_id: int
    flags: int
    key_enabled: bool | None


@attrs.frozen
class DdebugField:
    """One field of the compiled ``struct _ddebug``: bit offset and bit size."""

    name: str
    offset_bits: int
    size_bits: int


def image_data(image: ModuleImage, space: AddressSpace) -> ImageData:
    """``image`` as plain values: the regions of ``space`` its records point into, its
    records' pointers and fields, its class maps."""
    regions: dict[int, bytes] = {}
    records = []
    for c in image.callsites:
        for addr in (c.modname, c.function, c.filename, c.format):
            region = space.region_at(addr)
            if region is None:
                raise ValueError(f"{image.name}: a string pointer {addr:#x} is in no region")
            regions.setdefault(region.base, bytes(region.data))
        s = c.spec
        records.append((c.modname, c.function, c.filename, c.format, s.lineno, s.class_id,
                        s.flags))
    classes = [(mod, m.base, _MAP_TYPES.get(m.map_type, 0), tuple(m.class_names))
               for mod, m in image.classes]
    return (image.name, image.builtin, image.records_addr, sorted(regions.items()), records,
            classes)


class RealDyndbg:
    """One real kernel (a forked worker) running ``lib/dynamic_debug.c``.

    ``pid_base``: ``current->pid`` on CPU ``n`` is ``pid_base + n``, as
    :meth:`model.context.KernelContext.pid` has it.
    """

    def __init__(self, kernel: Kernel, *, pid_base: int = 100) -> None:
        self.kernel = kernel
        self.pid_base = pid_base
        self.formats: dict[str, tuple[str, ...]] = {}

    def boot(self, vmlinux: ModuleImage, space: AddressSpace, jump_label: bool,
             cmdline: str = "", *, verbose: int = 0) -> CallResult:
        """``dynamic_debug_init`` over ``vmlinux``'s records with ``cmdline`` as the boot
        command line (its ``dyndbg=`` and ``foo.dyndbg=`` applied as the real init applies
        them), then ``dynamic_debug_init_control``; value: ``dynamic_debug_init``'s rc."""
        if vmlinux.jump_label != jump_label:
            raise ValueError("vmlinux was linked with another CONFIG_JUMP_LABEL")
        self.formats["vmlinux"] = tuple(c.spec.format for c in vmlinux.callsites)
        return self._call("boot", image_data(vmlinux, space), cmdline, verbose)

    def exec_queries(self, text: str, modname: str | None = None) -> CallResult:
        """``ddebug_exec_queries(text, modname)``; value: its rc."""
        return self._call("exec_queries", text, modname)

    def control_write(self, text: str) -> CallResult:
        """``write(2)`` of ``text`` (latin-1) to the control file; value: bytes written or
        -errno (-ENOENT when a failed init made no control file)."""
        return self._call("control_write", text.encode("latin-1"))

    def control_read(self, *, chunk: int = READ_CHUNK) -> CallResult:
        """``cat`` of the control file, ``read(2)`` by ``chunk`` bytes; value: the whole text
        (or -ENOENT when a failed init made no control file)."""
        return self._call("control_read", chunk)

    def insmod(self, image: ModuleImage, space: AddressSpace, dyndbg: str | None,
               with_param: bool) -> CallResult:
        """Load ``image``: its table (6.1 ``ddebug_add_module``; 6.4+ the module notifier,
        ``MODULE_STATE_COMING``), then with ``with_param`` its ``dyndbg`` parameter
        (``ddebug_dyndbg_module_param_cb``, ``dyndbg`` None: a bare ``dyndbg``); value: the
        add's rc (the notifier's, converted back with ``notifier_to_errno``)."""
        self.formats[image.name] = tuple(c.spec.format for c in image.callsites)
        return self._call("insmod", image_data(image, space), dyndbg, with_param)

    def rmmod(self, name: str) -> CallResult:
        """Unload: 6.1 ``ddebug_remove_module(mod->name)`` (value: its rc); 6.4+ the notifier's
        ``MODULE_STATE_GOING`` (value: 0, the notifier drops the remove's rc); then the
        module's memory is unmapped."""
        self.formats.pop(name, None)
        return self._call("rmmod", name)

    def hit(self, image_name: str, k: int, context: str, cpu: int) -> CallResult:
        """The ``pr_debug`` of record ``k`` of ``image_name`` runs on ``cpu`` in ``context``
        with its format as the message; value: ``(prefix, message)`` printed, or None."""
        fmts = self.formats.get(image_name)
        if fmts is None:
            return CallResult(None, ())
        text = fmts[k]
        res = self._call("hit", image_name, k, CONTEXTS[context], cpu, self.pid_base + cpu,
                         text)
        if isinstance(res.value, str):
            line = res.value
            if not line.endswith(text):
                raise AssertionError(f"pr_debug printed {line!r}, not ending in {text!r}")
            value: Any = (line[: len(line) - len(text)], text)
        else:
            value = res.value
        return CallResult(value, res.events)

    def site(self, image_name: str, k: int) -> CallResult:
        """Record ``k`` of ``image_name`` as the real code holds it: a :class:`RealSite`, or
        None when no table lists it (the module is gone)."""
        res = self._call("site", image_name, k)
        if res.value is None:
            return res
        m, f, fn, fmt, line, cls, flags, key = res.value
        return CallResult(RealSite(m, f, fn, fmt, line, cls, flags,
                                   None if key < 0 else bool(key)), res.events)

    def site_addrs(self, image_name: str, k: int) -> CallResult:
        """Record ``k``'s address here, its four pointers here, and the model addresses they
        stand for (parity checks)."""
        return self._call("site_addrs", image_name, k)

    def layout(self) -> tuple[int, int, tuple[DdebugField, ...]]:
        """``sizeof``/``alignof`` of the compiled ``struct _ddebug`` and its fields."""
        size, align, fields = self._call("layout").value
        return size, align, tuple(DdebugField(*f) for f in fields)

    def late_init(self) -> CallResult:
        """``late_initcall``: every late initcall of the build (a patch's pool copy); value:
        how many ran."""
        return self._call("late_init")

    def shrink(self) -> CallResult:
        """The zsmalloc pool's shrinker, when the build has one: value (count, scanned)."""
        return self._call("shrink")

    def fail_allocs(self, n: int) -> CallResult:
        """The next ``n`` slab allocations fail."""
        return self._call("fail_allocs", n)

    def resident(self) -> CallResult:
        """value: (slab objects, slab bytes, zsmalloc pages) the kernel holds now."""
        return self._call("resident")

    def fail_page_allocs(self, n: int) -> CallResult:
        """The next ``n`` zsmalloc page allocations fail (a pool's ``zs_malloc`` that needs a
        new zspage gets -ENOMEM)."""
        return self._call("fail_page_allocs", n)

    def _call(self, fn: str, *args: Any) -> CallResult:
        res = self.kernel.call(fn, *args)
        if isinstance(res.value, int) and res.value == _DEAD:
            raise RuntimeError(f"{fn}: the kernel is dead")
        return res
