"""Speed of the dynamic-debug model on the ``section`` baseline: linking, control writes and
reads, ``pr_debug`` hits.  Rates are per second of wall time; the hit rate is also given as a
ratio to a bare Python call measured in the same run."""

from __future__ import annotations

from dyndiet.benchmarks import Figure, rate
from model.abi import get_abi
from model.designs.harness import DyndbgKernel
from model.designs.section import SectionDesign
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.linker import link_vmlinux
from model.memory import AddressSpace

AREA = "dyndbg"


def _modules(n_modules: int, per_module: int) -> list[ModuleSpec]:
    return [ModuleSpec(f"mod{m}", tuple(
        CallsiteSpec(f"mod{m}", f"func_{m}_{c % 5}", f"drivers/m{m}/f{c % 3}.c",
                     f"message {c} %d\n", 10 + c) for c in range(per_module)), builtin=True)
        for m in range(n_modules)]


def run(quick: bool) -> list[Figure]:
    seconds = 0.3 if quick else 1.0
    abi = get_abi("x86_64")
    mods = _modules(10, 20 if quick else 50)
    n = sum(len(m.callsites) for m in mods)

    def link() -> None:
        link_vmlinux(AddressSpace(abi), "v6.1", True, mods)

    k = DyndbgKernel.boot(SectionDesign, abi, "v6.1", True, mods)
    k.control_write("module mod1 +pmfl")
    sites = k.callsites()
    hit_index = [0]

    def hit() -> None:
        name, idx = sites[hit_index[0] % len(sites)]
        hit_index[0] += 1
        k.hit(name, idx)

    def nothing() -> None:
        return None

    hits = rate(hit, seconds=seconds)
    bare = rate(nothing, seconds=seconds)
    return [
        Figure(AREA, f"link vmlinux ({n} callsites)", rate(link, seconds=seconds), "links/s"),
        Figure(AREA, f"control write 'module mod1 +p' ({n} callsites)",
               rate(lambda: k.control_write("module mod1 +p"), seconds=seconds), "writes/s"),
        Figure(AREA, f"control read ({n} callsites)", rate(k.control_read, seconds=seconds),
               "reads/s"),
        Figure(AREA, "pr_debug hit (section design)", hits, "hits/s"),
        Figure(AREA, "pr_debug hit / bare call", hits / bare, "ratio"),
    ]
