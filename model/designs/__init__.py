"""Designs: ways of storing dynamic-debug callsites, each a class behind the protocol of
:mod:`model.designs.protocol`.

``builtin_designs()`` maps each built-in design's ``name`` to its class; ``SEED_DESIGNS`` names
those of the 2020 series, in the order the series proposed them.  A design module registers its
class with :func:`register`; the modules listed in ``_BUILTIN_MODULES`` are imported on first use,
and the designs are listed in that order (the order of the modules, then of registration in a
module), whatever order the modules happened to be imported in.
"""

from __future__ import annotations

import importlib
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
        importlib.import_module(f"model.designs.{mod}")


def _presentation(item: tuple[int, tuple[str, Any]]) -> tuple[int, int]:
    at, (_, cls) = item
    module = str(getattr(cls, "__module__", "")).rpartition(".")[2]
    rank = _BUILTIN_MODULES.index(module) if module in _BUILTIN_MODULES else len(_BUILTIN_MODULES)
    return rank, at


def builtin_designs() -> dict[str, Any]:
    """Every built-in design class by name, in presentation order."""
    _load()
    return dict(item for _, item in sorted(enumerate(_REGISTRY.items()), key=_presentation))


def seed_designs() -> tuple[str, ...]:
    """The built-in designs of the 2020 series that exist, in the series' order."""
    _load()
    return tuple(n for n in _SEED_ORDER if n in _REGISTRY)


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "SEED_DESIGNS":
        return seed_designs()
    raise AttributeError(name)
