"""The C-snippet reader: preprocessor, attributes, kernel types, errors, and the property that
it reads back exactly what the type generator rendered (with its meta-test)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings

import model.creader as creader
from model.abi import ABIS
from model.creader import parse_c
from model.errors import InputError
from model.layout import EnumType, RecordType, ScalarType, TypedefType, layout_of
from properties.layout_gen import GenType, batches, render_definitions

X86 = ABIS["x86_64"]


def rec(text: str, name: str, defines: dict[str, str] | None = None) -> RecordType:
    t = parse_c(text, "t.h", defines or {})[name]
    assert isinstance(t, RecordType)
    return t


# --------------------------------------------------------------------------------------------
# Preprocessor

CONFIG = """\
struct s {
	int a;
#ifdef CONFIG_JUMP_LABEL
	long key;
#elif defined(CONFIG_B) && !defined CONFIG_C
	short b;
#else
	char c;
#endif
#if CONFIG_N > 2
	int n;
#endif
};
"""


@pytest.mark.parametrize(("defines", "fields"), [
    ({}, ["a", "c"]),
    ({"CONFIG_JUMP_LABEL": "1"}, ["a", "key"]),
    ({"CONFIG_B": "1"}, ["a", "b"]),
    ({"CONFIG_B": "1", "CONFIG_C": "1"}, ["a", "c"]),
    ({"CONFIG_N": "3"}, ["a", "c", "n"]),
])
def test_conditionals_follow_defines(defines: dict[str, str], fields: list[str]) -> None:
    assert [f.name for f in rec(CONFIG, "s", defines).fields] == fields


def test_defines_macros_and_comments() -> None:
    t = rec("""
#define CLS_BITS 6
#define WIDTH(x) ((x) + 1)
/* a comment { with braces } */
struct s {
	unsigned int lineno:18;   // trailing comment
	unsigned int class_id:CLS_BITS;
	unsigned int flags:WIDTH(7);
	int arr[CLS_BITS * 2];
};
""", "s")
    assert [f.bits for f in t.fields[:3]] == [18, 6, 8]
    arr = t.fields[3].type
    assert arr.spelling == "int[12]"


def test_include_of_builtin_header() -> None:
    t = rec('#include "jump_label.h"\nstruct s { struct static_key_false k; };', "s",
            {"CONFIG_JUMP_LABEL": "1"})
    assert layout_of(t, X86).size == 16


# --------------------------------------------------------------------------------------------
# Attributes, every place a kernel header puts them


@pytest.mark.parametrize("text", [
    "struct __attribute__((packed)) s { char c; int i; };",
    "struct s { char c; int i; } __attribute__((packed));",
    "struct s { char c; int i; } __packed;",
    "struct __packed s { char c; int i; };",
])
def test_packed_struct_spellings(text: str) -> None:
    t = rec(text, "s")
    assert t.packed and layout_of(t, X86).size == 5


def test_member_and_typedef_attributes() -> None:
    t = rec("""
typedef u64 __aligned_u64 __attribute__((aligned(8)));
typedef int int1 __attribute__((aligned(1)));
struct s {
	char c;
	int i __aligned(16);
	short p __attribute__((packed, aligned(1)));
	__aligned_u64 a;
	int1 b;
	struct { int x; } __attribute__((aligned(32)));
} __aligned(8);
""", "s")
    i, p, a, b = t.fields[1:5]
    assert (i.aligned, p.packed, p.aligned) == (16, True, 1)
    assert isinstance(a.type, TypedefType) and a.type.align == 8
    assert isinstance(b.type, TypedefType) and b.type.align == 1
    anon = t.fields[5].type
    assert isinstance(anon, RecordType) and anon.aligned == 32
    assert t.aligned == 8
    lay = layout_of(t, ABIS["i386"])
    assert lay.member("a").offset % 8 == 0  # user-aligned u64 keeps 8 even on i386


def test_kernel_types_and_pointer_only_structs() -> None:
    t = rec("""
