"""Kernel sources: Debian's ``linux-source-6.1`` / ``linux-source-6.12`` packages, or a tree.

A packaged kernel is a ``/usr/src/linux-source-X.Y.tar.xz``; the files dyndiet builds (and the
whole ``include/`` tree) are extracted once into a cache outside the repository
(``$DYNDIET_CACHE``, else ``$XDG_CACHE_HOME/dyndiet``, else ``~/.cache/dyndiet``) and reused by
every later run.  A tree the user names (``--kernel-tree DIR``, a git checkout or an unpacked
tarball) is read in place and never written to.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

import attrs

from model.errors import InputError

#: The kernel versions Debian packages, by the name ``--kernel`` takes.
PACKAGED: tuple[str, ...] = ("6.1", "6.12")
DEFAULT_KERNEL = "6.12"

#: Every file of a tree an area's build reads, besides ``include/``.
SOURCE_FILES: tuple[str, ...] = (
    "Makefile",
    "lib/dynamic_debug.c", "lib/string_helpers.c", "lib/kstrtox.c", "lib/kstrtox.h",
    "lib/parser.c", "lib/ctype.c",
    "mm/zsmalloc.c",
)
_EXTRACT = (*SOURCE_FILES, "include")


@attrs.frozen
class KernelSource:
    """A kernel tree dyndiet can build from: where it is, its version, where it came from."""

    root: Path
    version: str
    origin: str

    def path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def label(self) -> str:
        return f"Linux {self.version} ({self.origin})"


def cache_dir() -> Path:
    """``$DYNDIET_CACHE`` or ``$XDG_CACHE_HOME/dyndiet`` or ``~/.cache/dyndiet``."""
    env = os.environ.get("DYNDIET_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dyndiet"


def tree_version(root: Path) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` from the tree's top ``Makefile``."""
    try:
        text = (root / "Makefile").read_text(errors="replace")[:4000]
    except OSError as exc:
        raise InputError(f"{root}: not a kernel tree (no Makefile: {exc.strerror})") from None
    parts = {k: re.search(rf"^{k}\s*=\s*(\S*)", text, re.M) for k in
             ("VERSION", "PATCHLEVEL", "SUBLEVEL")}
    if parts["VERSION"] is None or parts["PATCHLEVEL"] is None:
        raise InputError(f"{root}/Makefile: no VERSION/PATCHLEVEL (not a kernel tree)")
    v = f"{parts['VERSION'].group(1)}.{parts['PATCHLEVEL'].group(1)}"
    sub = parts["SUBLEVEL"].group(1) if parts["SUBLEVEL"] else ""
    return f"{v}.{sub}" if sub and sub != "0" else v


def user_tree(directory: str | os.PathLike[str]) -> KernelSource:
    """A tree the user names: checked for the files dyndiet builds, read in place."""
    root = Path(directory).resolve()
    if not root.is_dir():
        raise InputError(f"{directory}: no such kernel tree")
    version = tree_version(root)
    missing = [f for f in ("lib/dynamic_debug.c", "mm/zsmalloc.c",
                           "include/linux/dynamic_debug.h") if not (root / f).is_file()]
    if missing:
        raise InputError(f"{directory}: not a kernel tree with {missing[0]}")
    return KernelSource(root, version, f"tree {root}")


def _package_version(pkg: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def packaged(version: str, *, src_dir: Path = Path("/usr/src")) -> KernelSource:
    """Debian's ``linux-source-VERSION``: extracted into the cache on first use."""
    if version not in PACKAGED:
        raise InputError(f"unknown kernel {version!r} (known: {', '.join(PACKAGED)}; "
                         "or name a tree with --kernel-tree)")
    name = f"linux-source-{version}"
    tarball = src_dir / f"{name}.tar.xz"
    deb = _package_version(name)
    dest = cache_dir() / "kernels" / f"{name}-{deb or 'unpackaged'}"
    stamp = dest / ".extracted"
    if not stamp.exists():
        if not tarball.is_file():
            raise InputError(f"{tarball} not found: install Debian's {name} "
                             f"(apt-get install {name}) or name a tree with --kernel-tree")
        _extract(tarball, name, dest)
    origin = f"Debian {name} {deb}" if deb else f"{tarball}"
    return KernelSource(dest / name, tree_version(dest / name), origin)


def _extract(tarball: Path, top: str, dest: Path) -> None:
    """Extract ``_EXTRACT`` of ``tarball`` into ``dest`` once (a lock keeps parallel runs from
    extracting twice; a half-done extraction is removed)."""
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / ".extracted").exists():
            return
        shutil.rmtree(dest / top, ignore_errors=True)
        members = [f"{top}/{p}" for p in _EXTRACT]
        try:
            proc = subprocess.run(["tar", "-xJf", str(tarball), "-C", str(dest), *members],
                                  capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            proc = None
            err = str(exc)
        if proc is None or proc.returncode != 0:
            shutil.rmtree(dest / top, ignore_errors=True)
            first = (proc.stderr.strip().splitlines() or ["tar failed"])[0] if proc else err
            raise InputError(f"{tarball}: cannot extract ({first})")
        (dest / ".extracted").write_text(str(tarball) + "\n")


def kernel_source(kernel: str | None = None, tree: str | os.PathLike[str] | None = None
                  ) -> KernelSource:
    """What ``--kernel`` / ``--kernel-tree`` name (``--kernel 6.12`` when neither is given)."""
    if tree is not None:
        if kernel is not None:
            raise InputError("give --kernel or --kernel-tree, not both")
        return user_tree(tree)
    return packaged(kernel or DEFAULT_KERNEL)


def main(argv: list[str] | None = None) -> int:
    """``python -m kernel.sources 6.1 6.12``: extract each packaged kernel into the cache (in
    parallel), print where it is."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    names = (argv if argv is not None else sys.argv[1:]) or list(PACKAGED)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = [pool.submit(packaged, n) for n in names]
    status = 0
    for f in futures:
        try:
            src = f.result()
        except InputError as exc:
            print(f"kernel.sources: {exc}", file=sys.stderr)
            status = 2
        else:
            print(f"{src.label}: {src.root}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
