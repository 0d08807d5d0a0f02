"""The C-snippet reader: struct, union, enum and typedef definitions as a kernel patch has them.

``parse_c(text, path, defines)`` returns the named types a snippet defines, as
:mod:`model.layout` types.  It runs a small preprocessor first (comments, line continuations,
``#define`` object- and function-like macros, ``#undef``, ``#ifdef``/``#ifndef``/``#if``/
``#elif``/``#else``/``#endif`` decided by ``defines`` (the ``-D`` options), ``#include "x.h"``
of files next to the snippet or of the built-in headers), then hands the text to pycparser.

GNU attributes, which pycparser does not know, are lifted out first and re-attached by position:
``__attribute__((aligned(N)))``, ``__attribute__((packed))`` and the kernel spellings
``__aligned(N)`` and ``__packed`` on a struct/union/enum (after the keyword or after the
closing brace), on a member (before its type or after its declarator; it applies to the
declarators of that declaration up to the next comma), and on a typedef.  The kernel's
cache-line spellings (``____cacheline_aligned``, ``__cacheline_aligned``, ``..._in_smp``;
include/linux/cache.h) are ``aligned(SMP_CACHE_BYTES)``, 64 unless ``-D SMP_CACHE_BYTES=N``
(``dyndiet layout`` gives each ABI its ``L1_CACHE_BYTES``).  Attributes that change a layout
in ways the reader does not model (``mode``, ``vector_size``, ``scalar_storage_order``,
``ms_struct``, ``gcc_struct``, ``copy``, ``aligned`` without an argument) are refused by name;
every other attribute is ignored (``section``, ``used``, ``counted_by``, ``designated_init``,
``randomize_layout``: layouts are those of a kernel without ``CONFIG_RANDSTRUCT``), as are
the kernel's annotation macros (:data:`BUILTIN_MACROS`: ``__counted_by(m)``, ``__rcu``,
``__user``, ``__iomem``, ``__percpu``, ``__bitwise``, ``__private``, ``__data_racy``,
``__randomize_layout``, ``__designated_init``, ...).  An identifier the parser stumbles on
that looks like an annotation (``__foo``) is named as an unknown attribute or macro.

Kernel types that headers use without defining come from a prelude: ``u8``..``u64``,
``s8``..``s64``, ``__u8``..``__u64``, ``__s8``..``__s64``, ``bool``, ``size_t``, ``ssize_t``,
``uintptr_t``, ``atomic_t``, ``atomic_long_t``, ``struct list_head``, ``struct hlist_node``,
``struct hlist_head``.  Any struct that is only pointed to needs no definition.

Work is bounded: a file (and each file it includes) is at most :data:`MAX_SOURCE_BYTES`,
macro expansion produces at most :data:`MAX_EXPANDED_BYTES`, and braces, parentheses and
brackets nest at most :data:`MAX_NESTING` deep (as do macros, ``*`` runs and array
dimensions); beyond that the reader stops with one line naming the place.

Bad input raises :class:`~model.errors.InputError` naming file and line.
"""

from __future__ import annotations

import ast as pyast
import operator
import re
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import attrs
from pycparser import c_ast, c_parser

from model.errors import InputError
from model.layout import (
    ArrayType,
    CType,
    EnumType,
    Field,
    RecordType,
    ScalarType,
    TypedefType,
)

PRELUDE = """\
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long long u64; typedef signed char s8; typedef short s16; typedef int s32;
typedef long long s64;
typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;
typedef unsigned long long __u64; typedef signed char __s8; typedef short __s16;
typedef int __s32; typedef long long __s64;
typedef unsigned char uint8_t; typedef unsigned short uint16_t; typedef unsigned int uint32_t;
typedef unsigned long long uint64_t; typedef signed char int8_t; typedef short int16_t;
typedef int int32_t; typedef long long int64_t;
typedef unsigned short __le16; typedef unsigned int __le32; typedef unsigned long long __le64;
typedef unsigned short __be16; typedef unsigned int __be32; typedef unsigned long long __be64;
typedef _Bool bool; typedef unsigned long size_t; typedef long ssize_t;
typedef unsigned long uintptr_t; typedef unsigned int gfp_t; typedef long long loff_t;
typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;
struct list_head { struct list_head *next, *prev; };
struct hlist_node { struct hlist_node *next, **pprev; };
struct hlist_head { struct hlist_node *first; };
"""

#: Largest file the reader takes (each ``#include``d file too): kernel headers are tens of
#: KiB, and pycparser reads some tens of KiB a second.
MAX_SOURCE_BYTES = 1 << 20
#: Largest text the preprocessor may produce from one file and what it includes.
MAX_EXPANDED_BYTES = 2 << 20
#: Deepest nesting of braces, parentheses and brackets (together), of macros in macros, and
#: longest run of ``*`` or of array dimensions in one declarator.
MAX_NESTING = 64

_CACHELINE = "__attribute__((aligned(SMP_CACHE_BYTES)))"

