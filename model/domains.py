"""Value domains: the words that can reach a tagged slot, per ABI, with their real alignment.

A tagging scheme is only as good as its assumption about the values it meets.  This module lists
those values, each as a :class:`Domain`: an arithmetic set of unsigned ``BITS_PER_LONG``-bit
words with a guaranteed alignment, an address range from the model's kernel address map
(:mod:`model.abi`), the ELF section or allocator it comes from, and where the fact is from.

Two roles:

* ``handle`` domains are what a scheme *encodes*: handles of the allocators and zpool backends
  (zsmalloc, zbud, z3fold including its odd *headless* handles), the error values of the current
  era, table indices, plain ``long`` values.
* ``value`` domains are the untagged words that may *share* the tagged word: string literals of
  each ``.rodata.str1.N`` kind, ``__func__`` arrays, ``struct _ddebug`` records, slab objects,
  function pointers, ``NULL``, zsmalloc's free-object links.

String and ``__func__`` alignments come from :mod:`model.sections` (GCC 12, measured);
function-pointer alignments are measured here (``tests/test_tagging_toolchain.py`` re-measures
them with the cross compilers).
"""

from __future__ import annotations

from typing import Literal

import attrs

from model.abi import Abi, align_up
from model.errnos import EINVAL, ENOMEM, ENOSPC, MAX_ERRNO
from model.errors import InputError
from model.sections import func_array_align, record_section, string_section

Role = Literal["handle", "value"]
#: ``up``: ``base + (k // len(residues)) * step + residues[k % len(residues)]``, increasing;
#: ``down``: ``base - k`` (error values from -1 down); ``zigzag``: 0, -1, 1, -2, 2, ... as words;
#: ``listed``: exactly ``listed``, in that order.
Order = Literal["up", "down", "zigzag", "listed"]

#: The alignment reported for a domain whose only value is 0 (``NULL``).
ALIGN_ANY = 1 << 16

#: Size of the modelled pieces of the kernel address map (model addresses, not measured).
RODATA_OFFSET = 16 << 20   # .rodata of vmlinux: kernel_base + 16 MiB ...
RODATA_SIZE = 16 << 20     # ... 16 MiB long
DATA_OFFSET = 32 << 20     # .data (where __dyndbg lives): kernel_base + 32 MiB
DATA_SIZE = 8 << 20
MODULE_AREA = 16 << 20     # the first 16 MiB of the module area (arm has exactly 16 MiB)
TEXT_SIZE = 16 << 20       # vmlinux .text: kernel_base ... + 16 MiB


def word_bits(abi: Abi) -> int:
    return abi.bits_per_long


def to_word(value: int, bits: int) -> int:
    """``(unsigned long)value``."""
    return value & ((1 << bits) - 1)


def to_long(word: int, bits: int) -> int:
    """``(long)word``: the two's-complement reading of an unsigned word."""
    return word - (1 << bits) if word >> (bits - 1) else word


def linear_map(abi: Abi) -> tuple[int, int]:
    """``[lo, hi)`` of the model's linear map (``PAGE_OFFSET`` + lowmem), where slab objects and
    pages live.  The first page is left out (no slab page is at ``PAGE_OFFSET`` itself; on s390x,
    where ``PAGE_OFFSET`` is 0, it is the lowcore).  32-bit: 768 MiB of lowmem; 64-bit: 64 GiB."""
    span = (768 << 20) if abi.bits_per_long == 32 else (64 << 30)
    return abi.page_offset + abi.page_size, abi.page_offset + span


def _pow2_divisor(v: int, cap: int) -> int:
    """Largest power of two dividing ``v`` (``cap`` when ``v`` is 0)."""
    if v == 0:
        return cap
    return min(v & -v, cap)


