"""The named properties of dynamic-debug designs, registered in the catalogue.

Each is the differential machine of :mod:`properties.dyndbg_machine` with one
:class:`~properties.dyndbg_machine.Check`.  ``applies`` skips a property where it means nothing:
the footprint claim on a design that claims no saving, and the pool's rules on a design without
a pool still run (they must stay quiet there, which the tests show).
"""

from __future__ import annotations

from collections.abc import Callable

from properties.catalogue import DesignRef, Kind, Property, Target, register, register_group
from properties.dyndbg_machine import Check, DyndbgMachine, dyndbg_machine, group_check

CLAIMS: dict[str, tuple[Kind, str]] = {
    "control-file": ("equivalence", "Reading the control file shows, line for line, what the "
                     "section baseline shows."),
    "query-results": ("equivalence", "Every control-file write and boot-time query returns what "
                      "it returns on the baseline (matches, errors, log lines)."),
    "print-decisions": ("equivalence", "Every pr_debug hit, in any context on any CPU, prints "
                        "(or not) the same message with the same prefix as on the baseline."),
    "callsite-metadata": ("equivalence", "Each callsite's module, function, file, format, line, "
                          "class and flags, read through get/put, are the baseline's."),
    "no-sleep-while-mapped": ("kernel-rules", "Nothing sleeps in atomic context, in particular "
                              "with a pool object mapped (no 'BUG: sleeping function called "
                              "from invalid context')."),
    "one-mapping-per-cpu": ("kernel-rules", "At most one zs_map_object mapping per CPU at a "
                            "time, and never the same handle twice."),
    "no-map-in-interrupt": ("kernel-rules", "The pool is never mapped where the era's "
                            "zs_map_object forbids it (BUG_ON(in_interrupt()) up to 6.14)."),
    "no-bad-handle": ("kernel-rules", "Only live handles the pool returned reach zsmalloc (no "
                      "foreign value, no double free)."),
    "no-oops": ("kernel-rules", "No load or store through a pointer to unmapped or freed memory "
                "(a reclaimed section, an unloaded module)."),
    "no-other-bug": ("kernel-rules", "No other BUG or fatal WARN of the model kernel (an unmap "
                     "of what is not mapped, an unbalanced preempt count)."),
    "saves-what-it-claims": ("footprint", "After late init the design keeps fewer resident "
                             "bytes than the design it claims to beat, by the layout engine and "
                             "the pool model."),
}


def _machine(check: Check) -> Callable[[DesignRef, Target], type[DyndbgMachine]]:
    def build(design: DesignRef, target: Target) -> type[DyndbgMachine]:
        return dyndbg_machine(design, target, check)
    return build


def _claims_saving(design: DesignRef) -> bool:
    return getattr(design.factory, "saves_against", None) is not None


def _group(design: DesignRef, target: Target, members: frozenset[str]) -> type[DyndbgMachine]:
    return dyndbg_machine(design, target, group_check(members))


#: The equivalence and kernel-rules properties, explored together (``Check("all")``), again
#: without the ones a failure broke, until the rest pass.
GROUP = "dyndbg"
register_group(GROUP, _group)

PROPERTIES: dict[str, Property] = {}
for _name, (_kind, _claim) in CLAIMS.items():
    PROPERTIES[_name] = register(Property(
        _name, _kind, _claim, _machine(Check(_kind, _name)),
        applies=_claims_saving if _kind == "footprint" else (lambda d: True),
        group=None if _kind == "footprint" else GROUP))
