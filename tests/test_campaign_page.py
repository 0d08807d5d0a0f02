"""The campaign page (dyndiet/campaign_page.py): every finding's headline is on it (``/2``
documents) or each failed property's message (``/1``), hostile text is escaped, and headless
Chromium renders it with every headline visible (its PDF text; a screenshot that is not
blank).  The rendering check is shown to fail on a page that hides its findings."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from dyndiet.campaign_page import render_page
from dyndiet.report import DesignRun, build_document, tool_info
from properties.catalogue import Target
from properties.runner import Budget, run_property
from tests.helpers import require_tool
from tests.toy_designs import TOY_PROPERTY, LossyStack, SleepyStack, ref


def toy_document() -> dict[str, Any]:
    """A real ``/2`` document of two toy designs with one finding each, plus campaign rows."""
    runs = []
    for cls in (LossyStack, SleepyStack):
        r = run_property(TOY_PROPERTY, ref(cls), TOY_PROPERTY_TARGET,
                         Budget(max_examples=200, stateful_step_count=10))
        runs.append(DesignRun(ref(cls), TOY_PROPERTY_TARGET, (r,)))
    doc = build_document(runs, tool_info(command=["dyndiet", "fuzz"], profile="nightly",
                                         max_examples=20, steps=10, seed=1))
    rows = [{"key": f"toy-equivalence on {run.design.name}", "design": run.design.name,
             "property": "toy-equivalence", "status": "failed", "chunks": 2, "test_cases": 40,
             "steps_per_second": 100.0, "behaviours": 1, "found_in_run": 1,
             "new_this_run": 1, "rules": ["push"], "rule_counts": {"push": 80}}
            for run in runs]
    doc["campaign"] = {"run": 1, "engine": "local (2 worker processes)", "database": "db",
                       "elapsed_seconds": 10, "budget_seconds": 10, "jobs": 2,
                       "jobs_reached": 2, "test_cases": 80, "by_job": rows,
                       "never_reached": []}
    return doc


TOY_PROPERTY_TARGET = Target()
RUNS = [{"run": 0, "started": 1.7e9, "ended": 1.7e9 + 60, "budget_seconds": 60,
         "engine": "local"}, {"run": 1, "started": 1.7e9 + 86400, "ended": None,
                              "budget_seconds": 10, "engine": "local"}]
TIMELINES = {"toy-equivalence on LossyStack": [
    {"t": 1.0, "run": 0, "test_cases": 20, "behaviours": 1, "steps_per_second": 90.0},
    {"t": 2.0, "run": 1, "test_cases": 40, "behaviours": 1, "steps_per_second": 110.0}]}


def headlines(doc: dict[str, Any]) -> list[str]:
    return [f["headline"] for d in doc["designs"] for f in d["findings"]]


def test_every_headline_is_on_the_page_and_marked_new() -> None:
    doc = toy_document()
    want = headlines(doc)
    assert want == ["stack holds [0, 0, 0], expected [0, 0, 0, 0]",
                    "BUG: sleeping function called from invalid context at mm/slab.h:567"]
    page = render_page(doc, TIMELINES, RUNS)
    for h in want:
        assert h in page
    assert page.count('<span class="new">new</span>') == 2
    assert "<polyline" in page and 'class="heat"' in page


def test_a_version_1_document_lists_each_failed_propertys_message() -> None:
    doc = {"schema": "dyndiet.report/1", "designs": [{"name": "odd", "properties": [
        {"name": "control-file", "status": "failed",
         "counterexample": {"message": "BUG: unable to handle page fault", "calls": ["a()"],
                            "step_count": 1}},
        {"name": "no-oops", "status": "passed"}]}]}
    page = render_page(doc, {}, [])
    assert "BUG: unable to handle page fault" in page and "Findings (1)" in page


def test_hostile_text_is_escaped() -> None:
    doc = toy_document()
    doc["designs"][0]["findings"][0]["headline"] = "<script>alert(1)</script>"
    page = render_page(doc, TIMELINES, RUNS)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---- rendered by headless Chromium ------------------------------------------------------------

def chromium(*args: str) -> None:
    exe = require_tool("chromium", "the campaign page's rendering test")
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--no-pdf-header-footer", *args], capture_output=True, timeout=120,
                   check=True)


def rendered_text(html: Path) -> str:
    """The text Chromium lays out for the page (printed to PDF, read back by pdftotext)."""
    pdftotext = require_tool("pdftotext", "reading the page Chromium rendered")
    pdf = html.with_suffix(".pdf")
    chromium(f"--print-to-pdf={pdf}", html.as_uri())
    return subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def _squash(text: str) -> str:
    return re.sub(r"[\s\-]+", "", text)  # line breaks (and hyphenation) are the layout's


def shows_every_headline(html: Path, want: list[str]) -> bool:
    """Every headline is in the page's findings section as Chromium lays it out."""
    text = rendered_text(html)
    section = text[text.find("Findings ("):text.find("Jobs (")]
    return all(_squash(h) in _squash(section) for h in want)


def distinct_rows(png: Path) -> int:
    """How many different pixel rows a PNG screenshot has (a blank page has one or two)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, bpp = 8, b"", 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width = struct.unpack(">I", body[:4])[0]
            bpp = {2: 3, 6: 4}.get(body[9], 4)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * bpp
    return len({raw[i + 1:i + stride] for i in range(0, len(raw), stride)})


@pytest.fixture
def page(tmp_path: Path) -> tuple[Path, list[str]]:
    doc = toy_document()
    html = tmp_path / "campaign.html"
    html.write_text(render_page(doc, TIMELINES, RUNS))
    return html, headlines(doc)


def test_chromium_renders_every_finding(page: tuple[Path, list[str]], tmp_path: Path) -> None:
    html, want = page
    assert shows_every_headline(html, want)
    shot = tmp_path / "campaign.png"
    chromium("--window-size=1280,1600", f"--screenshot={shot}", html.as_uri())
    assert distinct_rows(shot) > 50


def test_the_rendering_check_fails_on_a_page_hiding_its_findings(
        page: tuple[Path, list[str]], tmp_path: Path) -> None:
    html, want = page
    hidden = tmp_path / "hidden.html"
    hidden.write_text(html.read_text().replace("</style>", ".finding{display:none}</style>"))
    assert want[0] in hidden.read_text()  # in the file, not on the page
    assert not shows_every_headline(hidden, want)
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    shot = tmp_path / "blank.png"
    chromium("--window-size=1280,1600", f"--screenshot={shot}", blank.as_uri())
    assert distinct_rows(shot) <= 2
