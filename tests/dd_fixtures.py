"""Build the C fixtures of ``tests/fixtures/dyndbg/`` with GCC and say what their source says.

The sources define ``struct _ddebug`` records the way ``DEFINE_DYNAMIC_DEBUG_METADATA`` does
(``dd.h``).  :func:`expected_callsites` reads the callsites straight from the ``.c`` files (the
``pr_debug("...")`` lines, the function each is in, ``#line`` directives honoured), so the tests
check what ``dyndiet analyze`` reads against what the source states, not against itself.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "dyndbg"

#: Translation units in link order: (unit, KBUILD_MODNAME when built in, compiled with -DDEBUG).
UNITS: tuple[tuple[str, str, bool], ...] = (
    ("alpha", "alpha", False),
    ("beta", "beta", True),
    ("gamma", "gamma", False),
)

#: KBUILD_MODNAME of every unit in the module stand-in (one module of several objects).
MODULE_NAME = "fixmod"

_FUNC = re.compile(r"^(?:static\s+)?(?:void|int)\s+(?:__attribute__\(\(\w+\)\)\s+)?(\w+)\(")
_PRDEBUG = re.compile(r'pr_debug\("((?:[^"\\]|\\.)*)"')
_LINE = re.compile(r"^#line\s+(\d+)")


@dataclass(frozen=True)
class Callsite:
    unit: str
    filename: str
    function: str
    format: str
    lineno: int
    debug: bool


def expected_callsites(unit: str, debug: bool) -> list[Callsite]:
    """The ``pr_debug()`` callsites of ``<unit>.c`` in source order."""
    out: list[Callsite] = []
    function = ""
    logical = 0
    for text in (FIXTURES / f"{unit}.c").read_text().splitlines():
        logical += 1
        m = _LINE.match(text)
        if m:
            logical = int(m.group(1)) - 1
            continue
        m = _FUNC.match(text)
        if m:
            function = m.group(1)
        m = _PRDEBUG.search(text)
        if m:
            fmt = m.group(1).encode().decode("unicode_escape")
            out.append(Callsite(unit, f"{unit}.c", function, fmt, logical, debug))
    return out


def all_callsites() -> list[Callsite]:
    return [c for unit, _mod, debug in UNITS for c in expected_callsites(unit, debug)]


def run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd or FIXTURES, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stderr}")


def compile_unit(cc: str, unit: str, modname: str, debug: bool, out: Path,
                 extra: tuple[str, ...] = ()) -> Path:
    """``cc -O2 -c unit.c`` run in the fixture directory, so ``__FILE__`` is ``unit.c``
    (kbuild passes relative paths too)."""
    obj = out / f"{unit}-{modname}{''.join(extra).replace('-', '_')}.o"
    cmd = [cc, "-O2", "-fno-asynchronous-unwind-tables", "-fno-pie",
           f"-DKBUILD_MODNAME=\"{modname}\"", *(["-DDEBUG"] if debug else []), *extra,
           "-c", f"{unit}.c", "-o", str(obj)]
    run(cmd)
    return obj


def build_module(prefix: str, out: Path, extra: tuple[str, ...] = (),
                 name: str = MODULE_NAME) -> Path:
    """A module stand-in: every unit with KBUILD_MODNAME ``name``, linked with ``ld -r``."""
    gcc = f"{prefix}gcc"
    objs = [compile_unit(gcc, unit, name, debug, out, extra) for unit, _m, debug in UNITS]
    ko = out / f"{name}{''.join(extra).replace('-', '_')}-{prefix or 'native-'}.ko"
    run([f"{prefix}ld", "-r", *map(str, objs), "-o", str(ko)])
    return ko


#: Puts the records inside an output section that is not called ``__dyndbg``, bounded by
#: ``__start___dyndbg``/``__stop___dyndbg`` as include/asm-generic/vmlinux.lds.h does inside
#: ``.data``: the reader must then find them by the symbols alone.
KERNEL_LIKE_LDS = """\
SECTIONS
{
  .data.dd : {
    . = ALIGN(8);
    __start___dyndbg = .;
    KEEP(*(__dyndbg))
    __stop___dyndbg = .;
  }
}
INSERT AFTER .data;
"""


def build_vmlinux(prefix: str, out: Path, *, pie: bool = False, lds: bool = False,
                  extra: tuple[str, ...] = ()) -> Path:
    """A vmlinux stand-in: every unit with its own KBUILD_MODNAME, linked into an executable
    (native: with main.c, runnable; cross: freestanding with image.c).  ``lds``: records
    inside ``.data.dd`` between the bounding symbols (:data:`KERNEL_LIKE_LDS`)."""
    gcc = f"{prefix}gcc"
    objs = [compile_unit(gcc, unit, mod, debug, out, extra) for unit, mod, debug in UNITS]
    exe = out / (f"vmlinux{''.join(extra).replace('-', '_')}-{prefix or 'native-'}"
                 f"{'pie' if pie else ''}{'lds' if lds else ''}")
    script: list[str] = []
    if lds:
        (out / "dd.lds").write_text(KERNEL_LIKE_LDS)
        script = [f"-Wl,-T,{out / 'dd.lds'}"]
    if prefix:
        image = compile_unit(gcc, "image", "image", False, out, extra)
        run([gcc, "-nostdlib", "-static", "-no-pie", *script, *map(str, objs), str(image),
             "-o", str(exe)])
    else:
        main = out / "main.o"
        run([gcc, "-O2", *(["-fpie"] if pie else []), *extra, "-c", "main.c", "-o", str(main)])
        if pie:
            objs = [compile_unit(gcc, unit, mod, debug, out, (*extra, "-fpie"))
                    for unit, mod, debug in UNITS]
        run([gcc, "-pie" if pie else "-no-pie", *script, *map(str, objs), str(main), "-o",
             str(exe)])
    return exe


def runtime_records(exe: Path) -> list[tuple[str, str, str, str, int, int, tuple[int, ...]]]:
    """What the native stand-in prints when run: each record as C sees it, with the parity of
    its four pointers (the running program's own addresses)."""
    proc = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    rows = []
    for line in proc.stdout.splitlines():
        mod, fn, file, fmt, lineno, flags, odd = line.split("|")
        rows.append((mod, fn, file, fmt.replace("\\n", "\n"), int(lineno), int(flags),
                     tuple(int(x) for x in odd.split())))
    return rows
