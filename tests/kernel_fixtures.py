"""What the tests of real kernel code need: gcc and Debian's kernel sources.

Outside CI a missing tool skips with the reason printed; in CI (``CI`` set) it is an error, so
a CI that forgot an install step fails instead of passing on skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kernel.sources import SOURCE_FILES, KernelSource, kernel_source
from model.errors import InputError


def need(what: str) -> None:
    """Skip (outside CI) or fail (in CI) for a missing ``what``."""
    if os.environ.get("CI"):
        pytest.fail(f"CI needs {what}: .ci/run must install it")
    pytest.skip(f"needs {what}")


def require_gcc() -> None:
    if shutil.which("gcc") is None or shutil.which("addr2line") is None:
        need("gcc and binutils (apt-get install gcc binutils)")


def require_kernel(version: str) -> KernelSource:
    """Debian's linux-source-VERSION, extracted (the first call per machine takes ~20 s)."""
    require_gcc()
    try:
        return kernel_source(version)
    except InputError as exc:
        need(f"linux-source-{version} ({exc})")
        raise


def planted_tree(source: KernelSource, patch: Path, dest: Path) -> Path:
    """A kernel tree at ``dest`` made of ``source``'s files (headers linked, the .c files
    copied) with ``patch`` applied: what ``dyndiet fidelity --kernel-tree`` is pointed at."""
    for rel in SOURCE_FILES:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.path(rel), target)
    (dest / "include").symlink_to(source.path("include"))
    proc = subprocess.run(["git", "apply", "-p1", str(patch.resolve())], cwd=dest, capture_output=True,
                          text=True, check=False, env={**os.environ, "GIT_DIR": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    return dest
