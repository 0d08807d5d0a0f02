"""A small declarative validator for the JSON documents dyndiet reads back.

A spec is a value: a Python type (``str``, ``int``, ``float``: any number, ``bool``,
``dict``/``list``: any object/array, ``object``: anything), or one of :class:`Const`,
:class:`Enum`, :class:`Optional`, :class:`AnyOf`, :class:`ListOf`, :class:`MapOf`,
:class:`Record`.  :func:`validate` walks a document against a spec and raises
:class:`~model.errors.InputError` at the first problem, in one line naming the JSON path and
what is wrong::

    designs[0].properties[2].status: missing
    designs[0].properties[2].test_cases: expected an integer, got str

Specs are registered by the document's ``schema`` string (:func:`register_schema`); this
module holds ``dyndiet.report/1``, the document ``dyndiet check`` wrote before ``/2``
(dyndiet/report.py ``build_document`` of that version).  ``dyndiet report`` validates a saved
document before rendering it (:func:`validate_document`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from model.errors import InputError

__all__ = ["AnyOf", "Const", "Enum", "ListOf", "MapOf", "Optional", "Record", "Spec",
           "register_schema", "registered", "spec_of", "validate", "validate_document"]


@attrs.frozen
class Const:
    """Exactly ``value``."""

    value: Any


@attrs.frozen
class Enum:
    """One of ``values`` (strings)."""

    values: tuple[str, ...]


@attrs.frozen
class Optional:
    """``spec`` or ``null``."""

    spec: Any


@attrs.frozen
class AnyOf:
    """The first of ``specs`` that matches."""

    specs: tuple[Any, ...]


@attrs.frozen
class ListOf:
    """An array whose every item matches ``item``."""

    item: Any


@attrs.frozen
class MapOf:
    """An object whose every value matches ``value`` (any keys)."""

    value: Any


@attrs.frozen
class Record:
    """An object with ``required`` and ``optional`` keys (others allowed unless ``closed``);
    ``when`` makes keys required once a key has a value: ``{("status", "error"): ("error",)}``.
    """

    required: Mapping[str, Any] = attrs.field(factory=dict)
    optional: Mapping[str, Any] = attrs.field(factory=dict)
    when: Mapping[tuple[str, Any], tuple[str, ...]] = attrs.field(factory=dict)
    closed: bool = False


Spec = Any

_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer", float: "a number",
                                bool: "true or false", dict: "an object", list: "an array"}


def _got(value: Any) -> str:
    """The JSON value's kind, in Python's short names (``int``, ``str``, ``null``)."""
    if value is None:
        return "null"
    return type(value).__name__


def _is(value: Any, t: type) -> bool:
    if t is object:
        return True
    if t is bool:
        return isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, t)


def _describe(spec: Spec) -> str:
    if isinstance(spec, type):
        return _TYPE_NAMES.get(spec, spec.__name__)
    if isinstance(spec, Const):
        return repr(spec.value)
    if isinstance(spec, Enum):
        return "one of " + ", ".join(repr(v) for v in spec.values)
    if isinstance(spec, Optional):
        return f"{_describe(spec.spec)} or null"
    if isinstance(spec, AnyOf):
        return " or ".join(_describe(s) for s in spec.specs)
    if isinstance(spec, ListOf):
        return "an array"
    return "an object"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _problem(value: Any, spec: Spec, path: str) -> tuple[str, str] | None:
    """(path, what is wrong) of the first problem, or None."""
    if isinstance(spec, type):
        if _is(value, spec):
            return None
        return path, f"expected {_describe(spec)}, got {_got(value)}"
    if isinstance(spec, Const):
        if value == spec.value and type(value) is type(spec.value):
            return None
        return path, f"expected {spec.value!r}, got {value!r}"
    if isinstance(spec, Enum):
        if isinstance(value, str) and value in spec.values:
            return None
        shown = repr(value) if isinstance(value, str) else _got(value)
        return path, f"expected {_describe(spec)}, got {shown}"
    if isinstance(spec, Optional):
        return None if value is None else _problem(value, spec.spec, path)
    if isinstance(spec, AnyOf):
        if any(_problem(value, s, path) is None for s in spec.specs):
            return None
        return path, f"expected {_describe(spec)}, got {_got(value)}"
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            return path, f"expected an array, got {_got(value)}"
        for i, item in enumerate(value):
            found = _problem(item, spec.item, _join(path, i))
            if found is not None:
                return found
        return None
    if isinstance(spec, MapOf):
        if not isinstance(value, dict):
            return path, f"expected an object, got {_got(value)}"
        for key, item in value.items():
            found = _problem(item, spec.value, _join(path, str(key)))
            if found is not None:
                return found
        return None
    if isinstance(spec, Record):
        return _record_problem(value, spec, path)
    raise TypeError(f"not a spec: {spec!r}")


def _record_problem(value: Any, spec: Record, path: str) -> tuple[str, str] | None:
    if not isinstance(value, dict):
        return path, f"expected an object, got {_got(value)}"
    for key, sub in spec.required.items():
        if key not in value:
            return _join(path, key), "missing"
        found = _problem(value[key], sub, _join(path, key))
        if found is not None:
            return found
    for key, sub in spec.optional.items():
        if key in value:
            found = _problem(value[key], sub, _join(path, key))
            if found is not None:
                return found
    for (key, equals), needed in spec.when.items():
        if value.get(key) == equals:
            for need in needed:
                if need not in value:
                    return _join(path, need), f"missing (required when {key} is {equals!r})"
    if spec.closed:
        for key in value:
            if key not in spec.required and key not in spec.optional:
                return _join(path, str(key)), "not expected here"
    return None


def validate(doc: Any, spec: Spec, *, source: str | None = None) -> None:
    """Raise :class:`InputError` (one line: ``[source: ]json.path: problem``) at the first
    place ``doc`` does not match ``spec``."""
    found = _problem(doc, spec, "")
    if found is not None:
        where, what = found
        raise InputError(f"{where or '(document)'}: {what}", path=source)


# --------------------------------------------------------------------------------------------
# Registered schemas

_SCHEMAS: dict[str, Spec] = {}


def register_schema(name: str, spec: Spec) -> None:
    """Make ``spec`` the validation of documents whose ``schema`` is ``name`` (a later
    registration of the same name replaces the earlier)."""
    _SCHEMAS[name] = spec


def registered() -> tuple[str, ...]:
    """Every schema name with a spec."""
    return tuple(_SCHEMAS)


def spec_of(name: str) -> Spec | None:
    return _SCHEMAS.get(name)


def validate_document(doc: Any, *, source: str | None = None) -> bool:
    """Validate ``doc`` against the spec its ``schema`` names; False when no spec is
    registered for that name (the caller decides whether that is acceptable)."""
    if not isinstance(doc, dict):
        raise InputError(f"(document): expected an object, got {_got(doc)}", path=source)
    name = doc.get("schema")
    spec = _SCHEMAS.get(name) if isinstance(name, str) else None
    if spec is None:
        return False
    validate(doc, spec, source=source)
    return True


#: ``tool`` of every report: what ran, with which budget (dyndiet/report.py ``tool_info``).
TOOL = Record(required={
    "dyndiet": str, "hypothesis": str, "python": str, "profile": str, "max_examples": int,
    "stateful_step_count": int, "seed": AnyOf((int, str, type(None))), "command": str,
})

#: A design's footprint: any figures, those the summary prints as counts being integers.
FOOTPRINT = Record(optional={"resident_bytes": int, "callsites": int, "saved_bytes": int})

#: ``dyndiet.report/1``: one entry per design, one per property, a counterexample per failure.
REPORT_V1 = Record(required={
    "schema": Const("dyndiet.report/1"),
    "tool": TOOL,
    "designs": ListOf(Record(
        required={
            "name": str, "source": str, "era": str, "abi": str, "corpus": Optional(str),
            "footprint": FOOTPRINT,
            "properties": ListOf(Record(
                required={"name": str, "kind": str, "claim": str,
                          "status": Enum(("passed", "failed", "error")),
                          "test_cases": int, "seconds": float},
                optional={"error": str, "counterexample": Record(
                    required={"message": str, "error_type": str, "step_count": int},
                    optional={"steps": list, "calls": ListOf(str), "evidence": ListOf(str),
                              "reproducer": str})},
                when={("status", "error"): ("error",)})),
        })),
}, optional={"interrupted": ListOf(str)})

register_schema("dyndiet.report/1", REPORT_V1)

#: A finding of ``dyndiet.report/2`` (dyndiet/report.py ``_finding_json``).
FINDING = Record(
    required={"id": str, "headline": str,
              "severity": Enum(("oops", "bug", "hang", "splat", "difference", "footprint")),
              "properties": ListOf(str), "message": str, "error_type": str,
              "difference": Optional(Record(required={"observation": str, "baseline": object,
                                                      "design": object})),
              "evidence": ListOf(str), "steps": ListOf(str), "step_count": int,
              "replay": str, "reproducer": str, "kernel_script": str},
    optional={"site": str, "shrunk_steps": int, "calls": ListOf(str), "step_args": list,
              "reproducer_path": str, "kernel_script_path": str})

#: ``dyndiet.report/2``: per design its properties (each naming its finding) and findings.
REPORT_V2 = Record(required={
    "schema": Const("dyndiet.report/2"),
    "tool": TOOL,
    "designs": ListOf(Record(
        required={
            "name": str, "source": str, "era": str, "abi": str, "corpus": Optional(str),
            "verdict": Enum(("passed", "failed", "error")),
            "footprint": FOOTPRINT,
            "properties": ListOf(Record(
                required={"name": str, "kind": str, "claim": str,
                          "status": Enum(("passed", "failed", "error")),
                          "test_cases": int, "seconds": float, "finding": Optional(str)},
                optional={"error": str, "explored_with": Optional(str),
                          "rule_counts": MapOf(int)},
                when={("status", "error"): ("error",)})),
            "findings": ListOf(FINDING),
        })),
}, optional={"interrupted": ListOf(str)})

register_schema("dyndiet.report/2", REPORT_V2)
