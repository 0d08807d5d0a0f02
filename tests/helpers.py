"""Helpers shared by the tests."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(tool: str, why: str) -> str:
    """The path of ``tool``. Outside CI a missing tool skips with a printed reason; in CI
    (``CI`` set) it fails, so CI never skips silently."""
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} not found ({why}); `bash setup.sh` installs it"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {msg}", pytrace=False)
        pytest.skip(msg)
    return path
