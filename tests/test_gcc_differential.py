"""The layout engine against the real GCC of each target.

Hypothesis generates batches of random struct/union definitions (nesting, bitfields of every
width, zero-width and unnamed ones, packed and aligned attributes on types, members and
typedefs, arrays incl. zero-length and flexible ones, enums incl. packed ones, anonymous
members) with values for their integer leaves.  Each batch is rendered to C, read back by the
C-snippet reader, laid out by the engine, and compiled once per ABI with
``<triplet>-gcc -c -gdwarf-5 -O0``; sizes, alignments, every member's offset and width (from
DWARF), and the bytes of the initialized globals must all agree.

Budget (CI): 16 batches of 32-40 types per ABI, i.e. >= 512 types per target.  The meta-tests
show the property catching three engine thinkos and shrinking each to a one-type batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

import model.layout as layout_mod
from model.abi import ABI_NAMES, ABIS, Abi
from model.builtin_layouts import (
    ddebug_layout,
    ddebug_split_layouts,
    static_key_false_layout,
    static_key_layout,
    static_key_true_layout,
)
from model.creader import header_text
from model.layout import Layout, RecordType, layout_of
from properties.gcc_oracle import (
    batch_differences,
    compile_facts,
    compile_table,
    compiler_for,
    differences,
    header_source,
)
from properties.layout_gen import GenType, batches, render_type
from tests.helpers import require_tool

pytestmark = pytest.mark.gcc

#: Types per target in CI: 16 batches x 32..40 types (>= 512).
BATCHES = 16
DIFF_SETTINGS = settings(max_examples=BATCHES, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=False,
                         phases=[Phase.explicit, Phase.generate, Phase.shrink])

HEADERS = Path(__file__).resolve().parent.parent / "model" / "headers"


def _require(abi: Abi) -> None:
    require_tool(compiler_for(abi), f"the {abi.name} cross compiler checks the layout engine")


# --------------------------------------------------------------------------------------------
# The differential property


@pytest.mark.parametrize("abi_name", ABI_NAMES)
def test_engine_agrees_with_gcc_on_random_types(abi_name: str) -> None:
    abi = ABIS[abi_name]
    _require(abi)
    seen = {"types": 0}

    @DIFF_SETTINGS
    @given(batch=batches(32, 40, long_bits=8 * abi.long_size))
    def prop(batch: tuple[GenType, ...]) -> None:
        seen["types"] += len(batch)
        diffs = batch_differences(batch, abi, layout_of)
        assert not diffs, "\n".join(diffs[:8])

    prop()
    assert seen["types"] >= 500, f"only {seen['types']} random types were compared"


# --------------------------------------------------------------------------------------------
# The ABI table itself

_SCALARS = ("_Bool", "char", "short", "int", "long", "long long", "float", "double",
            "long double", "void *")


def abi_table_source() -> str:
    """sizeof and in-struct alignment of every scalar, plain char's signedness."""
    cells = []
    for t in _SCALARS:
        cells.append(f"sizeof({t})")
        cells.append(f"__builtin_offsetof(struct {{ char c; {t} x; }}, x)")
    cells.append("(char)-1 < 0")
    return f"unsigned long long dd_sizes[] = {{ {', '.join(cells)} }};\n"


@pytest.mark.parametrize("abi_name", ABI_NAMES)
def test_abi_table_matches_gcc(abi_name: str) -> None:
    abi = ABIS[abi_name]
    _require(abi)
    endian, table = compile_table(abi_table_source(), abi)
    got = {t: (table[2 * i], table[2 * i + 1]) for i, t in enumerate(_SCALARS)}
    ours = {t: (abi.scalar("pointer" if t == "void *" else t).size,
                abi.scalar("pointer" if t == "void *" else t).align) for t in _SCALARS}
    assert got == ours
    assert (endian, bool(table[-1])) == (abi.endian, abi.char_signed)


# --------------------------------------------------------------------------------------------
# Built-in layouts


def _builtin_cases() -> Iterator[tuple[str, bool, str, Callable[[Abi], Layout], dict[str, int]]]:
    ddebug_values = {"lineno": 1234, "flags": 1}
    for jump_label in (True, False):
        key = {"key.dd_key_true.key.enabled.counter": 1, "key.dd_key_true.key.type": 1} \
            if jump_label else {}
        yield ("dynamic_debug_v5.8.h", jump_label, "_ddebug",
               lambda a, j=jump_label: ddebug_layout(a, "v5.8", j), ddebug_values | key)
        yield ("dynamic_debug_v6.1.h", jump_label, "_ddebug",
               lambda a, j=jump_label: ddebug_layout(a, "v6.1", j),
               ddebug_values | {"class_id": 63} | key)
        yield ("dynamic_debug_split_2020.h", jump_label, "_ddebug",
               lambda a, j=jump_label: ddebug_split_layouts(a, j)[0], {"flags": 0x81} | key)
        yield ("dynamic_debug_split_2020.h", jump_label, "_ddebug_callsite",
               lambda a, j=jump_label: ddebug_split_layouts(a, j)[1], {"lineno": 0xBEEF})
        yield ("jump_label.h", jump_label, "static_key",
               lambda a, j=jump_label: static_key_layout(a, j),
               {"enabled.counter": -2} | ({"type": 3} if jump_label else {}))
        yield ("jump_label.h", jump_label, "static_key_true",
               lambda a, j=jump_label: static_key_true_layout(a, j), {"key.enabled.counter": 1})
        yield ("jump_label.h", jump_label, "static_key_false",
               lambda a, j=jump_label: static_key_false_layout(a, j), {})


