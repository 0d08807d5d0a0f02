"""The catalogue of named properties and what a property is.

A property is a claim about a design, checked by a Hypothesis state machine built for that
design and target.  Each has a *kind*: ``equivalence`` (the design shows what the ``section``
baseline shows), ``kernel-rules`` (no BUG, no sleeping while mapped, no mapping where the era
forbids it) or ``footprint`` (what the design claims to save, it saves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from properties.tracing import TracedMachine

Kind = Literal["equivalence", "kernel-rules", "footprint"]
KINDS: tuple[Kind, ...] = ("equivalence", "kernel-rules", "footprint")


@attrs.frozen
class Target:
    """What a property runs on besides the design: kernel era, ABI, optional real corpus."""

    era: str = "v6.1"
    abi: str = "x86_64"
    corpus: str | None = None


@attrs.frozen
class DesignRef:
    """A design to check: its name, where it came from (``built-in`` or a file path), and
    whatever object the properties need to build it (a class following the design protocol)."""

    name: str
    source: str
    factory: Any = attrs.field(eq=False, repr=False)


@attrs.frozen
class Property:
    """A named claim and the machine that checks it on one design and target."""

    name: str
    kind: Kind
    claim: str
    #: Builds the state machine class for a design and target; raising there is an error of
    #: the design (reported with its source), not a counterexample.
    machine: Callable[[DesignRef, Target], type[TracedMachine]] = attrs.field(eq=False,
                                                                            repr=False)
    #: Whether the property applies to a design (default: every design).
    applies: Callable[[DesignRef], bool] = attrs.field(default=lambda d: True, eq=False,
                                                       repr=False)
    #: Unlisted properties run only when asked for by name (``--property``): examples, tests.
    listed: bool = True
    #: Properties of one group can be explored together by the group's machine (one run that
    #: checks all of them at each step; see :func:`register_group`).
    group: str | None = None


_CATALOGUE: dict[str, Property] = {}
#: A group's machine for a design, a target and the members it checks.
GroupMachine = Callable[[DesignRef, Target, frozenset[str]], type[TracedMachine]]
_GROUPS: dict[str, GroupMachine] = {}


def register_group(name: str, machine: GroupMachine) -> None:
    """A group of properties and the machine that checks any of them in one exploration
    (``machine(design, target, members)``): it must fail whenever a member would fail on the
    same steps, and never halt where a member's own machine goes on."""
    _GROUPS[name] = machine


def group_machine(name: str) -> GroupMachine:
    _load_builtin_properties()
    return _GROUPS[name]


def register(prop: Property) -> Property:
    """Add ``prop`` to the catalogue (names are unique)."""
    if prop.name in _CATALOGUE and _CATALOGUE[prop.name] is not prop:
        raise ValueError(f"property {prop.name!r} registered twice")
    _CATALOGUE[prop.name] = prop
    return prop


def catalogue(*, unlisted: bool = False) -> tuple[Property, ...]:
    """Every registered (listed) property, in registration order."""
    _load_builtin_properties()
    return tuple(p for p in _CATALOGUE.values() if p.listed or unlisted)


def get_property(name: str) -> Property:
    _load_builtin_properties()
    return _CATALOGUE[name]


def _load_builtin_properties() -> None:
    import importlib

    importlib.import_module("properties.dyndbg_properties")
