"""The footprint table: what a design keeps resident against the ``section`` baseline.

``measure(design_ref, target)`` boots a design and the baseline on one fixed workload (a
deterministic set of builtin modules and two loadable ones from the linker model, or the real
records of ``target.corpus``), runs late init and the insmods, and returns the design's
:class:`~model.designs.protocol.Footprint` beside the baseline's.  The resident figures are
*measured* (:func:`model.designs.harness.measure_resident`: the record sections and the
design's own regions still mapped, the page allocator's pages, the slab caches' live objects,
the tables), not taken from the design's ``footprint()``; the design's own figure is kept as
``reported_resident_bytes`` and a disagreement is flagged (``footprint_agrees``), so a design
that under-reports is not printed as saving what it does not.  ``dyndiet check`` prints it per
design.
"""

from __future__ import annotations

from typing import Any

import attrs

from model.abi import get_abi
from model.corpus import corpus_images, load_corpus
from model.designs.harness import DyndbgKernel, measure_resident
from model.designs.protocol import Footprint
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.memory import AddressSpace
from properties.catalogue import DesignRef, Target
from properties.dyndbg_machine import SurvivingContext

#: The workload: builtin modules x callsites, and loadable modules x callsites.
BUILTIN_MODULES = 12
CALLSITES_PER_BUILTIN = 40
LOADABLE_MODULES = 2
CALLSITES_PER_LOADABLE = 25

_FUNCS = ("probe", "remove", "do_io", "ab", "init_one", "handle_irq", "reset_hw_queue_locked")
_FORMATS = ("probe %d\n", "ok\n", "status=%x\n", "queue %d stalled, resetting the device\n",
            "%s: done\n", "x")


def workload() -> tuple[tuple[ModuleSpec, ...], tuple[ModuleSpec, ...]]:
    """Deterministic module specs: names of 2 to 6 characters, a few files per module, the
    function, format and line varying as they do in a driver."""
    def module(name: str, n: int, builtin: bool) -> ModuleSpec:
        sites = tuple(CallsiteSpec(name, _FUNCS[(k * 3) % len(_FUNCS)],
                                   f"drivers/{name}/{name}_{k % 3}.c",
                                   _FORMATS[(k * 5) % len(_FORMATS)], 100 + 17 * k)
                      for k in range(n))
        return ModuleSpec(name, sites, builtin=builtin)
    names = ("ab", "usb", "i2c", "tg3", "ext4", "kvm", "snd", "pci", "acpi", "nvme", "drm",
             "xhci")
    builtin = tuple(module(names[k % len(names)] + ("" if k < len(names) else str(k)),
                           CALLSITES_PER_BUILTIN, True) for k in range(BUILTIN_MODULES))
    loadable = tuple(module(f"mod{k}", CALLSITES_PER_LOADABLE, False)
                     for k in range(LOADABLE_MODULES))
    return builtin, loadable


def boot_workload(cls: Any, target: Target, jump_label: bool = True) -> DyndbgKernel:
    """A kernel running ``cls`` after late init with the workload's modules loaded."""
    abi = get_abi(target.abi)
    space = AddressSpace(abi)
    ctx = SurvivingContext(nr_cpus=2, space=space, strict=False)
    if target.corpus:
        corpus = load_corpus(str(target.corpus))
        vmlinux = corpus_images(attrs.evolve(corpus, modules=corpus.builtin), space, target.era,
                                jump_label)[0]
        k = DyndbgKernel.boot(cls, abi, target.era, jump_label, (), ctx=ctx, vmlinux=vmlinux)
        k.late_init()
        for cm in corpus.loadable:
            img = corpus_images(attrs.evolve(corpus, modules=(cm,)), space, target.era,
                                jump_label)[0]
            k.insmod_image(img)
        return k
    builtin, loadable = workload()
    k = DyndbgKernel.boot(cls, abi, target.era, jump_label, builtin, ctx=ctx)
    k.late_init()
    for m in loadable:
        k.insmod(m)
    return k


def footprint_of(cls: Any, target: Target, jump_label: bool = True) -> Footprint:
    fp: Footprint = boot_workload(cls, target, jump_label).design.footprint()
    return fp


def measure(design: DesignRef, target: Target) -> dict[str, Any]:
    """The design's footprint and the baseline's resident bytes on the workload (CONFIG_JUMP_LABEL
    on), as ``dyndiet check`` prints it: the breakdown the design reports, the resident bytes
    measured (:func:`~model.designs.harness.measure_resident`) for both, and whether the
    design's own figure agrees with the measurement."""
    from model.designs import builtin_designs

    if not callable(getattr(design.factory, "footprint", None)):
        return {}  # not a dynamic-debug design (a toy of the tool's own tests)
    kd = boot_workload(design.factory, target)
    kb = boot_workload(builtin_designs()["section"], target)
    fd: Footprint = kd.design.footprint()
    md, mb = measure_resident(kd), measure_resident(kb)
    return {
        "callsites": fd.callsites,
        "section_bytes": fd.section_bytes,
        "reclaimed_bytes": fd.reclaimed_bytes,
        "pool_pages": fd.pool_pages,
        "pool_bytes": fd.pool_bytes,
        "handle_bytes": fd.handle_bytes,
        "table_bytes": fd.table_bytes,
        "other_bytes": fd.other_bytes,
        "resident_bytes": md.resident_bytes,
        "reported_resident_bytes": fd.resident_bytes,
        "footprint_agrees": fd.resident_bytes == md.resident_bytes,
        "measured_section_bytes": md.section_bytes,
        "measured_page_bytes": md.page_bytes,
        "measured_slab_bytes": md.slab_bytes,
        "baseline_resident_bytes": mb.resident_bytes,
        "saved_bytes": mb.resident_bytes - md.resident_bytes,
    }
