"""Where a bad value came from: evidence derived from the model, for every design.

When a design hands the kernel a value it should not (a "handle" zs_malloc never returned, an
address in a freed or reclaimed region), :func:`value_origin` says where that value lives: which
callsite record holds it, in which field at which offset (the layout engine's ``struct _ddebug``
of the era and ABI), its parity, and the section and string it points at.  Nothing here depends
on the design: built-in designs and users' design files get the same lines.

A tagged value is found too: a word that equals the bad value up to its low three bits (the tag
bits of ``zhandle+1``, ``|1``, ``static_key`` type bits).
"""

from __future__ import annotations

import re
from typing import Literal

from model.builtin_layouts import ddebug_layout
from model.eras import layout_era
from model.layout import Layout
from model.linker import ModuleImage
from model.memory import AddressSpace, Region

_TAG_BITS = 7
_HEX = re.compile(r"0x[0-9a-fA-F]{4,}")


def bad_value(exc: BaseException) -> int | None:
    """The value a kernel failure is about: the exception's ``value`` when the model set it,
    else the first long hex number of its message."""
    for attr in ("handle", "value"):  # the handle a NULL-pool call was handed comes first
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    m = _HEX.search(str(getattr(exc, "message", exc)))
    return int(m.group(0), 16) if m else None


def _rank(word: int, value: int) -> int | None:
    """How closely ``word`` is ``value``: 0 the same, 1 tagged by its low bit (``+1``, ``|1``,
    ``-1``), 2 the same up to the low three bits; ``None``: unrelated."""
    if word == 0:
        return None
    if word == value:
        return 0
    if abs(word - value) == 1 or word ^ value == 1:
        return 1
    if (word & ~_TAG_BITS) == (value & ~_TAG_BITS):
        return 2
    return None


def _parity(word: int) -> str:
    return "odd" if word & 1 else "even"


def points_at(space: AddressSpace, images: list[ModuleImage], word: int) -> str:
    """What ``word`` points at: a string of an image (with its section) or a mapped region."""
    for img in images:
        for s in img.strings:
            if s.addr <= word <= s.addr + len(s.text.encode("latin-1", "replace")):
                off = word - s.addr
                text = s.text.encode("latin-1", "replace")[off:].decode("latin-1")
                where = f"{s.section} of {img.name}" + (f", {off} bytes into" if off else ",")
                return f"{word:#x} points into {where} the string {text!r}"
    region = space.region_at(word)
    if region is None:
        return f"{word:#x} points into no mapped memory (freed, reclaimed or never mapped)"
    string = _cstring(space, word) if not region.writable else None
    shown = f", the string {string!r}" if string is not None else ""
    return f"{word:#x} points into {region.name} (offset {word - region.base:#x}){shown}"


def _cstring(space: AddressSpace, addr: int) -> str | None:
    try:
        return space.read_cstring(addr, 256).decode("latin-1")
    except Exception:  # not a readable string: no text to show
        return None


def _record_lines(space: AddressSpace, layout: Layout, region: Region, off: int,
                  word: int) -> list[str]:
    """A word inside a ``__dyndbg`` section: which record, which field, which callsite."""
    k, within = divmod(off, layout.size)
    base = region.base + k * layout.size
    field = next((path for path, m in layout.leaves()
                  if m.offset == within and m.size == space.abi.long_size), f"+{within}")
    site = ""
    try:
        rec = layout.decode(space.read(base, layout.size))
        name = {f: _cstring(space, rec[f]) if f in rec and f != field else None
                for f in ("filename", "function")}
        site = (f" ({name['filename'] or '?'}:{rec.get('lineno', '?')} "
                f"{name['function'] or '?'})")
    except Exception:  # a record the design overwrote: the field alone
        site = ""
    return [f"record {k} of {region.name}{site}, struct _ddebug at {base:#x}:",
            f"  .{field} at offset {within}, {space.abi.long_size} bytes: {word:#x} "
            f"({_parity(word)})"]


def value_origin(space: AddressSpace, images: list[ModuleImage], value: int,
                 what: str = "the bad value", *, era: str = "v6.1", jump_label: bool = True,
                 limit: int = 2) -> list[str]:
    """Evidence lines for ``value``: the records and fields (or other memory) that hold it or
    a tagged form of it, their parity, and what they point at."""
    ws = space.abi.long_size
    order: Literal["little", "big"] = "little" if space.abi.endian == "little" else "big"
    hits: list[tuple[int, Region, int, int]] = []
    for region in space.regions():
        data = bytes(region.data)
        for off in range(0, len(data) - ws + 1, ws):
            word = int.from_bytes(data[off:off + ws], order)
            rank = _rank(word, value)
            if rank is not None:
                hits.append((rank, region, off, word))
    lines = [f"{what}: {value:#x} ({_parity(value)})"]
    if not hits:
        lines.append("no callsite record or other mapped word holds it")
        lines.append(points_at(space, images, value))
        return lines
    best = min(h[0] for h in hits)
    # records first: a value from a callsite record is the story; other copies follow
    chosen = sorted((h for h in hits if h[0] == best),
                    key=lambda h: not h[1].name.endswith("__dyndbg"))[:limit]
    layout = ddebug_layout(space.abi, layout_era(era), jump_label)  # v6.12, v6.19: v6.1's
    for _, region, off, word in chosen:
        if region.name.endswith("__dyndbg"):
            lines += _record_lines(space, layout, region, off, word)
        else:
            lines.append(f"{region.name} + {off:#x} (at {region.base + off:#x}) holds "
                         f"{word:#x} ({_parity(word)})")
        lines.append("  " + points_at(space, images, word))
    return lines
