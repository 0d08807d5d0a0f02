"""Speed of ``dyndiet analyze``: records read (ELF, relocations, decode) and analysed per second.

The input is generated: a C file with many ``pr_debug()`` callsites in the way of
``tests/fixtures/dyndbg/dd.h``, compiled with GCC into a relocatable module (``ld -r``).  Without
GCC there is nothing to measure and no figure is reported.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dyndiet.analysis import analyze_tables
from dyndiet.benchmarks import Figure
from model.elf import read_dyndbg

_DD_H = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "dyndbg" / "dd.h"


def _source(callsites: int) -> str:
    lines = ['#include "dd.h"']
    per_function = 8
    for f in range(0, callsites, per_function):
        lines.append(f"void bench_function_{f}(int x)\n{{")
        for k in range(f, min(f + per_function, callsites)):
            fmt = f"callsite {k} %d\\n" if k % 3 else f"a longer format string for callsite {k}: %d\\n"
            lines.append(f'\tpr_debug("{fmt}", x);')
        lines.append("}")
    return "\n".join(lines) + "\n"


def _build(out: Path, callsites: int) -> Path | None:
    if shutil.which("gcc") is None or shutil.which("ld") is None or not _DD_H.exists():
        return None
    (out / "dd.h").write_text(_DD_H.read_text())
    (out / "bench.c").write_text(_source(callsites))
    subprocess.run(["gcc", "-O2", "-DKBUILD_MODNAME=\"bench\"", "-c", "bench.c", "-o", "bench.o"],
                   cwd=out, check=True, capture_output=True)
    subprocess.run(["ld", "-r", "bench.o", "-o", "bench.ko"], cwd=out, check=True,
                   capture_output=True)
    return out / "bench.ko"


def run(quick: bool) -> list[Figure]:
    callsites = 400 if quick else 4000
    with tempfile.TemporaryDirectory() as tmp:
        ko = _build(Path(tmp), callsites)
        if ko is None:
            return []
        start = time.perf_counter()
        table = read_dyndbg(str(ko))
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        analyze_tables([table], designs=False)
        fig_s = time.perf_counter() - start
        start = time.perf_counter()
        analyze_tables([table])
        all_s = time.perf_counter() - start
    n = len(table.records)
    return [
        Figure("analyze", f"module records read and decoded ({n} records)", n / read_s,
               "records/s"),
        Figure("analyze", "records analysed, figures and compression", n / fig_s, "records/s"),
        Figure("analyze", "records analysed, with every design projection", n / all_s,
               "records/s"),
    ]