@attrs.frozen
class Domain:
    """A set of words that can reach a tagged slot.

    ``key`` is short and stable (``str-short``); ``title`` says what the values are; ``section``
    names the ELF section or allocator they come from; ``source`` says where the fact is from.
    """

    key: str
    title: str
    role: Role
    abi: str
    bits: int
    section: str
    source: str
    order: Order
    count: int
    base: int = 0
    step: int = 1
    residues: tuple[int, ...] = (0,)
    listed: tuple[int, ...] = ()
    era: str = "all"

    def __attrs_post_init__(self) -> None:
        if self.count < 1:
            raise InputError(f"domain {self.key} is empty")
        if self.order == "listed" and len(self.listed) != self.count:
            raise InputError(f"domain {self.key}: count {self.count} != {len(self.listed)} values")

    def nth(self, k: int) -> int:
        """The ``k``-th word of the domain (``0 <= k < count``); ``nth(0)`` is the simplest."""
        if not 0 <= k < self.count:
            raise InputError(f"index {k} outside domain {self.key} of {self.count} values")
        if self.order == "up":
            r = len(self.residues)
            return to_word(self.base + (k // r) * self.step + self.residues[k % r], self.bits)
        if self.order == "down":
            return to_word(self.base - k, self.bits)
        if self.order == "zigzag":
            magnitude = (k + 1) // 2
            return to_word(-magnitude if k % 2 else magnitude, self.bits)
        return self.listed[k]

    def index(self, word: int) -> int | None:
        """Position of ``word`` in the domain, or ``None`` if it is not a member."""
        word = to_word(word, self.bits)
        if self.order == "up":
            off = word - self.base
            if off < 0:
                return None
            q, rem = divmod(off, self.step)
            if rem not in self.residues:
                return None
            k = q * len(self.residues) + self.residues.index(rem)
        elif self.order == "down":
            k = to_word(self.base - word, self.bits)
        elif self.order == "zigzag":
            v = to_long(word, self.bits)
            k = 2 * v if v >= 0 else -2 * v - 1
        else:
            return self.listed.index(word) if word in self.listed else None
        return k if k < self.count else None

    def contains(self, word: int) -> bool:
        return self.index(word) is not None

    @property
    def align(self) -> int:
        """The alignment every member has (the largest power of two dividing all of them,
        capped at :data:`ALIGN_ANY`, which only ``NULL`` reaches)."""
        cap = ALIGN_ANY
        if self.order == "up":
            a = _pow2_divisor(self.step, cap) if self.count > len(self.residues) else cap
            a = min([a, _pow2_divisor(self.base, cap)]
                    + [_pow2_divisor(r, cap) for r in self.residues])
            return a
        if self.order == "listed":
            return min(_pow2_divisor(v, cap) for v in self.listed)
        return 1

    @property
    def span(self) -> tuple[int, int]:
        """Smallest and largest member, as words."""
        if self.order == "up":
            return self.nth(0), self.nth(self.count - 1)
        if self.order == "down":
            return self.nth(self.count - 1), self.nth(0)
        if self.order == "zigzag":
            return 0, (1 << self.bits) - 1
        return min(self.listed), max(self.listed)

    @property
    def period(self) -> int:
        """``nth(k) mod 2**b`` repeats every ``period * 2**b`` indices (``up``: one step per
        ``len(residues)`` indices); :func:`model.tagging.smallest_counterexample` relies on it."""
        return len(self.residues) if self.order == "up" else 1

    @property
    def align_text(self) -> str:
        return "any" if self.align >= ALIGN_ANY else str(self.align)

    def describe(self) -> str:
        """``section, align A (abi)`` — how a counterexample's origin is shown."""
        return f"{self.section}, align {self.align_text} ({self.abi})"


def _up(key: str, title: str, role: Role, abi: Abi, section: str, source: str, lo: int,
        hi: int, step: int, residues: tuple[int, ...] = (0,), era: str = "all") -> Domain:
    """Members of ``[lo, hi)`` of the form ``base + j*step + r``, base = lo rounded up to step."""
    base = align_up(lo, step)
    per = len(residues)
    full = (hi - base) // step
    count = full * per + sum(1 for r in residues if base + full * step + r < hi)
    return Domain(key, title, role, abi.name, abi.bits_per_long, section, source, "up", count,
                  base, step, residues, era=era)


# --- handle domains -----------------------------------------------------------------------------

def zsmalloc_handles(abi: Abi) -> Domain:
    """zs_malloc() handles: addresses of ``ZS_HANDLE_SIZE`` slots from the ``zs_handle`` slab.

    mm/zsmalloc.c:cache_alloc_handle (v5.8 per-pool cache, 7.x global ``handle_cachep``);
    mm/slab_common.c:calculate_alignment gives ``ALIGN(max(align, ARCH_SLAB_MINALIGN),
    sizeof(void *))`` with ``ARCH_SLAB_MINALIGN = __alignof__(unsigned long long)`` = 8.
    """
    lo, hi = linear_map(abi)
    step = max(8, abi.pointer_size)
    return _up("zsmalloc", "zs_malloc() handles (zs_handle slab slots)", "handle", abi,
               "zs_handle slab", "mm/zsmalloc.c:cache_alloc_handle; mm/slab_common.c:"
               "calculate_alignment (ARCH_SLAB_MINALIGN 8)", lo, hi, step)


def zbud_handles(abi: Abi) -> Domain:
    """zbud_alloc() handles: the data pointer, ``page + ZHDR_SIZE_ALIGNED`` (FIRST) or ``page +
    PAGE_SIZE - last_chunks * CHUNK_SIZE`` (LAST): a multiple of ``CHUNK_SIZE = PAGE_SIZE >> 6``
    that is never the page start.  mm/zbud.c:encode_handle, v5.8 (removed in 6.15)."""
    lo, hi = linear_map(abi)
    chunk = abi.page_size >> 6
    residues = tuple(chunk * i for i in range(1, 64))
    return _up("zbud", "zbud handles (data pointer, chunk-aligned)", "handle", abi,
               "zbud page", "mm/zbud.c:encode_handle v5.8 (CHUNK_SIZE = PAGE_SIZE >> 6)",
               lo, hi, abi.page_size, residues, era="v5.8..6.14")


def z3fold_handles(abi: Abi) -> Domain:
    """z3fold_alloc() handles of FIRST/MIDDLE/LAST buddies: ``&slots->slot[idx]``, the slots
    struct from the ``z3fold_handle`` cache with ``SLOTS_ALIGN`` 0x40.  mm/z3fold.c:
    __encode_handle, v5.8 (removed in 6.15)."""
    lo, hi = linear_map(abi)
    residues = tuple(abi.long_size * i for i in range(4))
    return _up("z3fold", "z3fold buddy handles (&slots->slot[idx])", "handle", abi,
               "z3fold_handle slab", "mm/z3fold.c:__encode_handle v5.8 (SLOTS_ALIGN 0x40)",
               lo, hi, 0x40, residues, era="v5.8..6.14")


def z3fold_headless_handles(abi: Abi) -> Domain:
    """z3fold HEADLESS handles: ``page_address(page) | (1 << PAGE_HEADLESS)`` — odd.
    mm/z3fold.c:__encode_handle, v5.8 (unchanged until removal in 6.15); allocations larger
    than ``PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE`` (3904 on x86_64) are headless."""
    lo, hi = linear_map(abi)
    return _up("z3fold-headless", "z3fold HEADLESS handles (page | 1)", "handle", abi,
               "z3fold headless page", "mm/z3fold.c:__encode_handle v5.8: "
               "return h | (1 << PAGE_HEADLESS)", lo, hi, abi.page_size, (1,),
               era="v5.8..6.14")


def zs_malloc_errors(abi: Abi) -> Domain:
    """What zs_malloc() returns on failure from 6.0: ``ERR_PTR(-ENOMEM)`` (no handle slot),
    ``ERR_PTR(-EINVAL)`` (size 0), ``ERR_PTR(-ENOSPC)`` (size > ZS_MAX_ALLOC_SIZE); all even.
    mm/zsmalloc.c:zs_malloc, v6.0+ (v5.8 returned 0)."""
    bits = abi.bits_per_long
    vals = tuple(to_word(-e, bits) for e in (ENOMEM, EINVAL, ENOSPC))
    return Domain("zs-err", "zs_malloc() ERR_PTR returns (-ENOMEM, -EINVAL, -ENOSPC)",
                  "handle", abi.name, bits, "zs_malloc() failure",
                  "mm/zsmalloc.c:zs_malloc v6.0+ (IS_ERR_VALUE checked by callers)",
                  "listed", len(vals), listed=vals, era="6.0+")


def error_values(abi: Abi) -> Domain:
    """Every ``IS_ERR_VALUE`` word, from ``-1`` (-EPERM) down to ``-MAX_ERRNO``: what an unchecked
    error return leaves in a handle word.  include/linux/err.h:IS_ERR_VALUE, every era."""
    bits = abi.bits_per_long
    return Domain("errno", "IS_ERR_VALUE words (-1 .. -MAX_ERRNO)", "handle", abi.name, bits,
                  "error return", "include/linux/err.h:IS_ERR_VALUE (MAX_ERRNO 4095)", "down",
                  MAX_ERRNO, base=to_word(-1, bits), era="6.0+")


def table_indices(abi: Abi) -> Domain:
    """Small integers used as handles (an index into a table of callsites, the 2020 'opaque
    descriptor' idea): ``0 .. 65535``."""
    return Domain("index", "table indices 0..65535 as handles", "handle", abi.name,
                  abi.bits_per_long, "integer", "2020 cover letter ('opaque descriptor')",
                  "up", 1 << 16)


def long_values(abi: Abi) -> Domain:
    """Any C ``long`` a caller may store as a value entry, negative ones included.
    include/linux/xarray.h:xa_mk_value has ``WARN_ON((long)v < 0)`` because negative longs do
    not survive ``(v << 1) | 1``."""
    bits = abi.bits_per_long
    return Domain("long", "C long values (0, -1, 1, -2, ...)", "handle", abi.name, bits,
                  "integer", "include/linux/xarray.h:xa_mk_value (WARN_ON((long)v < 0))",
                  "zigzag", 1 << bits)


# --- value domains ------------------------------------------------------------------------------

def _rodata(abi: Abi) -> tuple[int, int]:
    lo = abi.kernel_base + RODATA_OFFSET
    return lo, lo + RODATA_SIZE


def _min_align(aligns: list[int]) -> int:
    return min(aligns)


def string_literals(abi: Abi, long: bool, optimize_size: bool = False,
                    module: bool = False) -> Domain:
    """Pointers to string literals (``KBUILD_MODNAME``, ``__FILE__``, formats): short (2..30
    bytes with the NUL) or long (31..256) ones, in vmlinux' ``.rodata`` or a module's.

    The section and alignment are :func:`model.sections.string_section`'s (GCC 12 measured); the
    linker merges strings and shares tails (SHF_MERGE|SHF_STRINGS), so any multiple of the
    section's alignment inside it is a possible pointer (GNU ld keeps the alignment when it
    tail-merges in ``.rodata.str1.8``).
    """
    sizes = range(31, 257) if long else range(2, 31)
    kinds = [string_section(abi, n, optimize_size) for n in sizes]
    align = _min_align([k.align for k in kinds])
    names = sorted({k.name for k in kinds})
    if module:
        lo = abi.module_base
        hi = lo + MODULE_AREA
    else:
        lo, hi = _rodata(abi)
    what = "long" if long else "short"
    where = "module" if module else "vmlinux"
    key = f"str-{what}" + ("-mod" if module else "")
    opt = " -Os" if optimize_size else ""
    return _up(key, f"{what} string literals ({sizes.start}..{sizes.stop - 1} B) in {where}",
               "value", abi, "/".join(names),
               f"model/sections.py:string_section (GCC 12{opt or ' -O2'})", lo, hi, align)


def func_arrays(abi: Abi, long: bool, optimize_size: bool = False) -> Domain:
    """Pointers to ``__func__`` arrays in ``.rodata``: short names (1..6 characters, 2..7 bytes)
    or long ones (>= 8 bytes), aligned by :func:`model.sections.func_array_align`."""
    sizes = range(8, 257) if long else range(2, 8)
    align = _min_align([func_array_align(abi, n, optimize_size) for n in sizes])
    lo, hi = _rodata(abi)
    what = "long" if long else "short"
    opt = " -Os" if optimize_size else ""
    return _up(f"func-{what}", f"__func__ arrays of {sizes.start}..{sizes.stop - 1} B", "value",
               abi, ".rodata (__func__)",
               f"model/sections.py:func_array_align (GCC 12{opt or ' -O2'})", lo, hi, align)


def ddebug_records(abi: Abi, era: str = "v6.1") -> Domain:
    """Pointers to ``struct _ddebug`` records: ``__aligned(8)`` and ``ALIGN(8)`` in the linker
    script (model/sections.py:record_section)."""
    kind = record_section(era)
    lo = abi.kernel_base + DATA_OFFSET
    return _up("record", "struct _ddebug records", "value", abi, kind.name,
               "include/linux/dynamic_debug.h __aligned(8); vmlinux.lds.h ALIGN(8)",
               lo, lo + DATA_SIZE, kind.align)


def slab_objects(abi: Abi) -> Domain:
    """kmalloc() objects: at least ``ARCH_KMALLOC_MINALIGN`` (= ``ARCH_SLAB_MINALIGN`` = 8 on
    these ABIs without a DMA constraint), include/linux/slab.h, every era."""
    lo, hi = linear_map(abi)
    return _up("slab", "kmalloc() objects", "value", abi, "slab",
               "include/linux/slab.h ARCH_KMALLOC_MINALIGN (8)", lo, hi, 8)


@attrs.frozen
class TextAlign:
    """Where a function's address can fall: ``residue`` modulo ``align``."""

    align: int
    residue: int
    why: str


#: Function-pointer alignment as GCC 12 emits it (measured: ``-O2``/``-Os``, linked); ``arm``
#: is ``-marm`` (the kernel's default; a CONFIG_THUMB2_KERNEL build has odd function pointers,
#: see :data:`THUMB_FUNCTION`).
_FUNCTION_ALIGN: dict[tuple[str, bool], TextAlign] = {
    ("x86_64", False): TextAlign(16, 0, "gcc -O2 .p2align 4"),
    ("x86_64", True): TextAlign(1, 0, "gcc -Os: no function alignment"),
    ("i386", False): TextAlign(16, 0, "gcc -O2 .p2align 4"),
    ("i386", True): TextAlign(1, 0, "gcc -Os: no function alignment"),
    ("aarch64", False): TextAlign(4, 0, "A64 instructions are 4 bytes"),
    ("aarch64", True): TextAlign(4, 0, "A64 instructions are 4 bytes"),
    ("arm", False): TextAlign(4, 0, "-marm: A32 instructions are 4 bytes"),
    ("arm", True): TextAlign(4, 0, "-marm: A32 instructions are 4 bytes"),
    ("riscv64", False): TextAlign(2, 0, "RVC: 2-byte instructions, functions .align 1"),
    ("riscv64", True): TextAlign(2, 0, "RVC: 2-byte instructions, functions .align 1"),
    ("s390x", False): TextAlign(8, 0, "gcc aligns s390x functions to 8"),
    ("s390x", True): TextAlign(8, 0, "gcc aligns s390x functions to 8"),
    ("ppc64", False): TextAlign(8, 0, "ELFv1: a function pointer is its .opd descriptor"),
    ("ppc64", True): TextAlign(8, 0, "ELFv1: a function pointer is its .opd descriptor"),
}

#: arm with ``-mthumb`` (CONFIG_THUMB2_KERNEL; Debian's armhf default): address | 1.
THUMB_FUNCTION = TextAlign(2, 1, "-mthumb: Thumb interworking sets bit 0")


def function_align(abi: Abi, optimize_size: bool = False, thumb: bool = False) -> TextAlign:
    """Alignment (and residue) of a function pointer on ``abi``, GCC 12."""
    if thumb:
        if abi.name != "arm":
            raise InputError(f"Thumb code exists only on arm, not {abi.name}")
        return THUMB_FUNCTION
    try:
        return _FUNCTION_ALIGN[(abi.name, optimize_size)]
    except KeyError:
        raise InputError(f"no function alignment facts for ABI {abi.name!r}") from None


def function_pointers(abi: Abi, optimize_size: bool = False, thumb: bool = False) -> Domain:
    """Pointers to functions in vmlinux' ``.text`` (or ``.opd`` on ppc64 ELFv1)."""
    ta = function_align(abi, optimize_size, thumb)
    lo = abi.kernel_base
    key = "funcptr-thumb" if thumb else "funcptr"
    section = ".opd" if abi.name == "ppc64" else ".text"
    opt = "-Os" if optimize_size else "-O2"
    return _up(key, "function pointers" + (" (Thumb-2)" if thumb else ""), "value", abi, section,
               f"GCC 12 {opt}, linked ({ta.why})", lo, lo + TEXT_SIZE, ta.align,
               (ta.residue,))


def null_pointer(abi: Abi) -> Domain:
    """``NULL``: an empty slot."""
    return Domain("null", "NULL", "value", abi.name, abi.bits_per_long, "(none)",
                  "C: (void *)0", "listed", 1, listed=(0,))


def zs_free_links(abi: Abi) -> Domain:
    """What the first word of a *free* zsmalloc object holds: ``link->next = freeobj <<
    OBJ_TAG_BITS`` (even; the last is ``-1UL << OBJ_TAG_BITS``).  mm/zsmalloc.c:obj_free and
    init_zspage, v5.8 and 7.x."""
    # OBJ_INDEX_BITS = BITS_PER_LONG - _PFN_BITS - OBJ_TAG_BITS, _PFN_BITS =
    # MAX_POSSIBLE_PHYSMEM_BITS - PAGE_SHIFT (52 on 64-bit, 32 on 32-bit): 23 on x86_64.
    physmem_bits = 52 if abi.bits_per_long == 64 else 32
    page_shift = abi.page_size.bit_length() - 1
    obj_index_bits = abi.bits_per_long - (physmem_bits - page_shift) - 1
    return Domain("zs-free-link", "zsmalloc free-object links (idx << OBJ_TAG_BITS)", "value",
                  abi.name, abi.bits_per_long, "zspage object header",
                  "mm/zsmalloc.c:obj_free (link->next = freeobj << OBJ_TAG_BITS)", "up",
                  1 << obj_index_bits, 0, 2)


def handle_domains(abi: Abi) -> tuple[Domain, ...]:
    """Every handle domain for ``abi``, allocator handles first (the order shrinking prefers)."""
    return (zsmalloc_handles(abi), zbud_handles(abi), z3fold_handles(abi),
            z3fold_headless_handles(abi), zs_malloc_errors(abi), error_values(abi),
            table_indices(abi), long_values(abi))


def value_domains(abi: Abi, optimize_size: bool = False) -> tuple[Domain, ...]:
    """Every untagged value domain for ``abi``: strings first (the 2020 finding), then the rest."""
    out = [string_literals(abi, False, optimize_size), string_literals(abi, True, optimize_size),
           string_literals(abi, False, optimize_size, module=True),
           func_arrays(abi, False, optimize_size), func_arrays(abi, True, optimize_size),
           ddebug_records(abi), slab_objects(abi), function_pointers(abi, optimize_size)]
    if abi.name == "arm":
        out.append(function_pointers(abi, optimize_size, thumb=True))
    out += [null_pointer(abi), zs_free_links(abi)]
    return tuple(out)


def all_domains(abi: Abi, optimize_size: bool = False) -> tuple[Domain, ...]:
    return handle_domains(abi) + value_domains(abi, optimize_size)


def get_domain(abi: Abi, key: str, optimize_size: bool = False) -> Domain:
    """The domain called ``key`` on ``abi``; an :class:`InputError` naming the known ones."""
    domains = all_domains(abi, optimize_size)
    for d in domains:
        if d.key == key:
            return d
    raise InputError(f"unknown domain {key!r} (known: {', '.join(d.key for d in domains)})")
