"""Layout engine speed: encoding and decoding ``struct _ddebug`` records (what the state
machines do thousands of times per run), laying out a fresh type, and reading a C snippet."""

from __future__ import annotations

import functools

from dyndiet.benchmarks import Figure, rate
from model.abi import ABIS
from model.builtin_layouts import ddebug_layout
from model.creader import header_text, parse_c
from model.layout import RecordType, layout_of


def run(quick: bool) -> list[Figure]:
    seconds = 0.2 if quick else 1.0
    out: list[Figure] = []
    for abi_name in ("x86_64", "s390x"):
        lay = ddebug_layout(ABIS[abi_name], "v6.1", True)
        values = {"modname": 0xFFFFFFFF82000001, "function": 0xFFFFFFFF82000100,
                  "filename": 0xFFFFFFFF82000203, "format": 0xFFFFFFFF82000305,
                  "lineno": 1234, "class_id": 63, "flags": 1,
                  "key.dd_key_true.key.enabled.counter": 1, "key.dd_key_true.key.type": 1}
        data = lay.encode(values)
        out.append(Figure("layout", f"encode struct _ddebug ({abi_name})",
                          rate(functools.partial(lay.encode, values),
                               seconds=seconds), "records/s"))
        out.append(Figure("layout", f"decode struct _ddebug ({abi_name})",
                          rate(functools.partial(lay.decode, data), seconds=seconds),
                          "records/s"))
        out.append(Figure("layout", f"get one field of struct _ddebug ({abi_name})",
                          rate(functools.partial(lay.get, data, "flags"), seconds=seconds),
                          "reads/s"))
    text = header_text("dynamic_debug_v6.1.h")
    include = {"jump_label.h": header_text("jump_label.h")}
    out.append(Figure("layout", "read dynamic_debug_v6.1.h (C-snippet reader)",
                      rate(lambda: parse_c(text, "dynamic_debug_v6.1.h",
                                           {"CONFIG_JUMP_LABEL": "1"}, include.get),
                           seconds=seconds), "files/s"))
    rec = parse_c(text, "dynamic_debug_v6.1.h", {"CONFIG_JUMP_LABEL": "1"}, include.get)["_ddebug"]
    assert isinstance(rec, RecordType)

    def fresh_layout() -> None:
        layout_of.cache_clear()
        from model import layout as layout_mod

        layout_mod._layout_record.cache_clear()
        layout_of(rec, ABIS["x86_64"])

    out.append(Figure("layout", "lay out struct _ddebug uncached", rate(fresh_layout,
                                                                         seconds=seconds),
                      "layouts/s"))
    return out
