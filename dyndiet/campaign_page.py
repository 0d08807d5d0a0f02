"""The campaign page: ``campaign.html``, one static file (no script, no network) that a person
following a campaign over nights opens in a browser.

It shows, top-down: what is new since the previous run (findings first seen in this run, jobs
that showed new behaviour), every finding with its headline, the properties it breaks, what the
kernel prints or what differs, its steps and its reproducer; the errors of designs; every job with
its chunks, test cases, steps/s, and small charts of its test cases, steps/s and behaviours over
the campaign's clock; the jobs never reached; and the rule coverage as a heat map (jobs by
rules, darker for more runs, red for a rule that never ran).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.5em;margin:0 0 .3em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
.summary span{display:inline-block;margin-right:1.5em}
.finding{border:1px solid #d88;border-left:6px solid #c33;padding:.5em 1em;margin:.8em 0;
 background:#fff8f8}
.finding.difference{border-color:#c9a;border-left-color:#96c;background:#fbf8ff}
.finding h3{font-size:1.05em;margin:.2em 0}
.new{background:#2a2;color:#fff;border-radius:3px;padding:0 .4em;font-size:.8em;
 margin-left:.5em}
pre{background:#f4f4f4;padding:.5em;overflow-x:auto;font-size:12px;white-space:pre-wrap}
table{border-collapse:collapse;font-size:12px} td,th{padding:2px 6px;border-bottom:1px solid #eee;
 text-align:left} th{background:#f0f0f0;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.never td{background:#fff3d6} tr.failed td.status{color:#c33;font-weight:bold}
tr.error td.status{color:#a60;font-weight:bold}
.heat td{width:14px;height:14px;padding:0;border:1px solid #fff}
.heat th.rule{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;
 height:10em;vertical-align:bottom;padding:2px 0}
.legend span{display:inline-block;width:14px;height:14px;vertical-align:middle;margin:0 .3em}
"""


#: A step longer than this is cut on the page (the reproducer has it whole).
STEP_CHARS = 300


def _h(value: Any) -> str:
    return escape(str(value), quote=True)


def _when(ts: float | None) -> str:
    if not ts:
        return "?"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def sparkline(points: Sequence[tuple[float, float]], *, width: int = 120, height: int = 22,
              colour: str = "#36c", label: str = "") -> str:
    """A small inline SVG line of ``points`` (x, y), scaled to fit."""
    if not points:
        return ""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y1 = max(ys) or 1.0
    span = (x1 - x0) or 1.0
    coords = " ".join(f"{2 + (width - 4) * (x - x0) / span:.1f},"
                      f"{height - 2 - (height - 4) * y / y1:.1f}" for x, y in points)
    if len(points) == 1:
        coords = f"2,{height / 2:.1f} {width - 2},{height / 2:.1f}"
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="{_h(label)}">'
            f'<title>{_h(label)}: up to {y1:,.1f}</title>'
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'
            "</svg>")


def _finding_runs(doc: Mapping[str, Any]) -> dict[tuple[str, str], int | None]:
    camp = doc.get("campaign", {})
    return {(r["design"], r["property"]): r.get("found_in_run") for r in camp.get("by_job", [])}


