"""``dyndiet bench tagging`` reports its figures (quick run; values are measured, not judged)."""

from __future__ import annotations

from dyndiet.benchmarks import tagging


def test_quick_bench_reports_positive_figures() -> None:
    figures = tagging.run(quick=True)
    names = {f.name for f in figures}
    assert "exact / hypothesis per safe cell" in names
    assert "2020 finding, shrunk, crosshair backend" in names
    assert all(f.area == "tagging" and f.value > 0 for f in figures)