#: Macros every kernel header may use; expanded before parsing (include/linux/
#: compiler_attributes.h, compiler_types.h, cache.h; sparse and checker annotations expand
#: to nothing, as in a build without ``__CHECKER__``).
BUILTIN_MACROS: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "__aligned": (("x",), "__attribute__((aligned(x)))"),
    "__packed": (None, "__attribute__((packed))"),
    "__mode": (("x",), "__attribute__((mode(x)))"),
    "__aligned_largest": (None, "__attribute__((aligned))"),
    "SMP_CACHE_BYTES": (None, "64"),
    "____cacheline_aligned": (None, _CACHELINE),
    "____cacheline_aligned_in_smp": (None, _CACHELINE),
    "____cacheline_internodealigned_in_smp": (None, _CACHELINE),
    "__cacheline_aligned": (None, _CACHELINE),
    "__cacheline_aligned_in_smp": (None, _CACHELINE),
    "__counted_by": (("m",), ""),
    "__counted_by_le": (("m",), ""),
    "__counted_by_be": (("m",), ""),
    "__counted_by_ptr": (("m",), ""),
    "__sized_by": (("m",), ""),
    "__designated_init": (None, ""),
    "__nonstring": (None, ""),
    "__bitwise": (None, ""),
    "__kernel": (None, ""),
    "__private": (None, ""),
    "__nocast": (None, ""),
    "__safe": (None, ""),
    "__data_racy": (None, ""),
    "__must_hold": (("x",), ""),
    "__acquires": (("x",), ""),
    "__releases": (("x",), ""),
    "__guarded_by": (("x",), ""),
    "__pt_guarded_by": (("x",), ""),
    "__always_unused": (None, ""),
    "__deprecated": (None, ""),
    "__uninitialized": (None, ""),
    "__ro_after_init": (None, ""),
    "__initconst": (None, ""),
    "__refdata": (None, ""),
    "__latent_entropy": (None, ""),
    "__pure": (None, ""),
    "__malloc": (None, ""),
    "__noclone": (None, ""),
    "noinline": (None, ""),
    "__section": (("x",), ""),
    "__used": (None, ""),
    "__maybe_unused": (None, ""),
    "__user": (None, ""),
    "__rcu": (None, ""),
    "__iomem": (None, ""),
    "__percpu": (None, ""),
    "__randomize_layout": (None, ""),
    "__no_randomize_layout": (None, ""),
    "__attribute_const__": (None, ""),
    "__force": (None, ""),
    "__must_check": (None, ""),
    "__read_mostly": (None, ""),
    "__initdata": (None, ""),
    "__printf": (("a", "b"), ""),
    "__scanf": (("a", "b"), ""),
    "__cold": (None, ""),
    "__init": (None, ""),
    "__exit": (None, ""),
    "__weak": (None, ""),
    "__visible": (None, ""),
    "__always_inline": (None, "inline"),
    "notrace": (None, ""),
    "asmlinkage": (None, ""),
    "__noreturn": (None, ""),
    "NULL": (None, "0"),
}

_KEYWORDS = frozenset((
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Bool", "_Alignas", "_Alignof", "_Atomic",
    "_Noreturn", "_Static_assert", "__attribute__", "__extension__", "__inline__",
    "__restrict__", "__volatile__", "__const__", "__signed__"))

_TOKEN_RE = re.compile(
    r"(?P<id>[A-Za-z_]\w*)|(?P<num>0[xX][0-9a-fA-F]+\w*|\d+\w*)|(?P<str>\"(?:\\.|[^\"\\])*\")"
    r"|(?P<chr>'(?:\\.|[^'\\])*')|(?P<ws>\s+)|(?P<op>\S)")

Include = Callable[[str], str | None]


@attrs.frozen
class _Attrs:
    packed: bool
    aligned: int | None


# --------------------------------------------------------------------------------------------
# Preprocessor


def _strip_comments(text: str, path: str) -> str:
    """Comments become spaces (newlines kept), so line and column numbers stay put."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise InputError("unterminated comment", path=path,
                                 line=text.count("\n", 0, i) + 1)
            chunk = text[i:j + 2]
            out.append(re.sub(r"[^\n]", " ", chunk))
            i = j + 2
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            m = re.compile(rf"{c}(?:\\.|[^{c}\\\n])*{c}").match(text, i)
            if m is None:
                out.append(c)
                i += 1
            else:
                out.append(m.group(0))
                i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _join_continuations(text: str) -> list[str]:
    """Logical lines; a line ending in ``\\`` swallows the next, which becomes empty."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        extra = 0
        while line.endswith("\\") and i + extra + 1 < len(lines):
            extra += 1
            line = line[:-1] + " " + lines[i + extra]
        out.append(line)
        out.extend([""] * extra)
        i += extra + 1
    return out


@attrs.define(slots=True)
class _Budget:
    """Characters macro expansion may still produce (shared with included files)."""

    left: int = MAX_EXPANDED_BYTES

    def spend(self, n: int, path: str, line: int) -> None:
        self.left -= n
        if self.left < 0:
            raise InputError(f"macro expansion grows past {MAX_EXPANDED_BYTES >> 20} MiB",
                             path=path, line=line)


