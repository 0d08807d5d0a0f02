"""``struct _ddebug`` records as bytes, both ways, through the layout engine.

For designs that keep whole records somewhere else (a pool object, a copy): decode the bytes
of a record into the :class:`~model.dyndbg.store.DdebugSite` the core wants, and encode one back.
Leaf paths are those of ``model.builtin_layouts.ddebug_layout``.
"""

from __future__ import annotations

from model.builtin_layouts import KEY_ENABLED, KEY_TYPE
from model.dyndbg.era import _DPRINTK_CLASS_DFLT
from model.dyndbg.store import DdebugSite
from model.layout import Layout


def decode_site(layout: Layout, data: bytes) -> DdebugSite:
    """The fields of the ``struct _ddebug`` in ``data`` (``class_id`` is 63 in v5.8 records,
    which have none)."""
    v = layout.decode(data)
    return DdebugSite(v["modname"], v["function"], v["filename"], v["format"], v["lineno"],
                      v.get("class_id", _DPRINTK_CLASS_DFLT), v["flags"])


def key_enabled(layout: Layout, data: bytes) -> bool:
    """``static_key_enabled(&dp->key.dd_key_true)`` on the record in ``data``."""
    return layout.get(data, KEY_ENABLED) > 0


def encode_site(layout: Layout, site: DdebugSite, *, key: tuple[int, int] | None = None) -> bytes:
    """A record's bytes from ``site``; ``key`` is ``(enabled, type)`` of the static key when the
    layout has one (``CONFIG_JUMP_LABEL``)."""
    values: dict[str, int] = {"modname": site.modname, "function": site.function,
                              "filename": site.filename, "format": site.format,
                              "lineno": site.lineno, "flags": site.flags}
    paths = set(layout.paths())
    if "class_id" in paths:
        values["class_id"] = site.class_id
    if key is not None and KEY_ENABLED in paths:
        values[KEY_ENABLED], values[KEY_TYPE] = key
    return layout.encode(values)
