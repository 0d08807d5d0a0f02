"""Design reports: one JSON document (``dyndiet.report/2``), rendered as plain text fit to paste
into a mail reply (at most 72 columns, in the manner of the kernel test robot and syzbot), or as
Markdown.  ``dyndiet report FILE.json`` renders a saved document again (``/1`` documents too).

The text reads top-down: a summary (one line per design: which property each finding breaks),
the footprints, then each design's findings (:mod:`dyndiet.findings`), the most severe first,
each with what the kernel prints or what differs from the baseline, where a bad value came from,
and the steps as kernel actions.
"""

from __future__ import annotations

import json
import platform
import shlex
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import hypothesis

from dyndiet import __version__
from dyndiet.findings import Finding, findings_of, first_difference
from dyndiet.kernel_actions import kernel_action, kernel_script
from dyndiet.reproducer import reproducer_source
from dyndiet.textfmt import WIDTH, clip, diff, table, wrap
from model.errors import InputError
from properties.catalogue import DesignRef, Target, get_property
from properties.runner import PropertyResult

SCHEMA = "dyndiet.report/2"
#: Schemas ``dyndiet report`` reads.
SCHEMAS: tuple[str, ...] = ("dyndiet.report/1", SCHEMA)


@attrs.frozen
class DesignRun:
    """Every property's result on one design and target, with the design's footprint."""

    design: DesignRef
    target: Target
    results: tuple[PropertyResult, ...]
    footprint: dict[str, Any] = attrs.field(factory=dict)


def tool_info(*, command: Sequence[str], profile: str, max_examples: int, steps: int,
              seed: int | str | None) -> dict[str, Any]:
    return {
        "dyndiet": __version__,
        "hypothesis": hypothesis.__version__,
        "python": platform.python_version(),
        "profile": profile,
        "max_examples": max_examples,
        "stateful_step_count": steps,
        "seed": seed,
        "command": shlex.join(command),
    }


def design_source(design: DesignRef) -> str:
    """``built-in`` or the design file's absolute path (a reproducer works from anywhere)."""
    return design.source if design.source == "built-in" else str(Path(design.source).resolve())


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def replay_command(run: DesignRun, prop: str, tool: dict[str, Any]) -> str:
    """The ``dyndiet check`` command that finds the finding again, on its own."""
    design = run.design.name if run.design.source == "built-in" else design_source(run.design)
    cmd = ["dyndiet", "check", design, "--property", prop]
    for option, value, default in (("--era", run.target.era, "v6.1"),
                                   ("--abi", run.target.abi, "x86_64"),
                                   ("--max-examples", str(tool["max_examples"]), "100"),
                                   ("--steps", str(tool["stateful_step_count"]), "30")):
        if value != default:  # the defaults of check, left out of a line meant to be pasted
            cmd += [option, value]
    if tool.get("seed") is not None:
        cmd += ["--seed", str(tool["seed"])]
    if tool.get("profile") not in (None, "ci"):
        cmd += ["--profile", str(tool["profile"])]
    if run.target.corpus:
        cmd += ["--corpus", run.target.corpus]
    return shlex.join(cmd)


def _finding_json(f: Finding, run: DesignRun, tool: dict[str, Any]) -> dict[str, Any]:
    cx = f.counterexample
    actions = dict(cx.actions)
    prop = get_property(f.shown)
    d = cx.difference
    return {
        "id": f.id,
        "headline": f.headline,
        "severity": f.severity,
        "properties": list(f.properties),
        "message": cx.message,
        "error_type": cx.error_type,
        "site": cx.site,
        "difference": None if d is None else {
            "observation": d.observation, "baseline": _plain(d.baseline),
            "design": _plain(d.design)},
        "evidence": list(cx.evidence),
        "steps": [kernel_action(s, actions.get(n)) for n, s in enumerate(cx.steps)],
        "step_count": cx.step_count,
        "shrunk_steps": cx.shrunk_steps,
        "calls": [s.call_text() for s in cx.steps],
        "step_args": [s.as_json() for s in cx.steps],
        "replay": replay_command(run, f.shown, tool),
        "reproducer": reproducer_source(
            property_name=f.shown, property_module=prop.machine.__module__,
            design=run.design.name, design_source=design_source(run.design),
            era=run.target.era, abi=run.target.abi, corpus=run.target.corpus,
            steps=cx.steps, message=cx.message, error_type=cx.error_type),
        "kernel_script": kernel_script(cx.steps, actions),
    }


