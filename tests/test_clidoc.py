"""The command-line reference page is what the parsers say."""

from __future__ import annotations

from pathlib import Path

from dyndiet.clidoc import render


def test_cli_reference_is_current() -> None:
    page = Path(__file__).resolve().parent.parent / "docs" / "tool" / "cli.md"
    assert page.read_text() == render(), "regenerate: python -m dyndiet.clidoc > docs/tool/cli.md"
