"""Build one *area* of kernel code into a shared object against the shims of ``kernel/shim``.

An :class:`Area` names the kernel files it compiles and the shim files it compiles them with.
The glue file of an area ``#include``-s its main kernel file (as tools/testing/vma includes
mm/vma.c), so the harness reaches static functions; the kernel's own helpers
(lib/string_helpers.c, lib/kstrtox.c, ...) are compiled as units of their own.

Builds are cached under ``cache_dir()/build/<key>/`` by a hash of their inputs (the shims, the
kernel files compiled, the overlay of patched files, the flags and the compiler); a cached build
is reused only while every header it read (gcc's dependency list) is unchanged.  A file that does
not compile is an :class:`~model.errors.InputError` carrying the compiler's first error.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs

from kernel.sources import KernelSource, cache_dir
from model.errors import InputError

SHIM = Path(__file__).resolve().parent / "shim"

#: Flags every build uses: the kernel's dialect, no optimisation that hides a fault's line.
BASE_CFLAGS: tuple[str, ...] = (
    "-std=gnu11", "-O1", "-g", "-fPIC", "-fno-strict-aliasing", "-fno-common",
    "-fno-omit-frame-pointer", "-D__KERNEL__", "-DDYNDIET_USERSPACE", "-w",
)
#: The compiler speaks ASCII (no typographic quotes in the messages dyndiet prints).
_C_LOCALE = {**os.environ, "LC_ALL": "C"}
SANITIZE_CFLAGS: tuple[str, ...] = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")


@attrs.frozen
class Area:
    """What one build compiles: ``glue`` (files of ``kernel/shim``, each may ``#include`` a kernel
    file by its tree path), ``kernel_units`` (kernel files compiled as they are), the shim
    include directories searched first (relative to ``kernel/shim``), and the kernel files the
    glue includes (``kernel_files``, hashed into the build key)."""

    name: str
    glue: tuple[str, ...]
    kernel_units: tuple[str, ...]
    kernel_files: tuple[str, ...]
    shim_include: tuple[str, ...]
    binding: str
    cflags: tuple[str, ...] = ()
    #: Other areas linked into the same object, each compiled with its own flags and shims
    #: (dynamic debug with the real zsmalloc under it, for patches that use a pool).
    parts: tuple[Area, ...] = ()

    def with_part(self, other: Area) -> Area:
        """This area with ``other`` linked in (named after both)."""
        return attrs.evolve(self, name=f"{self.name}+{other.name}", parts=(*self.parts, other))

    def all_areas(self) -> tuple[Area, ...]:
        return (self, *self.parts)


@attrs.frozen
class Built:
    """A built shared object and what it was built from."""

    area: Area
    source: KernelSource
    path: Path
    key: str
    sanitize: bool
    #: Tree paths of patched files, replaced from an overlay directory.
    overlay: Path | None = None

    def tree_file(self, rel: str) -> Path:
        """Where ``rel`` of the tree was read from (the overlay's copy when patched)."""
        if self.overlay is not None and (self.overlay / rel).is_file():
            return self.overlay / rel
        return self.source.path(rel)


def _compiler() -> str:
    return os.environ.get("DYNDIET_CC", "gcc")


def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"no C compiler {cc!r} ({exc}); install gcc") from None
    return out.stdout.splitlines()[0] if out.stdout else cc


def _shim_files() -> list[Path]:
    return sorted(p for p in SHIM.rglob("*") if p.is_file() and p.suffix in (".c", ".h"))


def _include_args(area: Area, source: KernelSource, overlay: Path | None) -> list[str]:
    args = [f"-I{SHIM / d}" for d in area.shim_include] + [f"-I{SHIM}"]
    roots = [overlay, source.root] if overlay is not None else [source.root]
    # __FILE__ as the kernel prints it: relative to the tree (and kernel/shim/ for shims)
    args += [f"-fmacro-prefix-map={r}/=" for r in roots]
    args.append(f"-fmacro-prefix-map={SHIM}/=kernel/shim/")
    for r in roots:
        args.append(f"-iquote{r}")
    for r in roots:
        args += [f"-I{r}/include", f"-I{r}/include/uapi"]
    return args


def build_key(area: Area, source: KernelSource, overlay: Path | None, sanitize: bool,
              cc: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([area.name, [list(a.cflags) for a in area.all_areas()],
                         list(BASE_CFLAGS), sanitize, cc,
                         _compiler_version(cc), str(source.root), source.version]).encode())
    for p in _shim_files():
        h.update(str(p.relative_to(SHIM)).encode() + b"\0" + p.read_bytes())
    for rel in (f for a in area.all_areas() for f in (*a.kernel_files, *a.kernel_units)):
        f = overlay / rel if overlay is not None and (overlay / rel).is_file() \
            else source.path(rel)
        try:
            h.update(rel.encode() + b"\0" + f.read_bytes())
        except OSError:
            raise InputError(f"{source.root}: no {rel} in this kernel tree") from None
    if overlay is not None:
        for p in sorted(overlay.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(overlay)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:24]


