"""``dyndiet analyze``: measure the dynamic-debug callsite tables of real kernel binaries."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from dyndiet.analysis import TableFigures, analyze_tables
from model.abi import ABI_NAMES
from model.elf import (
    POINTER_FIELDS,
    DyndbgTable,
    expand_paths,
    module_image_end,
    read_dyndbg,
)
from model.eras import ERA_NAMES as ERAS
from model.errors import InputError

HELP = "measure __dyndbg in a vmlinux, modules (.ko, .ko.xz, .ko.zst) or a directory of modules"

SCHEMA = "dyndiet.analyze/1"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a linked vmlinux, a module, or a directory of modules (recursive)")
    p.add_argument("--json", action="store_true", help=f"print one JSON object ({SCHEMA})")
    p.add_argument("--era", choices=ERAS, default=None,
                   help="struct _ddebug era (default: detected from the records)")
    p.add_argument("--abi", choices=ABI_NAMES, default=None,
                   help="target ABI (default: from the ELF header)")


def read_tables(paths: Sequence[str], *, abi: str | None = None, era: str | None = None,
                ) -> tuple[list[DyndbgTable], list[InputError]]:
    """Read every file; modules are placed one after another in the module area, as if all were
    loaded, so their synthetic addresses never collide.  Errors are collected, not raised."""
    tables: list[DyndbgTable] = []
    errs: list[InputError] = []
    next_base: dict[str, int] = {}
    last_abi = ""
    files: list[str | InputError] = []
    for arg in paths:  # problems are reported in the order of the arguments
        found, errors = expand_paths([arg])
        files.extend(found)
        files.extend(errors)
    for path in files:
        if isinstance(path, InputError):
            errs.append(path)
            continue
        try:
            table = read_dyndbg(path, abi=abi, era=era, module_base=next_base.get(last_abi))
            if table.kind == "module" and table.placements:
                base = next_base.get(table.abi.name)
                if table.abi.name != last_abi and base is not None:
                    # Another ABI than the file before: place it after that ABI's modules.
                    table = read_dyndbg(path, abi=abi, era=table.era, module_base=base)
                next_base[table.abi.name] = module_image_end(table.placements,
                                                             table.abi.page_size)
                last_abi = table.abi.name
        except InputError as exc:
            errs.append(exc)
            continue
        tables.append(table)
    return tables, errs


def run(args: argparse.Namespace) -> int:
    tables, errors = read_tables(args.paths, abi=args.abi, era=args.era)
    for exc in errors:
        print(f"dyndiet analyze: {exc}", file=sys.stderr)
    per_file = [analyze_tables([t]) for t in tables]
    total = analyze_tables(tables, path="", kind="total") if tables else None
    if args.json:
        print(json.dumps(document(per_file, total), indent=2))
    else:
        sys.stdout.write(render_text(tables, per_file, total))
    return 2 if errors else 0


# --------------------------------------------------------------------------------------------
# JSON


def figures_json(f: TableFigures) -> dict[str, Any]:
    """One file's (or the total's) object of ``dyndiet.analyze/1``."""
    out: dict[str, Any] = {}
    if f.kind != "total":
        out["path"] = f.path
        out["kind"] = f.kind
    out.update({
        "abi": f.abi,
        "record_size": f.record_size,
        "records": f.records,
        "bytes": f.bytes,
        "max_lineno": f.max_lineno,
        "fields": {name: ff.as_json() for name, ff in f.fields},
        "designs": {d.name: d.as_json() for d in f.designs},
        "era": f.era,
        "string_bytes": f.string_bytes,
        "string_bytes_by_pointer": f.string_bytes_by_pointer,
        "compression": [c.as_json() for c in f.compression],
    })
    if f.kind != "total":
        out["detected"] = f.detected
        out["assumption"] = f.assumption
    return out


def document(per_file: Sequence[TableFigures], total: TableFigures | None) -> dict[str, Any]:
    tot = figures_json(total) if total is not None else {"records": 0, "bytes": 0}
    tot["files"] = len(per_file)
    return {"schema": SCHEMA, "files": [figures_json(f) for f in per_file], "total": tot}


# --------------------------------------------------------------------------------------------
# Text


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f}%" if d else "   - "


def _bar(n: int, d: int, width: int = 30) -> str:
    filled = round(width * n / d) if d else 0
    return "#" * filled + "." * (width - filled)


def record_parts(table: DyndbgTable) -> list[tuple[str, int]]:
    """Bytes of one record by purpose, from the layout: the four pointers, the
    ``lineno``/``class_id``/``flags`` word, the static key, padding."""
    layout = table.layout
    pointers = sum(layout.member(f).size for f in POINTER_FIELDS)
    key = layout.member("key").size if table.jump_label else 0
    holes = sum(h.size_bits for h in layout.holes()) // 8
    word = layout.size - pointers - key - holes
    parts = [("pointers", pointers), ("lineno/flags word", word)]
    if key:
        parts.append(("static key", key))
    parts.append(("padding", holes))
    return parts


def _table_block(f: TableFigures, table: DyndbgTable | None) -> list[str]:
    lines: list[str] = []
    n = f.records
    if table is not None:
        lines.append(f"{f.path}: {f.kind}, {table.detected}")
        if table.assumption:
            lines.append(f"  odd pointers: {table.assumption}")
    lines.append(f"  {n} records x {f.record_size} B = {f.bytes} B of records; largest line "
                 f"number {f.max_lineno}; strings {f.string_bytes} B distinct "
                 f"({f.string_bytes_by_pointer} B by pointer)")
    if not n:
        return lines
    lines.append("")
    lines.append("  field     repeats of previous        distinct          odd pointers"
                 "   addr%8 = 0..7")
    lines.append("            by pointer   by string     ptrs  strings")
    for name, ff in f.fields:
        lines.append(
            f"  {name:<9} {ff.adjacent_repeats:>5} {_pct(ff.adjacent_repeats, n)}"
            f" {ff.adjacent_repeats_by_string:>5} {_pct(ff.adjacent_repeats_by_string, n)}"
            f" {ff.distinct:>6} {ff.distinct_strings:>8}"
            f"   {ff.odd:>5} {_pct(ff.odd, n)}   {' '.join(str(c) for c in ff.mod8)}")
    lines.append("")
    lines.append("  where the bytes go")
    rows: list[tuple[str, int]] = []
    if table is not None:
        rows = [(f"records: {name}", size * n) for name, size in record_parts(table)]
    else:
        rows = [("records", f.bytes)]
    rows.append(("strings (distinct)", f.string_bytes))
    whole = sum(b for _, b in rows)
    for label, b in rows:
        lines.append(f"    {label:<28} {b:>9} B  {_bar(b, whole)} {_pct(b, whole)}")
    lines.append("")
    lines.append("  stored per object in a zs_pool (zram's compressors, each object alone, kept "
                 "raw if it does not shrink)")
    lines.append("    unit      method   objects      raw B   stored B   saved   pool pages"
                 "  size classes (size x objects)")
    for c in f.compression:
        classes = " ".join(f"{size}x{n}" for size, n in c.pool.classes)
        lines.append(f"    {c.unit:<9} {c.method:<8} {c.objects:>7} {c.raw_bytes:>10} "
                     f"{c.stored_bytes:>10} {_pct(c.saved_bytes, c.raw_bytes)} "
                     f"{c.pool.pages:>9}  {classes}")
    if f.designs:
        lines.append("")
        lines.append("  built-in designs on these records (model kernel; saved = section's resident "
                     "bytes minus the design's)")
        lines.append("    design            resident B    saved B  pool pages  size classes "
                     "(size x objects)")
        for d in f.designs:
            if d.footprint is None:
                lines.append(f"    {d.name:<16}  fails: {d.failure}")
                continue
            classes = " ".join(f"{size}x{n}" for size, n in d.size_classes)
            lines.append(f"    {d.name:<16} {d.footprint.resident_bytes:>11} {d.saved_bytes:>10}"
                         f" {d.footprint.pool_pages:>11}  {classes}")
    return lines


def render_text(tables: Sequence[DyndbgTable], per_file: Sequence[TableFigures],
                total: TableFigures | None) -> str:
    out: list[str] = []
    for table, f in zip(tables, per_file, strict=True):
        out.extend(_table_block(f, table))
        out.append("")
    if total is not None and len(per_file) > 1:
        out.append(f"total over {len(per_file)} files (repeats never cross a file: each module "
                   "is its own ddebug_table)")
        out.extend(_table_block(total, None))
        out.append("")
    return "\n".join(out)
