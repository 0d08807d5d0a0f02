"""Handle-tagging schemes as pure functions with contracts, and an exact check against domains.

A tagging scheme lets one word hold either a *handle* (tagged) or an untagged value (a pointer),
and tells them apart by looking at the word.  Each scheme here is a handful of pure functions
mirroring the kernel's (``encode``, ``decode``, ``is_tagged``), each with a PEP 316 contract that
``crosshair check model/tagging.py`` proves within the scheme's *assumed* domain (the ``pre:``
lines), and a :class:`Scheme` value bundling them for one ABI together with that assumption in
words.  :func:`smallest_counterexample` then checks the assumption against the *real* domains of
:mod:`model.domains` and returns the smallest value that breaks it.

Schemes (see ``docs/tagging.md``):

* ``odd`` — the 2020 zhandle+1 / ``% 2`` test (dyndbg diet patch 2/3);
* ``static_key`` — a low-bit tag with declared alignment 4 (``JUMP_TYPE_MASK``);
* ``xarray`` — value entries ``(v << 1) | 1`` (``xa_mk_value``);
* ``page_offset`` — an address-range test: a handle is a word below ``PAGE_OFFSET``;
* ``flag`` — an explicit discriminator outside the word (``_DPRINTK_FLAGS_MAPPED``);
* ``obj_allocated`` — zsmalloc's object header ``handle | OBJ_ALLOCATED_TAG``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from model.abi import Abi
from model.domains import Domain, to_long
from model.errors import InputError

# --- the pure helpers (top-level, int -> int, for CrossHair) ------------------------------------


def word_mask(bits: int) -> int:
    """``~0UL`` for a ``bits``-bit long.

    pre: bits in (32, 64)
    post: __return__ == 2 ** bits - 1
    """
    return (1 << bits) - 1


# odd tag: Jim Cromie's July 2020 patch 2/3 -----------------------------------------------------

def zhandle_tag(h: int) -> int:
    """``zhandle + 1``: make a zsmalloc handle odd so ``% 2`` tells it from a pointer.

    Mirrors lib/dynamic_debug.c of "[PATCH 2/3] dyndbg: zhandle+1 plus info tweaks, BUG_ONs"
    (25 Jul 2020, on v5.8; the body is not archived, the cover letter describes it).  Assumes
    every handle is even (zsmalloc's are 8-aligned slab addresses) and below ``~0UL``.

    pre: 0 <= h < 2 ** 64 - 1
    pre: h % 2 == 0
    post: __return__ % 2 == 1
    post: is_zhandle(__return__)
    post: zhandle_untag(__return__) == h
    """
    return h + 1


def zhandle_untag(v: int) -> int:
    """``v - 1``: the zsmalloc handle a tagged word holds (same patch).

    pre: v % 2 == 1
    post: __return__ % 2 == 0
    post: __return__ + 1 == v
    """
    return v - 1


def is_zhandle(v: int) -> bool:
    """``v % 2``: the 2020 test; true for odd words (same patch).

    pre: v >= 0
    post: __return__ == (v & 1 == 1)
    """
    return v % 2 == 1


# low-bit tag with a declared alignment -------------------------------------------------------

def lowbit_tag(p: int, tag: int, align: int) -> int:
    """``p | tag`` where ``p`` is ``align``-aligned and ``0 < tag < align``: the general pattern of
    kernel/jump_label.c (``key->type |= JUMP_TYPE_LINKED``), include/linux/rbtree.h (colour in
    bit 0), include/linux/xarray.h:xa_tag_pointer.

    pre: align in (2, 4, 8, 16, 256)
    pre: 0 < tag < align
    pre: p >= 0
    pre: p % align == 0
    post: lowbit_untag(__return__, align) == p
    post: __return__ % align == tag
    """
    return p | tag


def lowbit_untag(v: int, align: int) -> int:
    """``v & ~(align - 1)`` (kernel/jump_label.c:static_key_mod: ``key->type & ~JUMP_TYPE_MASK``).

    pre: align in (2, 4, 8, 16, 256)
    pre: v >= 0
    post: __return__ % align == 0
    post: 0 <= v - __return__ < align
    """
    return v & ~(align - 1)


def lowbit_test(v: int, tag: int) -> bool:
    """``v & tag``: is this word tagged with ``tag`` (kernel/jump_label.c:static_key_linked,
    ``key->type & JUMP_TYPE_LINKED``)?

    pre: tag in (1, 2, 4)
    pre: v >= 0
    post: __return__ == ((v // tag) % 2 == 1)
    """
    return v & tag != 0


#: kernel/jump_label.c / include/linux/jump_label.h (v5.8 and v6.19).
JUMP_TYPE_FALSE = 0
JUMP_TYPE_TRUE = 1
JUMP_TYPE_LINKED = 2
JUMP_TYPE_MASK = 3


def static_key_set_mod(mod: int, key_type: int) -> int:
    """``key->next = mod; key->type |= type | JUMP_TYPE_LINKED``: a ``static_key_mod`` pointer
    linked into ``key->type``.  kernel/jump_label.c:static_key_set_mod +
    jump_label_add_module, v5.8 (``WARN_ON_ONCE((unsigned long)mod & JUMP_TYPE_MASK)``).

    pre: key_type in (0, 1)
    pre: mod >= 0
    pre: mod & 3 == 0
    post: static_key_linked(__return__)
    post: static_key_mod(__return__) == mod
    post: __return__ & 1 == key_type
    """
    return mod | key_type | JUMP_TYPE_LINKED


def static_key_linked(key_type: int) -> bool:
    """``key->type & JUMP_TYPE_LINKED``: kernel/jump_label.c:static_key_linked, v5.8.

    pre: key_type >= 0
    post: __return__ == ((key_type >> 1) & 1 == 1)
    """
    return key_type & JUMP_TYPE_LINKED != 0


def static_key_mod(key_type: int) -> int:
    """``key->type & ~JUMP_TYPE_MASK``: kernel/jump_label.c:static_key_mod, v5.8.

    pre: key_type >= 0
    post: __return__ & 3 == 0
    post: key_type - __return__ in (0, 1, 2, 3)
    """
    return key_type & ~JUMP_TYPE_MASK


# XArray value entries ------------------------------------------------------------------------

def xa_mk_value(v: int, bits: int) -> int:
    """``(void *)((v << 1) | 1)`` as a ``bits``-bit word: include/linux/xarray.h:xa_mk_value
    (v4.20+), which has ``WARN_ON((long)v < 0)``: only ``0 <= v < 2**(bits-1)`` round-trip.

    pre: bits in (32, 64)
    pre: 0 <= v < 2 ** (bits - 1)
    post: xa_is_value(__return__)
    post: xa_to_value(__return__) == v
    post: 0 <= __return__ < 2 ** bits
    """
    # (v << 1) | 1, with the shift written as a product: the same word, and linear arithmetic
    # for the solver (CrossHair 0.0.112 gives up on a left shift of a symbolic int).
    return ((v * 2) | 1) & ((1 << bits) - 1)


def xa_to_value(entry: int) -> int:
    """``(unsigned long)entry >> 1``: include/linux/xarray.h:xa_to_value.

    pre: entry >= 0
    post: 0 <= __return__ <= entry
    """
    return entry >> 1


def xa_is_value(entry: int) -> bool:
    """``(unsigned long)entry & 1``: include/linux/xarray.h:xa_is_value.

    pre: entry >= 0
    post: __return__ == (entry % 2 == 1)
    """
    return entry & 1 == 1


# address-range test --------------------------------------------------------------------------

def is_below_page_offset(v: int, page_offset: int) -> bool:
    """A handle is a word below ``PAGE_OFFSET``; a kernel pointer is at or above it (the test
    arch/x86/include/asm/page_64_types.h's ``PAGE_OFFSET`` split invites, cf.
    ``virt_addr_valid``); the handles are small integers (indices).

    pre: v >= 0
    pre: page_offset >= 0
    post: __return__ == (v < page_offset)
    """
    return v < page_offset


# explicit discriminator ------------------------------------------------------------------------

#: ``_DPRINTK_FLAGS_MAPPED (1<<7) /* reserved */``: Jim Cromie's proposed flag, dyndbg.md §1.3.
DPRINTK_FLAGS_MAPPED = 1 << 7


def ddebug_set_mapped(flags: int) -> int:
    """``dp->flags |= _DPRINTK_FLAGS_MAPPED``: the word then holds a zhandle (the fix of the
    July 2020 patch 3/3, "is_zhandle"; include/linux/dynamic_debug.h, Aug 2020 series).

    pre: 0 <= flags < 256
    post: ddebug_is_mapped(__return__)
    post: __return__ & 127 == flags & 127
    """
    return flags | DPRINTK_FLAGS_MAPPED


def ddebug_is_mapped(flags: int) -> bool:
    """``dp->flags & _DPRINTK_FLAGS_MAPPED``.

    pre: 0 <= flags < 256
    post: __return__ == (flags >= 128)
    """
    return flags & DPRINTK_FLAGS_MAPPED != 0


# zsmalloc's object header --------------------------------------------------------------------

#: mm/zsmalloc.c (v5.8 and 7.x): ``#define OBJ_ALLOCATED_TAG 1``, ``OBJ_TAG_BITS 1``.
OBJ_ALLOCATED_TAG = 1
OBJ_TAG_BITS = 1


def obj_head_alloc(handle: int) -> int:
    """``handle |= OBJ_ALLOCATED_TAG``; ``link->handle = handle``: the header of an allocated
    object.  mm/zsmalloc.c:obj_malloc, v5.8 ("header keeps handle which is 4byte-aligned
    address so we have room for two bit at least").

    pre: handle >= 0
    pre: handle % 4 == 0
    post: obj_allocated(__return__)
    post: obj_head_handle(__return__) == handle
    """
    return handle | OBJ_ALLOCATED_TAG


def obj_allocated(head: int) -> bool:
    """``head & OBJ_ALLOCATED_TAG``: mm/zsmalloc.c:find_alloced_obj, v5.8.

    pre: head >= 0
    post: __return__ == (head % 2 == 1)
    """
    return head & OBJ_ALLOCATED_TAG != 0


def obj_head_handle(head: int) -> int:
    """``head & ~OBJ_ALLOCATED_TAG``: mm/zsmalloc.c:find_alloced_obj, v5.8.

    pre: head >= 0
    post: __return__ % 2 == 0
    post: head - __return__ in (0, 1)
    """
    return head & ~OBJ_ALLOCATED_TAG


def obj_free_link(next_idx: int) -> int:
    """``link->next = freeobj << OBJ_TAG_BITS``: the header of a free object.
    mm/zsmalloc.c:obj_free, v5.8.

    pre: next_idx >= 0
    post: not obj_allocated(__return__)
    """
    return next_idx * (1 << OBJ_TAG_BITS)   # next_idx << OBJ_TAG_BITS


# --- schemes ------------------------------------------------------------------------------------

@attrs.frozen
class Slot:
    """What the tagged storage holds: the word, and a flags byte beside it (only the ``flag``
    scheme looks at the flags)."""

    word: int
    flags: int = 0


@attrs.frozen
class Scheme:
    """One tagging scheme on one ABI: its pure functions and the assumption they rest on.

    ``handle_align``/``value_align`` are the alignments the scheme assumes of handles and of
    untagged values; ``handle_below`` an upper bound it assumes of handles (as words).
    ``low_bits`` and ``thresholds`` say what the functions look at: the low ``low_bits`` bits
    of the word, and on which side of each threshold it lies (the basis of the exact check in
    :func:`smallest_counterexample`).
    """

    key: str
    title: str
    kernel: str
    assumes: str
    abi: str
    bits: int
    low_bits: int
    thresholds: tuple[int, ...]
    encode: Callable[[int], Slot] = attrs.field(eq=False, repr=False)
    decode: Callable[[Slot], int] = attrs.field(eq=False, repr=False)
    is_tagged: Callable[[Slot], bool] = attrs.field(eq=False, repr=False)
    store_value: Callable[[int], Slot] = attrs.field(eq=False, repr=False)
    handle_align: int = 1
    value_align: int = 1
    handle_below: int = 0
    correct_where: str = ""


def _word(v: int) -> Slot:
    return Slot(v)


def _mask_to(bits: int, fn: Callable[[int], int]) -> Callable[[int], Slot]:
    def enc(h: int) -> Slot:
        return Slot(fn(h) & ((1 << bits) - 1))
    return enc


def _on_word(bits: int, fn: Callable[[int], int]) -> Callable[[Slot], int]:
    """A word function as a slot decoder; the result is an ``unsigned long`` again."""
    def dec(s: Slot) -> int:
        return fn(s.word) & ((1 << bits) - 1)
    return dec


def _test_word(fn: Callable[[int], bool]) -> Callable[[Slot], bool]:
    def test(s: Slot) -> bool:
        return fn(s.word)
    return test


def odd_scheme(abi: Abi) -> Scheme:
    bits = abi.bits_per_long
    return Scheme(
        "odd", "zhandle+1, test % 2 (2020 diet patch 2/3)",
        "lib/dynamic_debug.c, Jul 2020 patch 2/3 (v5.8 + dyndbg queue); never merged",
        "handles are even; every untagged word sharing the slot is even (aligned to 2)",
        abi.name, bits, 1, (),
        _mask_to(bits, zhandle_tag), _on_word(bits, zhandle_untag), _test_word(is_zhandle), _word,
        handle_align=2, value_align=2, handle_below=(1 << bits) - 1,
        correct_where="before unionization: the slot only ever holds zhandles")


def static_key_scheme(abi: Abi) -> Scheme:
    bits = abi.bits_per_long
    return Scheme(
        "static_key", "low-bit tag, alignment 4 (JUMP_TYPE_LINKED in static_key.type)",
        "kernel/jump_label.c:static_key_set_mod/static_key_linked/static_key_mod, v5.8..v6.19",
        "tagged pointers and untagged pointers are 4-aligned (struct static_key_mod, "
        "struct jump_entry)",
        abi.name, bits, 2, (),
        _mask_to(bits, functools.partial(static_key_set_mod, key_type=JUMP_TYPE_FALSE)),
        _on_word(bits, static_key_mod), _test_word(static_key_linked), _word,
        handle_align=4, value_align=4, handle_below=1 << bits,
        correct_where="jump_entry/static_key_mod pointers: kmalloc'd or __aligned(8) tables")


def xarray_scheme(abi: Abi) -> Scheme:
    bits = abi.bits_per_long
    return Scheme(
        "xarray", "XArray value entries (v << 1) | 1",
        "include/linux/xarray.h:xa_mk_value/xa_to_value/xa_is_value, v4.20..v6.19",
        "values are 0 <= v <= LONG_MAX (WARN_ON((long)v < 0)); pointers are 4-aligned",
        abi.name, bits, 1, (1 << (bits - 1),),
        _mask_to(bits, functools.partial(xa_mk_value, bits=bits)), _on_word(bits, xa_to_value),
        _test_word(xa_is_value), _word,
        handle_align=1, value_align=4, handle_below=1 << (bits - 1),
        correct_where="kmalloc/alloc_page pointers and non-negative integers")


def page_offset_scheme(abi: Abi) -> Scheme:
    bits = abi.bits_per_long
    return Scheme(
        "page_offset", "address range: a handle is below PAGE_OFFSET",
        "PAGE_OFFSET split (arch/*/include/asm/page*.h); cf. virt_addr_valid()",
        f"handles are below PAGE_OFFSET ({abi.page_offset:#x}); pointers are at or above it",
        abi.name, bits, 0, (abi.page_offset,),
        _mask_to(bits, lambda h: h), _on_word(bits, lambda v: v),
        _test_word(functools.partial(is_below_page_offset, page_offset=abi.page_offset)), _word,
        handle_below=abi.page_offset,
        correct_where="lowmem pointers on ABIs whose whole kernel map is above PAGE_OFFSET")


def _flag_encode(h: int) -> Slot:
    return Slot(h, ddebug_set_mapped(0))


def _flag_decode(s: Slot) -> int:
    return s.word


def _flag_test(s: Slot) -> bool:
    return ddebug_is_mapped(s.flags)


def flag_scheme(abi: Abi) -> Scheme:
    return Scheme(
        "flag", "explicit discriminator outside the word (_DPRINTK_FLAGS_MAPPED)",
        "include/linux/dynamic_debug.h _DPRINTK_FLAGS_MAPPED (1<<7), Aug 2020 series; the "
        "'is_zhandle' fix of Jul 2020 patch 3/3",
        "nothing about the word; the flags byte is written with the word",
        abi.name, abi.bits_per_long, 0, (),
        _flag_encode, _flag_decode, _flag_test, _word,
        correct_where="every domain")


def obj_allocated_scheme(abi: Abi) -> Scheme:
    bits = abi.bits_per_long
    return Scheme(
        "obj_allocated", "zsmalloc object header handle | OBJ_ALLOCATED_TAG",
        "mm/zsmalloc.c:obj_malloc/find_alloced_obj/obj_free, v5.8 and 7.x",
        "handles are 4-aligned slab addresses; a free object's header is freeobj << 1 (even)",
        abi.name, bits, 1, (),
        _mask_to(bits, obj_head_alloc), _on_word(bits, obj_head_handle), _test_word(obj_allocated),
        _word, handle_align=4, value_align=2, handle_below=1 << bits,
        correct_where="zs_handle slab addresses vs free-object links")


SCHEME_BUILDERS: tuple[Callable[[Abi], Scheme], ...] = (
    odd_scheme, static_key_scheme, xarray_scheme, page_offset_scheme, flag_scheme,
    obj_allocated_scheme)
SCHEME_KEYS: tuple[str, ...] = (
    "odd", "static_key", "xarray", "page_offset", "flag", "obj_allocated")


def schemes(abi: Abi) -> tuple[Scheme, ...]:
    return tuple(build(abi) for build in SCHEME_BUILDERS)


def get_scheme(abi: Abi, key: str) -> Scheme:
    for s in schemes(abi):
        if s.key == key:
            return s
    raise InputError(f"unknown tagging scheme {key!r} (known: {', '.join(SCHEME_KEYS)})")


# --- the properties, as plain checks, and the exact search --------------------------------------

@attrs.frozen
class Violation:
    """Why one value breaks a scheme: which property, and what the scheme did with it."""

    prop: str
    detail: str


def handle_violation(scheme: Scheme, h: int) -> Violation | None:
    """Round trip ``decode(encode(h)) == h`` and ``is_tagged(encode(h))`` for handle ``h``."""
    slot = scheme.encode(h)
    back = scheme.decode(slot)
    if back != h:
        return Violation("round trip", f"decode(encode({h:#x})) = {back:#x}, not {h:#x}")
    if not scheme.is_tagged(slot):
        return Violation("tagged", f"encode({h:#x}) = {slot.word:#x} is not seen as a handle")
    return None


def value_violation(scheme: Scheme, v: int) -> Violation | None:
    """Disjointness: an untagged value ``v`` stored in the slot is not seen as a handle."""
    slot = scheme.store_value(v)
    if scheme.is_tagged(slot):
        return Violation("disjoint", f"{v:#x} is read as a handle (decodes to "
                                     f"{scheme.decode(slot):#x})")
    return None


def violation(scheme: Scheme, domain: Domain, word: int) -> Violation | None:
    """The property ``domain``'s role asks for, on one word of it."""
    if domain.role == "handle":
        return handle_violation(scheme, word)
    return value_violation(scheme, word)


@attrs.frozen
class Counterexample:
    """The smallest value of a domain that breaks a scheme (smallest index in the domain's
    order), with where it came from."""

    scheme: str
    domain: str
    abi: str
    value: int
    index: int
    section: str
    align: int
    prop: str
    detail: str


def _candidate_indices(scheme: Scheme, domain: Domain) -> list[int]:
    """Indices that suffice to find the smallest failing index exactly.

    Every scheme's functions depend only on the low ``scheme.low_bits`` bits of the word and on
    its side of each of ``scheme.thresholds`` (checked by ``tests/test_tagging.py`` against a
    brute force).  An ``up`` domain's words mod ``2**b`` repeat every ``len(residues) * 2**b``
    indices and grow with the index; ``down`` and ``zigzag`` domains repeat every ``2**b``.  So
    within each run of indices on one side of every threshold, the first ``window`` indices show
    every behaviour the run has; the runs start at 0 and where a threshold is crossed.
    """
    if domain.order == "listed":
        return list(range(domain.count))
    window = domain.period * (1 << scheme.low_bits) * 2 + 2
    starts = {0}
    for t in scheme.thresholds:
        starts.update(_crossings(domain, t))
    out: set[int] = set()
    for s in starts:
        out.update(range(max(0, s), min(domain.count, s + window)))
    return sorted(out)


def _crossings(domain: Domain, t: int) -> list[int]:
    """Indices where the domain's words cross threshold ``t`` (the first index at or past it)."""
    if domain.order == "up":
        if t <= domain.nth(0):
            return []
        lo, hi = 0, domain.count
        while lo < hi:
            mid = (lo + hi) // 2
            if domain.nth(mid) < t:
                lo = mid + 1
            else:
                hi = mid
        return [lo]
    if domain.order == "down":
        k = domain.base - t + 1   # first index whose word is below t
        return [k] if 0 < k < domain.count else []
    # zigzag: the words t and t-1 read as longs, their indices and neighbours
    out = []
    for w in (t - 1, t):
        v = to_long(w & ((1 << domain.bits) - 1), domain.bits)
        out.append(2 * v if v >= 0 else -2 * v - 1)
    return [k for k in out if 0 <= k < domain.count]


def smallest_counterexample(scheme: Scheme, domain: Domain) -> Counterexample | None:
    """The value of ``domain`` with the smallest index that breaks ``scheme``, or ``None`` if
    no value of the domain breaks it.  Exact, not sampled (see :func:`_candidate_indices`)."""
    if scheme.bits != domain.bits:
        raise InputError(f"scheme {scheme.key} is for {scheme.bits}-bit words, domain "
                         f"{domain.key} for {domain.bits}-bit")
    for k in _candidate_indices(scheme, domain):
        word = domain.nth(k)
        bad = violation(scheme, domain, word)
        if bad is not None:
            return Counterexample(scheme.key, domain.key, domain.abi, word, k, domain.section,
                                  domain.align, bad.prop, bad.detail)
    return None


@attrs.frozen
class Verdict:
    """One cell of the scheme x domain table."""

    scheme: Scheme
    domain: Domain
    counterexample: Counterexample | None

    @property
    def safe(self) -> bool:
        return self.counterexample is None

    def why(self) -> str:
        """One line: what the value is, where it came from, what the scheme did with it."""
        d = self.domain
        if self.counterexample is None:
            return f"every {d.title} ({d.describe()}) satisfies: {self.scheme.assumes}"
        c = self.counterexample
        return (f"{c.value:#x} from {d.title} [{d.describe()}; {d.source}]: "
                f"{c.prop} fails: {c.detail}")


def verdicts(abi: Abi, domains: tuple[Domain, ...]) -> tuple[Verdict, ...]:
    """Every scheme against every domain, in scheme then domain order."""
    return tuple(Verdict(s, d, smallest_counterexample(s, d))
                 for s in schemes(abi) for d in domains)
