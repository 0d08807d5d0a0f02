"""The reply to a posted patch: findings of ``dyndiet check --patch``, fit to paste.

The JSON document (``dyndiet.patch-report/1``) holds a header block like the kernel test
robot's (the patches' subjects, the base and where its sources came from, the config, the tool
versions, the command that reproduces it), one finding per distinct failure, most severe first
(an oops or ``BUG`` first, then splats, then differences from the unpatched kernel), and the
footprint.  Each finding has the shape of the ``dyndiet.report/2`` findings: ``id``,
``headline``, ``severity``, ``properties``, ``message``, ``site``, ``difference`` (the
observation, the unpatched and the patched kernel's), ``evidence``, ``steps`` as kernel actions,
``step_count``, the kernel-side script and the pytest reproducer.  The text form stays within
72 columns.
"""

from __future__ import annotations

import json
import platform
import shlex
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hypothesis

from dyndiet import __version__
from dyndiet.kernel_actions import kernel_action, kernel_script
from dyndiet.report import output_dir, write_renderings
from dyndiet.textfmt import WIDTH, diff, wrap
from properties.patch_check import CheckResult, PatchCheck

SCHEMA = "dyndiet.patch-report/1"
#: Severity order: what a reviewer reads first.
SEVERITIES: tuple[str, ...] = ("oops", "bug", "hang", "splat", "difference", "footprint")


def severity(r: CheckResult) -> str:
    if r.what:
        return "difference"
    t = r.error_type
    if t in ("KernelOops", "BadAccess", "KernelDied"):
        return "oops"
    if t == "KernelHang":
        return "hang"
    if t in ("SleepingInInvalidContext", "KernelSplat"):
        return "splat"
    return "bug"


def _gcc_version() -> str:
    try:
        out = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True,
                             timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out or "?"


def _reproducer(check: str, r: CheckResult, patch_paths: Sequence[str], kernel: str | None,
                tree: str | None) -> str:
    steps = ",\n".join(f"        ({s.rule!r}, {dict(s.args)!r})" for s in r.steps)
    src = f"user_tree({tree!r})" if tree else f"packaged({kernel!r})"
    return textwrap.dedent(f'''\
        """Reproducer written by dyndiet {__version__}: the patched kernel, built again from
        the patch files, replays the shrunk run and fails the way the report says:
        {r.error_type}: {r.message.splitlines()[0] if r.message else ''}

        Run: python -m pytest THIS_FILE
        """

        from __future__ import annotations

        from kernel.patching import read_series
        from kernel.sources import packaged, user_tree
        from model.dyndbg.callsite import CallsiteSpec, ClassMapSpec, ModuleSpec  # noqa: F401
        from properties.patch_check import replay

        PATCHES = {list(patch_paths)!r}


        def test_counterexample() -> None:
            source = {src}
            patches = tuple(p for path in PATCHES for p in read_series(path))
            replay(source, patches, {check!r}, [
        {steps},
            ])
        ''')


def build_document(result: PatchCheck, *, command: Sequence[str], patch_paths: Sequence[str],
                   kernel: str | None, tree: str | None, budget: dict[str, Any]
                   ) -> dict[str, Any]:
    """The report document of one patch check."""
    findings: list[dict[str, Any]] = []
    for r in sorted((r for r in result.results if r.status == "failed"),
                    key=lambda r: SEVERITIES.index(severity(r))):
        acts = dict(r.actions)
        steps = [acts.get(i, kernel_action(s)) for i, s in enumerate(r.steps)]
        headline = r.message.splitlines()[0] if r.message else r.error_type
        findings.append({
            "id": f"F{len(findings) + 1}",
            "headline": headline,
            "severity": severity(r),
            "properties": [r.check],
            "message": r.message,
            "site": r.site,
            "difference": ({"observation": r.what, "baseline": r.base, "design": r.patched,
                            "baseline_name": r.base_name} if r.what else None),
            "evidence": list(r.evidence),
            "steps": steps,
            "step_count": len(steps),
            "kernel_script": kernel_script(r.steps),
            "reproducer": _reproducer(r.check, r, patch_paths, kernel, tree),
        })
    fp = result.footprint
    return {
        "schema": SCHEMA,
        "header": {
            "patches": [p.subject for p in result.patches],
            "authors": sorted({p.author for p in result.patches if p.author}),
            "base": result.source.label,
            "config": (f"x86_64, CONFIG_DYNAMIC_DEBUG=y, CONFIG_JUMP_LABEL=y and =n, "
                       f"CONFIG_ZSMALLOC=y; model era {result.era}"),
            "versions": (f"dyndiet {__version__}, hypothesis {hypothesis.__version__}, "
                         f"gcc {_gcc_version()}, python {platform.python_version()}"),
            "budget": budget,
            "command": shlex.join(command),
            "build_seconds": round(result.build_seconds, 1),
            "first_verdict_seconds": round(result.first_verdict_seconds, 1),
        },
        "checks": [{"check": r.check, "status": r.status, "test_cases": r.test_cases,
                    "steps": r.steps_run, "seconds": round(r.seconds, 1),
                    "finding": next((f["id"] for f in findings
                                     if r.check in f["properties"]), None),
                    **({"error": r.message} if r.status == "error" else {})}
                   for r in result.results],
        "findings": findings,
        "footprint": None if fp is None else {
            "callsites": fp.callsites,
            "sizeof_struct__ddebug": [fp.sizeof_before, fp.sizeof_after],
            "slab_bytes": [fp.slab_bytes_before, fp.slab_bytes_after],
            "pool_pages": [0, fp.pool_pages_after],
            "resident_bytes": [fp.resident_before, fp.resident_after],
        },
    }


