"""Safety claims of (scheme, domain) pairs on x86_64, as contracts ``crosshair check`` can refute.

Each function claims that one scheme is safe over one real domain of :mod:`model.domains` (the
``pre:`` line is membership in the domain; the ``post:`` is the property).  The claims in
:data:`SAFE_CLAIMS` hold and ``crosshair check`` finds nothing; the claims in
:data:`UNSAFE_CLAIMS` are the known-unsafe combinations and ``crosshair check`` refutes each with
a concrete value (``tests/test_crosshair.py`` runs it).  The domain bounds are read from
:mod:`model.domains` at import, so the claims follow the model.
"""

from __future__ import annotations

from model.abi import get_abi
from model.domains import (
    ddebug_records,
    func_arrays,
    string_literals,
    table_indices,
    z3fold_headless_handles,
    zs_free_links,
    zsmalloc_handles,
)
from model.sections import RECORD_ALIGN
from model.tagging import (
    ddebug_is_mapped,
    is_zhandle,
    obj_allocated,
    obj_head_alloc,
    obj_head_handle,
    static_key_linked,
    xa_is_value,
    xa_mk_value,
    xa_to_value,
    zhandle_tag,
    zhandle_untag,
)

X86_64 = get_abi("x86_64")
MASK = (1 << 64) - 1

_zs = zsmalloc_handles(X86_64)
ZS_LO, ZS_HI, ZS_STEP = _zs.nth(0), _zs.nth(_zs.count - 1), _zs.step
_hl = z3fold_headless_handles(X86_64)
HL_LO, HL_HI, HL_STEP = _hl.nth(0), _hl.nth(_hl.count - 1), _hl.step
_ss = string_literals(X86_64, long=False)
STR_LO, STR_HI, STR_ALIGN = _ss.nth(0), _ss.nth(_ss.count - 1), _ss.align
_ls = string_literals(X86_64, long=True)
LSTR_LO, LSTR_HI, LSTR_ALIGN = _ls.nth(0), _ls.nth(_ls.count - 1), _ls.align
_fs = func_arrays(X86_64, long=False)
FUNC_LO, FUNC_HI, FUNC_ALIGN = _fs.nth(0), _fs.nth(_fs.count - 1), _fs.align
_ix = table_indices(X86_64)
IDX_HI = _ix.count - 1
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
_fl = zs_free_links(X86_64)
LINK_HI = _fl.nth(_fl.count - 1)
_rec = ddebug_records(X86_64)
REC_LO, REC_HI = _rec.nth(0), _rec.nth(_rec.count - 1)
REC_ALIGN = RECORD_ALIGN


# --- claims that hold ---------------------------------------------------------------------------

def odd_tag_round_trips_zsmalloc_handles(h: int) -> bool:
    """zhandle+1 round-trips every zs_malloc() handle and marks it (dyndbg.md §1.2).

    pre: ZS_LO <= h <= ZS_HI and (h - ZS_LO) % ZS_STEP == 0
    post: __return__
    """
    v = zhandle_tag(h) & MASK
    return is_zhandle(v) and zhandle_untag(v) == h


def odd_tag_spares_long_strings(p: int) -> bool:
    """Literals of >= 31 bytes are in .rodata.str1.8 on x86_64 -O2: never odd.

    pre: LSTR_LO <= p <= LSTR_HI and (p - LSTR_LO) % LSTR_ALIGN == 0
    post: __return__
    """
    return not is_zhandle(p)


def odd_tag_spares_records(p: int) -> bool:
    """struct _ddebug records are __aligned(8).

    pre: REC_LO <= p <= REC_HI and p % REC_ALIGN == 0
    post: __return__
    """
    return not is_zhandle(p)


def xarray_round_trips_indices(v: int) -> bool:
    """xa_mk_value round-trips every non-negative index.

    pre: 0 <= v <= IDX_HI
    post: __return__
    """
    e = xa_mk_value(v, 64)
    return xa_is_value(e) and xa_to_value(e) == v


def flag_spares_short_strings(p: int) -> bool:
    """The explicit flag does not look at the word: a string pointer stored with the flag clear
    is never taken for a handle.

    pre: STR_LO <= p <= STR_HI
    post: __return__
    """
    return not ddebug_is_mapped(0)


def obj_allocated_round_trips_zsmalloc_handles(h: int) -> bool:
    """zsmalloc's own header tag round-trips its handles (mm/zsmalloc.c:obj_malloc).

    pre: ZS_LO <= h <= ZS_HI and (h - ZS_LO) % ZS_STEP == 0
    post: __return__
    """
    head = obj_head_alloc(h)
    return obj_allocated(head) and obj_head_handle(head) == h


def obj_allocated_spares_free_links(link: int) -> bool:
    """A free object's link word (freeobj << OBJ_TAG_BITS) is never taken for a header.

    pre: 0 <= link <= LINK_HI and link % 2 == 0
    post: __return__
    """
    return not obj_allocated(link)


# --- known-unsafe claims ------------------------------------------------------------------------

def odd_tag_spares_short_strings(p: int) -> bool:
    """THE 2020 FINDING: short literals are in .rodata.str1.1 (align 1); a string pointer in the
    zhandle word is read as a zhandle once the union shares it.

    pre: STR_LO <= p <= STR_HI and (p - STR_LO) % STR_ALIGN == 0
    post: __return__
    """
    return not is_zhandle(p)


def odd_tag_round_trips_z3fold_headless(h: int) -> bool:
    """z3fold HEADLESS handles are page | 1: already odd.

    pre: HL_LO <= h <= HL_HI and (h - HL_LO) % HL_STEP == 0
    post: __return__
    """
    v = zhandle_tag(h) & MASK
    return is_zhandle(v) and zhandle_untag(v) == h


def static_key_spares_short_func_names(p: int) -> bool:
    """A 2-bit tag (JUMP_TYPE_LINKED) over __func__ arrays of 2..7 bytes (align 1 on x86_64).

    pre: FUNC_LO <= p <= FUNC_HI and (p - FUNC_LO) % FUNC_ALIGN == 0
    post: __return__
    """
    return not static_key_linked(p)


def xarray_round_trips_longs(v: int) -> bool:
    """xa_mk_value over any C long, negative ones included (the WARN_ON's reason).

    pre: LONG_MIN <= v <= LONG_MAX
    post: __return__
    """
    w = v & MASK
    e = xa_mk_value(w, 64)
    return xa_is_value(e) and xa_to_value(e) == w


SAFE_CLAIMS: tuple[str, ...] = (
    "odd_tag_round_trips_zsmalloc_handles", "odd_tag_spares_long_strings",
    "odd_tag_spares_records", "xarray_round_trips_indices", "flag_spares_short_strings",
    "obj_allocated_round_trips_zsmalloc_handles", "obj_allocated_spares_free_links")
UNSAFE_CLAIMS: tuple[str, ...] = (
    "odd_tag_spares_short_strings", "odd_tag_round_trips_z3fold_headless",
    "static_key_spares_short_func_names", "xarray_round_trips_longs")
