"""Where GCC 12 puts the data a ``pr_debug()`` callsite refers to, and with what alignment.

``DEFINE_DYNAMIC_DEBUG_METADATA`` (include/linux/dynamic_debug.h) stores four pointers: three to
string literals (``KBUILD_MODNAME``, ``__FILE__``, the format) and one to the ``__func__`` array.
Whether those pointers can be odd depends only on the section each object lands in and the
alignment the compiler gives it; the linker then packs the objects at that alignment.

The facts below were measured with Debian's GCC 12 cross compilers (``<triplet>-gcc -O2`` and
``-Os``, each object compiled with ``-fdata-sections`` so its section and ``sh_addralign`` can be
read from the ``.o``); ``tests/test_sections.py`` re-measures them whenever the compilers are
installed.  The causes, in GCC's backends:

* x86 (``ix86_constant_alignment``): a ``STRING_CST`` of ``TREE_STRING_LENGTH >= 31`` gets word
  alignment unless ``optimize_size``; shorter literals keep alignment 1 (``.rodata.str1.1``).
  ``ix86_data_alignment`` aligns arrays of >= 8/16/32 bytes (x86-64) or >= 4/32 (i386) in
  ``.rodata``, at ``-O2`` and ``-Os`` alike.
* aarch64, arm (``AARCH64_EXPAND_ALIGNMENT`` / ``arm`` ``CONSTANT_ALIGNMENT``): every literal and
  array is word-aligned when not optimising for size; under ``-Os`` everything is byte-aligned.
* riscv64 (``riscv_constant_alignment``): word alignment at every level.
* s390x: everything is 2-aligned (``larl`` can only address even addresses).
* ppc64: literals word-aligned except under ``-Os``; ``__func__`` arrays always 8-aligned.

So odd string pointers are an x86 (and ``-Os``) phenomenon; s390x and riscv64 never produce them.
"""

from __future__ import annotations

import attrs

from model.abi import Abi
from model.eras import get_era
from model.errors import InputError

#: ``struct _ddebug`` is ``__aligned(8)`` and the linker script does ``. = ALIGN(8)`` before it
#: (include/linux/dynamic_debug.h, include/asm-generic/vmlinux.lds.h DATA_DATA), every era.
RECORD_ALIGN = 8

#: Section of the ``__func__`` arrays (``.rodata.__func__.N`` under ``-fdata-sections``).
FUNC_SECTION = ".rodata"


@attrs.frozen
class SectionKind:
    """An input section kind: its name and the ``sh_addralign`` (= per-object alignment)."""

    name: str
    align: int

    @property
    def mergeable_strings(self) -> bool:
        """SHF_MERGE|SHF_STRINGS: the linker merges identical strings and shares tails."""
        return self.name.startswith(".rodata.str1.")


@attrs.frozen
class _Rule:
    """Alignment as a step function of the object's size: ``steps`` is ``((min_size, align), ...)``
    in increasing ``min_size``; the last step whose ``min_size <= nbytes`` applies."""

    steps: tuple[tuple[int, int], ...]

    def align(self, nbytes: int) -> int:
        result = 1
        for min_size, align in self.steps:
            if nbytes >= min_size:
                result = align
        return result


def _r(*steps: tuple[int, int]) -> _Rule:
    return _Rule(tuple(steps))


# (abi name, optimize_size) -> rule, for string literals and for __func__ arrays.
_STRING_RULES: dict[tuple[str, bool], _Rule] = {
    ("x86_64", False): _r((1, 1), (31, 8)),
    ("x86_64", True): _r((1, 1)),
    ("i386", False): _r((1, 1), (31, 4)),
    ("i386", True): _r((1, 1)),
    ("aarch64", False): _r((1, 8)),
    ("aarch64", True): _r((1, 1)),
    ("arm", False): _r((1, 4)),
    ("arm", True): _r((1, 1)),
    ("riscv64", False): _r((1, 8)),
    ("riscv64", True): _r((1, 8)),
    ("s390x", False): _r((1, 2)),
    ("s390x", True): _r((1, 2)),
    ("ppc64", False): _r((1, 8)),
    ("ppc64", True): _r((1, 1)),
}

