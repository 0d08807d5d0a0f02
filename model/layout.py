"""The C layout engine: where GCC puts every member of a struct or union, on each target ABI.

A C type is a small frozen value (:class:`ScalarType`, :class:`EnumType`, :class:`ArrayType`,
:class:`TypedefType`, :class:`RecordType`); :func:`layout_of` lays a struct or union out for one
:class:`~model.abi.Abi` and returns a :class:`Layout`: size, alignment, and every member with its
absolute ``offset_bits`` (DWARF 5 ``DW_AT_data_bit_offset`` semantics), plus a precomputed codec
that encodes a record (dotted member path -> integer) to the bytes the target would hold, and
decodes bytes back.

The placement rules are GCC's generic record layout (``gcc/stor-layout.cc``:
``place_field``, ``update_alignment_for_field``, ``layout_decl``, ``excess_unit_span``) for
targets where ``PCC_BITFIELD_TYPE_MATTERS`` holds, which is every Linux target modelled here:

* a member is placed at the next multiple of its alignment: its type's in-struct alignment
  (``ADJUST_FIELD_ALIGN``: 4 for ``long long``/``double`` on i386), raised by
  ``aligned(N)`` on the member; ``packed`` (on the member or the struct) lowers it to 1 unless
  the member itself says ``aligned(N)``;
* a bitfield goes at the next free bit unless it would span more alignment units of its type
  than the type itself has (it then moves to the next unit of its type's alignment); packed
  bitfields never move;
* a zero-width bitfield moves the next member to its type's alignment, packed or not;
* a named bitfield raises the record's alignment to its type's (unless packed); an unnamed one
  does so only where ``TARGET_ALIGN_ANON_BITFIELD`` (arm, aarch64);
* the size is rounded up to the alignment, which is at least any ``aligned(N)`` on the type.

Bit numbering follows the target: on little-endian targets bit 0 is the least significant bit
of the byte at offset 0 (bitfields fill a unit from its low bits); on big-endian targets bit 0
is the most significant bit of byte 0 (bitfields fill a unit from its high bits).  This is also
what GCC writes into ``DW_AT_data_bit_offset``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Literal

import attrs

from model.abi import Abi
from model.errors import InputError

RecordKind = Literal["struct", "union"]

#: Leaves a record may have for :meth:`Layout.encode`/:meth:`Layout.decode` (a
#: ``struct _ddebug`` has a dozen; laying out is never limited by it).
MAX_LEAVES = 1 << 16

# --------------------------------------------------------------------------------------------
# C types


@attrs.frozen(cache_hash=True)
class ScalarType:
    """An arithmetic type or a pointer. ``kind`` is one of :data:`model.abi.SCALAR_KINDS`
    (``"pointer"`` for every pointer); ``spelling`` is how the source wrote it (``u32``,
    ``const char *``)."""

    kind: str
    spelling: str

    def is_integer(self) -> bool:
        return self.kind not in ("float", "double", "long double", "pointer")


@attrs.frozen(cache_hash=True)
class EnumType:
    """An enumeration; ``size`` is GCC's choice for its values (4, or 8 when they need it, or
    the smallest that fits for ``__attribute__((packed))``)."""

    name: str | None
    size: int
    signed: bool
    spelling: str
    values: tuple[tuple[str, int], ...] = ()


@attrs.frozen(cache_hash=True)
class ArrayType:
    """``elem[count]``; ``count`` None is a flexible array member (``elem[]``)."""

    elem: CType
    count: int | None
    spelling: str


@attrs.frozen(cache_hash=True)
class TypedefType:
    """A typedef name for a struct/union/array (scalar typedefs are :class:`ScalarType` with
    the typedef's spelling), or any typedef carrying ``__attribute__((aligned(N)))``: its
    alignment is then exactly ``align`` (a typedef may lower it too), and user-specified, so
    i386's ``ADJUST_FIELD_ALIGN`` leaves it alone."""

    name: str
    base: CType
    align: int | None = None

    @property
    def spelling(self) -> str:
        return self.name


@attrs.frozen(cache_hash=True)
class Field:
    """One member declaration: ``bits`` is the bitfield width (None: not a bitfield);
    ``packed``/``aligned`` are the member's own attributes."""

    name: str
    type: CType
    bits: int | None = None
    packed: bool = False
    aligned: int | None = None
    #: ``(file, line)`` of the declaration, for error messages (not part of the value)
    where: tuple[str, int | None] | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(cache_hash=True)
class RecordType:
    """A struct or union definition; ``name`` None for an anonymous one."""

    kind: RecordKind
    name: str | None
    fields: tuple[Field, ...]
    packed: bool = False
    aligned: int | None = None

    @property
    def spelling(self) -> str:
        return f"{self.kind} {self.name}" if self.name else f"{self.kind} <anonymous>"


CType = ScalarType | EnumType | ArrayType | TypedefType | RecordType


# --------------------------------------------------------------------------------------------
# Results


@attrs.frozen
class Member:
    """One member of a laid-out type; offsets are absolute from the start of the outermost type."""

    name: str
    type: str
    offset_bits: int
    size_bits: int
    bitfield: bool
    members: tuple[Member, ...] = ()
    #: alignment in bytes the member got (1 for bitfields)
    align: int = 1
    #: ``sizeof`` the member's declared type (the storage unit of a bitfield)
    type_size: int = 0
    #: what the type is, typedefs seen through: "struct", "union", "array", "enum" or "scalar"
    kind: str = "scalar"
    #: the type is a struct/union defined in place without a tag (pahole shows it expanded)
    inline: bool = False

    @property
    def offset(self) -> int:
        """Byte offset (of the byte holding the first bit)."""
        return self.offset_bits // 8

    @property
    def size(self) -> int:
        """Bytes the member covers (rounded up for bitfields)."""
        return (self.size_bits + 7) // 8


@attrs.frozen
class Hole:
    """Bytes or bits no member covers: ``kind`` is ``"hole"`` (between members, after member
    ``after``) or ``"padding"`` (at the end of a struct)."""

    kind: Literal["hole", "padding"]
    after: str
    offset_bits: int
    size_bits: int


@attrs.frozen
class _Leaf:
    path: str
    member: Member
    shift: int
    mask: int
    signed: bool


@attrs.frozen
class Layout:
    """A struct or union laid out for one ABI, with a precomputed codec."""

    name: str
    kind: RecordKind
    abi: Abi
    size: int
    align: int
    members: tuple[Member, ...]
    #: the laid-out type; the codec is derived from it on first use (not part of the value)
    _record: RecordType = attrs.field(alias="record_", repr=False, eq=False)
    _leaves_v: tuple[_Leaf, ...] | None = attrs.field(default=None, init=False, repr=False,
                                                        eq=False)
    _codec_v: Mapping[str, tuple[int, int, bool]] | None = attrs.field(
        default=None, init=False, repr=False, eq=False)

    def _built_leaves(self) -> tuple[_Leaf, ...]:
        """Every scalar leaf, array elements one by one: built on the first encode/decode/
        leaves call, never by laying out (``char a[4000000000]`` lays out in O(1)); a record of
        more than :data:`MAX_LEAVES` leaves has no codec (:class:`InputError`)."""
        leaves = self._leaves_v
        if leaves is None:
            count = leaf_count(self._record, self.abi)
            if count > MAX_LEAVES:
                raise InputError(f"{self.kind} {self.name} has {count:,} scalar leaves (array "
                                 f"elements counted one by one); encoding or decoding it is "
                                 f"limited to {MAX_LEAVES:,}")
            out: list[_Leaf] = []
            root = Member("", self._record.spelling, 0, 8 * self.size, False, self.members,
                          self.align)
            _leaves_of(self._record, self.abi, "", root, 8 * self.size, out)
            leaves = tuple(out)
            object.__setattr__(self, "_leaves_v", leaves)  # a cache, not part of the value
        return leaves

    @property
    def _codec(self) -> Mapping[str, tuple[int, int, bool]]:
        """Leaf path -> (shift, mask, signed), built on first use."""
        return self._built_codec()

    def _built_codec(self) -> Mapping[str, tuple[int, int, bool]]:
        codec = self._codec_v
        if codec is None:
            codec = {leaf.path: (leaf.shift, leaf.mask, leaf.signed)
                     for leaf in self._built_leaves()}
            object.__setattr__(self, "_codec_v", codec)
        return codec

    # -- lookup ------------------------------------------------------------------------------

    def member(self, path: str) -> Member:
        """The member at dotted ``path`` (``key.dd_key_true.key.enabled``, ``a[2].b``); members of
        anonymous structs/unions are reached as if they were members of the parent (C rules)."""
        found = _find_path(self.members, path)
        if found is None:
            raise InputError(f"{self.kind} {self.name} has no member {path!r}")
        return found

    def leaves(self) -> tuple[tuple[str, Member], ...]:
        """Every scalar leaf (array elements one by one) with its dotted path, in layout order."""
        return tuple((leaf.path, leaf.member) for leaf in self._built_leaves())

    def paths(self) -> tuple[str, ...]:
        return tuple(leaf.path for leaf in self._built_leaves())

    # -- codec -------------------------------------------------------------------------------

    def encode(self, values: Mapping[str, int]) -> bytes:
        """The record's bytes: each leaf path in ``values`` gets its integer (pointers are
        integers; negative values are two's complement; wider values are truncated to the
        member, as a C store would); everything else is 0.  Union members overlapping each other
        are stored in ``values`` order, the later winning, like successive C stores."""
        codec = self._codec_v if self._codec_v is not None else self._built_codec()
        acc = 0
        for path, value in values.items():
            try:
                shift, mask, _signed = codec[path]
            except KeyError:
                raise InputError(f"{self.kind} {self.name} has no scalar member {path!r}") from None
            acc = (acc & ~(mask << shift)) | ((value & mask) << shift)
        return acc.to_bytes(self.size, self.abi.endian)

    def decode(self, data: bytes) -> dict[str, int]:
        """Every leaf path -> its integer value in ``data`` (signed types sign-extended)."""
        if len(data) < self.size:
            raise InputError(
                f"{self.kind} {self.name}: {len(data)} bytes given, {self.size} needed")
        acc = int.from_bytes(data[: self.size], self.abi.endian)
        out: dict[str, int] = {}
        leaves = self._leaves_v if self._leaves_v is not None else self._built_leaves()
        for leaf in leaves:
            v = (acc >> leaf.shift) & leaf.mask
            if leaf.signed and v > (leaf.mask >> 1):
                v -= leaf.mask + 1
            out[leaf.path] = v
        return out

    def get(self, data: bytes, path: str) -> int:
        """One leaf of ``data`` (cheaper than :meth:`decode` for a single field)."""
        try:
            codec = self._codec_v if self._codec_v is not None else self._built_codec()
            shift, mask, signed = codec[path]
        except KeyError:
            raise InputError(f"{self.kind} {self.name} has no scalar member {path!r}") from None
        v = (int.from_bytes(data[: self.size], self.abi.endian) >> shift) & mask
        if signed and v > (mask >> 1):
            v -= mask + 1
        return v

    # -- pahole view -------------------------------------------------------------------------

    def holes(self) -> tuple[Hole, ...]:
        """Holes between the top-level members and the padding at the end (bits and bytes)."""
        return holes_between(self.members, 0, 8 * self.size, self.kind)


def holes_between(members: tuple[Member, ...], start_bits: int, end_bits: int,
                  kind: str) -> tuple[Hole, ...]:
    """Gaps between ``members`` (all inside ``[start_bits, end_bits)``), and the tail padding."""
    if kind == "union":
        used = max((m.offset_bits + m.size_bits for m in members), default=start_bits)
        if end_bits > used:
            return (Hole("padding", members[-1].name if members else "", used, end_bits - used),)
        return ()
    out: list[Hole] = []
    pos = start_bits
    prev = ""
    for m in members:
        if m.offset_bits > pos:
            out.append(Hole("hole", prev, pos, m.offset_bits - pos))
        pos = max(pos, m.offset_bits + m.size_bits)
        prev = m.name
    if end_bits > pos:
        out.append(Hole("padding", prev, pos, end_bits - pos))
    return tuple(out)


def _find_path(members: tuple[Member, ...], path: str) -> Member | None:
    head, _, rest = path.partition(".")
    index: int | None = None
    if head.endswith("]") and "[" in head:
        head, _, idx = head[:-1].partition("[")
        if not idx.isdigit():
            return None
        index = int(idx)
    for m in members:
        if m.name == "" and m.members:
            found = _find_path(m.members, path)
            if found is not None:
                return found
            continue
        if m.name != head:
            continue
        if index is not None:
            el = _element(m, index)
            if el is None or not rest:
                return el
            return _find_path(el.members, rest)
        if not rest:
            return m
        return _find_path(m.members, rest)
    return None


def _element(m: Member, index: int) -> Member | None:
    """Element ``index`` of array member ``m`` (as a Member named ``name[index]``)."""
    if m.kind != "array" or not m.members:
        return None
    first = m.members[0]
    count = m.size_bits // first.size_bits if first.size_bits else 0
    if index >= count:
        return None
    delta = index * first.size_bits
    return _shift(first, delta, f"{m.name}[{index}]")


def _shift(m: Member, delta: int, name: str | None = None) -> Member:
    return attrs.evolve(m, name=m.name if name is None else name,
                        offset_bits=m.offset_bits + delta,
                        members=tuple(_shift(c, delta) for c in m.members))


# --------------------------------------------------------------------------------------------
# The engine


@attrs.frozen
class _Info:
    size_bits: int
    align: int
    user_align: bool


def integer_info(t: CType, abi: Abi) -> tuple[int, bool] | None:
    """(bits, signed) of an integer-like type (integers, ``_Bool``, enums), else None."""
    while isinstance(t, TypedefType):
        t = t.base
    if isinstance(t, EnumType):
        return 8 * t.size, t.signed
    if isinstance(t, ScalarType) and t.is_integer():
        size = abi.scalar(t.kind).size
        if t.kind == "char":
            return 8, abi.char_signed
        signed = not t.kind.startswith("unsigned") and t.kind != "_Bool"
        return 8 * size, signed
    return None


def type_info(t: CType, abi: Abi) -> _Info:
    """Size in bits and in-struct alignment in bytes of ``t`` on ``abi``."""
    if isinstance(t, ScalarType):
        s = abi.scalar(t.kind)
        return _Info(8 * s.size, s.align, False)
    if isinstance(t, EnumType):
        if t.size == 8:
            return _Info(64, abi.scalar("long long").align, False)
        return _Info(8 * t.size, t.size, False)
    if isinstance(t, ArrayType):
        e = type_info(t.elem, abi)
        return _Info(e.size_bits * (t.count or 0), e.align, e.user_align)
    if isinstance(t, TypedefType):
        b = type_info(t.base, abi)
        if t.align is None:
            return b
        return _Info(b.size_bits, t.align, True)
    rec = _layout_record(t, abi)
    return _Info(8 * rec.size, rec.align, rec.user_align)


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _excess_unit_span(bitpos: int, width: int, align_bits: int, type_bits: int) -> bool:
    """stor-layout.cc:excess_unit_span: the bitfield would cover more ``align_bits`` units than
    its type has."""
    offset = bitpos % align_bits
    return (offset + width + align_bits - 1) // align_bits > type_bits // align_bits


@attrs.frozen
class _Placed:
    field: Field
    offset_bits: int
    size_bits: int
    align: int


@attrs.frozen
class _RecordInfo:
    size: int
    align: int
    user_align: bool
    placed: tuple[_Placed, ...]


def _check_bitfield(f: Field, abi: Abi, owner: RecordType) -> int:
    assert f.bits is not None
    info = integer_info(f.type, abi)
    where = owner.spelling
    path, line = f.where if f.where is not None else (None, None)
    if info is None:
        raise InputError(f"bitfield {f.name or '<unnamed>'!r} in {where} has non-integer type "
                         f"{f.type.spelling!r}", path=path, line=line)
    bits, _signed = info
    inner = f.type
    while isinstance(inner, TypedefType):
        inner = inner.base
    limit = bits
    if isinstance(inner, ScalarType) and inner.kind == "_Bool":
        limit = 1  # C11 6.7.2.1: a _Bool bitfield is at most 1 bit wide
    if f.bits < 0:
        raise InputError(f"bitfield {f.name or '<unnamed>'!r} in {where} has negative width",
                         path=path, line=line)
    if f.bits > limit:
        raise InputError(f"width of bitfield {f.name or '<unnamed>'!r} in {where} ({f.bits}) "
                         f"exceeds its type {f.type.spelling!r} ({limit} bits on {abi.name})",
                         path=path, line=line)
    if f.bits == 0 and f.name:
        raise InputError(f"zero width for bitfield {f.name!r} in {where}", path=path,
                         line=line)
    return bits


@lru_cache(maxsize=8192)
def _layout_record(rec: RecordType, abi: Abi) -> _RecordInfo:
    """gcc/stor-layout.cc:place_field / place_union_field / finalize_record_size for ``rec``."""
    bitpos = 0
    record_align = 1
    user_align = rec.aligned is not None
    placed: list[_Placed] = []
    is_union = rec.kind == "union"
    union_size = 0
    nfields = len(rec.fields)
    largest = max_object_size(abi)
    for i, f in enumerate(rec.fields):
        info = type_info(f.type, abi)
        if info.size_bits > 8 * largest:
            path, line = f.where if f.where is not None else (None, None)
            raise InputError(f"member {f.name or '<anonymous>'!r} of {rec.spelling} is "
                             f"{info.size_bits // 8:,} bytes, larger than any object on "
                             f"{abi.name} (PTRDIFF_MAX {largest:,})", path=path, line=line)
        packed_p = f.packed or rec.packed
        if f.bits is None:
            if (isinstance(f.type, ArrayType) and f.type.count is None
                    and (i != nfields - 1 or is_union)):
                raise InputError(f"flexible array member {f.name!r} not at end of "
                                 f"{rec.spelling}")
            if f.aligned is not None:
                desired = f.aligned if packed_p else max(info.align, f.aligned)
                user_align = True
            elif packed_p:
                desired = 1
            else:
                desired = info.align
                user_align = user_align or info.user_align
            record_align = max(record_align, desired)
            if is_union:
                placed.append(_Placed(f, 0, info.size_bits, desired))
                union_size = max(union_size, info.size_bits)
                continue
            bitpos = _round_up(bitpos, 8 * desired)
            placed.append(_Placed(f, bitpos, info.size_bits, desired))
            bitpos += info.size_bits
            continue
        # bitfield
        type_bits = _check_bitfield(f, abi, rec)
        width = f.bits
        anon_counts = bool(f.name) or abi.align_anon_bitfield
        if width == 0:
            # "A zero-length bit-field affects the alignment of the next field.  In essence
            # such bit-fields are not influenced by any packing."
            desired = max(info.align, f.aligned or 1)
            if anon_counts:
                record_align = max(record_align, desired)
            if not is_union:
                bitpos = _round_up(bitpos, 8 * desired)
            continue
        # layout_decl: a bitfield whose width is that of an integer mode (8/16/32/64) and
        # that already sits on a multiple of it becomes an ordinary member of that mode
        # (DECL_BIT_FIELD cleared, DECL_ALIGN raised to the mode's alignment): it then skips
        # the straddle rule below.  i386's ADJUST_FIELD_ALIGN caps that alignment at 4.
        pos = 0 if is_union else bitpos
        known = pos & -pos if pos else 0
        ordinary = (width in (8, 16, 32, 64) and (known == 0 or known >= width)
                    and not (width > 8 and packed_p))
        desired = f.aligned or 1
        if ordinary:
            mode_align = width // 8
            if not packed_p and f.aligned is None and abi.long_long_align < 8:
                mode_align = min(mode_align, abi.long_long_align)
            desired = max(desired, mode_align)
        if anon_counts:
            type_align = 1 if packed_p else info.align
            record_align = max(record_align, desired, type_align)
            if not packed_p:
                user_align = user_align or info.user_align
        if is_union:
            if f.name:
                placed.append(_Placed(f, 0, width, 1))
            union_size = max(union_size, _round_up(width, 8))
            continue
        if f.aligned is not None:
            bitpos = _round_up(bitpos, 8 * f.aligned)
        if (not packed_p and not ordinary
                and _excess_unit_span(bitpos, width, 8 * info.align, type_bits)):
            # place_field rounds rli->bitpos, the position past rli->offset, which is kept a
            # multiple of offset_align = MAX(TYPE_ALIGN, BIGGEST_ALIGNMENT): for a type
            # aligned beyond that, only the remainder is rounded up.
            chunk = 8 * max(abi.biggest_alignment, rec.aligned or 1)
            rem = bitpos % chunk
            bitpos = bitpos - rem + _round_up(rem, 8 * info.align)
        if f.name:
            placed.append(_Placed(f, bitpos, width, 1))
        bitpos += width
    if rec.aligned is not None:
        record_align = max(record_align, rec.aligned)
    end = union_size if is_union else bitpos
    size = _round_up(_round_up(end, 8) // 8, record_align)
    if size > largest:
        raise InputError(f"{rec.spelling} is {size:,} bytes, larger than any object on "
                         f"{abi.name} (PTRDIFF_MAX {largest:,})")
    return _RecordInfo(size, record_align, user_align, tuple(placed))


def max_object_size(abi: Abi) -> int:
    """``PTRDIFF_MAX`` of ``abi``: GCC refuses a type larger than that ("size of array is too
    large", gcc/c/c-decl.cc:grokdeclarator)."""
    return (1 << (8 * abi.long_size - 1)) - 1


def _members(rec: RecordType, abi: Abi, base_bits: int) -> tuple[Member, ...]:
    out: list[Member] = []
    for p in _layout_record(rec, abi).placed:
        out.append(_member(p.field.name, p.field.type, abi, base_bits + p.offset_bits,
                           p.size_bits, p.field.bits is not None, p.align))
    return tuple(out)


def _member(name: str, t: CType, abi: Abi, offset_bits: int, size_bits: int, bitfield: bool,
            align: int) -> Member:
    inner = t
    while isinstance(inner, TypedefType):
        inner = inner.base
    children: tuple[Member, ...] = ()
    if isinstance(inner, RecordType):
        children = _members(inner, abi, offset_bits)
    elif isinstance(inner, ArrayType) and inner.count:
        e = type_info(inner.elem, abi)
        children = (_member(f"{name}[0]", inner.elem, abi, offset_bits, e.size_bits, False,
                            e.align),)
    kind = "scalar"
    if isinstance(inner, RecordType):
        kind = inner.kind
    elif isinstance(inner, ArrayType):
        kind = "array"
    elif isinstance(inner, EnumType):
        kind = "enum"
    inline = isinstance(t, RecordType) and t.name is None
    return Member(name, t.spelling, offset_bits, size_bits, bitfield, children, align,
                  type_info(t, abi).size_bits // 8, kind, inline)


def _leaves_of(t: CType, abi: Abi, path: str, member: Member, total_bits: int,
               out: list[_Leaf]) -> None:
    inner = t
    while isinstance(inner, TypedefType):
        inner = inner.base
    if isinstance(inner, RecordType):
        placed = _layout_record(inner, abi).placed
        for p, m in zip(placed, member.members, strict=True):
            sub = f"{path}.{m.name}" if path and m.name else (path or m.name)
            _leaves_of(p.field.type, abi, sub, m, total_bits, out)
        return
    if isinstance(inner, ArrayType):
        if not inner.count:
            return
        e = type_info(inner.elem, abi)
        for i in range(inner.count):
            el = _member(f"{member.name}[{i}]", inner.elem, abi,
                         member.offset_bits + i * e.size_bits, e.size_bits, False, e.align)
            _leaves_of(inner.elem, abi, f"{path}[{i}]", el, total_bits, out)
        return
    info = integer_info(inner, abi)
    signed = info[1] if info is not None else False
    width = member.size_bits
    shift = leaf_shift(abi, member.offset_bits, width, member.bitfield, total_bits)
    out.append(_Leaf(path, member, shift, (1 << width) - 1, signed))


def leaf_shift(abi: Abi, offset_bits: int, width: int, bitfield: bool, total_bits: int) -> int:
    """Where a leaf sits in the record read as one integer in target byte order.

    Little-endian: bit ``offset_bits`` is bit ``offset_bits`` of that integer.  Big-endian:
    bit 0 is the most significant bit of byte 0, so a field (bitfield or not) of ``width``
    bits at ``offset_bits`` ends ``total_bits - offset_bits - width`` bits above bit 0."""
    if abi.endian == "little":
        return offset_bits
    return total_bits - offset_bits - width


@lru_cache(maxsize=4096)
def layout_of(rec: RecordType, abi: Abi, name: str | None = None) -> Layout:
    """Lay out ``rec`` for ``abi`` (``name`` overrides the displayed name)."""
    info = _layout_record(rec, abi)
    members = _members(rec, abi, 0)
    return Layout(name or rec.name or "<anonymous>", rec.kind, abi, info.size, info.align,
                  members, record_=rec)


def leaf_count(t: CType, abi: Abi) -> int:
    """How many scalar leaves ``t`` has, array elements counted one by one, without
    expanding any array (a bitfield or scalar is one leaf; an unnamed bitfield none)."""
    while isinstance(t, TypedefType):
        t = t.base
    if isinstance(t, RecordType):
        return sum(leaf_count(p.field.type, abi) for p in _layout_record(t, abi).placed)
    if isinstance(t, ArrayType):
        return (t.count or 0) * leaf_count(t.elem, abi)
    return 1


def walk(members: tuple[Member, ...], prefix: str = "") -> Iterator[tuple[str, Member]]:
    """Every member (not only leaves) with its dotted path, depth first."""
    for m in members:
        path = f"{prefix}.{m.name}" if prefix and m.name else (prefix or m.name)
        yield path, m
        if m.kind != "array":
            yield from walk(m.members, path)
