"""Hypothesis profiles shared by pytest (``conftest.py``) and the ``dyndiet`` tool.

``ci``: deterministic (``derandomize``), no example database.  ``dev``: the local example
database under ``.hypothesis/``.  ``nightly``: a large budget with a persistent database.
``replay``: replays what a database holds, read-only, and generates nothing new.
``HYPOTHESIS_PROFILE`` selects one; otherwise ``CI`` being set selects ``ci``, else ``dev``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

PROFILES: tuple[str, ...] = ("ci", "dev", "nightly", "replay")


def database_dir() -> Path:
    return Path(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY", ".hypothesis")) / "examples"


def register_profiles() -> None:
    """Register the four profiles (idempotent)."""
    common: dict[str, object] = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    }
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                              max_examples=100, **common)  # type: ignore[arg-type]
    settings.register_profile("dev", database=DirectoryBasedExampleDatabase(database_dir()),
                              max_examples=100, **common)  # type: ignore[arg-type]
    settings.register_profile("nightly", database=DirectoryBasedExampleDatabase(database_dir()),
                              max_examples=20_000, verbosity=Verbosity.normal,
                              **common)  # type: ignore[arg-type]
    settings.register_profile(
        "replay", database=ReadOnlyDatabase(DirectoryBasedExampleDatabase(database_dir())),
        phases=[Phase.explicit, Phase.reuse, Phase.shrink], **common)  # type: ignore[arg-type]


def selected_profile() -> str:
    """The profile the environment asks for."""
    name = os.environ.get("HYPOTHESIS_PROFILE")
    if name:
        return name
    return "ci" if os.environ.get("CI") else "dev"


def load_selected_profile() -> str:
    register_profiles()
    name = selected_profile()
    if name not in PROFILES:
        raise SystemExit(f"HYPOTHESIS_PROFILE={name!r} is not one of {', '.join(PROFILES)}")
    settings.load_profile(name)
    return name