_FUNC_RULES: dict[tuple[str, bool], _Rule] = {
    ("x86_64", False): _r((1, 1), (8, 8), (16, 16), (32, 32)),
    ("x86_64", True): _r((1, 1), (8, 8), (16, 16), (32, 32)),
    ("i386", False): _r((1, 1), (4, 4), (32, 32)),
    ("i386", True): _r((1, 1), (4, 4), (32, 32)),
    ("aarch64", False): _r((1, 8)),
    ("aarch64", True): _r((1, 1)),
    ("arm", False): _r((1, 4)),
    ("arm", True): _r((1, 1)),
    ("riscv64", False): _r((1, 8)),
    ("riscv64", True): _r((1, 8)),
    ("s390x", False): _r((1, 2)),
    ("s390x", True): _r((1, 2)),
    ("ppc64", False): _r((1, 8)),
    ("ppc64", True): _r((1, 8)),
}


def _rule(table: dict[tuple[str, bool], _Rule], abi: Abi, optimize_size: bool) -> _Rule:
    try:
        return table[(abi.name, optimize_size)]
    except KeyError:
        raise InputError(f"no section placement facts for ABI {abi.name!r}") from None


def string_section(abi: Abi, nbytes: int, optimize_size: bool = False) -> SectionKind:
    """The mergeable string section a literal of ``nbytes`` bytes (including the NUL) goes to.

    Mirrors GCC 12's ``TARGET_CONSTANT_ALIGNMENT`` per target (x86: ``ix86_constant_alignment``:
    ``TREE_STRING_LENGTH >= 31 && !optimize_size`` -> ``BITS_PER_WORD``) and
    ``default_elf_select_rtx_section``/``mergeable_string_section``, which name the section
    ``.rodata.str1.<align>``.  ``optimize_size`` is ``-Os`` (``CONFIG_CC_OPTIMIZE_FOR_SIZE``).
    """
    if nbytes < 1:
        raise InputError(f"a string literal has at least 1 byte (its NUL), not {nbytes}")
    align = _rule(_STRING_RULES, abi, optimize_size).align(nbytes)
    return SectionKind(f".rodata.str1.{align}", align)


def func_array_align(abi: Abi, nbytes: int, optimize_size: bool = False) -> int:
    """Alignment GCC 12 gives a ``__func__`` array of ``nbytes`` bytes (name + NUL) in ``.rodata``.

    ``__func__`` is a ``static const char[]``, not a literal: it is not mergeable, and its
    alignment comes from ``DATA_ALIGNMENT`` (x86: ``ix86_data_alignment``, arrays >= 8 bytes
    8-aligned, >= 16 16-aligned, >= 32 32-aligned on x86-64), which is why real kernels show
    ``function`` pointers odd only for names of 1..6 characters.
    """
    if nbytes < 2:
        raise InputError(f"a __func__ array has at least 2 bytes, not {nbytes}")
    return _rule(_FUNC_RULES, abi, optimize_size).align(nbytes)


def func_section(abi: Abi, nbytes: int, optimize_size: bool = False) -> SectionKind:
    """``.rodata`` with the alignment of a ``__func__`` array of ``nbytes`` bytes."""
    return SectionKind(FUNC_SECTION, func_array_align(abi, nbytes, optimize_size))


#: Targets where GCC 12 emits a TU's ``__dyndbg`` records in reverse definition order, like the
#: rest of its varpool.  On the others (``-fsection-anchors`` and s390x) the records come out in
#: definition order, while literals and ``__func__`` arrays stay last-defined first.
_REVERSED_EMISSION = frozenset({"x86_64", "i386"})


def emits_in_reverse(abi: Abi) -> bool:
    """Whether GCC 12 emits a translation unit's ``__dyndbg`` records last-defined first (x86)
    or in definition order (aarch64, arm, s390x, and, unmeasured, ppc64 and riscv64); measured
    in ``tests/test_linker.py``."""
    return abi.name in _REVERSED_EMISSION


def dyndbg_section(era: str) -> str:
    """Name of the callsite record section: ``__verbose`` in v5.8 (``DEFINE_DYNAMIC_DEBUG_METADATA``
    used ``section("__verbose")``), ``__dyndbg`` from v5.9 on (renamed in 5.9-rc1):
    :attr:`model.eras.Era.section`."""
    return get_era(era).section


def record_section(era: str) -> SectionKind:
    """The record section with :data:`RECORD_ALIGN`."""
    return SectionKind(dyndbg_section(era), RECORD_ALIGN)