def _property_json(r: PropertyResult, finding: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.property, "kind": r.kind, "claim": r.claim, "status": r.status,
        "test_cases": r.test_cases, "seconds": round(r.seconds, 3),
        "explored_with": r.explored_with, "finding": finding.get(r.property),
        "rule_counts": dict(r.rule_counts),
    }
    if r.error is not None:
        out["error"] = r.error
    return out


def design_json(run: DesignRun, tool: dict[str, Any]) -> dict[str, Any]:
    """One design's part of the document."""
    found = findings_of(run.results)
    owner = {p: f.id for f in found for p in f.properties}
    statuses = {r.status for r in run.results}
    verdict = "error" if "error" in statuses else "failed" if found else "passed"
    return {
        "name": run.design.name, "source": design_source(run.design),
        "era": run.target.era, "abi": run.target.abi, "corpus": run.target.corpus,
        "verdict": verdict, "footprint": run.footprint,
        "properties": [_property_json(r, owner) for r in run.results],
        "findings": [_finding_json(f, run, tool) for f in found],
    }


def build_document(runs: Iterable[DesignRun], tool: dict[str, Any],
                   interrupted: Sequence[str] = ()) -> dict[str, Any]:
    """The ``dyndiet.report/2`` document (``interrupted``: designs never finished)."""
    doc: dict[str, Any] = {"schema": SCHEMA, "tool": tool,
                           "designs": [design_json(run, tool) for run in runs]}
    if interrupted:
        doc["interrupted"] = list(interrupted)
    return doc


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """A ``/1`` document in the ``/2`` form: each failed property its own finding."""
    if doc.get("schema") == SCHEMA:
        return doc
    designs = []
    for d in doc["designs"]:
        findings: list[dict[str, Any]] = []
        props: list[dict[str, Any]] = []
        for p in d["properties"]:
            cx = p.get("counterexample")
            fid = None
            if cx:
                fid = f"F{len(findings) + 1}"
                findings.append({
                    "id": fid, "headline": cx["message"], "severity": "bug",
                    "properties": [p["name"]], "message": cx["message"],
                    "error_type": cx["error_type"], "site": "", "difference": None,
                    "evidence": cx.get("evidence", []), "steps": cx.get("calls", []),
                    "step_count": cx["step_count"], "calls": cx.get("calls", []),
                    "replay": doc["tool"]["command"], "reproducer": cx.get("reproducer", ""),
                    "kernel_script": ""})
            props.append({**p, "finding": fid, "explored_with": None, "rule_counts": {}})
        statuses = {p["status"] for p in d["properties"]}
        designs.append({**d, "properties": props, "findings": findings,
                        "verdict": "error" if "error" in statuses
                        else "failed" if findings else "passed"})
    return {**doc, "schema": SCHEMA, "designs": designs}