struct s {
	u8 a; s16 b; __u32 c; bool d; size_t e; atomic_t f; atomic_long_t g;
	struct list_head h; struct module *owner; const char **names;
	enum e { E_A = -1, E_B } kind;
	void (*fn)(int, void *);
};""", "s")
    kinds = [f.type for f in t.fields]
    assert kinds[0] == ScalarType("unsigned char", "u8")
    assert kinds[3] == ScalarType("_Bool", "bool")
    assert isinstance(kinds[10], EnumType) and kinds[10].signed
    assert kinds[8] == ScalarType("pointer", "struct module *")
    assert layout_of(t, X86).size == 88


# --------------------------------------------------------------------------------------------
# Bad input: one InputError naming file and line


@pytest.mark.parametrize(("text", "message"), [
    ("struct s {\n\tint a\n};", "t.h:3: syntax error"),
    ("struct s {\n\tint a;\n\tfoo_t b;\n};", "t.h:3: unknown type 'foo_t'"),
    ("struct s {\n\tstruct nowhere n;\n};", "t.h:2: unknown type 'struct nowhere'"),
    ("struct s {\n\tchar c:9;\n};", "t.h:2: width of bitfield 'c' (9) exceeds"),
    ("struct s {\n\tdouble d:3;\n};", "t.h:2: bitfield 'd' has non-integer type"),
    ("#ifdef X\nstruct s { int a; };\n", "t.h:1: unterminated #if"),
    ("#error no way\n", "t.h:1: #error no way"),
    ("struct s { int a __attribute__((aligned(3))); };", "t.h:1: requested alignment 3"),
    ("/* unterminated", "t.h:1: unterminated comment"),
])
def test_bad_input_names_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_c(text, "t.h")
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_abi_dependent_width_is_checked_at_layout_with_the_line() -> None:
    t = rec("struct s {\n\tlong q:40;\n};", "s")
    assert layout_of(t, X86).size == 8
    with pytest.raises(InputError, match=r"^t\.h:2: width of bitfield 'q'.*on i386"):
        layout_of(t, ABIS["i386"])


# --------------------------------------------------------------------------------------------
# The reader gives back exactly what was rendered (and a meta-test)


def reader_failures(batch: tuple[GenType, ...]) -> list[str]:
    got = parse_c(render_definitions(batch), "batch.h", {})
    return [f"T{i}" for i, g in enumerate(batch) if got.get(f"T{i}") != g.type]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=batches(1, 6))
def test_reader_reads_back_rendered_types(batch: tuple[GenType, ...]) -> None:
    assert not reader_failures(batch)


def test_meta_reader_ignoring_type_attributes_is_caught_and_shrunk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(creader._Converter, "type_attrs", lambda self, node: None)
    found = find(batches(1, 1), lambda b: bool(reader_failures(b)),
                 settings=settings(database=None, derandomize=True, max_examples=300,
                                   suppress_health_check=list(HealthCheck)))
    assert len(found) == 1
    t = found[0].type
    assert len(t.fields) == 1 and (t.packed or t.aligned is not None)


def test_header_with_prototypes_macros_and_system_includes() -> None:
    """What a real include/linux/*.h carries besides the structs must not get in the way."""
    text = """\
#ifndef _DEMO_H
#define _DEMO_H
#include <linux/jump_label.h>
#include <linux/printk.h>
struct device;
struct demo {
	const char *fmt;
	unsigned int flags:8;
#ifdef CONFIG_JUMP_LABEL
	struct static_key_false key;
#endif
} __aligned(8);
extern __printf(2, 3) void demo_print(struct demo *d, const char *fmt, ...);
int demo_add(struct demo *tab, unsigned int n, const struct device *dev);
#define DEMO_CALL(id, func, ...) do { if (id.flags) func(&id, ##__VA_ARGS__); } while (0)
static inline int demo_remove(const char *mod)
{
	return 0;
}
#endif
"""
    t = rec(text, "demo", {"CONFIG_JUMP_LABEL": "1"})
    assert layout_of(t, X86).size == 32
    assert layout_of(rec(text, "demo"), X86).size == 16
