"""The same draws in every process: every module of the project loaded before the first draw.

Hypothesis now and then (p = 0.05 per draw) draws a constant found in the source of a *loaded
local module* instead of a fresh value (``hypothesis.internal.conjecture.providers``: the local
constants pool, recomputed when ``sys.modules`` grows).  So what a derandomized run explores
depends on which of the project's modules happen to be imported when it draws: a module a worker
imports lazily half-way through, or a test that imported more before it, and the same command
gives other verdicts.  (Stop 20's CI: the main job found 17 findings inside a pytest worker and
18 as a command.)

Every command that generates calls :func:`settle_constants` first, before its own and the user's
design files' modules are used: the pool is then the constants of the four packages plus those
of the user's design files, the same whatever ran before in the process and whatever order the
workers take their jobs in.
"""

from __future__ import annotations

import importlib
import pkgutil

#: The project's packages, every module of which is loaded before a run draws.
PACKAGES = ("model", "kernel", "properties", "dyndiet")


def project_modules() -> list[str]:
    """Every module of :data:`PACKAGES`, by dotted name (``__main__`` modules excepted)."""
    names: list[str] = []
    for pkg in PACKAGES:
        names.append(pkg)
        path = importlib.import_module(pkg).__path__
        names += [m.name for m in pkgutil.walk_packages(path, pkg + ".")
                  if not m.name.endswith(".__main__")]
    return names


def settle_constants() -> None:
    """Import every project module (0.4 s once; nothing after), so the pool of constants
    Hypothesis draws from no longer depends on what was imported before."""
    for name in project_modules():
        importlib.import_module(name)
