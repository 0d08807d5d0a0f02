"""pytest configuration shared by ``tests/`` and users' runs: Hypothesis profiles, tool checks."""

from __future__ import annotations

import os

import pytest

from dyndiet.generation import settle_constants
from properties.profiles import load_selected_profile

PROFILE = load_selected_profile()
settle_constants()  # the same pool of drawn constants as a dyndiet command (dyndiet/generation.py)


def pytest_report_header(config: pytest.Config) -> str:
    return f"dyndiet: hypothesis profile {PROFILE!r} (CI={os.environ.get('CI', '')!r})"

