"""Counterexample reports: one JSON document (``dyndiet.report/1``), rendered as plain text fit
to paste into a mail reply (at most 72 columns, in the manner of the kernel test robot and
syzbot), or as Markdown.  ``dyndiet report FILE.json`` renders a saved document again.
"""

from __future__ import annotations

import json
import platform
import shlex
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import hypothesis

from dyndiet import __version__
from dyndiet.reproducer import reproducer_source
from model.errors import InputError
from properties.catalogue import DesignRef, Target, get_property
from properties.runner import PropertyResult

SCHEMA = "dyndiet.report/1"
WIDTH = 72


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


def _property_json(r: PropertyResult, run: DesignRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.property, "kind": r.kind, "claim": r.claim, "status": r.status,
        "test_cases": r.test_cases, "seconds": round(r.seconds, 3),
    }
    if r.error is not None:
        out["error"] = r.error
    cx = r.counterexample
    if cx is not None:
        prop = get_property(r.property)
        out["counterexample"] = {
            "message": cx.message,
            "error_type": cx.error_type,
            "step_count": cx.step_count,
            "steps": [s.as_json() for s in cx.steps],
            "calls": [s.call_text() for s in cx.steps],
            "evidence": list(cx.evidence),
            "reproducer": reproducer_source(
                property_name=r.property, property_module=prop.machine.__module__,
                design=run.design.name, design_source=run.design.source,
                era=run.target.era, abi=run.target.abi, corpus=run.target.corpus,
                steps=cx.steps, message=cx.message, error_type=cx.error_type),
        }
    return out


def build_document(runs: Iterable[DesignRun], tool: dict[str, Any]) -> dict[str, Any]:
    """The ``dyndiet.report/1`` JSON document."""
    return {
        "schema": SCHEMA,
        "tool": tool,
        "designs": [
            {
                "name": run.design.name, "source": run.design.source,
                "era": run.target.era, "abi": run.target.abi, "corpus": run.target.corpus,
                "footprint": run.footprint,
                "properties": [_property_json(r, run) for r in run.results],
            }
            for run in runs
        ],
    }


