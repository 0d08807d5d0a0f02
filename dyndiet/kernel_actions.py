"""Steps as kernel actions: what a shrunk run did, said the way a kernel developer says it.

:func:`kernel_action` renders one :class:`~properties.tracing.Step` of the dynamic-debug
machines (the design machine, the fidelity machine, the patch machine) as a kernel action
(``insmod bar.ko dyndbg=+p``, ``echo 'module foo +p' > /proc/dynamic_debug/control``,
``pr_debug at foo:a.c:1 in hardirq on CPU1``); :func:`kernel_script` turns the steps a real
kernel can replay into a shell script a reviewer runs on a patched kernel.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from model.context import gfp_name
from model.dyndbg.callsite import ModuleSpec
from properties.fidelity_dyndbg import cmdline
from properties.tracing import Step

CONTROL = "/proc/dynamic_debug/control"

#: Rules whose action does not depend on their arguments.
_FIXED: dict[str, str] = {
    "late_init": "late_initcall",
    "control_read": f"cat {CONTROL}",
    "insmod_corpus": "insmod a module of the corpus",
    "compact": "the pool's shrinker runs (zs_compact)",
    "create": 'zs_create_pool("dyndiet")',
    "free": "zs_free(pool, handle)",
    "read": "the object read back (zs_map_object RO, copy, zs_unmap_object)",
    "migrate": "the page of the object migrated (isolate, migrate, put back)",
    "fail_alloc": "the next zsmalloc allocation fails",
}


#: A format longer than this is cut in a step (the reproducer has it whole).
FORMAT_SHOWN = 40


def _format(fmt: str) -> str:
    return repr(fmt) if len(fmt) <= FORMAT_SHOWN else repr(fmt[:FORMAT_SHOWN]) + "..."


def _sites(mod: ModuleSpec) -> str:
    n = len(mod.callsites)
    first = mod.callsites[0] if mod.callsites else None
    what = f"{n} callsite{'s' if n != 1 else ''}"
    if first is not None:
        what += f": {first.filename}:{first.lineno} {first.function} {_format(first.format)}"
        if n > 1:
            what += ", ..."
    return f"{mod.name} ({what})"


#: A boot with more built-in tables than this is summed up (the reproducer has them all).
BOOT_DETAIL = 2


def _tables(mods: Sequence[ModuleSpec]) -> str:
    """Many built-in tables in a few words: how many, and the first names with their sizes."""
    total = sum(len(m.callsites) for m in mods)
    named = ", ".join(f"{m.name} {len(m.callsites)}" for m in mods[:BOOT_DETAIL + 1])
    return (f"{len(mods)} built-in tables, {total} callsites ({named}, and "
            f"{len(mods) - BOOT_DETAIL - 1} more)")


def kernel_action(step: Step, resolved: str | None = None) -> str:
    """One step as a kernel action (``resolved``: what the machine said the step did, when its
    arguments do not say it: which module ``rmmod`` picked, which callsite a hit ran)."""
    if resolved:
        return resolved
    a: dict[str, Any] = dict(step.args)
    r = step.rule
    if r in _FIXED:
        return _FIXED[r]
    if r == "boot":
        mods = a.get("builtin", ())
        text = "boot: vmlinux with " + (_tables(mods) if len(mods) > BOOT_DETAIL else
                                        "; ".join(_sites(m) for m in mods) or "no callsites")
        if a.get("params"):
            text += f"; command line: {cmdline(a['params'])}"
        if "jump_label" in a:
            text += f" (CONFIG_JUMP_LABEL={'y' if a['jump_label'] else 'n'})"
        return text
    if r == "boot_query":
        return f"dyndbg=\"{a['text']}\" on the kernel command line"
    if r in ("control_write", "exec_queries"):
        return f"echo -n {shlex.quote(a['text'])} > {CONTROL}"
    if r == "insmod":
        mod: ModuleSpec = a["module"]
        param = a.get("param")
        return f"insmod {mod.name}.ko" + (f" dyndbg={shlex.quote(param)}" if param else "") \
            + f"  # {_sites(mod)}"
    if r == "insmod_many":
        mods = a["modules"]
        return (f"insmod of {len(mods)} modules, {sum(len(m.callsites) for m in mods)} "
                f"callsites ({', '.join(m.name for m in mods[:BOOT_DETAIL + 1])}"
                + (", ..." if len(mods) > BOOT_DETAIL + 1 else "") + ")")
    if r == "rmmod":
        return f"rmmod (loaded module #{a['which']} in name order)"
    if r == "hit":
        context, cpu = a["where"]
        return f"pr_debug (callsite #{a['which']}) in {context} context on CPU{cpu}"
    if r == "inspect":
        return f"read callsite #{a['which']}'s metadata"
    if r == "malloc":
        return f"zs_malloc(pool, {a['size']}, {gfp_name(a['gfp'])}), then the object written"
    inner = ", ".join(f"{k}={v!r}" for k, v in step.args)
    return f"{r}({inner})"


def kernel_script(steps: Sequence[Step], actions: Mapping[int, str] | None = None) -> str:
    """A shell script replaying what a real kernel can replay: the command line to boot with,
    then module loads, control writes and reads; steps only the harness can make happen (a hit
    in hardirq context, a failed allocation) are left as comments."""
    lines = ["#!/bin/sh", "# Written by dyndiet: run as root on the patched kernel.", "set -x"]
    resolved = dict(actions or {})
    for n, step in enumerate(steps):
        a: dict[str, Any] = dict(step.args)
        if step.rule == "boot":
            mods = ", ".join(m.name for m in a.get("builtin", ()))
            lines.append(f"# boot the patched kernel (built-in callsites of: {mods})")
            if a.get("params"):
                lines.append(f"# with on its command line: {cmdline(a['params'])}")
        elif step.rule in ("control_write", "control_read", "late_init"):
            if step.rule == "late_init":
                lines.append("# (late_initcall has run once the system is up)")
            elif step.rule == "control_read":
                lines.append(f"cat {CONTROL}")
            else:
                lines.append(f"echo -n {shlex.quote(a['text'])} > {CONTROL}")
        elif step.rule == "insmod":
            mod: ModuleSpec = a["module"]
            param = a.get("param")
            lines.append(f"modprobe {mod.name}" + (f" dyndbg={shlex.quote(param)}"
                                                   if param else ""))
        elif step.rule == "insmod_many":
            lines += [f"modprobe {m.name}" for m in a["modules"]]
        elif step.rule == "rmmod":
            done = resolved.get(n)
            lines.append(done if done else f"# rmmod the loaded module #{a['which']} in name "
                         "order")
        else:
            lines.append(f"# {kernel_action(step, resolved.get(n))}")
    return "\n".join(lines) + "\n"