@pytest.mark.parametrize("abi_name", ABI_NAMES)
def test_engine_agrees_with_gcc_on_builtin_layouts(abi_name: str) -> None:
    abi = ABIS[abi_name]
    _require(abi)
    checked = 0
    for header, jump_label, name, get, values in _builtin_cases():
        lay = get(abi)
        src = header_source(header, [("struct", name)], {name: values})
        flags = ["-I", str(HEADERS)] + (["-DCONFIG_JUMP_LABEL"] if jump_label else [])
        facts = compile_facts(src, abi, [name], flags)
        diffs = differences({name: _record_of(lay)}, {name: tuple(values.items())}, facts,
                            abi, lambda _r, _a, lay=lay: lay)
        assert not diffs, f"{header} (JUMP_LABEL={jump_label}):\n" + "\n".join(diffs)
        checked += 1
    assert checked == 14
    # and every header the reader ships is one of those compiled
    assert {"jump_label.h", "dynamic_debug_v5.8.h", "dynamic_debug_v6.1.h",
            "dynamic_debug_split_2020.h"} <= {h for h, *_ in _builtin_cases()}
    assert header_text("jump_label.h")


def _record_of(lay: Layout) -> RecordType:
    # differences() only needs the record for its kind/name; the layout itself is given
    return RecordType(lay.kind, lay.name, ())


# --------------------------------------------------------------------------------------------
# Meta-tests: deliberately broken engines are caught and shrunk to one small type

META_SETTINGS = settings(max_examples=300, database=None, derandomize=True, deadline=None,
                         suppress_health_check=list(HealthCheck))


def _minimal_failing(abi: Abi, engine: Callable[[RecordType, Abi], Layout]
                     ) -> tuple[tuple[GenType, ...], list[str]]:
    def fails(batch: tuple[GenType, ...]) -> bool:
        return bool(batch_differences(batch, abi, engine, check_reader=False))

    found = find(batches(1, 3), fails, settings=META_SETTINGS)
    return found, batch_differences(found, abi, engine, check_reader=False)


def _fields(t: RecordType) -> int:
    n = 0
    for f in t.fields:
        n += 1
        inner = f.type
        if isinstance(inner, RecordType):
            n += _fields(inner)
    return n


def test_meta_i386_long_long_aligned_8_is_caught_and_shrunk() -> None:
    """Thinko: i386 'long long' aligned to 8 inside structs (it is 4 there)."""
    real = ABIS["i386"]
    _require(real)
    broken = attrs.evolve(real, long_long_align=8, double_align=8)

    found, diffs = _minimal_failing(real, lambda rec, _abi: layout_of(rec, broken))
    assert len(found) == 1 and _fields(found[0].type) <= 3, render_type(found[0].type)
    assert any("align=8" in d or "offset" in d for d in diffs), diffs


def test_meta_arm_unnamed_bitfield_alignment_is_caught_and_shrunk() -> None:
    """Thinko: forgetting that AAPCS unnamed bitfields raise the struct's alignment."""
    real = ABIS["arm"]
    _require(real)
    broken = attrs.evolve(real, align_anon_bitfield=False)

    found, diffs = _minimal_failing(real, lambda rec, _abi: layout_of(rec, broken))
    t = found[0].type
    assert len(found) == 1 and _fields(t) <= 3, render_type(t)
    assert any(f.bits is not None and not f.name for f in t.fields), render_type(t)
    assert diffs


def test_meta_big_endian_bitfields_from_bit_0_is_caught_and_shrunk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Thinko: on big-endian targets, filling a bitfield unit from its least significant bit
    (as on little-endian) instead of from its most significant bit."""
    real = ABIS["s390x"]
    _require(real)
    correct = layout_mod.leaf_shift

    def lsb_first(abi: Abi, offset_bits: int, width: int, bitfield: bool,
                  total_bits: int) -> int:
        if abi.endian == "big" and bitfield:  # each byte filled from its low bit
            unit = offset_bits - offset_bits % 8
            return total_bits - unit - 8 + (offset_bits - unit)
        return correct(abi, offset_bits, width, bitfield, total_bits)

    monkeypatch.setattr(layout_mod, "leaf_shift", lsb_first)
    layout_mod.layout_of.cache_clear()
    try:
        found, diffs = _minimal_failing(real, layout_mod.layout_of)
    finally:
        monkeypatch.undo()
        layout_mod.layout_of.cache_clear()
    t = found[0].type
    assert len(found) == 1 and _fields(t) <= 3, render_type(t)
    assert any("encodes" in d for d in diffs), diffs