def load_document(path: str | Path) -> dict[str, Any]:
    """A saved report, checked for its schema; :class:`InputError` if it is not one."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(p)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not JSON: {exc}", path=str(p), line=line) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"not a {SCHEMA} document", path=str(p))
    return doc


def exit_status(doc: dict[str, Any]) -> int:
    """0 when every property held, 1 when any failed or errored."""
    statuses = {p["status"] for d in doc["designs"] for p in d["properties"]}
    return 0 if statuses <= {"passed"} else 1


# ---- text -----------------------------------------------------------------------------------

def _wrap(text: str, indent: str = "", sub: str | None = None) -> list[str]:
    sub = indent + "    " if sub is None else sub
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=sub,
                         break_long_words=True, break_on_hyphens=False) or [indent]


def _table(rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        line = indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
        out.append(line.rstrip()[:WIDTH])
        if n == 0:
            out.append((indent + "  ".join("-" * w for w in widths))[:WIDTH])
    return out


def _footprint_rows(fp: dict[str, Any]) -> list[list[str]]:
    return [["footprint", "value"]] + [[k, f"{v:,}" if isinstance(v, int) else str(v)]
                                       for k, v in fp.items()]


def render_text(doc: dict[str, Any]) -> str:
    """Plain text, at most 72 columns a line, fit to paste into a mail reply."""
    tool = doc["tool"]
    lines: list[str] = []
    for d in doc["designs"]:
        failed = [p for p in d["properties"] if p["status"] != "passed"]
        verdict = "counterexample found" if failed else "all properties hold"
        lines += _wrap(f"dyndiet: {d['name']}: {verdict}")
        lines.append("")
        seed = tool.get("seed")
        header = [
            ("design", f"{d['name']} ({d['source']})"),
            ("era", d["era"]), ("abi", d["abi"]),
            ("profile", f"{tool['profile']}, max_examples {tool['max_examples']}, "
                        f"steps {tool['stateful_step_count']}, "
                        f"seed {seed if seed is not None else 'derandomized'}"),
            ("versions", f"dyndiet {tool['dyndiet']}, hypothesis {tool['hypothesis']}, "
                         f"python {tool['python']}"),
            ("reproduce", tool["command"]),
        ]
        if d.get("corpus"):
            header.insert(3, ("corpus", d["corpus"]))
        for k, v in header:
            lines += _wrap(f"{k + ':':<11}{v}", sub=" " * 11)
        lines.append("")
        rows = [["property", "kind", "verdict", "cases", "time"]]
        for p in d["properties"]:
            rows.append([p["name"], p["kind"], p["status"], str(p["test_cases"]),
                         f"{p['seconds']:.1f}s"])
        lines += _table(rows)
        for p in failed:
            lines.append("")
            lines += _wrap(f"[{p['status'].upper()}] {p['name']} ({p['kind']})")
            lines += _wrap(p["claim"], "  ", "  ")
            if "error" in p:
                lines.append("")
                lines.append("  error of the design:")
                lines += _wrap(p["error"], "    ", "      ")
            cx = p.get("counterexample")
            if cx:
                lines.append("")
                lines.append("  the kernel says:")
                lines += _wrap(cx["message"], "    ", "      ")
                lines.append("")
                lines.append(f"  shrunk to {cx['step_count']} step(s):")
                for i, call in enumerate(cx["calls"], 1):
                    lines += _wrap(f"{i}. {call}", "    ", "       ")
                if cx["evidence"]:
                    lines.append("")
                    lines.append("  bytes involved:")
                    for ev in cx["evidence"]:
                        lines += _wrap(ev, "    ", "      ")
        if d.get("footprint"):
            lines.append("")
            lines += _table(_footprint_rows(d["footprint"]))
        lines.append("")
        lines.append("-" * WIDTH)
    return "\n".join(lines).rstrip("-\n") + "\n"


# ---- markdown -------------------------------------------------------------------------------

def render_markdown(doc: dict[str, Any]) -> str:
    """The same report for a web page or an issue tracker."""
    tool = doc["tool"]
    out: list[str] = []
    for d in doc["designs"]:
        out.append(f"## `{d['name']}` ({d['source']}), {d['era']}, {d['abi']}\n")
        out.append(f"- profile: {tool['profile']}, max_examples {tool['max_examples']}, "
                   f"seed {tool.get('seed')}")
        out.append(f"- versions: dyndiet {tool['dyndiet']}, hypothesis {tool['hypothesis']}")
        out.append(f"- reproduce: `{tool['command']}`\n")
        out.append("| property | kind | verdict | test cases | time |")
        out.append("|---|---|---|---|---|")
        for p in d["properties"]:
            out.append(f"| {p['name']} | {p['kind']} | **{p['status']}** | "
                       f"{p['test_cases']} | {p['seconds']:.1f} s |")
        for p in d["properties"]:
            if p["status"] == "passed":
                continue
            out.append(f"\n### {p['status']}: {p['name']}\n\n{p['claim']}\n")
            if "error" in p:
                out.append(f"```\n{p['error']}\n```")
            cx = p.get("counterexample")
            if cx:
                out.append(f"```\n{cx['message']}\n```\n")
                out.append(f"Shrunk to {cx['step_count']} step(s):\n\n```python")
                out.extend(cx["calls"])
                out.append("```")
                if cx["evidence"]:
                    out.append("\nBytes involved:\n\n```")
                    out.extend(cx["evidence"])
                    out.append("```")
        if d.get("footprint"):
            out.append("\n| footprint | value |\n|---|---|")
            out.extend(f"| {k} | {v} |" for k, v in d["footprint"].items())
        out.append("")
    return "\n".join(out)


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(doc)
    return render_text(doc)


def write_outputs(doc: dict[str, Any], outdir: str | Path) -> list[Path]:
    """``report.json``, ``report.txt``, ``report.md`` and one reproducer file per
    counterexample, in ``outdir``."""
    out = output_dir(outdir)
    written = []
    for d in doc["designs"]:
        for p in d["properties"]:
            cx = p.get("counterexample")
            if cx:
                stem = "".join(c if c.isalnum() else "_"
                               for c in f"{d['name']}_{p['name']}_{d['era']}_{d['abi']}")
                path = out / f"test_repro_{stem}.py"
                path.write_text(cx["reproducer"])
                cx["reproducer_path"] = path.name
                written.append(path)
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
