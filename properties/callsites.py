"""Realistic callsites and modules for the design machine, and sizes that seek capacity edges.

``dyndiet analyze`` on Debian's 6.1 kernel (docs/analyze.md) says what a table of ``pr_debug``
records looks like, and the generator here follows it:

* a loadable module holds about 21 records (29,557 in 1,407 modules), vmlinux' builtin tables
  fewer each; the largest line number is 26,196;
* a record repeats the previous one's ``modname`` about 90% of the time (always, within one
  table), its ``filename`` 86-91% (a driver has a few files, its callsites in line order),
  its ``function`` 38-48%, its ``format`` 5%: formats are almost all distinct;
* short ``KBUILD_MODNAME``\\ s and formats go to ``.rodata.str1.1`` (odd half the time: the
  linker model places them), formats of 31 bytes or more to ``.rodata.str1.8``.

A module is drawn as (name, size, seed): the size from :func:`module_sizes`, which seeks the
edges where designs with a capacity break (2^k - 1, 2^k, 2^k + 1 entries: a 4-bit or 6-bit
index, a bitmap of longs, a zspage of 64 or 256 objects); the callsites from the seed, so a
module of 257 callsites costs one draw.  The callsites of size ``n`` are the first ``n`` of
size ``n + 1`` with the same seed: shrinking the size cuts the module's tail.  Formats take
lengths at the kmalloc and zsmalloc class edges (15, 16, 31, 32, 47, 48, 63, 64, ...) now and
then: a design that copies a string into an object of its size is off by the NUL exactly there.
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from model.dyndbg.callsite import CallsiteSpec, ModuleSpec

__all__ = [
    "BOUNDARY_SIZES",
    "BUILTIN_POOL",
    "MODULE_POOL",
    "STRING_EDGES",
    "builtin_tables",
    "module_batch",
    "module_batches",
    "module_sizes",
    "module_specs",
    "realistic_module",
]

#: Loadable modules (``KBUILD_MODNAME``), short ones first: "m" and "ab" are the shortest
#: literals the linker can put at an odd address, as the seed's examples were.
MODULE_POOL: tuple[str, ...] = (
    "m", "ab", "xfs", "snd", "nvme", "e1000e", "tg3", "igb", "kvm", "drm", "i915", "ahci",
    "usbhid", "btusb", "r8169", "ixgbe", "mei", "rfkill", "joydev", "evdev", "fuse", "loop",
    "dm_mod", "md_mod", "sd_mod", "sr_mod", "libata", "scsi_mod", "xhci_hcd", "ehci_pci",
    "snd_pcm", "snd_seq", "snd_hda_core", "snd_hda_intel", "cfg80211", "mac80211", "iwlwifi",
    "iwlmvm", "bluetooth", "btrtl", "amdgpu", "nouveau", "ttm", "drm_kms_helper", "virtio_net",
    "virtio_blk", "thinkpad_acpi", "intel_pmc_core", "nf_tables", "bridge", "8021q", "sunrpc",
    "nfsv4", "btrfs", "ext4", "jbd2", "mlx5_core", "hid_generic", "i2c_i801", "pcspkr",
    "wmi", "video", "battery", "ac",
)

#: Builtin ``KBUILD_MODNAME``\ s of vmlinux (each its own table at ``dynamic_debug_init``).
BUILTIN_POOL: tuple[str, ...] = (
    "foo", "bar", "main", "core", "pci", "acpi", "usbcore", "i2c_core", "tty", "vt", "printk",
    "workqueue", "module", "kobject", "dd", "bus", "firmware_class", "page_alloc", "slub",
    "vmscan", "filemap", "namei", "super", "inode", "block", "genhd", "dev", "sock", "tcp",
    "udp", "ipv6", "netlink", "swiotlb", "irqdomain", "clockevents", "hrtimer", "cpu",
)

#: 2^k - 1, 2^k and 2^k + 1 for k = 1..8 (up to 257 entries), plus the sizes the 2020 series
#: met (a 48-byte zsmalloc class holds 85 objects in a page).
BOUNDARY_SIZES: tuple[int, ...] = tuple(sorted(
    {v for k in range(1, 9) for v in (2 ** k - 1, 2 ** k, 2 ** k + 1)} | {85, 86}))

#: The largest line number drawn: past every real file with a ``pr_debug`` (26,196 in Debian's
#: 6.1 modules) and 2^15, below the August-2020 split's ``lineno:16``, which its docs justify.
MAX_LINE = 40_000

#: String lengths (without the NUL) at kmalloc-N and zsmalloc class edges, and one beside.
STRING_EDGES: tuple[int, ...] = tuple(sorted(
    {e + d for e in (8, 16, 24, 32, 40, 48, 64, 96, 128) for d in (-1, 0, 1)}))

_VERBS = ("probe", "remove", "init", "exit", "open", "release", "xmit", "poll", "irq",
          "reset", "suspend", "resume", "read", "write", "get", "set", "handle", "submit",
          "complete", "alloc", "free", "start", "stop", "update", "check", "setup", "config")
_NOUNS = ("", "_one", "_hw", "_queue", "_ring", "_link", "_port", "_dev", "_work", "_timer",
          "_reg", "_mode", "_stats", "_fw", "_urb", "_dma", "_irq_handler", "_locked")
_DIRS = ("drivers/net/ethernet", "drivers/usb", "drivers/gpu/drm", "drivers/scsi", "fs",
         "net", "sound/pci", "drivers/pci", "drivers/acpi", "kernel", "mm", "lib",
         "drivers/base", "drivers/input", "drivers/block")
_FILES = ("main", "core", "hw", "ethtool", "init", "ops", "debug", "dev", "irq", "phy",
          "netdev", "param", "fw", "ring")
_TEMPLATES = ("%s: {v} {n} %d\n", "{v}{n} done\n", "{v} {w}: status=%x\n",
              "{n} %d: {v} failed, err %d\n", "{v} {w} {n}\n",
              "{v} {n} queue %d stalled, resetting the {w}\n", "{v} {w}: %pM\n",
              "wrote %#x to {w} reg %#x\n", "{v} \"{n}\"\t{w} ok\n", "{w} {v}=%u\n")
_WORDS = ("port", "link", "queue", "ring", "irq", "vector", "firmware", "buffer", "state",
          "timer", "phy", "channel", "stream", "bridge", "slot", "region", "table", "entry",
          "mode", "clock", "power", "reset", "dma", "fifo", "page", "lane", "tag", "event")
#: Short literals of the seed's kind (odd addresses in .rodata.str1.1), now and then.
_SHORT = ("x", "%s\n", "enter\n", "ok\n")


def _format(rng: random.Random, k: int) -> str:
    if rng.random() < 0.04:
        return rng.choice(_SHORT)
    verb = rng.choice(_VERBS)
    noun = rng.choice(_NOUNS).lstrip("_") or "dev"
    fmt = rng.choice(_TEMPLATES).format(v=verb, n=noun, w=rng.choice(_WORDS))
    if rng.random() < 0.25:  # a length at a class edge
        want = rng.choice(STRING_EDGES)
        body = (fmt.rstrip("\n") + f" #{k} " + "abcdefghijklmnopqrstuvwxyz" * 6)[: want - 1]
        fmt = body + "\n" if want > 1 else "\n"
    return fmt


def realistic_module(name: str, n: int, seed: int, builtin: bool = False) -> ModuleSpec:
    """``n`` callsites of module ``name`` from ``seed`` (docstring of the module): a few files
    in one directory, callsites in line order per file, functions repeated as often as in a
    driver, formats almost all distinct.  The first ``n`` callsites do not depend on ``n``."""
    rng = random.Random(f"{name}/{seed}")
    stem = name.split("_")[0].rstrip("0123456789") or name
    directory = rng.choice(_DIRS)
    files = [f"{directory}/{stem}/{stem}_{f}.c" for f in rng.sample(_FILES, rng.randint(1, 4))]
    if rng.random() < 0.2:
        files[0] = f"{directory}/{name}.c"
    lines = {f: rng.randint(1, 400) for f in files}
    if rng.random() < 0.15:  # a long file: line numbers past 2^12, 2^13, 2^14 ... 2^15
        lines[files[-1]] = rng.choice((4090, 8185, 16378, 26190, 32760))
    file = files[0]
    function = f"{stem}_{rng.choice(_VERBS)}"
    sites: list[CallsiteSpec] = []
    for k in range(n):
        if rng.random() > 0.88:
            file = rng.choice(files)
        if rng.random() > 0.45:
            function = f"{stem}_{rng.choice(_VERBS)}{rng.choice(_NOUNS)}"
            lines[file] += rng.randint(5, 120)
        lines[file] = min(lines[file] + rng.randint(1, 12), MAX_LINE)
        flags = 1 if rng.random() < 0.05 else 0  # a callsite built with -DDEBUG
        sites.append(CallsiteSpec(name, function, file, _format(rng, k), lines[file],
                                  flags=flags))
    return ModuleSpec(name, tuple(sites), builtin=builtin)


def module_sizes(large: bool = True) -> st.SearchStrategy[int]:
    """Callsites in a module, one draw: a handful half the time (none now and then: a module
    without a ``__dyndbg`` section gets no table), a driver's
    dozens, and the capacity edges (:data:`BOUNDARY_SIZES`): up to 33 a quarter of the time
    and, when ``large``, 63 to 257 one time in six."""
    small = (0, 1, 2, 3, 4, 5, 6) * 3  # 0: a module without pr_debug (most modules)
    mid = (7, 10, 12, 14, 20, 21, 24, 28, 40)
    edges = tuple(b for b in BOUNDARY_SIZES if 7 <= b <= 33)
    big = tuple(b for b in BOUNDARY_SIZES if b > 33) if large else ()
    return st.sampled_from(small + mid + edges + edges + big)


def module_specs(builtin: bool = False, large: bool = True,
                 names: tuple[str, ...] | None = None) -> st.SearchStrategy[ModuleSpec]:
    """A realistic module (:func:`realistic_module`): a name from the pool, a size, a seed."""
    pool = names or (BUILTIN_POOL if builtin else MODULE_POOL)
    return st.builds(lambda name, n, seed: realistic_module(name, n, seed, builtin),
                     st.sampled_from(pool), module_sizes(large), st.integers(0, 2 ** 16))


def _unique(ms: list[ModuleSpec]) -> tuple[ModuleSpec, ...]:
    """The modules with distinct names, the first draw of a name kept."""
    return tuple({m.name: m for m in reversed(ms)}.values())[::-1]


def module_batch(count: int, seed: int, builtin: bool = False) -> tuple[ModuleSpec, ...]:
    """``count`` modules of distinct names from one seed (a bulk load costs two draws): small
    ones mostly, a capacity edge now and then."""
    rng = random.Random(f"batch/{builtin}/{seed}")
    pool = BUILTIN_POOL if builtin else MODULE_POOL
    names = rng.sample(pool, min(count, len(pool)))
    small = tuple(b for b in BOUNDARY_SIZES if b <= 33)
    sizes = [rng.choice(small) if rng.random() < 0.2 else rng.randint(0, 8) for _ in names]
    return tuple(realistic_module(n, k, rng.randrange(2 ** 16), builtin)
                 for n, k in zip(names, sizes, strict=True))


def module_batches(min_size: int, max_size: int,
                   builtin: bool = False) -> st.SearchStrategy[tuple[ModuleSpec, ...]]:
    """:func:`module_batch` of ``min_size`` to ``max_size`` modules."""
    return st.builds(lambda n, seed: module_batch(n, seed, builtin),
                     st.integers(min_size, max_size), st.integers(0, 2 ** 16))


def builtin_tables() -> st.SearchStrategy[tuple[ModuleSpec, ...]]:
    """vmlinux' builtin tables: 1-4 of them usually, sometimes 15-20 small ones (so a design
    with a 4-bit table index meets its 17th table at boot)."""
    few = st.lists(module_specs(True), min_size=1, max_size=4).map(_unique)
    return st.one_of(few, module_batches(15, 20, builtin=True))
