"""Target ABIs: sizes and alignments of C scalars, byte order, page size, kernel address map.

The figures are what GCC 12 (Debian's ``gcc-*-linux-gnu``) uses for each Linux target; the C layout
engine (``model.layout``) builds structs from them, and ``tests/test_gcc_differential.py`` checks
them against the real compilers.  ``align`` is the alignment GCC gives a *struct member* of that
type (on i386 ``long long`` and ``double`` are 4-aligned inside structs though ``__alignof__`` is 8).

Kernel address map values come from each architecture's ``asm/page*.h`` / ``pgtable*.h``
(``PAGE_OFFSET``, ``__START_KERNEL_map``/``KIMAGE_VADDR``, ``MODULES_VADDR``) for the default
configuration of a v5.8-era kernel; they place model sections at realistic addresses.
"""

from __future__ import annotations

from typing import Literal

import attrs

from model.errors import InputError

Endian = Literal["little", "big"]

#: C scalar kinds the layout engine knows, by canonical name.
SCALAR_KINDS: tuple[str, ...] = (
    "_Bool",
    "char",
    "signed char",
    "unsigned char",
    "short",
    "unsigned short",
    "int",
    "unsigned int",
    "long",
    "unsigned long",
    "long long",
    "unsigned long long",
    "float",
    "double",
    "long double",
    "pointer",
)


@attrs.frozen
class Scalar:
    """Size and in-struct alignment of one C scalar type, in bytes."""

    size: int
    align: int


@attrs.frozen
class Abi:
    """One Linux target as GCC sees it."""

    name: str
    #: GNU triplet prefix of Debian's cross compiler (``<triplet>-gcc``).
    triplet: str
    endian: Endian
    #: ``sizeof(long)`` == ``sizeof(void *)`` on every Linux target.
    long_size: int
    char_signed: bool
    long_long_align: int
    double_align: int
    long_double: Scalar
    #: Default ``PAGE_SIZE`` of the architecture's defconfig.
    page_size: int
    #: Start of the kernel's linear map (``PAGE_OFFSET``).
    page_offset: int
    #: Where vmlinux' text is linked.
    kernel_base: int
    #: Start of the module area (``MODULES_VADDR``).
    module_base: int
    #: GCC's ``TARGET_ALIGN_ANON_BITFIELD``: unnamed bitfields (zero-width ones too) raise the
    #: alignment of the enclosing struct to their type's (AAPCS, AAPCS64); elsewhere they do not.
    align_anon_bitfield: bool = False
    #: GCC's ``BIGGEST_ALIGNMENT`` in bytes: the ``offset_align`` record layout starts from,
    #: which decides where a straddling bitfield of an over-aligned type moves to.
    biggest_alignment: int = 16

    @property
    def pointer_size(self) -> int:
        return self.long_size

    @property
    def bits_per_long(self) -> int:
        return 8 * self.long_size

    @property
    def max_address(self) -> int:
        return (1 << self.bits_per_long) - 1

    def scalar(self, kind: str) -> Scalar:
        """Size and alignment of the scalar ``kind`` (one of :data:`SCALAR_KINDS`)."""
        base = kind.removeprefix("unsigned ").removeprefix("signed ")
        if kind == "signed char":
            base = "char"
        table = {
            "_Bool": Scalar(1, 1),
            "char": Scalar(1, 1),
            "short": Scalar(2, 2),
            "int": Scalar(4, 4),
            "long": Scalar(self.long_size, self.long_size),
            "long long": Scalar(8, self.long_long_align),
            "float": Scalar(4, 4),
            "double": Scalar(8, self.double_align),
            "long double": self.long_double,
            "pointer": Scalar(self.long_size, self.long_size),
        }
        try:
            return table[base]
        except KeyError:
            raise InputError(f"unknown scalar type {kind!r}") from None

    def pack_word(self, value: int, size: int | None = None) -> bytes:
        """``value`` as an unsigned integer of ``size`` bytes (default: a long) in target order."""
        size = self.long_size if size is None else size
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, self.endian)

    def unpack_word(self, data: bytes) -> int:
        """Bytes in target order as an unsigned integer."""
        return int.from_bytes(data, self.endian)


_ABIS: tuple[Abi, ...] = (
    Abi("x86_64", "x86_64-linux-gnu", "little", 8, True, 8, 8, Scalar(16, 16), 4096,
        0xFFFF888000000000, 0xFFFFFFFF81000000, 0xFFFFFFFFA0000000),
    Abi("i386", "i686-linux-gnu", "little", 4, True, 4, 4, Scalar(12, 4), 4096,
        0xC0000000, 0xC1000000, 0xF8000000),
    Abi("aarch64", "aarch64-linux-gnu", "little", 8, False, 8, 8, Scalar(16, 16), 4096,
        0xFFFF000000000000, 0xFFFF800010000000, 0xFFFF800008000000, True),
    Abi("arm", "arm-linux-gnueabihf", "little", 4, False, 8, 8, Scalar(8, 8), 4096,
        0xC0000000, 0xC0008000, 0xBF000000, True, 8),
    Abi("riscv64", "riscv64-linux-gnu", "little", 8, False, 8, 8, Scalar(16, 16), 4096,
        0xFFFFFFE000000000, 0xFFFFFFE000200000, 0xFFFFFFFF80000000),
    Abi("s390x", "s390x-linux-gnu", "big", 8, False, 8, 8, Scalar(16, 8), 4096,
        0x0, 0x100000, 0x3FFE0000000, False, 8),
    Abi("ppc64", "powerpc64-linux-gnu", "big", 8, False, 8, 8, Scalar(16, 16), 65536,
        0xC000000000000000, 0xC000000000000000, 0xC008000000000000),
)

ABIS: dict[str, Abi] = {abi.name: abi for abi in _ABIS}
ABI_NAMES: tuple[str, ...] = tuple(ABIS)
DEFAULT_ABI = "x86_64"


def align_up(value: int, align: int) -> int:
    """``ALIGN(value, align)`` of include/linux/kernel.h: ``value`` rounded up to a multiple of
    ``align`` (the kernel's alignments are powers of two; any positive one works here)."""
    return (value + align - 1) // align * align


def get_abi(name: str) -> Abi:
    """The ABI called ``name``; an :class:`InputError` naming the known ones otherwise."""
    try:
        return ABIS[name]
    except KeyError:
        raise InputError(f"unknown ABI {name!r} (known: {', '.join(ABI_NAMES)})") from None
