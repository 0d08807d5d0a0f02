"""``dyndiet classes``: zsmalloc's size-class table as ``zs_create_pool`` builds it.

``--era`` takes the kernel eras every other command takes (``v6.19`` is the zsmalloc era the
model runs that kernel on, ``current``) as well as the zsmalloc eras' own names.  The numbers
are checked before any work, against the kernel's own ranges: ``PAGE_SIZE`` a power of two
from 4 KiB to 256 KiB (``PAGE_SHIFT`` 12..18, arm64's 64K and powerpc's 256K pages),
``CONFIG_ZSMALLOC_CHAIN_SIZE`` 4..16 (its Kconfig range), ``BITS_PER_LONG`` 32 or 64,
``MAX_POSSIBLE_PHYSMEM_BITS`` 32..64.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from model.eras import ERA_NAMES, ZSMALLOC_ERA_NAMES, get_era
from model.zsmalloc_classes import CHAIN_SIZE_DEFAULT, CHAIN_SIZE_RANGE, ERA_CURRENT, class_table

HELP = "print zsmalloc's size classes for an era, page size and chain size"


#: Every name ``--era`` takes: the kernel eras, then the zsmalloc eras' own names.
ERA_CHOICES: tuple[str, ...] = tuple(dict.fromkeys(ERA_NAMES + ZSMALLOC_ERA_NAMES))
PAGE_SIZE_RANGE = (4096, 256 * 1024)


def zsmalloc_era(name: str) -> str:
    """The zsmalloc era ``--era name`` means: a kernel era's allocator
    (:attr:`model.eras.Era.zsmalloc`), else the zsmalloc era of that name."""
    return get_era(name).zsmalloc.name if name in ERA_NAMES else name


def _int_in(what: str, lo: int, hi: int, *, power_of_two: bool = False,
            ) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            n = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, not {text!r}"
                                             ) from None
        if not lo <= n <= hi or (power_of_two and n & (n - 1)):
            kind = "a power of two" if power_of_two else "a number"
            raise argparse.ArgumentTypeError(f"{what} must be {kind} from {lo} to {hi}, "
                                             f"not {text}")
        return n

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--era", choices=ERA_CHOICES, default=ERA_CURRENT,
                   help="kernel era (v6.19 runs zsmalloc 'current') or zsmalloc era "
                        "(default: current)")
    p.add_argument("--page-size", type=_int_in("PAGE_SIZE", *PAGE_SIZE_RANGE,
                                               power_of_two=True),
                   default=4096, help="PAGE_SIZE, 4096..262144 (default 4096)")
    p.add_argument("--chain-size", type=_int_in("CONFIG_ZSMALLOC_CHAIN_SIZE",
                                                *CHAIN_SIZE_RANGE),
                   default=CHAIN_SIZE_DEFAULT,
                   help="CONFIG_ZSMALLOC_CHAIN_SIZE, 4..16, eras v6.12 and current only "
                        "(default 8)")
    p.add_argument("--bits-per-long", type=int, choices=(32, 64), default=64,
                   help="BITS_PER_LONG (default 64)")
    p.add_argument("--physmem-bits", type=_int_in("MAX_POSSIBLE_PHYSMEM_BITS", 32, 64),
                   default=52, help="MAX_POSSIBLE_PHYSMEM_BITS, 32..64 (default 52)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    t = class_table(zsmalloc_era(args.era), args.page_size, args.chain_size,
                    args.bits_per_long, args.physmem_bits)
    if args.json:
        print(json.dumps(t.as_json()))
        return 0
    print(f"zsmalloc {t.era}: PAGE_SIZE {t.page_size}, ZS_MAX_PAGES_PER_ZSPAGE "
          f"{t.max_pages_per_zspage}, BITS_PER_LONG {t.bits_per_long}, "
          f"MAX_POSSIBLE_PHYSMEM_BITS {t.physmem_bits}")
    print(f"OBJ_INDEX_BITS {t.obj_index_bits}, ZS_MIN_ALLOC_SIZE {t.min_alloc_size}, "
          f"ZS_SIZE_CLASS_DELTA {t.size_class_delta}, ZS_SIZE_CLASSES {t.slots}, "
          f"{len(t.classes)} distinct classes, huge_class_size {t.huge_class_size}")
    print(f"{'index':>5} {'size':>5} {'pages':>5} {'objs':>5} {'slots':>9}  {'payload':>7}")
    handle = t.bits_per_long // 8
    for c in t.classes:
        slots = [i for i, k in enumerate(t.slot_class) if k == c.index]
        span = f"{slots[0]}-{slots[-1]}" if len(slots) > 1 else str(slots[0])
        usable = c.size if c.huge else c.size - handle
        huge = "  huge" if c.huge else ""
        print(f"{c.index:>5} {c.size:>5} {c.pages_per_zspage:>5} {c.objs_per_zspage:>5} "
              f"{span:>9}  {usable:>7}{huge}")
    return 0