# --- text --------------------------------------------------------------------------------------

def render_text(doc: dict[str, Any]) -> str:
    """The reply, at most 72 columns a line."""
    h = doc["header"]
    n = len(doc["findings"])
    lines: list[str] = []
    subject = h["patches"][0] if len(h["patches"]) == 1 else f"{len(h['patches'])} patches"
    verdict = f"{n} finding{'s' if n != 1 else ''}" if n else "no findings"
    lines += wrap(f"dyndiet: {subject}: {verdict}")
    lines.append("")
    lines += wrap("dyndiet built the patched lib/dynamic_debug.c (with the real "
                   "mm/zsmalloc.c) in user space and fuzzed it against the same kernel "
                   "without the patch, under the kernel's rules.", sub="")
    lines.append("")
    for i, s in enumerate(h["patches"]):
        lines += wrap(f"{'patches:' if i == 0 else '':<11}{s}", sub=" " * 13)
    for key in ("base", "config", "versions"):
        lines += wrap(f"{key + ':':<11}{h[key]}", sub=" " * 11)
    b = h["budget"]
    lines += wrap(f"{'budget:':<11}{b['max_examples']} test cases of up to {b['steps']} "
                   f"steps per check, seed {b['seed']}", sub=" " * 11)
    lines += wrap(f"{'reproduce:':<11}{h['command']}", sub=" " * 11)
    lines.append("")
    for c in doc["checks"]:
        status = c["status"] + (f" ({c['finding']})" if c.get("finding") else "")
        lines.append(f"  {c['check']:<16}{status:<14}{c['test_cases']:>6} cases "
                     f"{c['steps']:>7} steps {c['seconds']:>6.1f}s")
        if c.get("error"):
            lines += wrap(f"error: {c['error']}", "    ", "      ")
    for f in doc["findings"]:
        lines.append("")
        lines += wrap(f"[{f['id']}] {f['headline']}", sub="     ")
        if f["site"] and f["site"] not in f["headline"]:
            lines += wrap(f"at {f['site']}", "     ")
        lines.append(f"     severity: {f['severity']}; check: {', '.join(f['properties'])}")
        d = f["difference"]
        if d:
            lines.append("")
            lines += wrap(f"what differs ({d['observation']}):", "  ")
            for ln in diff(d["baseline"], d["design"], d.get("baseline_name", "unpatched"),
                           "patched"):
                lines += wrap(ln, "    ", "      ")
        lines.append("")
        lines.append(f"  minimal steps ({f['step_count']}):")
        for i, s in enumerate(f["steps"], 1):
            lines += wrap(f"{i}. {s}", "    ", "       ")
        if f["evidence"]:
            lines.append("")
            lines.append("  what the kernel printed, and the bytes involved:")
            for e in f["evidence"][-12:]:
                lines += wrap(e, "    ", "      ")
        lines.append("")
        lines.append("  on a real kernel with the patch applied:")
        for ln in f["kernel_script"].splitlines()[1:]:
            lines += wrap(ln, "    ", "      ")
    fp = doc.get("footprint")
    if fp:
        lines.append("")
        lines.append(f"footprint (x86_64, {fp['callsites']} builtin callsites booted, after "
                     "late init):")
        rows = [("sizeof(struct _ddebug)", *fp["sizeof_struct__ddebug"]),
                ("slab bytes", *fp["slab_bytes"]), ("zsmalloc pages", *fp["pool_pages"]),
                ("resident bytes", *fp["resident_bytes"])]
        lines.append(f"  {'':<24}{'unpatched':>12}{'patched':>12}{'per callsite':>14}")
        for name, a, bb in rows:
            per = (bb - a) / fp["callsites"] if name == "resident bytes" else None
            extra = f"{per:>+14.1f}" if per is not None else ""
            lines.append(f"  {name:<24}{a:>12,}{bb:>12,}{extra}")
    return "\n".join(ln[:WIDTH] if len(ln) > WIDTH else ln for ln in lines) + "\n"


def render_markdown(doc: dict[str, Any]) -> str:
    """The same reply for a web page: the text form in a code block, findings as sections."""
    return "```\n" + render_text(doc) + "```\n"


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(doc)
    return render_text(doc)


def write_outputs(doc: dict[str, Any], outdir: str | Path) -> list[Path]:
    """``report.{json,txt,md}``, and per finding a pytest reproducer and a kernel script."""
    out = output_dir(outdir)
    written = []
    for f in doc["findings"]:
        repro = out / f"test_repro_{f['id']}.py"
        repro.write_text(f["reproducer"])
        script = out / f"reproduce_{f['id']}.sh"
        script.write_text(f["kernel_script"])
        f["reproducer_path"], f["kernel_script_path"] = repro.name, script.name
        written += [repro, script]
    return written + write_renderings(doc, out, render)