@attrs.define(slots=True)
class _Preprocessor:
    path: str
    macros: dict[str, tuple[tuple[str, ...] | None, str]]
    include: Include | None
    depth: int = 0
    budget: _Budget = attrs.field(factory=_Budget)
    #: expansions of object-like macros, by (name, macros being expanded)
    memo: dict[tuple[str, frozenset[str]], str] = attrs.field(factory=dict)

    def run(self, text: str) -> str:
        lines = _join_continuations(_strip_comments(text, self.path))
        out: list[str] = []
        # stack of (this branch active, some branch already taken, parent active)
        stack: list[tuple[bool, bool, bool]] = []
        opened: list[int] = []  # line of each open #if
        active = True
        for lineno, line in enumerate(lines, 1):
            s = line.strip()
            if not s.startswith("#"):
                text = self.expand(line, lineno) if active else ""
                self.budget.spend(len(text), self.path, lineno)
                out.append(text)
                continue
            directive = s[1:].strip()
            m = re.match(r"(\w+)\s*(.*)$", directive)
            out.append("")
            if m is None:
                continue
            word, rest = m.group(1), m.group(2).strip()
            if word in ("ifdef", "ifndef"):
                name = rest.split()[0] if rest else ""
                if not name:
                    raise InputError(f"#{word} without a name", path=self.path, line=lineno)
                cond = (name in self.macros) == (word == "ifdef")
                stack.append((active and cond, cond, active))
                opened.append(lineno)
                active = active and cond
            elif word == "if":
                cond = self.condition(rest, lineno) if active else False
                stack.append((active and cond, cond, active))
                opened.append(lineno)
                active = active and cond
            elif word == "elif":
                if not stack:
                    raise InputError("#elif without #if", path=self.path, line=lineno)
                _cur, taken, parent = stack.pop()
                cond = (not taken) and parent and self.condition(rest, lineno)
                stack.append((parent and cond, taken or cond, parent))
                active = parent and cond
            elif word == "else":
                if not stack:
                    raise InputError("#else without #if", path=self.path, line=lineno)
                _cur, taken, parent = stack.pop()
                stack.append((parent and not taken, True, parent))
                active = parent and not taken
            elif word == "endif":
                if not stack:
                    raise InputError("#endif without #if", path=self.path, line=lineno)
                _cur, _taken, parent = stack.pop()
                opened.pop()
                active = parent
            elif not active:
                continue
            elif word == "define":
                self.define(rest, lineno)
            elif word == "undef":
                self.macros.pop(rest.split()[0] if rest else "", None)
                self.memo.clear()
            elif word == "include":
                out[-1] = self.do_include(rest, lineno)
            elif word == "error":
                raise InputError(f"#error {rest}", path=self.path, line=lineno)
            # #pragma, #line, #warning and the rest: ignored
        if stack:
            raise InputError("unterminated #if/#ifdef (no #endif)", path=self.path,
                             line=opened[-1])
        return "\n".join(out)

    def define(self, rest: str, lineno: int) -> None:
        self.memo.clear()
        m = re.match(r"([A-Za-z_]\w*)(\(([^)]*)\))?\s*(.*)$", rest)
        if m is None:
            raise InputError(f"bad #define {rest!r}", path=self.path, line=lineno)
        name, params, body = m.group(1), m.group(3), m.group(4)
        if m.group(2) is not None and params is not None:
            self.macros[name] = (tuple(p.strip() for p in params.split(",") if p.strip()), body)
        else:
            self.macros[name] = (None, body)

    def do_include(self, rest: str, lineno: int) -> str:
        m = re.match(r'"([^"]+)"|<([^>]+)>', rest)
        if m is None:
            raise InputError(f"bad #include {rest!r}", path=self.path, line=lineno)
        name = m.group(1) or m.group(2)
        text = self.include(name) if self.include is not None else None
        if text is None:
            if m.group(2):
                # <linux/...>: kernel headers are not at hand; what they define is reported
                # as an unknown type if the snippet uses it
                return ""
            raise InputError(f"cannot #include {name!r}", path=self.path, line=lineno)
        if self.depth > 8:
            raise InputError(f"#include nested too deeply at {name!r}", path=self.path,
                             line=lineno)
        _check_size(text, name)
        sub = _Preprocessor(name, self.macros, self.include, self.depth + 1, self.budget)
        # everything the included file declares goes on this one line
        return " ".join(sub.run(text).split("\n"))

    def condition(self, expr: str, lineno: int) -> bool:
        expr = re.sub(r"\bdefined\s*\(\s*(\w+)\s*\)|\bdefined\s+(\w+)",
                      lambda m: "1" if (m.group(1) or m.group(2)) in self.macros else "0", expr)
        expr = self.expand(expr, lineno)
        expr = re.sub(r"\b[A-Za-z_]\w*\b", "0", expr)
        try:
            return bool(_eval_const(_to_python_expr(expr)))
        except (SyntaxError, ValueError, ZeroDivisionError, TypeError):
            raise InputError(f"cannot evaluate #if {expr.strip()!r}", path=self.path,
                             line=lineno) from None

    def expand(self, text: str, lineno: int, seen: frozenset[str] = frozenset()) -> str:
        if not self.macros or not re.search(r"[A-Za-z_]", text):
            return text
        out: list[str] = []
        pos = 0
        size = 0
        n = len(text)
        for m in re.finditer(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|[A-Za-z_]\w*", text):
            if m.start() < pos:
                continue
            word = m.group(0)
            if word[0] in "\"'" or word not in self.macros or word in seen:
                continue
            if len(seen) >= MAX_NESTING:
                raise InputError(f"macros nested more than {MAX_NESTING} deep (at {word})",
                                 path=self.path, line=lineno)
            params, body = self.macros[word]
            end = m.end()
            if params is not None:
                j = end
                while j < n and text[j] in " \t":
                    j += 1
                if j >= n or text[j] != "(":
                    continue
                args, end = _split_args(text, j, self.path, lineno)
                if len(args) != len(params) and not (len(params) == 0 and args == [""]):
                    raise InputError(f"macro {word} takes {len(params)} arguments, "
                                     f"{len(args)} given", path=self.path, line=lineno)
                argmap = {p: self.expand(a, lineno, seen) for p, a in zip(params, args,
                                                                          strict=False)}
                body = _substitute(body, argmap)
                if len(body) > self.budget.left:
                    raise InputError(f"macro expansion grows past {MAX_EXPANDED_BYTES >> 20} "
                                     "MiB", path=self.path, line=lineno)
            out.append(text[pos:m.start()])
            if params is None:
                # an object-like macro expands the same way every time until a #define
                key = (word, seen)
                done = self.memo.get(key)
                if done is None:
                    done = self.memo[key] = self.expand(body, lineno, seen | {word})
                out.append(done)
            else:
                out.append(self.expand(body, lineno, seen | {word}))
            pos = end
            size += len(out[-1]) + len(out[-2])
            if size > self.budget.left:
                raise InputError(f"macro expansion grows past {MAX_EXPANDED_BYTES >> 20} MiB",
                                 path=self.path, line=lineno)
        out.append(text[pos:])
        return "".join(out)


def _substitute(body: str, argmap: Mapping[str, str]) -> str:
    """``body`` with each parameter replaced by its argument; a result past
    :data:`MAX_EXPANDED_BYTES` is cut there (the caller then refuses it) rather than built."""
    out: list[str] = []
    size = pos = 0
    for t in re.finditer(r"[A-Za-z_]\w*", body):
        arg = argmap.get(t.group(0))
        if arg is None:
            continue
        out += (body[pos:t.start()], arg)
        size += t.start() - pos + len(arg)
        pos = t.end()
        if size > MAX_EXPANDED_BYTES:
            return "".join(out)
    out.append(body[pos:])
    return "".join(out)


def _split_args(text: str, j: int, path: str, lineno: int) -> tuple[list[str], int]:
    depth = 0
    args: list[str] = []
    cur: list[str] = []
    k = j
    while k < len(text):
        c = text[k]
        if c == "(":
            depth += 1
            if depth > 1:
                cur.append(c)
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return args, k + 1
            cur.append(c)
        elif c == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        k += 1
    raise InputError("unterminated macro call", path=path, line=lineno)


def _to_python_expr(expr: str) -> str:
    expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
    expr = expr.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    expr = re.sub(r"\b0+(\d)", r"\1", expr)
    return expr


_BINOPS: dict[type, Callable[[int, int], int]] = {
    pyast.Add: operator.add, pyast.Sub: operator.sub, pyast.Mult: operator.mul,
    pyast.FloorDiv: operator.floordiv, pyast.Div: operator.floordiv, pyast.Mod: operator.mod,
    pyast.LShift: operator.lshift, pyast.RShift: operator.rshift, pyast.BitOr: operator.or_,
    pyast.BitAnd: operator.and_, pyast.BitXor: operator.xor,
}
_CMPOPS: dict[type, Callable[[int, int], bool]] = {
    pyast.Eq: operator.eq, pyast.NotEq: operator.ne, pyast.Lt: operator.lt,
    pyast.LtE: operator.le, pyast.Gt: operator.gt, pyast.GtE: operator.ge,
}


def _eval_const(expr: str) -> int:
    """A C preprocessor integer expression (already in Python spelling), safely."""

    def ev(node: pyast.AST) -> int:
        if isinstance(node, pyast.Expression):
            return ev(node.body)
        if isinstance(node, pyast.Constant) and isinstance(node.value, int):
            return int(node.value)
        if isinstance(node, pyast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, pyast.UnaryOp):
            v = ev(node.operand)
            if isinstance(node.op, pyast.USub):
                return -v
            if isinstance(node.op, pyast.UAdd):
                return v
            if isinstance(node.op, pyast.Invert):
                return ~v
            if isinstance(node.op, pyast.Not):
                return int(not v)
        if isinstance(node, pyast.BoolOp):
            vals = [ev(v) for v in node.values]
            return int(all(vals) if isinstance(node.op, pyast.And) else any(vals))
        if isinstance(node, pyast.Compare):
            left = ev(node.left)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = ev(comp)
                if type(op) not in _CMPOPS or not _CMPOPS[type(op)](left, right):
                    return 0
                left = right
            return 1
        if isinstance(node, pyast.IfExp):
            return ev(node.body) if ev(node.test) else ev(node.orelse)
        raise ValueError("not a constant expression")

    return ev(pyast.parse(expr.strip() or "0", mode="eval"))


# --------------------------------------------------------------------------------------------
# Attributes


#: GCC attributes that change a layout in ways the reader does not model.
UNSUPPORTED_ATTRIBUTES: dict[str, str] = {
    "mode": "sets a member's machine mode (its size)",
    "vector_size": "makes a vector type",
    "scalar_storage_order": "reverses the byte order of members",
    "ms_struct": "selects Microsoft bitfield layout",
    "gcc_struct": "selects a bitfield layout",
    "copy": "copies another declaration's attributes",
}


def _parse_attr_list(body: str, path: str, line: int) -> _Attrs:
    packed = False
    aligned: int | None = None
    depth = 0
    parts: list[str] = []
    cur: list[str] = []
    for c in body:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    for part in parts:
        p = part.strip()
        m = re.match(r"(__)?(\w+?)(__)?\s*(\((.*)\))?\s*$", p, re.S)
        if not p or m is None:
            continue
        name = m.group(2)
        if name in UNSUPPORTED_ATTRIBUTES:
            raise InputError(f"unsupported attribute {name!r}: it "
                             f"{UNSUPPORTED_ATTRIBUTES[name]}, which the C reader does not "
                             "model", path=path, line=line)
        if name == "packed":
            packed = True
        elif name == "aligned":
            if m.group(5) is None:
                raise InputError("unsupported attribute 'aligned' without an argument "
                                 "(__aligned_largest): write aligned(N)", path=path,
                                 line=line)
            try:
                value = _eval_const(_to_python_expr(m.group(5)))
            except (SyntaxError, ValueError, ZeroDivisionError, TypeError):
                raise InputError(f"cannot evaluate aligned({m.group(5).strip()})", path=path,
                                 line=line) from None
            if value <= 0 or value & (value - 1):
                raise InputError(f"requested alignment {value} is not a positive power of 2",
                                 path=path, line=line)
            aligned = value if aligned is None else max(aligned, value)
    return _Attrs(packed, aligned)


@attrs.frozen
class _Lifted:
    text: str
    #: type attributes by (line, col) of the record/enum keyword and of the token after it
    type_attrs: dict[tuple[int, int], _Attrs]
    #: declaration attributes: (start, end) position ranges with their attributes
    decl_attrs: tuple[tuple[int, int, _Attrs, tuple[tuple[int, int], ...]], ...]
    line_starts: tuple[int, ...]


def _line_starts(text: str) -> tuple[int, ...]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return tuple(starts)


def _pos_to_lc(starts: tuple[int, ...], pos: int) -> tuple[int, int]:
    import bisect

    i = bisect.bisect_right(starts, pos) - 1
    return i + 1, pos - starts[i] + 1


def _lift_attributes(text: str, path: str) -> _Lifted:
    """Blank out every ``__attribute__((...))`` and remember where it was and what it said."""
    starts = _line_starts(text)
    chars = list(text)
    found: list[tuple[int, int, _Attrs]] = []
    for m in re.finditer(r"\b__attribute__\b|\b__attribute\b", text):
        i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
        if not text.startswith("((", i):
            raise InputError("malformed __attribute__", path=path,
                             line=_pos_to_lc(starts, m.start())[0])
        depth = 0
        j = i
        while j < len(text):
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if depth != 0:
            raise InputError("unterminated __attribute__", path=path,
                             line=_pos_to_lc(starts, m.start())[0])
        a = _parse_attr_list(text[i + 2:j - 1], path, _pos_to_lc(starts, m.start())[0])
        for k in range(m.start(), j + 1):
            if chars[k] != "\n":
                chars[k] = " "
        found.append((m.start(), j + 1, a))
    clean = "".join(chars)
    toks = [(t.start(), t.group(0)) for t in _TOKEN_RE.finditer(clean)
            if t.lastgroup != "ws"]
    tok_starts = [p for p, _ in toks]
    import bisect

    type_attrs: dict[tuple[int, int], _Attrs] = {}
    decl_attrs: list[tuple[int, int, _Attrs, tuple[tuple[int, int], ...]]] = []
    for start, end, a in found:
        if not a.packed and a.aligned is None:
            continue
        before = bisect.bisect_left(tok_starts, start) - 1
        after = bisect.bisect_left(tok_starts, end)
        prev = toks[before][1] if before >= 0 else ""
        prev2 = toks[before - 1][1] if before >= 1 else ""
        nxt = toks[after][1] if after < len(toks) else ""
        kw_index: int | None = None
        if prev in ("struct", "union", "enum"):
            kw_index = before
        elif prev2 in ("struct", "union", "enum") and nxt == "{":
            kw_index = before - 1
        elif prev == "}":
            # find the matching "{" and the keyword before it
            depth = 0
            k = before
            while k >= 0:
                if toks[k][1] == "}":
                    depth += 1
                elif toks[k][1] == "{":
                    depth -= 1
                    if depth == 0:
                        break
                k -= 1
            if k >= 1 and toks[k - 1][1] in ("struct", "union", "enum"):
                kw_index = k - 1
            elif k >= 2 and toks[k - 2][1] in ("struct", "union", "enum"):
                kw_index = k - 2
        if kw_index is not None:
            for idx in (kw_index, kw_index + 1):
                key = _pos_to_lc(starts, toks[idx][0])
                old = type_attrs.get(key)
                type_attrs[key] = a if old is None else _merge(old, a)
            continue
        # a declaration attribute: from the last delimiter before it to the next ; or ,
        k = before
        while k >= 0 and toks[k][1] not in (";", "{", "}", ","):
            k -= 1
        lo = toks[k][0] + 1 if k >= 0 else 0
        depth = 0
        k = after
        holes: list[tuple[int, int]] = []  # bodies of types defined in the declaration
        body_start = 0
        while k < len(toks):
            t = toks[k][1]
            if t in ("(", "[", "{"):
                if t == "{" and depth == 0:
                    body_start = toks[k][0]
                depth += 1
            elif t in (")", "]", "}"):
                if depth == 0:
                    break  # the end of the enclosing struct
                depth -= 1
                if t == "}" and depth == 0:
                    holes.append((body_start, toks[k][0]))
            elif depth == 0 and t in (";", ","):
                break
            k += 1
        hi = toks[k][0] if k < len(toks) else len(clean)
        decl_attrs.append((lo, hi, a, tuple(holes)))
    return _Lifted(clean, type_attrs, tuple(decl_attrs), starts)


def _check_size(text: str, path: str) -> None:
    if len(text) > MAX_SOURCE_BYTES:
        raise InputError(f"{len(text):,} bytes: larger than the C reader takes "
                         f"({MAX_SOURCE_BYTES >> 20} MiB; it reads headers, not whole "
                         "preprocessed files)", path=path)


def _check_nesting(text: str, path: str) -> None:
    """Braces, parentheses and brackets at most :data:`MAX_NESTING` deep together, and no
    longer runs of ``*`` or array dimensions (pycparser recurses on each)."""
    depth = stars = dims = 0
    prev = ""
    for t in _TOKEN_RE.finditer(text):
        if t.lastgroup == "ws":
            continue
        tok = t.group(0)
        problem = ""
        if t.lastgroup == "op" and tok in "([{":
            depth += 1
            if depth > MAX_NESTING:
                problem = (f"nested more than {MAX_NESTING} deep (braces, parentheses and "
                           "brackets together)")
        elif t.lastgroup == "op" and tok in ")]}":
            depth = max(depth - 1, 0)
        if tok == "*":
            stars = stars + 1 if prev == "*" else 1
            if stars > MAX_NESTING:
                problem = f"more than {MAX_NESTING} '*' in a row"
        if tok == "[":
            dims = dims + 1 if prev == "]" else 1
            if dims > MAX_NESTING:
                problem = f"more than {MAX_NESTING} array dimensions"
        if problem:
            raise InputError(problem, path=path, line=text.count("\n", 0, t.start()) + 1)
        prev = tok


def _merge(a: _Attrs, b: _Attrs) -> _Attrs:
    aligned = a.aligned if b.aligned is None else (
        b.aligned if a.aligned is None else max(a.aligned, b.aligned))
    return _Attrs(a.packed or b.packed, aligned)


# --------------------------------------------------------------------------------------------
# From pycparser's AST to layout types

def _canonical_scalar(names: list[str]) -> str | None:
    words = [w for w in names if w not in ("signed",)]
    signed = "signed" in names
    unsigned = "unsigned" in words
    words = [w for w in words if w != "unsigned"]
    longs = words.count("long")
    rest = [w for w in words if w not in ("long", "int")]
    if rest == ["char"] and longs == 0:
        if unsigned:
            return "unsigned char"
        return "signed char" if signed else "char"
    if rest == ["_Bool"] and not unsigned and longs == 0:
        return "_Bool"
    if rest == ["short"] and longs == 0:
        return "unsigned short" if unsigned else "short"
    if rest == ["float"] and longs == 0 and not unsigned:
        return "float"
    if rest == ["double"] and not unsigned and longs <= 1:
        return "long double" if longs else "double"
    if rest == ["void"]:
        return "void"
    if rest:
        return None
    base = {0: "int", 1: "long", 2: "long long"}.get(longs)
    if base is None:
        return None
    return f"unsigned {base}" if unsigned else base


@attrs.define(slots=True)
class _Converter:
    path: str
    lifted: _Lifted
    tags: dict[str, CType] = attrs.field(factory=dict)
    typedefs: dict[str, CType] = attrs.field(factory=dict)
    enum_consts: dict[str, int] = attrs.field(factory=dict)
    order: list[str] = attrs.field(factory=list)
    #: the keys of ``order``
    seen: set[str] = attrs.field(factory=set)
    #: typedef names and tags the prelude defines
    prelude: set[str] = attrs.field(factory=set)

    def line(self, node: c_ast.Node | None) -> int | None:
        coord = getattr(node, "coord", None)
        if coord is None or coord.file != self.path:
            return None
        return int(coord.line)

    def err(self, msg: str, node: c_ast.Node | None) -> InputError:
        return InputError(msg, path=self.path, line=self.line(node))

    def type_attrs(self, node: c_ast.Node) -> _Attrs | None:
        coord = node.coord
        if coord is None or coord.file != self.path:
            return None
        return self.lifted.type_attrs.get((coord.line, coord.column))

    def decl_attrs(self, node: c_ast.Node) -> _Attrs | None:
        coord = node.coord
        if coord is None and getattr(node, "bitsize", None) is not None:
            coord = node.bitsize.coord  # an unnamed bitfield: pycparser gives it no place
        if coord is None or coord.file != self.path:
            return None
        line, col = int(coord.line), int(coord.column)
        if line - 1 >= len(self.lifted.line_starts):
            return None
        pos = self.lifted.line_starts[line - 1] + col - 1
        out: _Attrs | None = None
        for lo, hi, a, holes in self.lifted.decl_attrs:
            if lo <= pos < hi and not any(b <= pos <= e for b, e in holes):
                out = a if out is None else _merge(out, a)
        return out

    # -- constant expressions ----------------------------------------------------------------

    def const(self, node: c_ast.Node) -> int:
        if isinstance(node, c_ast.Constant):
            v = node.value.rstrip("uUlL")
            try:
                if node.type == "char":
                    return ord(pyast.literal_eval(node.value))
                if v.lower().startswith("0x"):
                    return int(v, 16)
                if v.startswith("0") and len(v) > 1 and v.isdigit():
                    return int(v, 8)
                return int(v)
            except (ValueError, TypeError, SyntaxError):
                raise self.err(f"not an integer constant: {node.value}", node) from None
        if isinstance(node, c_ast.ID):
            if node.name in self.enum_consts:
                return self.enum_consts[node.name]
            raise self.err(f"unknown constant {node.name!r}", node)
        if isinstance(node, c_ast.UnaryOp):
            if node.op == "sizeof":
                raise self.err("sizeof is not supported in constant expressions", node)
            v = self.const(node.expr)
            ops: dict[str, Callable[[int], int]] = {
                "-": operator.neg, "+": operator.pos, "~": operator.invert,
                "!": lambda x: int(not x)}
            if node.op in ops:
                return ops[node.op](v)
        if isinstance(node, c_ast.BinaryOp):
            a, b = self.const(node.left), self.const(node.right)
            bops: dict[str, Callable[[int, int], int]] = {
                "+": operator.add, "-": operator.sub, "*": operator.mul,
                "/": lambda x, y: int(x / y), "%": operator.mod, "<<": operator.lshift,
                ">>": operator.rshift, "|": operator.or_, "&": operator.and_,
                "^": operator.xor, "==": lambda x, y: int(x == y),
                "!=": lambda x, y: int(x != y), "<": lambda x, y: int(x < y),
                ">": lambda x, y: int(x > y), "<=": lambda x, y: int(x <= y),
                ">=": lambda x, y: int(x >= y), "&&": lambda x, y: int(bool(x and y)),
                "||": lambda x, y: int(bool(x or y))}
            if node.op in bops:
                try:
                    return bops[node.op](a, b)
                except ZeroDivisionError:
                    raise self.err("division by zero in constant expression", node) from None
        if isinstance(node, c_ast.TernaryOp):
            return self.const(node.iftrue) if self.const(node.cond) else self.const(
                node.iffalse)
        if isinstance(node, c_ast.Cast):
            return self.const(node.expr)
        raise self.err("not an integer constant expression", node)

    # -- types -------------------------------------------------------------------------------

    def convert(self, node: c_ast.Node, quals: list[str]) -> CType:
        """The layout type of a declarator node (TypeDecl/PtrDecl/ArrayDecl/FuncDecl)."""
        if isinstance(node, c_ast.TypeDecl):
            qs = set(quals) | set(node.quals)
            q = " ".join(x for x in ("const", "volatile") if x in qs)
            return self.base(node.type, q)
        if isinstance(node, c_ast.PtrDecl):
            return ScalarType("pointer", self.spell(node))
        if isinstance(node, c_ast.ArrayDecl):
            elem = self.convert(node.type, quals)
            if node.dim is None:
                count: int | None = None
            else:
                count = self.const(node.dim)
                if count < 0:
                    raise self.err("array size is negative", node)
            dim = "" if count is None else str(count)
            return ArrayType(elem, count, f"{elem.spelling}[{dim}]" if not
                             elem.spelling.endswith("]") else
                             _append_dim(elem.spelling, dim))
        if isinstance(node, c_ast.Struct | c_ast.Union | c_ast.Enum):
            return self.base(node, "")
        if isinstance(node, c_ast.FuncDecl):
            raise self.err("a function is not a member type (use a function pointer)", node)
        raise self.err(f"unsupported declarator {type(node).__name__}", node)

    def spell(self, node: c_ast.Node) -> str:
        """C spelling of a pointer type, e.g. ``const char *``, ``void (*)(int)``."""
        from pycparser import c_generator

        gen = c_generator.CGenerator()
        ty = _strip_declname(node)
        return str(gen.visit(c_ast.Typename(None, [], None, ty))).strip()

    def base(self, node: c_ast.Node, quals: str) -> CType:
        prefix = f"{quals} " if quals else ""
        if isinstance(node, c_ast.IdentifierType):
            names = list(node.names)
            if len(names) == 1 and names[0] in self.typedefs:
                t = self.typedefs[names[0]]
                if prefix and isinstance(t, ScalarType):
                    return ScalarType(t.kind, prefix + t.spelling)
                return t
            kind = _canonical_scalar(names)
            if kind is None:
                raise self.err(f"unknown type {' '.join(names)!r}", node)
            if kind == "void":
                raise self.err("member of type void", node)
            return ScalarType(kind, prefix + kind)
        if isinstance(node, c_ast.Struct | c_ast.Union):
            return self.record(node)
        if isinstance(node, c_ast.Enum):
            return self.enum(node)
        raise self.err(f"unsupported type {type(node).__name__}", node)

    def record(self, node: c_ast.Struct | c_ast.Union) -> CType:
        kind = "struct" if isinstance(node, c_ast.Struct) else "union"
        if node.decls is None:
            key = f"{kind} {node.name}"
            if key in self.tags:
                return self.tags[key]
            raise self.err(f"unknown type {key!r} (only pointers to undefined structs are "
                           "allowed)", node)
        a = self.type_attrs(node)
        fields: list[Field] = []
        for d in node.decls:
            if not isinstance(d, c_ast.Decl):
                raise self.err("unsupported member declaration", d)
            fields.extend(self.field(d, kind, node.name))
        rec = RecordType("struct" if kind == "struct" else "union", node.name, tuple(fields),
                         packed=bool(a and a.packed), aligned=a.aligned if a else None)
        if node.name:
            self.define(f"{kind} {node.name}", rec, node)
        return rec

    def define(self, key: str, t: CType, node: c_ast.Node) -> None:
        """Tag ``key`` is ``t`` from now on; a definition in the user's file replaces the
        prelude's (``struct list_head`` redefined is the user's, and listed)."""
        self.tags[key] = t
        if self.line(node) is not None and key in self.prelude:
            self.prelude.discard(key)
            self.seen.discard(key)
            self.order.remove(key)
        if key not in self.seen:
            self.seen.add(key)
            self.order.append(key)

    def field(self, d: c_ast.Decl, kind: str, owner: str | None) -> list[Field]:
        t = self.convert(d.type, list(d.quals))
        a = self.decl_attrs(d)
        aligned = a.aligned if a else None
        for al in d.align or []:
            v = self.const(al.alignment) if not isinstance(al.alignment, c_ast.Typename) \
                else None
            if v is None:
                raise self.err("_Alignas(type) is not supported", d)
            aligned = v if aligned is None else max(aligned, v)
        bits = self.const(d.bitsize) if d.bitsize is not None else None
        name = d.name or ""
        node = d if d.coord is not None else d.bitsize
        if bits is None and not name and not isinstance(t, RecordType):
            raise self.err("declaration does not declare anything", node)
        if bits is not None:
            self.check_width(name, t, bits, node)
        return [Field(name, t, bits, packed=bool(a and a.packed), aligned=aligned,
                      where=(self.path, self.line(node)))]

    def check_width(self, name: str, t: CType, bits: int, node: c_ast.Node) -> None:
        """Bitfield checks that hold on every ABI (``long`` is 32 or 64 bits: the layout
        engine checks that one per ABI)."""
        inner = t
        while isinstance(inner, TypedefType):
            inner = inner.base
        label = repr(name) if name else "<unnamed>"
        if isinstance(inner, ScalarType) and inner.kind in ("float", "double", "long double",
                                                            "pointer"):
            raise self.err(f"bitfield {label} has non-integer type {t.spelling!r}", node)
        if not isinstance(inner, ScalarType | EnumType):
            raise self.err(f"bitfield {label} has non-integer type {t.spelling!r}", node)
        if bits < 0:
            raise self.err(f"bitfield {label} has negative width", node)
        if bits == 0 and name:
            raise self.err(f"zero width for bitfield {label}", node)
        if isinstance(inner, EnumType):
            limit = 8 * inner.size
        else:
            limit = {"_Bool": 1, "char": 8, "signed char": 8, "unsigned char": 8, "short": 16,
                     "unsigned short": 16, "int": 32, "unsigned int": 32}.get(inner.kind, 64)
        if bits > limit:
            raise self.err(f"width of bitfield {label} ({bits}) exceeds its type "
                           f"{t.spelling!r} ({limit} bits)", node)

    def enum(self, node: c_ast.Enum) -> CType:
        key = f"enum {node.name}" if node.name else None
        if node.values is None:
            if key and key in self.tags:
                return self.tags[key]
            raise self.err(f"unknown type {key!r}", node)
        a = self.type_attrs(node)
        values: list[tuple[str, int]] = []
        nxt = 0
        for e in node.values.enumerators:
            v = self.const(e.value) if e.value is not None else nxt
            self.enum_consts[e.name] = v
            values.append((e.name, v))
            nxt = v + 1
        lo = min((v for _, v in values), default=0)
        hi = max((v for _, v in values), default=0)
        signed = lo < 0
        if a and a.packed:
            size = next(s for s in (1, 2, 4, 8) if _fits(lo, hi, 8 * s))
        else:
            size = 4 if _fits(lo, hi, 32) else 8
        if not _fits(lo, hi, 64):
            raise self.err("enumerator value out of range", node)
        t = EnumType(node.name, size, signed, f"enum {node.name}" if node.name else
                     "enum <anonymous>", tuple(values))
        if key:
            self.define(key, t, node)
        return t

    def toplevel(self, ext: c_ast.Node) -> None:
        coord = getattr(ext, "coord", None)
        if coord is not None and coord.file != self.path:
            self.prelude.add(getattr(ext, "name", None) or "")
            inner = ext.type
            while isinstance(inner, c_ast.TypeDecl | c_ast.PtrDecl):
                inner = inner.type
            if isinstance(inner, c_ast.Struct | c_ast.Union) and inner.name:
                self.prelude.add(f"{'struct' if isinstance(inner, c_ast.Struct) else 'union'}"
                                 f" {inner.name}")
        if isinstance(ext, c_ast.Typedef):
            if self.line(ext) is not None:
                self.prelude.discard(ext.name)  # the user's own typedef of a prelude name
            t = self.convert(ext.type, list(ext.quals))
            a = self.decl_attrs(ext)
            if a is not None and a.packed and not isinstance(t, RecordType | EnumType):
                raise self.err("packed on a scalar typedef is not supported", ext)
            if a is not None and a.aligned is not None:
                self.typedefs[ext.name] = TypedefType(ext.name, t, a.aligned)
            elif isinstance(t, ScalarType):
                self.typedefs[ext.name] = ScalarType(t.kind, ext.name)
            else:
                self.typedefs[ext.name] = TypedefType(ext.name, t)
            return
        if isinstance(ext, c_ast.Decl):
            ty = ext.type
            if isinstance(ty, c_ast.Struct | c_ast.Union | c_ast.Enum):
                if isinstance(ty, c_ast.Enum):
                    if ty.values is not None:
                        self.enum(ty)
                elif ty.decls is not None:
                    self.record(ty)
                return
            # a variable or function declaration: lay out the types it defines, if any
            inner = ty
            while isinstance(inner, c_ast.PtrDecl | c_ast.ArrayDecl | c_ast.TypeDecl):
                inner = inner.type
            if isinstance(inner, c_ast.Struct | c_ast.Union) and inner.decls is not None:
                self.record(inner)
            return
        if isinstance(ext, c_ast.FuncDef | c_ast.Pragma | c_ast.StaticAssert):
            return


def _append_dim(spelling: str, dim: str) -> str:
    i = spelling.index("[")
    return f"{spelling[:i]}[{dim}]{spelling[i:]}"


def _strip_declname(node: c_ast.Node) -> c_ast.Node:
    """A copy of a declarator with the declared name removed (for spelling)."""
    import copy

    node = copy.deepcopy(node)
    n: c_ast.Node | None = node
    while n is not None:
        if isinstance(n, c_ast.TypeDecl):
            n.declname = None
            break
        n = getattr(n, "type", None)
    return node


def _fits(lo: int, hi: int, bits: int) -> bool:
    if lo >= 0:
        return hi < (1 << bits)
    return -(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1))


