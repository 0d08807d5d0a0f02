"""Unit tests of the layout engine and the built-in layouts, plus the codec round-trip
property (with its meta-test).  The engine's agreement with GCC is tests/test_gcc_differential.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from model.abi import ABI_NAMES, ABIS, get_abi
from model.builtin_layouts import (
    KEY_ENABLED,
    KEY_TYPE,
    ddebug_layout,
    ddebug_split_layouts,
    static_key_layout,
)
from model.errors import InputError
from model.layout import (
    ArrayType,
    Field,
    Layout,
    RecordType,
    ScalarType,
    layout_of,
)
from properties.layout_gen import GenType, batches

X86 = ABIS["x86_64"]
INT = ScalarType("int", "int")
UINT = ScalarType("unsigned int", "unsigned int")
CHAR = ScalarType("char", "char")
LL = ScalarType("long long", "long long")
PTR = ScalarType("pointer", "const char *")


# --------------------------------------------------------------------------------------------
# struct _ddebug as real kernels have it (real-kernels.md section 2)


def test_ddebug_v61_x86_64_matches_real_vmlinux_offsets() -> None:
    lay = ddebug_layout(X86, "v6.1", jump_label=True)
    assert (lay.size, lay.align) == (56, 8)
    where = {p: (m.offset_bits, m.size_bits) for p, m in lay.leaves()}
    assert where["modname"] == (0, 64)
    assert where["function"] == (64, 64)
    assert where["filename"] == (128, 64)
    assert where["format"] == (192, 64)
    assert where["lineno"] == (256, 18)       # bits 0-17 of the u32 at 32
    assert where["class_id"] == (256 + 18, 6)  # bits 18-23
    assert where["flags"] == (256 + 24, 8)     # bits 24-31
    assert lay.member("key").offset == 40 and lay.member("key").size == 16
    assert [h.size_bits for h in lay.holes()] == [32]  # the 4-byte hole before key


def test_ddebug_sizes_per_era_and_config() -> None:
    assert ddebug_layout(X86, "v5.8", jump_label=True).size == 56
    assert ddebug_layout(X86, "v5.8", jump_label=False).size == 40
    assert ddebug_layout(X86, "v6.1", jump_label=False).size == 40
    assert "class_id" not in ddebug_layout(X86, "v5.8").paths()
    assert "key" not in {m.name for m in ddebug_layout(X86, "v6.1", False).members}
    assert ddebug_layout(ABIS["i386"], "v6.1").size == 32
    with pytest.raises(InputError, match="unknown record layout"):
        ddebug_layout(X86, "v4.0")


def test_aug_2020_split_matches_jims_measurement() -> None:
    # "81312 bytes in __dyndbg section, 101640 bytes in __dyndbg_callsites section" / 2541
    ddebug, callsite = ddebug_split_layouts(X86)
    assert ddebug.size * 2541 == 81312
    assert callsite.size * 2541 == 101640
    assert callsite.member("lineno").size_bits == 16
    assert ddebug.paths()[:2] == ("site", "flags")


def test_dd_key_true_record_on_disk_pattern() -> None:
    """real-kernels.md: flags=1 records carry key bytes 01000000 00000000 01000000 00000000."""
    lay = ddebug_layout(X86)
    data = lay.encode({"lineno": 77, "class_id": 63, "flags": 1, KEY_ENABLED: 1, KEY_TYPE: 1})
    assert data[40:56] == bytes.fromhex("01000000" "00000000" "0100000000000000")
    assert data[32:36] == (77 | 63 << 18 | 1 << 24).to_bytes(4, "little")
    back = lay.decode(data)
    assert back["key.dd_key_false.key.type"] == 1  # the same bytes through the other view
    assert back["key.dd_key_true.key.entries"] == 1


def test_big_endian_bitfields_fill_from_the_most_significant_bit() -> None:
    lay = ddebug_layout(ABIS["s390x"])
    assert lay.member("class_id").offset_bits == 256 + 18  # DWARF numbering, MSB first
    word = int.from_bytes(lay.encode({"lineno": 1, "class_id": 0, "flags": 0})[32:36], "big")
    assert word == 1 << (32 - 18)
    word = int.from_bytes(lay.encode({"flags": 0xFF})[32:36], "big")
    assert word == 0xFF
    assert lay.encode({"modname": 0x1122})[:8] == bytes.fromhex("0000000000001122")


def test_static_key_alignment_leaves_two_tag_bits_on_every_abi() -> None:
    for name in ABI_NAMES:
        lay = static_key_layout(ABIS[name])
        assert lay.align >= 4 and lay.member("type").offset % 4 == 0


# --------------------------------------------------------------------------------------------
# Engine rules on small hand-written types


def _lay(*fields: Field, kind: str = "struct", packed: bool = False,
         aligned: int | None = None, abi: str = "x86_64") -> Layout:
    return layout_of(RecordType(kind, "t", fields, packed, aligned),  # type: ignore[arg-type]
                     get_abi(abi))


def test_i386_long_long_is_4_aligned_in_structs() -> None:
    assert _lay(Field("c", CHAR), Field("x", LL), abi="i386").member("x").offset == 4
    assert _lay(Field("c", CHAR), Field("x", LL), abi="arm").member("x").offset == 8


def test_bitfield_does_not_straddle_its_unit_unless_packed() -> None:
    fields = (Field("a", UINT, 30), Field("b", UINT, 4))
    assert _lay(*fields).member("b").offset_bits == 32
    assert _lay(*fields, packed=True).member("b").offset_bits == 30


def test_zero_width_bitfield_aligns_next_member_and_anon_rule_is_per_abi() -> None:
    fields = (Field("a", CHAR), Field("", INT, 0), Field("b", CHAR))
    assert (_lay(*fields).member("b").offset, _lay(*fields).size) == (4, 5)
    assert _lay(*fields, abi="arm").size == 8  # AAPCS: unnamed bitfields align the struct


def test_member_paths_anonymous_and_arrays() -> None:
    inner = RecordType("union", None, (Field("u", INT), Field("p", PTR)))
    elem = RecordType("struct", None, (Field("x", CHAR), Field("y", INT)))
    lay = _lay(Field("a", CHAR), Field("", inner), Field("arr", ArrayType(elem, 2, "s[2]")),
               Field("fam", ArrayType(INT, None, "int[]")))
    assert lay.member("p").offset == 8
    assert lay.member("arr[1].y").offset == 16 + 8 + 4
    assert "arr[1].y" in lay.paths() and "fam" not in lay.paths()
    assert lay.size == 32
    with pytest.raises(InputError, match="no member"):
        lay.member("nope")
    with pytest.raises(InputError, match="no scalar member"):
        lay.encode({"arr": 1})


def test_bad_types_are_input_errors() -> None:
    with pytest.raises(InputError, match="exceeds its type"):
        _lay(Field("x", CHAR, 9))
    with pytest.raises(InputError, match="exceeds its type"):
        _lay(Field("b", ScalarType("_Bool", "bool"), 2))
    with pytest.raises(InputError, match="non-integer"):
        _lay(Field("f", ScalarType("double", "double"), 3))
    with pytest.raises(InputError, match="flexible array member"):
        _lay(Field("fam", ArrayType(INT, None, "int[]")), Field("x", INT))
    with pytest.raises(InputError, match="unknown ABI"):
        get_abi("vax")


def test_decode_sign_extends_signed_fields() -> None:
    lay = _lay(Field("s", INT, 5), Field("u", UINT, 5), Field("i", INT))
    back = lay.decode(lay.encode({"s": -3, "u": 29, "i": -1}))
    assert (back["s"], back["u"], back["i"]) == (-3, 29, -1)
    assert lay.get(lay.encode({"s": -3}), "s") == -3
    with pytest.raises(InputError, match="bytes given"):
        lay.decode(b"\0")


# --------------------------------------------------------------------------------------------
# The codec round-trip property, and its meta-test


def roundtrip_failures(batch: tuple[GenType, ...], abi_name: str) -> list[str]:
    """decode(encode(values)) must give back every value stored (generated values fit)."""
    out = []
    for g in batch:
        lay = layout_of(g.type, ABIS[abi_name])
        back = lay.decode(lay.encode(dict(g.values)))
        out += [f"{g.type.name}.{p}: stored {v}, read {back[p]}" for p, v in g.values
                if back[p] != v]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=batches(1, 4), abi_name=st.sampled_from(ABI_NAMES))
def test_encode_decode_roundtrip(batch: tuple[GenType, ...], abi_name: str) -> None:
    assert not roundtrip_failures(batch, abi_name)


def test_meta_roundtrip_catches_missing_sign_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    def decode_unsigned(self: Layout, data: bytes) -> dict[str, int]:
        acc = int.from_bytes(data[: self.size], self.abi.endian)
        return {p: (acc >> s) & m for p, (s, m, _signed) in self._codec.items()}

    monkeypatch.setattr(Layout, "decode", decode_unsigned)
    found = find(st.tuples(batches(1, 1), st.sampled_from(ABI_NAMES)),
                 lambda b: bool(roundtrip_failures(*b)),
                 settings=settings(database=None, derandomize=True, max_examples=500,
                                   suppress_health_check=list(HealthCheck)))
    batch, _abi = found
    assert len(batch) == 1 and len(batch[0].values) == 1
    assert batch[0].values[0][1] == -1  # shrunk to the smallest negative value