def findings(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every finding of the document as ``{design, headline, severity, properties, message,
    steps, ...}``: ``findings[*]`` of a ``/2`` document, each failed property's counterexample
    of a ``/1`` one."""
    runs = _finding_runs(doc)
    out: list[dict[str, Any]] = []
    for d in doc.get("designs", []):
        if "findings" in d:
            for f in d["findings"]:
                found = [runs.get((d["name"], p)) for p in f.get("properties", [])]
                known = [n for n in found if n is not None]
                out.append({**f, "design": d["name"],
                            "headline": f.get("headline") or f.get("message", ""),
                            "found_in_run": min(known) if known else None})
            continue
        for p in d.get("properties", []):
            cx = p.get("counterexample")
            if not cx:
                continue
            out.append({"id": p["name"], "design": d["name"], "headline": cx.get("message", ""),
                        "severity": "bug", "properties": [p["name"]],
                        "message": cx.get("message", ""), "steps": cx.get("calls", []),
                        "step_count": cx.get("step_count", 0),
                        "found_in_run": runs.get((d["name"], p["name"]))})
    return out


def _clip(text: str, limit: int = STEP_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _finding_html(f: Mapping[str, Any], run: int) -> str:
    new = f.get("found_in_run") == run and run > 0
    parts = [f'<div class="finding {_h(f.get("severity", ""))}">',
             f'<h3 class="headline">{_h(f["design"])} [{_h(f.get("id", ""))}] '
             f'{_h(f.get("severity", ""))}: {_h(f["headline"])}'
             + ('<span class="new">new</span>' if new else "") + "</h3>",
             f'<div>breaks: {_h(", ".join(f.get("properties", [])))}'
             + (f' &middot; first seen in run {f["found_in_run"] + 1}'
                if f.get("found_in_run") is not None else "") + "</div>"]
    diff = f.get("difference")
    if diff:
        parts.append(f"<div>what differs from the baseline ({_h(diff.get('observation'))}):"
                     "</div>")
        parts.append(f"<pre>baseline: {_h(diff.get('baseline'))}\n"
                     f"design:   {_h(diff.get('design'))}</pre>")
    elif f.get("message"):
        parts.append(f"<pre>{_h(f['message'])}</pre>")
    if f.get("evidence"):
        parts.append("<pre>" + _h("\n".join(f["evidence"][:8])) + "</pre>")
    steps = f.get("steps") or []
    parts.append(f"<div>steps ({len(steps)}):</div><ol>"
                 + "".join(f"<li><code>{_h(_clip(str(s)))}</code></li>" for s in steps)
                 + "</ol>")
    if f.get("replay"):
        parts.append(f"<div>replay: <code>{_h(f['replay'])}</code></div>")
    if f.get("reproducer_path"):
        parts.append(f'<div>reproducer: <a href="{_h(f["reproducer_path"])}">'
                     f'{_h(f["reproducer_path"])}</a></div>')
    parts.append("</div>")
    return "\n".join(parts)


def _heat(rows: Sequence[Mapping[str, Any]]) -> str:
    rules = sorted({r for row in rows for r in (row.get("rules") or row.get("rule_counts", {}))})
    if not rules:
        return "<p>No rule has run yet.</p>"
    top = max([n for row in rows for n in row.get("rule_counts", {}).values()] + [1])
    head = "".join(f'<th class="rule">{_h(r)}</th>' for r in rules)
    body = []
    for row in rows:
        counts = row.get("rule_counts", {})
        known = set(row.get("rules") or counts)
        cells = []
        for r in rules:
            n = counts.get(r, 0)
            if r not in known:
                cells.append('<td title="not a rule of this machine"></td>')
            elif n == 0:
                cells.append(f'<td style="background:#e33" title="{_h(r)}: never ran"></td>')
            else:
                level = math.log10(n + 1) / math.log10(top + 1)
                light = round(92 - 62 * level)
                cells.append(f'<td style="background:hsl(215,70%,{light}%)" '
                             f'title="{_h(r)}: {n:,} runs"></td>')
        body.append(f'<tr><th>{_h(row["design"])} / {_h(row["property"])}</th>'
                    + "".join(cells) + "</tr>")
    legend = ('<p class="legend">runs: <span style="background:hsl(215,70%,92%)"></span>few'
              '<span style="background:hsl(215,70%,30%)"></span>many (log scale)'
              '<span style="background:#e33"></span>never ran</p>')
    return (legend + f'<table class="heat"><tr><th></th>{head}</tr>' + "".join(body)
            + "</table>")


def _job_rows(rows: Sequence[Mapping[str, Any]],
              timelines: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    out = ['<table class="jobs"><tr><th>design</th><th>property</th><th>status</th>'
           '<th>chunks</th><th>test cases</th><th>steps/s</th><th>behaviours</th>'
           '<th>test cases over time</th><th>steps/s over time</th>'
           '<th>behaviours over time</th></tr>']
    for row in rows:
        tl = timelines.get(row["key"], [])
        cases = [(p["t"], p["test_cases"]) for p in tl]
        speed = [(p["t"], p["steps_per_second"]) for p in tl]
        seen = [(p["t"], p["behaviours"]) for p in tl]
        cls = row["status"].replace(" ", "")
        out.append(
            f'<tr class="{_h(cls)}"><td>{_h(row["design"])}</td><td>{_h(row["property"])}</td>'
            f'<td class="status">{_h(row["status"])}</td><td class="num">{row["chunks"]}</td>'
            f'<td class="num">{row["test_cases"]:,}</td>'
            f'<td class="num">{row["steps_per_second"]:,.0f}</td>'
            f'<td class="num">{row["behaviours"]}</td>'
            f"<td>{sparkline(cases, label='test cases')}</td>"
            f"<td>{sparkline(speed, colour='#393', label='steps/s')}</td>"
            f"<td>{sparkline(seen, colour='#c60', label='behaviours')}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _overview(timelines: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Test cases of the whole campaign over its clock."""
    events = sorted((p["t"], key, p["test_cases"]) for key, tl in timelines.items() for p in tl)
    latest: dict[str, int] = {}
    points = [(0.0, 0.0)]
    for t, key, cases in events:
        latest[key] = cases
        points.append((t, float(sum(latest.values()))))
    if len(points) < 2:
        return ""
    return ("<p>test cases over the campaign clock (all jobs): "
            + sparkline(points, width=600, height=80, label="test cases, all jobs") + "</p>")


def render_page(doc: Mapping[str, Any], timelines: Mapping[str, Sequence[Mapping[str, Any]]],
                runs: Sequence[Mapping[str, Any]]) -> str:
    """The whole page for a campaign document (``campaign.json``), the jobs' timelines and the
    campaign's runs."""
    camp = doc.get("campaign", {})
    run = int(camp.get("run", 0))
    found = findings(doc)
    rows = camp.get("by_job", [])
    errors = [r for r in rows if r.get("status") == "error"]
    new_findings = [f for f in found if f.get("found_in_run") == run]
    prev = runs[run - 1] if 0 < run <= len(runs) else None
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>dyndiet campaign: {len(found)} findings</title>",
             f"<style>{CSS}</style></head><body>",
             "<h1>dyndiet campaign</h1>",
             '<p class="summary">'
             f"<span>run {run + 1} of {len(runs)}, started {_when(runs[run]['started'] if run < len(runs) else None)}</span>"
             f"<span>{_h(camp.get('engine', ''))}</span>"
             f"<span>database {_h(camp.get('database', ''))}</span>"
             f"<span>{camp.get('elapsed_seconds', 0):g} s of {camp.get('budget_seconds', 0):g} s"
             + (" (interrupted)" if camp.get("interrupted") else "") + "</span>"
             f"<span>{camp.get('jobs_reached', 0)}/{camp.get('jobs', 0)} jobs reached</span>"
             f"<span>{camp.get('test_cases', 0):,} test cases</span>"
             f"<span>{len(found)} findings</span></p>"]
    parts.append('<h2 id="new">New since the previous run</h2>')
    if prev is None:
        parts.append("<p>This is the campaign's first run: everything below is new.</p>")
    else:
        parts.append(f"<p>Previous run: {_when(prev.get('started'))}, "
                     f"{prev.get('budget_seconds', 0):g} s on {_h(prev.get('engine', ''))}.</p>")
    if new_findings:
        parts.append("<ul>" + "".join(f"<li>{_h(f['design'])}: {_h(f['headline'])}</li>"
                                      for f in new_findings) + "</ul>")
    else:
        parts.append("<p>No new finding in this run.</p>")
    grew = [r for r in rows if r.get("new_this_run")]
    if grew:
        parts.append(f"<p>{len(grew)} jobs showed new behaviour in this run: "
                     + ", ".join(f"{_h(r['design'])}/{_h(r['property'])} (+{r['new_this_run']})"
                                 for r in grew[:40])
                     + (" ..." if len(grew) > 40 else "") + "</p>")
    parts.append(f'<h2 id="findings">Findings ({len(found)})</h2>')
    if not found:
        parts.append("<p>No finding: every property held on every job run so far.</p>")
    parts.extend(_finding_html(f, run) for f in found)
    if errors:
        parts.append(f'<h2 id="errors">Errors of designs ({len(errors)})</h2><ul>')
        parts.extend(f"<li>{_h(r['design'])} / {_h(r['property'])}: "
                     f"<code>{_h(r.get('error') or '')}</code></li>" for r in errors)
        parts.append("</ul>")
    never = camp.get("never_reached", [])
    parts.append(f'<h2 id="jobs">Jobs ({len(rows)}; {len(never)} never reached)</h2>')
    if never:
        parts.append("<p>Never reached in any run: " + "; ".join(_h(k) for k in never) + "</p>")
    else:
        parts.append("<p>Every job got at least one chunk.</p>")
    parts.append(_overview(timelines))
    parts.append(_job_rows(rows, timelines))
    parts.append('<h2 id="coverage">Rule coverage</h2>')
    parts.append(_heat(rows))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