# --------------------------------------------------------------------------------------------
# Entry point

_PARSER: c_parser.CParser | None = None
_PRELUDE_TYPEDEFS = tuple(re.findall(r"(\w+);(?=\s*(?:typedef|struct|$))", PRELUDE))


def _parser() -> c_parser.CParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = c_parser.CParser()
    return _PARSER


def _syntax_error(exc: Exception, text: str, path: str) -> InputError:
    """Turn pycparser's complaint into ``file:line: problem``, spotting unknown type names."""
    msg = str(exc)
    m = re.match(r"(.*?):(\d+):(\d+): (.*)$", msg)
    typedefs = set(_PRELUDE_TYPEDEFS) | set(re.findall(r"\btypedef\b[^;]*?\b(\w+)\s*"
                                                       r"(?:\[[^\]]*\]\s*)*;", text))
    # an identifier used as a type that nobody defined: IDENT IDENT / IDENT * in a declaration
    for lm in re.finditer(r"(?m)^(.*)$", text):
        line = lm.group(1)
        for tm in re.finditer(r"(?<![\w.>])([A-Za-z_]\w*)(\s+\**\s*|\s*\*+\s*)[A-Za-z_(]", line):
            word = tm.group(1)
            before = line[:tm.start()].rstrip()
            if word in _KEYWORDS or word in typedefs:
                continue
            if re.search(r"\b(struct|union|enum)$", before) or before.endswith(("->", ".")):
                continue
            lineno = text.count("\n", 0, lm.start()) + 1
            return InputError(f"unknown type {word!r}", path=path, line=lineno)
    if m is not None and m.group(1) == path:
        word = re.fullmatch(r"before: ([A-Za-z_]\w*)", m.group(4))
        if word is not None and word.group(1) not in _KEYWORDS:
            name = word.group(1)
            return InputError(f"unknown attribute or macro {name!r} (the kernel annotations "
                              "the C reader knows are listed in model/creader.py "
                              f"BUILTIN_MACROS; -D {name}= drops it)", path=path,
                              line=int(m.group(2)))
        return InputError(f"syntax error: {m.group(4)}", path=path, line=int(m.group(2)))
    detail = msg.split(": ", 1)[-1] if ": " in msg else msg
    return InputError(f"syntax error: {detail}", path=path)


