"""Designs: ways of storing dynamic-debug callsites, each a class behind the protocol of
:mod:`model.designs.protocol`.

``builtin_designs()`` maps each built-in design's ``name`` to its class; ``SEED_DESIGNS`` names
those of the 2020 series, in the order the series proposed them.  A design module registers its
class with :func:`register`; the modules listed in ``_BUILTIN_MODULES`` are imported on first use
(a module not written yet is skipped).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, TypeVar

_REGISTRY: dict[str, Any] = {}

#: Modules of model/designs/ holding built-in designs, in presentation order.
_BUILTIN_MODULES: tuple[str, ...] = (
    "section", "split", "zpool_copy", "odd_tag", "union_flag", "flags_vector", "cache")

#: The 2020 series' designs, in the order it proposed them (names registered by the modules).
_SEED_ORDER: tuple[str, ...] = (
    "zpool-copy", "odd-tag", "odd-tag-before", "odd-tag-after", "union-flag", "flags-vector",
    "split", "cache")

T = TypeVar("T")


def register(cls: T) -> T:
    """Class decorator: make ``cls`` (which has a ``name``) a built-in design."""
    name = getattr(cls, "name", "")
    if not name:
        raise TypeError(f"design {cls!r} has no name")
    _REGISTRY[name] = cls
    return cls


def _load() -> None:
    for mod in _BUILTIN_MODULES:
        full = f"model.designs.{mod}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)


def builtin_designs() -> dict[str, Any]:
    """Every built-in design class by name."""
    _load()
    return dict(_REGISTRY)


def seed_designs() -> tuple[str, ...]:
    """The built-in designs of the 2020 series that exist, in the series' order."""
    _load()
    return tuple(n for n in _SEED_ORDER if n in _REGISTRY)


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "SEED_DESIGNS":
        return seed_designs()
    raise AttributeError(name)