def _deps_unchanged(manifest: Path) -> bool:
    try:
        deps = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    for path, size, mtime in deps:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


def _read_deps(dfiles: Sequence[Path]) -> list[list[object]]:
    names: set[str] = set()
    for d in dfiles:
        text = d.read_text().replace("\\\n", " ")
        for part in text.split(":", 1)[-1].split():
            names.add(part)
    out: list[list[object]] = []
    for n in sorted(names):
        st = os.stat(n)
        out.append([n, st.st_size, st.st_mtime_ns])
    return out


def first_error(stderr: str, source: KernelSource, overlay: Path | None) -> str:
    """The compiler's first ``error:`` line, paths shown relative to the tree."""
    lines = stderr.splitlines()
    pick = next((ln for ln in lines if " error: " in ln or ln.startswith("error:")),
                next((ln for ln in lines if ln.strip()), "the compiler failed"))
    for root in filter(None, (overlay, source.root)):
        pick = pick.replace(f"{root}/", "")
    return pick.replace(f"{SHIM}/", "kernel/shim/")


def _link_error(stderr: str) -> str:
    """The linker's first complaint (an undefined or doubly defined symbol), one line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "undefined reference" in ln or "multiple definition"
                 in ln), lines[0] if lines else "the linker failed")
    return pick.split(": ", 1)[-1] if ": " in pick else pick


def build(area: Area, source: KernelSource, *, overlay: Path | None = None,
          sanitize: bool = False) -> Built:
    """Build ``area`` from ``source`` (with the patched files of ``overlay`` in front), or reuse
    the cached build of the same inputs."""
    cc = _compiler()
    key = build_key(area, source, overlay, sanitize, cc)
    out_dir = cache_dir() / "build" / f"{area.name}-{source.version}-{key}"
    lib = out_dir / f"lib{area.name}.so"
    built = Built(area, source, lib, key, sanitize, overlay)
    if lib.is_file() and _deps_unchanged(out_dir / "deps.json"):
        return built
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if lib.is_file() and _deps_unchanged(out_dir / "deps.json"):
            return built
        _compile(area, source, overlay, sanitize, cc, out_dir, lib)
    return built


def _compile(area: Area, source: KernelSource, overlay: Path | None, sanitize: bool, cc: str,
             out_dir: Path, lib: Path) -> None:
    sanitizer = list(SANITIZE_CFLAGS if sanitize else ())
    jobs: list[tuple[Path, list[str]]] = [(SHIM / "harness.c",
                                           [*BASE_CFLAGS, *sanitizer, f"-I{SHIM}"])]
    for part in area.all_areas():
        flags = [*BASE_CFLAGS, *part.cflags, *sanitizer, *_include_args(part, source, overlay)]
        jobs.extend((SHIM / g, flags) for g in part.glue)
        for rel in part.kernel_units:
            unit = overlay / rel if overlay is not None and (overlay / rel).is_file() \
                else source.path(rel)
            jobs.append((unit, flags))
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        procs = []
        objs, dfiles = [], []
        for i, (unit, flags) in enumerate(jobs):
            obj = Path(tmp) / f"{i}-{unit.stem}.o"
            dfile = obj.with_suffix(".d")
            objs.append(obj)
            dfiles.append(dfile)
            procs.append(subprocess.Popen([cc, *flags, "-MD", "-MF", str(dfile), "-c",
                                           str(unit), "-o", str(obj)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, env=_C_LOCALE))
        errors = []
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                errors.append(err)
        if errors:
            raise InputError(f"does not compile: {first_error(errors[0], source, overlay)}")
        link = subprocess.run([cc, "-shared", *(SANITIZE_CFLAGS if sanitize else ()),
                               "-o", str(Path(tmp) / lib.name), *map(str, objs), "-ldl"],
                              capture_output=True, text=True, timeout=300, check=False,
                              env=_C_LOCALE)
        if link.returncode != 0:
            raise InputError(f"does not link: {_link_error(link.stderr)}")
        deps = _read_deps(dfiles)
        os.replace(Path(tmp) / lib.name, lib)
        (out_dir / "deps.json").write_text(json.dumps(deps))


def clean_cache() -> None:
    """Remove every cached build (the extracted sources stay)."""
    shutil.rmtree(cache_dir() / "build", ignore_errors=True)
