"""``dyndiet layout``: pahole-style struct layouts for any target ABI, and a patch reviewer's
side-by-side comparison of two versions of a header.

    dyndiet layout FILE.h [--struct NAME]... [--abi ABI] [-D NAME[=VALUE]]... [--json]
    dyndiet layout OLD.h NEW.h --compare [--abi ABI|all] [--struct NAME]... [--callsites N]

``FILE`` may also name a built-in header (``dynamic_debug_v6.1.h``, ``jump_label.h``, ...)
when no such file exists.  ``SMP_CACHE_BYTES`` (what ``____cacheline_aligned`` aligns to) is
each ABI's ``L1_CACHE_BYTES`` unless ``-D`` sets it.  An array is one member, as pahole shows
it: ``char a[4000000000]`` lays out as fast as ``char a[4]``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.abi import ABI_NAMES, DEFAULT_ABI, Abi, get_abi
from model.creader import MAX_SOURCE_BYTES, header_names, header_text, parse_c
from model.errors import InputError
from model.layout import Layout, Member, RecordType, TypedefType, layout_of

HELP = "show struct/union layouts (pahole style) for a target ABI, or compare two headers"

#: Callsites in Jim Cromie's 2020 laptop kernel ("dyndbg: 2605 entries").
DEFAULT_CALLSITES = 2605
CACHELINE = 64
#: ``L1_CACHE_BYTES`` (arch/*/include/asm/cache.h) where it is not 64: s390's 256
#: (``L1_CACHE_SHIFT`` 8) and powerpc64's 128 (``L1_CACHE_SHIFT`` 7).
L1_CACHE_BYTES: dict[str, int] = {"s390x": 256, "ppc64": 128}


def abi_defines(abi: Abi, defines: dict[str, str]) -> dict[str, str]:
    """``defines`` plus ``SMP_CACHE_BYTES`` of ``abi`` unless the user set it."""
    if "SMP_CACHE_BYTES" in defines:
        return defines
    return {**defines, "SMP_CACHE_BYTES": str(L1_CACHE_BYTES.get(abi.name, 64))}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE.h",
                        help="C header (one; two with --compare); a built-in header name works")
    parser.add_argument("--struct", action="append", default=[], metavar="NAME",
                        help="struct/union to show (repeatable; default: every named one)")
    parser.add_argument("--abi", default=DEFAULT_ABI,
                        help=f"target ABI: {', '.join(ABI_NAMES)} (with --compare also 'all'; "
                             f"default {DEFAULT_ABI})")
    parser.add_argument("-D", action="append", default=[], dest="defines",
                        metavar="NAME[=VALUE]", help="define a macro, e.g. -D CONFIG_JUMP_LABEL")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    parser.add_argument("--compare", action="store_true",
                        help="compare OLD.h with NEW.h: sizes, member moves, holes, footprint")
    parser.add_argument("--callsites", type=int, default=DEFAULT_CALLSITES, metavar="N",
                        help=f"callsites per kernel for --compare (default {DEFAULT_CALLSITES})")


def parse_defines(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name:
            raise InputError(f"bad -D option {item!r}")
        out[name] = value if value else "1"
    return out


def read_header(path: str, defines: dict[str, str]) -> dict[str, RecordType]:
    """The named structs and unions ``path`` defines (typedef names of records too)."""
    p = Path(path)
    if p.exists() and not p.is_file():
        raise InputError("not a regular file", path=path)
    if p.is_file():
        try:
            if p.stat().st_size > MAX_SOURCE_BYTES:
                raise InputError(f"{p.stat().st_size:,} bytes: larger than the C reader takes "
                                 f"({MAX_SOURCE_BYTES >> 20} MiB)", path=path)
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    elif p.name in header_names() and not p.parent.parts:
        text = header_text(p.name)
    else:
        raise InputError("no such file (nor a built-in header: "
                         f"{', '.join(header_names())})", path=path)
    types = parse_c(text, path, defines)
    out: dict[str, RecordType] = {}
    for name, t in types.items():
        if isinstance(t, RecordType):
            out[name] = t
        elif isinstance(t, TypedefType) and isinstance(t.base, RecordType):
            out[name] = t.base
    return out


def select(types: dict[str, RecordType], wanted: Sequence[str], path: str,
           required: bool = True) -> dict[str, RecordType]:
    if not wanted:
        return types
    out: dict[str, RecordType] = {}
    for name in wanted:
        if name in types:
            out[name] = types[name]
        elif required:
            known = ", ".join(types) or "none"
            raise InputError(f"no struct or union named {name!r} (defined: {known})", path=path)
    return out


def run(args: argparse.Namespace) -> int:
    defines = parse_defines(args.defines)
    if args.compare:
        if len(args.files) != 2:
            raise InputError("--compare takes two files: OLD.h NEW.h")
        if args.callsites < 0:
            raise InputError("--callsites must not be negative")
        abis = [get_abi(n) for n in ABI_NAMES] if args.abi == "all" else [get_abi(args.abi)]
        print(compare_text(args.files[0], args.files[1], abis, args.struct, defines,
                           args.callsites), end="")
        return 0
    if len(args.files) != 1:
        raise InputError("give one file (two only with --compare)")
    abi = get_abi(args.abi)
    path = args.files[0]
    types = select(read_header(path, abi_defines(abi, defines)), args.struct, path)
    if not types:
        raise InputError("defines no named struct or union", path=path)
    layouts = [layout_of(t, abi, name) for name, t in types.items()]
    if args.json:
        print(json.dumps([layout_json(lay) for lay in layouts], indent=2))
    else:
        print("\n\n".join(pahole(lay) for lay in layouts))
    return 0


# --------------------------------------------------------------------------------------------
# JSON


def member_json(m: Member) -> dict[str, Any]:
    d: dict[str, Any] = {"name": m.name, "type": m.type, "offset_bits": m.offset_bits,
                         "size_bits": m.size_bits, "bitfield": m.bitfield}
    if m.kind in ("struct", "union"):
        d["members"] = [member_json(c) for c in m.members]
    return d


def layout_json(lay: Layout) -> dict[str, Any]:
    return {"name": lay.name, "kind": lay.kind, "abi": lay.abi.name, "size": lay.size,
            "align": lay.align, "members": [member_json(m) for m in lay.members]}


# --------------------------------------------------------------------------------------------
# pahole view


def _where(m: Member) -> str:
    """``/* offset size */`` as pahole prints it; bitfields as ``unit_offset:bit unit_size``."""
    if m.bitfield:
        unit = max(m.type_size, 1)
        unit_off = m.offset_bits // (8 * unit) * unit
        return f"/* {unit_off:5d}:{m.offset_bits - 8 * unit_off:2d} {unit:4d} */"
    return f"/* {m.offset:5d} {m.size:5d} */"


def _hole_lines(h_bits: int, indent: str, kind: str) -> str:
    if kind == "padding":
        if h_bits % 8:
            return f"{indent}/* XXX {h_bits} bits padding */\n"
        return ""
    if h_bits % 8 == 0:
        return f"\n{indent}/* XXX {h_bits // 8} byte{'s' if h_bits != 8 else ''} hole, " \
               f"try to pack */\n\n"
    return f"{indent}/* XXX {h_bits} bit{'s' if h_bits != 1 else ''} hole, try to pack */\n"


def _decl(m: Member, indent: str) -> str:
    name = m.name
    if m.bitfield:
        name = f"{m.name}:{m.size_bits}"
    t = m.type
    if "[" in t:
        i = t.index("[")
        base, dims = t[:i], t[i:]
        return f"{indent}{base:<26} {name}{dims};"
    if t.endswith("*"):
        return f"{indent}{t:<26} {name};" if not t.endswith(")") else f"{indent}{t} {name};"
    return f"{indent}{t:<26} {name};"


def _body(members: tuple[Member, ...], start_bits: int, kind: str, depth: int,
          stats: dict[str, int]) -> str:
    indent = "\t" * depth
    out: list[str] = []
    pos = start_bits
    for m in members:
        if kind == "struct" and m.offset_bits > pos:
            # a gap that starts inside a byte: bits up to the byte boundary, then bytes
            bits = min(-pos % 8, m.offset_bits - pos)
            whole = (m.offset_bits - pos - bits) // 8 * 8
            tail = m.offset_bits - pos - bits - whole
            for gap, is_bits in ((bits, True), (whole, False), (tail, True)):
                if not gap:
                    continue
                out.append(_hole_lines(gap, indent, "hole"))
                if depth == 1 and is_bits:
                    stats["bit_holes"] += 1
                    stats["sum_bit_holes"] += gap
                elif depth == 1:
                    stats["holes"] += 1
                    stats["sum_holes"] += gap // 8
        if m.inline:
            inner = _body(m.members, m.offset_bits, m.kind, depth + 1, stats)
            line = f"{indent}}} {m.name};" if m.name else f"{indent}}};"
            out.append(f"{indent}{m.kind} {{\n{inner}{line:<48}\t{_where(m)}\n")
        else:
            out.append(f"{_decl(m, indent):<48}\t{_where(m)}\n")
        if depth == 1:
            stats["members"] += 1
            stats["sum_members"] += m.size_bits
        pos = max(pos, m.offset_bits + m.size_bits)
    return "".join(out)


def pahole(lay: Layout) -> str:
    """The layout as ``pahole`` shows it: members with offsets and sizes, holes, summary."""
    stats = {"members": 0, "sum_members": 0, "holes": 0, "sum_holes": 0, "bit_holes": 0,
             "sum_bit_holes": 0}
    body = _body(lay.members, 0, lay.kind, 1, stats)
    tail = [h for h in lay.holes() if h.kind == "padding"]
    pad_bits = tail[0].size_bits if tail and lay.kind == "struct" else 0
    lines = [f"/* {lay.abi.name}: {lay.abi.endian}-endian, {8 * lay.abi.long_size}-bit */",
             f"{lay.kind} {lay.name} {{", body.rstrip("\n")]
    if pad_bits % 8:
        lines.append(f"\t/* XXX {pad_bits % 8} bits padding */")
    lines.append("")
    cachelines = (lay.size + CACHELINE - 1) // CACHELINE
    lines.append(f"\t/* size: {lay.size}, cachelines: {cachelines}, "
                 f"members: {stats['members']} */")
    total, rem = divmod(stats["sum_members"], 8)
    sums = f"\t/* sum members: {total}" + (f" bytes + {rem} bits" if rem else "")
    if stats["holes"]:
        sums += f", holes: {stats['holes']}, sum holes: {stats['sum_holes']}"
    if stats["bit_holes"]:
        sums += f", bit holes: {stats['bit_holes']}, sum bit holes: {stats['sum_bit_holes']} bits"
    lines.append(sums + " */")
    if pad_bits >= 8:
        lines.append(f"\t/* padding: {pad_bits // 8} */")
    last = lay.size % CACHELINE
    if last:
        lines.append(f"\t/* last cacheline: {last} bytes */")
    lines.append(f"}} /* align: {lay.align} */;")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# --compare


def _flat(lay: Layout) -> dict[str, Member]:
    """Top-level members (anonymous ones flattened, like C's name lookup)."""
    out: dict[str, Member] = {}

    def walk(members: tuple[Member, ...]) -> None:
        for m in members:
            if not m.name and m.members:
                walk(m.members)
            elif m.name:
                out[m.name] = m

    walk(lay.members)
    return out


def _pos(m: Member | None) -> str:
    if m is None:
        return "-"
    if m.bitfield:
        return f"{m.offset_bits // 8}:{m.offset_bits % 8}/{m.size_bits}b"
    return f"{m.offset}/{m.size}"


def _hole_bytes(lay: Layout) -> int:
    return sum(h.size_bits for h in lay.holes() if h.kind == "hole") // 8


def _table(rows: list[tuple[str, list[str]]], abis: Sequence[Abi]) -> list[str]:
    width = [max([len(a.name)] + [len(cells[i]) for _l, cells in rows]) + 3
             for i, a in enumerate(abis)]
    label_w = max([26] + [len(label) + 2 for label, _c in rows])
    out = [" " * (label_w + 2) + "".join(f"{a.name:>{w}}" for a, w in zip(abis, width,
                                                                          strict=True))]
    for label, cells in rows:
        out.append(f"  {label:<{label_w}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, width,
                                                                                 strict=True)))
    return out