def header_text(name: str) -> str:
    """The text of built-in header ``name`` (``model/headers/<name>``)."""
    return resources.files("model").joinpath("headers", name).read_text(encoding="utf-8")


def header_names() -> tuple[str, ...]:
    """Every built-in header's file name."""
    d = resources.files("model").joinpath("headers")
    return tuple(sorted(p.name for p in d.iterdir() if p.name.endswith(".h")))


def default_include(path: str) -> Include:
    """``#include "x"``: a file next to ``path``, else a built-in header of that base name."""
    base = Path(path).parent

    def include(name: str) -> str | None:
        p = base / name
        if p.is_file():
            if p.stat().st_size > MAX_SOURCE_BYTES:
                _check_size(" " * (MAX_SOURCE_BYTES + 1), name)
            return p.read_text(encoding="utf-8", errors="replace")
        short = Path(name).name
        if short in header_names():
            return header_text(short)
        return None

    return include


def parse_c(text: str, path: str = "<snippet>", defines: Mapping[str, str] | None = None,
            include: Include | None = None) -> dict[str, CType]:
    """Every struct, union and enum ``text`` defines, keyed by tag (``_ddebug``), plus its
    typedef names; ``defines`` are ``-D NAME=VALUE`` options (value ``"1"`` for a bare ``-D
    NAME``)."""
    _check_size(text, path)
    macros: dict[str, tuple[tuple[str, ...] | None, str]] = dict(BUILTIN_MACROS)
    for name, value in (defines or {}).items():
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise InputError(f"bad macro name {name!r} in -D", path=path)
        macros[name] = (None, value)
    try:
        pre = _Preprocessor(path, macros, include if include is not None else
                            default_include(path)).run(text)
        lifted = _lift_attributes(pre, path)
        _check_nesting(lifted.text, path)
        source = PRELUDE + f'# 1 "{path}"\n' + lifted.text
        try:
            tree = _parser().parse(source, "<prelude>")
        except c_parser.ParseError as exc:
            raise _syntax_error(exc, lifted.text, path) from None
        conv = _Converter(path, lifted)
        for ext in tree.ext:
            conv.toplevel(ext)
    except RecursionError:
        # what the nesting checks do not catch: a constant expression of thousands of terms
        raise InputError("an expression or declaration too long or too deeply nested for the "
                         "C reader", path=path) from None
    out: dict[str, CType] = {}
    for key in conv.order:
        if key not in conv.prelude:
            out.setdefault(key.split(" ", 1)[1], conv.tags[key])
    for name, t in conv.typedefs.items():
        if name not in conv.prelude:
            out.setdefault(name, t)
    return out
