"""Built-in layouts: ``struct _ddebug`` (v5.8 and v6.1+), ``struct static_key`` and friends,
and the August-2020 split into ``struct _ddebug`` + ``struct _ddebug_callsite``.

The types are read from real C headers shipped in ``model/headers/`` (the kernel's own text,
``#ifdef CONFIG_JUMP_LABEL`` included) by :mod:`model.creader` and laid out by
:mod:`model.layout` for any ABI.  Leaf paths of ``struct _ddebug``: ``modname``, ``function``,
``filename``, ``format``, ``lineno``, ``class_id`` (v6.1 only), ``flags`` and, with
``CONFIG_JUMP_LABEL``, the key union's leaves ``key.dd_key_true.key.enabled.counter``,
``key.dd_key_true.key.type``, ``key.dd_key_true.key.entries``, ``key.dd_key_true.key.next`` and
the same under ``key.dd_key_false``.  Without ``CONFIG_JUMP_LABEL`` the record has no ``key``.
"""

from __future__ import annotations

from functools import lru_cache

from model.abi import Abi
from model.creader import header_names, header_text, parse_c
from model.errors import InputError
from model.layout import Layout, RecordType, layout_of

__all__ = [
    "KEY_ENABLED",
    "KEY_TYPE",
    "RECORD_LAYOUTS",
    "ddebug_layout",
    "ddebug_split_layouts",
    "header_names",
    "header_text",
    "static_key_false_layout",
    "static_key_layout",
    "static_key_true_layout",
]

#: Header file per record layout (:attr:`model.eras.Era.record`), in ``model/headers/``.
_DDEBUG_HEADER = {
    "v5.8": "dynamic_debug_v5.8.h",
    "v6.1": "dynamic_debug_v6.1.h",
}
#: The ``struct _ddebug`` layouts the model knows (every era's record is one of them).
RECORD_LAYOUTS: tuple[str, ...] = tuple(_DDEBUG_HEADER)
_SPLIT_HEADER = "dynamic_debug_split_2020.h"
_JUMP_LABEL_HEADER = "jump_label.h"

#: The key leaves a design usually touches (``dd_key_true`` view of the union).
KEY_ENABLED = "key.dd_key_true.key.enabled.counter"
KEY_TYPE = "key.dd_key_true.key.type"


@lru_cache(maxsize=64)
def _types(header: str, jump_label: bool) -> dict[str, RecordType]:
    defines = {"CONFIG_JUMP_LABEL": "1"} if jump_label else {}
    types = parse_c(header_text(header), f"model/headers/{header}", defines)
    return {name: t for name, t in types.items() if isinstance(t, RecordType)}


def _record(header: str, jump_label: bool, name: str) -> RecordType:
    try:
        return _types(header, jump_label)[name]
    except KeyError:
        raise InputError(f"built-in header {header} defines no struct {name}") from None


@lru_cache(maxsize=256)
def ddebug_layout(abi: Abi, era: str = "v6.1", jump_label: bool = True) -> Layout:
    """``struct _ddebug`` of ``include/linux/dynamic_debug.h`` in ``era`` ("v5.8": no
    ``class_id``; "v6.1": ``class_id:6``, unchanged through v6.19), for ``abi``."""
    if era not in _DDEBUG_HEADER:
        raise InputError(f"unknown record layout {era!r} (known: {', '.join(RECORD_LAYOUTS)})")
    return layout_of(_record(_DDEBUG_HEADER[era], jump_label, "_ddebug"), abi)


@lru_cache(maxsize=256)
def ddebug_split_layouts(abi: Abi, jump_label: bool = True) -> tuple[Layout, Layout]:
    """The August-2020 split (Jim Cromie, "[PATCH 4/7] dyndbg: split struct _ddebug in 2,
    creating _ddebug_callsite", v5.8-based): ``(struct _ddebug, struct _ddebug_callsite)``;
    ``_ddebug`` holds ``site``, ``flags:8`` and the key, the callsite the four strings and
    ``lineno:16``."""
    return (layout_of(_record(_SPLIT_HEADER, jump_label, "_ddebug"), abi),
            layout_of(_record(_SPLIT_HEADER, jump_label, "_ddebug_callsite"), abi))


@lru_cache(maxsize=256)
def static_key_layout(abi: Abi, jump_label: bool = True) -> Layout:
    """``struct static_key`` of ``include/linux/jump_label.h`` (v5.8 = v6.19 here): ``atomic_t
    enabled`` and, with ``CONFIG_JUMP_LABEL``, the anonymous union ``type``/``entries``/``next``."""
    return layout_of(_record(_JUMP_LABEL_HEADER, jump_label, "static_key"), abi)


def static_key_true_layout(abi: Abi, jump_label: bool = True) -> Layout:
    """``struct static_key_true { struct static_key key; }``."""
    return layout_of(_record(_JUMP_LABEL_HEADER, jump_label, "static_key_true"), abi)


def static_key_false_layout(abi: Abi, jump_label: bool = True) -> Layout:
    """``struct static_key_false { struct static_key key; }``."""
    return layout_of(_record(_JUMP_LABEL_HEADER, jump_label, "static_key_false"), abi)