def _arrow(a: int | None, b: int | None) -> str:
    sa = "-" if a is None else str(a)
    sb = "-" if b is None else str(b)
    if a is not None and b is not None and a != b:
        return f"{sa} -> {sb} ({b - a:+d})"
    return sa if sa == sb else f"{sa} -> {sb}"


def compare_text(old_path: str, new_path: str, abis: Sequence[Abi], wanted: Sequence[str],
                 defines: dict[str, str], callsites: int) -> str:
    """Side-by-side per-ABI view of what a patch does to the structs of a header: size,
    alignment, holes, every member's place, and the footprint per callsite and per kernel."""
    old = read_header(old_path, abi_defines(abis[0], defines))
    new = read_header(new_path, abi_defines(abis[0], defines))
    # each ABI's own reading where its cache line differs
    by_abi: dict[str, tuple[dict[str, RecordType], dict[str, RecordType]]] = {}
    for a in abis:
        d = abi_defines(a, defines)
        if d == abi_defines(abis[0], defines):
            by_abi[a.name] = (old, new)
        else:
            by_abi[a.name] = (read_header(old_path, d), read_header(new_path, d))
    if wanted:
        missing = [n for n in wanted if n not in old and n not in new]
        if missing:
            raise InputError(f"no struct or union named {missing[0]!r} in either file "
                             f"(old: {', '.join(old) or 'none'}; new: {', '.join(new) or 'none'})",
                             path=new_path)
        names = list(wanted)
    else:
        names = list(old) + [n for n in new if n not in old]
    out = [f"# {old_path} -> {new_path}", "# member cells: offset/size in bytes; bitfields "
           "byte:bit/width in bits; '-' absent", ""]
    per_site_old = {a.name: 0 for a in abis}
    per_site_new = {a.name: 0 for a in abis}
    for name in names:
        o_t, n_t = old.get(name), new.get(name)
        some = o_t if o_t is not None else n_t
        assert some is not None
        lays_o: dict[str, Layout | None] = {}
        lays_n: dict[str, Layout | None] = {}
        for a in abis:
            o_a, n_a = (t.get(name) for t in by_abi[a.name])
            lays_o[a.name] = layout_of(o_a, a, name) if o_a else None
            lays_n[a.name] = layout_of(n_a, a, name) if n_a else None
        out.append(f"{some.kind} {name}" + ("  (new)" if o_t is None else "") +
                   ("  (removed)" if n_t is None else ""))
        rows: list[tuple[str, list[str]]] = []
        sizes, holes_row, aligns = [], [], []
        for a in abis:
            lo, ln = lays_o[a.name], lays_n[a.name]
            sizes.append(_arrow(lo.size if lo else None, ln.size if ln else None))
            aligns.append(_arrow(lo.align if lo else None, ln.align if ln else None))
            holes_row.append(_arrow(_hole_bytes(lo) if lo else None,
                                    _hole_bytes(ln) if ln else None))
            per_site_old[a.name] += lo.size if lo else 0
            per_site_new[a.name] += ln.size if ln else 0
        rows += [("size", sizes), ("align", aligns), ("holes (bytes)", holes_row)]
        members: list[str] = []
        for a in abis:
            for lay in (lays_o[a.name], lays_n[a.name]):
                if lay is not None:
                    members.extend(m for m in _flat(lay) if m not in members)
        for mname in members:
            cells = []
            for a in abis:
                lo, ln = lays_o[a.name], lays_n[a.name]
                po = _pos(_flat(lo).get(mname) if lo else None)
                pn = _pos(_flat(ln).get(mname) if ln else None)
                cells.append(po if po == pn else f"{po} -> {pn}")
            rows.append((mname, cells))
        out.extend(_table(rows, abis))
        out.append("")
    out.append(f"footprint ({' + '.join(names)} per callsite)")
    out.extend(_table([
        ("bytes per callsite", [_arrow(per_site_old[a.name], per_site_new[a.name])
                                for a in abis]),
        (f"bytes for {callsites} callsites",
         [_arrow(per_site_old[a.name] * callsites, per_site_new[a.name] * callsites)
          for a in abis]),
    ], abis))
    return "\n".join(out) + "\n"
