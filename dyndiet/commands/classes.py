"""``dyndiet classes``: zsmalloc's size-class table as ``zs_create_pool`` builds it."""

from __future__ import annotations

import argparse
import json

from model.zsmalloc_classes import CHAIN_SIZE_DEFAULT, ERA_CURRENT, ERAS, class_table

HELP = "print zsmalloc's size classes for an era, page size and chain size"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--era", choices=ERAS, default=ERA_CURRENT,
                   help="kernel era (default: current)")
    p.add_argument("--page-size", type=int, default=4096, help="PAGE_SIZE (default 4096)")
    p.add_argument("--chain-size", type=int, default=CHAIN_SIZE_DEFAULT,
                   help="CONFIG_ZSMALLOC_CHAIN_SIZE, current era only (default 8)")
    p.add_argument("--bits-per-long", type=int, default=64, help="BITS_PER_LONG (default 64)")
    p.add_argument("--physmem-bits", type=int, default=52,
                   help="MAX_POSSIBLE_PHYSMEM_BITS (default 52)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    t = class_table(args.era, args.page_size, args.chain_size, args.bits_per_long,
                    args.physmem_bits)
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
