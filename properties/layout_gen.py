"""Hypothesis strategies for random C struct/union definitions, and their C rendering.

A *batch* is a tuple of :class:`GenType`: a top-level :class:`~model.layout.RecordType` named
``T<i>`` plus values for some of its scalar leaves.  :func:`render_batch` turns a batch into
one C translation unit that defines every type and one initialized global per type
(``v<i>``), plus ``dd_sizes[]`` holding ``sizeof`` and ``_Alignof`` of each type, so one
compile per ABI answers for the whole batch (see :mod:`properties.gcc_oracle`).

The types cover what the layout engine claims to model: every integer type and the kernel's
typedef names for them, ``_Bool``, enums (``packed`` ones too), floating types, pointers
(to structs defined nowhere too), arrays (zero-length and flexible ones), nested named and
anonymous structs and unions, bitfields of every width including zero-width and unnamed
ones, ``packed`` and ``aligned(N)`` on members and types, and typedefs with ``aligned(N)``
that raise or lower alignment.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
from hypothesis import strategies as st

from model.layout import (
    ArrayType,
    CType,
    EnumType,
    Field,
    RecordType,
    ScalarType,
    TypedefType,
)

#: (spelling, canonical kind) of the integer types the generator uses.
INTEGER_SPELLINGS: tuple[tuple[str, str], ...] = (
    ("char", "char"), ("signed char", "signed char"), ("unsigned char", "unsigned char"),
    ("short", "short"), ("unsigned short", "unsigned short"), ("int", "int"),
    ("unsigned int", "unsigned int"), ("long", "long"), ("unsigned long", "unsigned long"),
    ("long long", "long long"), ("unsigned long long", "unsigned long long"),
    ("_Bool", "_Bool"), ("u8", "unsigned char"), ("u16", "unsigned short"),
    ("u32", "unsigned int"), ("u64", "unsigned long long"), ("s16", "short"),
    ("s64", "long long"), ("bool", "_Bool"), ("size_t", "unsigned long"),
)
FLOAT_KINDS: tuple[str, ...] = ("float", "double", "long double")
POINTER_SPELLINGS: tuple[str, ...] = ("void *", "char *", "struct nowhere *")

#: Typedefs with ``aligned(N)`` every batch declares: (name, base kind, N).
ALIGNED_TYPEDEFS: tuple[tuple[str, str, int], ...] = (
    ("int_a1", "int", 1), ("int_a2", "int", 2), ("int_a8", "int", 8),
    ("short_a8", "short", 8), ("ll_a4", "long long", 4), ("ll_a8", "long long", 8),
    ("char_a4", "char", 4), ("uint_a16", "unsigned int", 16),
)
_SCALAR_SIZES_MAX = {"char": 1, "signed char": 1, "unsigned char": 1, "_Bool": 1, "short": 2,
                     "unsigned short": 2, "int": 4, "unsigned int": 4}


def aligned_typedef(name: str) -> TypedefType:
    for n, kind, align in ALIGNED_TYPEDEFS:
        if n == name:
            return TypedefType(n, ScalarType(kind, kind), align)
    raise KeyError(name)


def _int_bits(kind: str) -> int | None:
    """Bits of an integer kind when it is the same on every ABI (None for long)."""
    if kind in _SCALAR_SIZES_MAX:
        return 8 * _SCALAR_SIZES_MAX[kind]
    if kind in ("long long", "unsigned long long"):
        return 64
    return None


@attrs.frozen
class GenType:
    """One generated top-level type and the values its global is initialized with."""

    type: RecordType
    values: tuple[tuple[str, int], ...]


# --------------------------------------------------------------------------------------------
# Strategies


@attrs.define(slots=True)
class _Names:
    prefix: str
    #: bits of ``long`` on the target (32 when the batch must suit every ABI)
    long_bits: int = 32
    n: int = 0

    def next(self, kind: str) -> str:
        self.n += 1
        return f"{self.prefix}{kind}{self.n}"


@st.composite
def _enum_type(draw: st.DrawFn, names: _Names) -> EnumType:
    name = names.next("E")
    count = draw(st.integers(1, 3))
    vals = draw(st.lists(st.integers(-3, 300), min_size=count, max_size=count, unique=True))
    packed = draw(st.booleans())
    lo, hi = min(vals), max(vals)
    signed = lo < 0
    if packed:
        size = next(s for s in (1, 2, 4)
                    if (hi < (1 << (8 * s)) if not signed else hi < (1 << (8 * s - 1))))
    else:
        size = 4
    return EnumType(name, size, signed, f"enum {name}",
                    tuple((f"{name}_{i}", v) for i, v in enumerate(vals)))


def _scalar_types() -> st.SearchStrategy[CType]:
    ints = st.sampled_from(INTEGER_SPELLINGS).map(lambda p: ScalarType(p[1], p[0]))
    return st.one_of(
        ints,
        ints,
        st.sampled_from(FLOAT_KINDS).map(lambda k: ScalarType(k, k)),
        st.sampled_from(POINTER_SPELLINGS).map(lambda s: ScalarType("pointer", s)),
        st.sampled_from([n for n, _k, _a in ALIGNED_TYPEDEFS]).map(aligned_typedef),
    )


def _array_ok(elem: CType) -> bool:
    """GCC rejects arrays whose element alignment exceeds the element size."""
    if isinstance(elem, TypedefType) and elem.align is not None:
        base = elem.base
        assert isinstance(base, ScalarType)
        bits = _int_bits(base.kind)
        return bits is not None and elem.align <= bits // 8
    return True


@st.composite
def _field(draw: st.DrawFn, names: _Names, depth: int, in_union: bool) -> Field:
    choice = draw(st.sampled_from(
        ["scalar", "scalar", "scalar", "bitfield", "bitfield", "bitfield", "enum", "array",
         "record", "anon"] if depth < 3 else ["scalar", "scalar", "bitfield", "enum"]))
    name = names.next("f")
    if choice in ("scalar", "enum", "array"):
        t: CType = draw(_scalar_types()) if choice != "enum" else draw(_enum_type(names))
        if choice == "array":
            elem = t if _array_ok(t) else ScalarType("int", "int")
            if draw(st.booleans()) and depth < 3:
                elem = draw(_record(names, depth + 1, None))
            count = draw(st.integers(0, 3))
            if draw(st.integers(0, 4)) == 4:  # a two-dimensional array
                inner_count = draw(st.integers(1, 3))
                elem = ArrayType(elem, inner_count, _array_spelling(elem, inner_count))
            t = ArrayType(elem, count, _array_spelling(elem, count))
        # rare options fire on the largest draw, so that shrinking switches them off
        packed = draw(st.integers(0, 9)) == 9
        aligned = draw(st.sampled_from([1, 2, 4, 8, 16])) if draw(st.integers(0, 4)) == 4 \
            else None
        return Field(name, t, None, packed, aligned)
    if choice == "bitfield":
        t = draw(st.one_of(
            st.sampled_from(INTEGER_SPELLINGS).map(lambda p: ScalarType(p[1], p[0])),
            _enum_type(names),
            st.sampled_from(["int_a1", "int_a2", "int_a8", "ll_a4", "uint_a16"]).map(
                aligned_typedef)))
        bits = _type_bits(t, names.long_bits)
        width = draw(st.integers(0, bits))
        named = width > 0 and draw(st.integers(0, 3)) < 3
        packed = draw(st.integers(0, 5)) == 5
        aligned = draw(st.sampled_from([1, 2, 4, 8])) if named and \
            draw(st.integers(0, 9)) == 9 else None
        return Field(name if named else "", t, width, packed, aligned)
    if choice == "record":
        packed = draw(st.integers(0, 9)) == 9
        aligned = draw(st.sampled_from([1, 2, 4, 8, 16])) if draw(st.integers(0, 9)) == 9 \
            else None
        return Field(name, draw(_record(names, depth + 1, None)), None, packed, aligned)
    # anonymous struct/union member
    return Field("", draw(_record(names, depth + 1, None, anonymous=True)))


def _type_bits(t: CType, long_bits: int) -> int:
    if isinstance(t, EnumType):
        return 8 * t.size
    if isinstance(t, TypedefType):
        return _type_bits(t.base, long_bits)
    assert isinstance(t, ScalarType)
    if t.kind == "_Bool":
        return 1
    bits = _int_bits(t.kind)
    return bits if bits is not None else long_bits


def _array_spelling(elem: CType, count: int | None) -> str:
    dim = "" if count is None else str(count)
    s = elem.spelling
    if "[" in s:
        i = s.index("[")
        return f"{s[:i]}[{dim}]{s[i:]}"
    return f"{s}[{dim}]"


@st.composite
def _record(draw: st.DrawFn, names: _Names, depth: int, name: str | None,
            anonymous: bool = False, top: bool = False) -> RecordType:
    kind = draw(st.sampled_from(["struct", "struct", "union"]))
    tag = name if name is not None else (
        names.next("S") if not anonymous and draw(st.booleans()) else None)
    n = draw(st.integers(1, 5 if depth < 2 else 3))
    fields = [draw(_field(names, depth, kind == "union")) for _ in range(n)]
    if not any(f.name or (isinstance(f.type, RecordType) and not f.name) for f in fields):
        fields.append(Field(names.next("f"), ScalarType("int", "int")))
    if top and kind == "struct" and draw(st.integers(0, 5)) == 5:
        elem = draw(_scalar_types())
        if not _array_ok(elem):
            elem = ScalarType("int", "int")
        fields.append(Field(names.next("f"), ArrayType(elem, None, _array_spelling(elem, None))))
    packed = draw(st.integers(0, 4)) == 4
    aligned = draw(st.sampled_from([1, 2, 4, 8, 16, 32])) if draw(st.integers(0, 4)) == 4 \
        else None
    return RecordType(kind, tag, tuple(fields), packed, aligned)  # type: ignore[arg-type]


def scalar_leaves(t: CType, path: str = "") -> Iterator[tuple[str, CType, int | None]]:
    """Structural leaves ``(path, type, bitfield width)`` of ``t`` (every union member)."""
    if isinstance(t, TypedefType):
        yield from scalar_leaves(t.base, path)
        return
    if isinstance(t, RecordType):
        for f in t.fields:
            if f.bits is not None:
                if f.name:
                    yield (f"{path}.{f.name}" if path else f.name), f.type, f.bits
                continue
            sub = (f"{path}.{f.name}" if path else f.name) if f.name else path
            yield from scalar_leaves(f.type, sub)
        return
    if isinstance(t, ArrayType):
        for i in range(t.count or 0):
            yield from scalar_leaves(t.elem, f"{path}[{i}]")
        return
    yield path, t, None


def _initialisable(t: CType, path: str = "", choice: dict[str, int] | None = None
                   ) -> Iterator[tuple[str, CType, int | None]]:
    """Leaves to initialize: in each union only the member ``choice`` picks."""
    choice = choice if choice is not None else {}
    if isinstance(t, TypedefType):
        yield from _initialisable(t.base, path, choice)
        return
    if isinstance(t, RecordType):
        fields = [f for f in t.fields if f.name or (f.bits is None)]
        if t.kind == "union" and fields:
            fields = [fields[choice.get(path + "#", 0) % len(fields)]]
        for f in fields:
            if f.bits is not None:
                yield (f"{path}.{f.name}" if path else f.name), f.type, f.bits
                continue
            sub = (f"{path}.{f.name}" if path else f.name) if f.name else path
            yield from _initialisable(f.type, sub, choice)
        return
    if isinstance(t, ArrayType):
        for i in range(t.count or 0):
            yield from _initialisable(t.elem, f"{path}[{i}]", choice)
        return
    yield path, t, None


def _unions(t: CType, path: str = "") -> Iterator[str]:
    if isinstance(t, TypedefType):
        yield from _unions(t.base, path)
    elif isinstance(t, RecordType):
        if t.kind == "union":
            yield path + "#"
        for f in t.fields:
            if f.bits is None:
                sub = (f"{path}.{f.name}" if path else f.name) if f.name else path
                yield from _unions(f.type, sub)
    elif isinstance(t, ArrayType):
        for i in range(t.count or 0):
            yield from _unions(t.elem, f"{path}[{i}]")


def value_range(t: CType, bits: int | None, long_bits: int = 32
                ) -> tuple[int, int] | None:
    """Values safe to store into a leaf (None: leave it 0: floats, pointers); with
    ``long_bits=32`` safe on every ABI."""
    while isinstance(t, TypedefType):
        t = t.base
    if isinstance(t, EnumType):
        width = bits if bits is not None else 8 * t.size
        if t.signed:
            return -(1 << (width - 1)), (1 << (width - 1)) - 1
        return 0, (1 << width) - 1
    assert isinstance(t, ScalarType)
    if t.kind in FLOAT_KINDS or t.kind == "pointer":
        return None
    if t.kind == "_Bool":
        return 0, 1
    full = _int_bits(t.kind) or long_bits
    width = bits if bits is not None else full
    if t.kind == "char":  # signedness differs between ABIs
        return 0, (1 << (width - 1)) - 1 if width > 1 else 0
    if t.kind.startswith("unsigned"):
        return 0, (1 << width) - 1
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


@st.composite
def gen_type(draw: st.DrawFn, index: int, long_bits: int = 32) -> GenType:
    """One top-level type ``T<index>`` with values for some of its leaves; ``long_bits`` 64
    lets ``long`` bitfields and values use all 64 bits (for 64-bit targets only)."""
    names = _Names(f"t{index}_", long_bits)
    rec = draw(_record(names, 0, f"T{index}", top=True))
    choice = {u: draw(st.integers(0, 7)) for u in _unions(rec)}
    values: list[tuple[str, int]] = []
    for path, t, bits in _initialisable(rec, "", choice):
        r = value_range(t, bits, long_bits)
        if r is None or not draw(st.integers(0, 3)):
            continue
        values.append((path, draw(st.integers(*r))))
    return GenType(rec, tuple(values))


def batches(min_size: int = 1, max_size: int = 40, long_bits: int = 32
            ) -> st.SearchStrategy[tuple[GenType, ...]]:
    """Tuples of generated types ``T0..Tn`` (see :func:`gen_type` for ``long_bits``)."""

    @st.composite
    def batch(draw: st.DrawFn) -> tuple[GenType, ...]:
        n = draw(st.integers(min_size, max_size))
        return tuple(draw(gen_type(i, long_bits)) for i in range(n))

    return batch()


# --------------------------------------------------------------------------------------------
# Rendering

_ATTR = "__attribute__"


def _attrs(packed: bool, aligned: int | None) -> str:
    parts = []
    if packed:
        parts.append("packed")
    if aligned is not None:
        parts.append(f"aligned({aligned})")
    return f" {_ATTR}(({', '.join(parts)}))" if parts else ""


def render_type(t: CType, indent: str = "") -> str:
    """The type part of a declaration (a full definition for records and enums)."""
    if isinstance(t, RecordType):
        body = "".join(render_field(f, indent + "\t") for f in t.fields)
        attr = _attrs(t.packed, t.aligned)
        # put type attributes in both places GCC takes them (chosen by name, so rendering
        # stays a function of the type): after the closing brace, or after the keyword
        if _spot(t.name or (t.fields[0].name if t.fields else ""), 2):
            head = t.kind + attr + (f" {t.name}" if t.name else "")
            return f"{head} {{\n{body}{indent}}}"
        head = t.kind + (f" {t.name}" if t.name else "")
        return f"{head} {{\n{body}{indent}}}{attr}"
    if isinstance(t, EnumType):
        pk = f" {_ATTR}((packed))" if t.size != 4 else ""
        vals = ", ".join(f"{n} = {v}" for n, v in t.values)
        return f"enum{pk} {t.name} {{ {vals} }}"
    return t.spelling


def _spot(key: str, n: int) -> int:
    return sum(map(ord, key)) % n


def render_field(f: Field, indent: str) -> str:
    t = f.type
    attr = _attrs(f.packed, f.aligned)
    lead = ""
    if attr and _spot(f.name + str(f.bits), 2):  # leading, before the type
        lead, attr = f"{attr.strip()} ", ""
    width = f" : {f.bits}" if f.bits is not None else ""
    if isinstance(t, ArrayType):
        elem: CType = t
        dims = ""
        while isinstance(elem, ArrayType):
            dims += "[]" if elem.count is None else f"[{elem.count}]"
            elem = elem.elem
        return f"{indent}{lead}{render_type(elem, indent)} {f.name}{dims}{attr};\n"
    if isinstance(t, ScalarType) and t.kind == "pointer":
        star = t.spelling[:-1].rstrip()
        return f"{indent}{lead}{star} *{f.name}{attr};\n"
    return (f"{indent}{lead}{render_type(t, indent)}{' ' if f.name else ''}{f.name}{width}"
            f"{attr};\n")


def render_definitions(batch: tuple[GenType, ...]) -> str:
    """The C definitions of a batch (what the C-snippet reader is given)."""
    lines = [f"typedef {kind} {name} {_ATTR}((aligned({align})));"
             for name, kind, align in ALIGNED_TYPEDEFS]
    for g in batch:
        lines.append(render_type(g.type) + ";")
    return "\n".join(lines) + "\n"


def render_batch(batch: tuple[GenType, ...], prelude: str) -> str:
    """A whole translation unit for GCC: prelude, definitions, globals, size table."""
    out = [prelude, render_definitions(batch)]
    for i, g in enumerate(batch):
        init = ", ".join(f".{p} = {v}" for p, v in g.values)
        out.append(f"struct T{i} v{i} = {{ {init} }};" if g.type.kind == "struct" else
                   f"union T{i} v{i} = {{ {init} }};")
    sizes = ", ".join(f"sizeof({g.type.kind} T{i}), _Alignof({g.type.kind} T{i})"
                      for i, g in enumerate(batch))
    out.append(f"unsigned long long dd_sizes[] = {{ {sizes} }};")
    return "\n".join(out) + "\n"