def load_document(path: str | Path) -> dict[str, Any]:
    """A saved report (``/1`` or ``/2``), checked for its schema; :class:`InputError` if it is
    not one."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(p)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not JSON: {exc}", path=str(p), line=line) from None
    if not isinstance(doc, dict) or doc.get("schema") not in SCHEMAS:
        raise InputError(f"not a {' or '.join(SCHEMAS)} document", path=str(p))
    return doc


def exit_status(doc: dict[str, Any]) -> int:
    """0 when every property held, 1 when a counterexample was found, 2 when a design had an
    error and nothing was found."""
    doc = upgrade(doc)
    if any(d["findings"] for d in doc["designs"]):
        return 1
    if any(d["verdict"] == "error" for d in doc["designs"]):
        return 2
    return 0


# ---- text -----------------------------------------------------------------------------------

def abbreviations(names: Sequence[str]) -> list[str]:
    """Two-letter column heads, distinct: initials of the words (``no-`` dropped), else the
    first and a later letter of the name."""
    out: list[str] = []
    for name in names:
        words = [w for w in name.split("-") if w != "no"] or [name]
        tries = [words[0][0] + (words[1][0] if len(words) > 1 else words[0][1:2])]
        tries += [words[0][0] + c for c in name.replace("-", "")[1:]]
        tries += [f"{name[0]}{n}" for n in range(10)]
        out.append(next(t for t in tries if t not in out))
    return out


def _summary(doc: dict[str, Any]) -> list[str]:
    tool = doc["tool"]
    designs = doc["designs"]
    names: list[str] = []
    for d in designs:
        for p in d["properties"]:
            if p["name"] not in names:
                names.append(p["name"])
    n_found = sum(len(d["findings"]) for d in designs)
    bad = [d for d in designs if d["findings"]]
    first = designs[0] if designs else {"era": "?", "abi": "?"}
    words = str(tool.get("command", "")).split()
    verb = words[1] if len(words) > 1 and words[0] == "dyndiet" else "check"
    lines = wrap(f"dyndiet {verb}: {len(designs)} design{'s' if len(designs) != 1 else ''} "
                 f"({first['era']}, {first['abi']}): "
                 + (f"{n_found} finding{'s' if n_found != 1 else ''} in {len(bad)}"
                    if n_found else "no findings"), sub="  ")
    seed = tool.get("seed")
    lines += wrap(f"profile {tool['profile']}, {tool['max_examples']} test cases of up to "
                  f"{tool['stateful_step_count']} steps per property, seed "
                  f"{seed if seed is not None else 'derandomized'}; dyndiet {tool['dyndiet']}, "
                  f"hypothesis {tool['hypothesis']}", sub="  ")
    lines += wrap(f"reproduce: {tool['command']}", sub="  ")
    if doc.get("interrupted"):
        lines += wrap(f"interrupted before: {', '.join(doc['interrupted'])}", sub="  ")
    lines.append("")
    cols = abbreviations(names)
    width = max([len(d["name"]) for d in designs] + [6])
    fps = {d["name"]: d["footprint"] for d in designs
           if d.get("footprint") and "resident_bytes" in d["footprint"]}
    sites = {fp.get("callsites", 0) for fp in fps.values()}
    saved = {n: f"{fp.get('saved_bytes', 0):+,}" for n, fp in fps.items()}
    # the footprint as the matrix's last column when it fits (one size of kernel for all)
    inline = bool(fps) and len(sites) == 1 and (
        width + 2 + 4 * len(cols) + max(len(v) for v in saved.values()) <= WIDTH)
    head = f"{'design':<{width}}  " + " ".join(f"{c:<3}" for c in cols)
    num = max((len(v) for v in saved.values()), default=0)
    lines.append((head + (f" {'saved':>{num}}" if inline else "")).rstrip())
    for d in designs:
        by = {p["name"]: p for p in d["properties"]}
        cells = []
        for n in names:
            p = by.get(n)
            cells.append("-" if p is None else p["finding"] or
                         ("E" if p["status"] == "error" else "."))
        row = f"{d['name']:<{width}}  " + " ".join(f"{c:<3}" for c in cells)
        if inline:
            row += f" {saved.get(d['name'], ''):>{num}}"
        lines.append(row.rstrip()[:WIDTH])
    legend = ", ".join(f"{c} {n}" for c, n in zip(cols, names, strict=True))
    if inline:
        legend += (f"; saved: resident bytes saved against section after late init, "
                   f"{next(iter(sites)):,} callsites")
    lines += wrap(f"(. holds, Fn finding n, E error of the design, - does not apply; "
                  f"{legend})", sub=" ")
    if fps and not inline:
        lines.append("")
        lines.append("resident after late init (x86_64 bytes unless said otherwise):")
        rows = [["design", "callsites", "resident", "saved vs section"]]
        rows += [[n, f"{fp.get('callsites', 0):,}", f"{fp['resident_bytes']:,}",
                  saved[n]] for n, fp in fps.items()]
        lines += table(rows, "  ")
    files = next((f for d in designs for f in d["findings"] if f.get("reproducer_path")),
                 None)
    if files is not None:
        shown = ", ".join(n.replace(f"_{files['id']}_", "_F<n>_")
                          .replace(_slug(_design_of(doc, files)), "<design>")
                          for n in (files["reproducer_path"], files.get("kernel_script_path"))
                          if n)
        lines += ["", *wrap(f"files of a finding: {shown}", sub="  ")]
    return lines


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v!r}" for k, v in value.items()) + "\n"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(repr(v) for v in value) + ")"
    return repr(value)


def _finding_text(d: dict[str, Any], f: dict[str, Any], before: str | None = None
                  ) -> list[str]:
    """One finding.  ``before`` names the finding of another design that showed the same
    kernel message in full: this one is then its headline, its properties, its step count and
    its replay command (the steps are in its reproducer, the JSON, and a check of the design
    alone)."""
    diffd = f.get("difference")
    if before is not None and not diffd:
        short = f["headline"].split(" (", 1)[0]
        return ["", *wrap(f"[{f['id']}] {f['severity']}: {short} (as {before})", sub="     "),
                *wrap(f"breaks: {', '.join(f['properties'])}; {f['step_count']} steps: "
                      f"{f['replay']}", "     ", "       ")]
    lines = [""]
    lines += wrap(f"[{f['id']}] {f['severity']}: {f['headline']}", sub="     ")
    lines += wrap(f"breaks: {', '.join(f['properties'])}", "     ", "       ")
    if diffd:
        lines.append(f"  what differs from the baseline ({diffd['observation']}):")
        for ln in diff(_show(diffd["baseline"]), _show(diffd["design"]), "section",
                       d["name"], limit=10):
            lines += wrap(ln, "    ", "      ")
    else:
        if f["message"] != f["headline"]:
            lines.append("  the kernel prints:")
            lines += wrap(f["message"], "    ", "      ")
        if f.get("site") and f["site"] not in f["message"]:
            lines += wrap(f"at {f['site']}", "     ", "       ")
    if f["evidence"]:
        lines.append("  evidence:")
        for e in f["evidence"][:8]:
            lines += wrap(e, "    ", "      ")
    shrunk = f.get("shrunk_steps")
    more = f", {shrunk} before normalising" if shrunk and shrunk != f["step_count"] else ""
    lines.append(f"  steps ({f['step_count']}{more}):")
    for i, s in enumerate(f["steps"], 1):
        lines += wrap(f"{i}. {s}", "    ", "       ")
    lines += wrap(f"replay: {f['replay']}", "  ", "    ")
    return lines


def _design_of(doc: dict[str, Any], f: dict[str, Any]) -> str:
    return str(next(d["name"] for d in doc["designs"]
                    if any(g is f for g in d["findings"])))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def render_text(doc: dict[str, Any]) -> str:
    """Plain text, at most 72 columns a line, fit to paste into a mail reply."""
    doc = upgrade(doc)
    lines = _summary(doc)
    shown: dict[str, str] = {}  # a kernel message's first finding in the report
    for d in doc["designs"]:
        errors = [p for p in d["properties"] if p["status"] == "error"]
        if not d["findings"] and not errors:
            continue
        lines.append("")
        lines.append("-" * WIDTH)
        n = len(d["findings"])
        lines += wrap(f"{d['name']} ({d['source']}): {n} finding{'s' if n != 1 else ''}"
                      + (f", {len(errors)} error{'s' if len(errors) != 1 else ''}"
                         if errors else ""), sub="  ")
        seen: set[str] = set()
        for p in errors:
            if p["error"] in seen:
                continue
            seen.add(p["error"])
            same = [q["name"] for q in errors if q["error"] == p["error"]]
            lines.append("")
            lines += wrap(f"[E] error of the design ({', '.join(same)}):", sub="     ")
            lines += wrap(p["error"], "    ", "      ")
        for f in d["findings"]:
            key = f["headline"]
            lines += _finding_text(d, f, shown.get(key))
            shown.setdefault(key, f"{d['name']} {f['id']}")
    return clip(lines)


# ---- markdown -------------------------------------------------------------------------------

def render_markdown(doc: dict[str, Any]) -> str:
    """The same report for a web page or an issue tracker."""
    doc = upgrade(doc)
    tool = doc["tool"]
    out: list[str] = [f"Reproduce: `{tool['command']}` (profile {tool['profile']}, "
                      f"{tool['max_examples']} test cases, dyndiet {tool['dyndiet']}, "
                      f"hypothesis {tool['hypothesis']})\n"]
    for d in doc["designs"]:
        out.append(f"## `{d['name']}`: {d['verdict']}\n")
        out.append("| property | kind | verdict | test cases |")
        out.append("|---|---|---|---|")
        for p in d["properties"]:
            verdict = p["finding"] or p["status"]
            shared = " (explored together)" if p.get("explored_with") else ""
            out.append(f"| {p['name']} | {p['kind']} | **{verdict}** | "
                       f"{p['test_cases']}{shared} |")
        for p in d["properties"]:
            if p["status"] == "error":
                out.append(f"\nError of the design in {p['name']}: `{p['error']}`")
        for f in d["findings"]:
            out.append(f"\n### {f['id']} ({f['severity']}): {f['headline']}\n")
            out.append(f"Breaks: {', '.join(f['properties'])}.\n")
            diffd = f.get("difference")
            out.append("```")
            if diffd:
                out.extend(diff(_show(diffd["baseline"]), _show(diffd["design"]), "section",
                                d["name"], limit=10))
            else:
                out.append(f["message"])
            out.extend(f["evidence"][:8])
            out.append("```\n")
            out.append(f"Steps ({f['step_count']}):\n")
            out.extend(f"{i}. `{s}`" for i, s in enumerate(f["steps"], 1))
            out.append(f"\nReplay: `{f['replay']}`")
        out.append("")
    return "\n".join(out)


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(doc)
    return render_text(doc)


def write_outputs(doc: dict[str, Any], outdir: str | Path) -> list[Path]:
    """``report.json``, ``report.txt``, ``report.md``, and for every finding a pytest
    reproducer and a kernel-side script, in ``outdir``."""
    out = output_dir(outdir)
    written = []
    for d in doc["designs"]:
        for f in d.get("findings", ()):
            stem = "".join(c if c.isalnum() else "_"
                           for c in f"{d['name']}_{f['id']}_{d['era']}_{d['abi']}")
            path = out / f"test_repro_{stem}.py"
            path.write_text(f["reproducer"])
            script = out / f"repro_{stem}.sh"
            script.write_text(f["kernel_script"])
            f["reproducer_path"], f["kernel_script_path"] = path.name, script.name
            written += [path, script]
    return written + write_renderings(doc, out, render)


def output_dir(path: str | Path) -> Path:
    """``--output``: a directory, made if missing; :class:`InputError` if it cannot be."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError("--output is not a directory", path=str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory: {exc.strerror}",
                         path=str(out)) from None
    return out


def write_renderings(doc: dict[str, Any], out: Path,
                     render_fn: Callable[[dict[str, Any], str], str]) -> list[Path]:
    """``report.json``, ``report.txt`` and ``report.md`` of ``doc`` in ``out``."""
    written = []
    for name, fmt in (("report.json", "json"), ("report.txt", "text"), ("report.md", "markdown")):
        path = out / name
        path.write_text(render_fn(doc, fmt))
        written.append(path)
    return written


__all__ = ["SCHEMA", "SCHEMAS", "DesignRun", "build_document", "exit_status", "first_difference",
           "load_document", "render", "tool_info", "write_outputs"]
