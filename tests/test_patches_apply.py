"""docs/patches: the 2020 diet designs written as kernel patches against Debian's 6.12.

Every ``docs/patches/*.patch`` applies to 6.12 and builds (``lib/dynamic_debug.c`` with the real
``mm/zsmalloc.c`` linked in, with and without ``CONFIG_JUMP_LABEL``).  A short hand-written run
of each shows the verdict ``docs/patches/README.md`` gives it: either the finding it raises
(with the kernel's message and file:line), or no finding, with the same return values, error
lines, control file and ``pr_debug`` output as the unpatched kernel, step by step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.build import build
from kernel.dyndbg import RealDyndbg, dyndbg_area
from kernel.patching import apply_series, read_series
from kernel.process import CallResult, KernelOops, KernelServer
from kernel.sources import KernelSource
from kernel.zsmalloc import zsmalloc_area
from model.abi import get_abi
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.errors import BugOn
from model.linker import ModuleImage, link_module, link_vmlinux
from model.memory import AddressSpace
from tests.kernel_fixtures import require_kernel

PATCHES = Path(__file__).resolve().parent.parent / "docs" / "patches"

#: Each patch and its expected verdict: None (no finding: the unpatched kernel's behaviour),
#: or the finding its test below raises.
EXPECTED: dict[str, str | None] = {
    "00-refactor.patch": None,
    "01-zspool-copy.patch": "BUG_ON(in_interrupt()) in zs_map_object from a decorated pr_debug",
    "01b-zspool-copy-irq-safe.patch": None,
    "02-zhandle-odd-before-union.patch": None,
    "03-zhandle-odd-union.patch": "oops: an odd format pointer taken for a zhandle",
    "04-union-explicit-flag.patch": None,
    "05-flags-vector.patch": None,
    "05b-flags-vector-mutex-lookup.patch": "sleeping in atomic context: ddebug_lock from pr_debug",
    "06-mapped-cache.patch": "sleeping in atomic context after a mapping is kept",
    "06b-kmalloc-cache.patch": None,
}
CLEAN = [name for name, verdict in EXPECTED.items() if verdict is None]

#: Builtin modules; as the model's linker lays them out, every format pointer is odd (and so
#: is foo's modname), so a design that tags pointers by their low bit meets odd ones.
BUILTIN = (
    ModuleSpec("ab", (CallsiteSpec("ab", "f", "a.c", "ok\n", 3),), builtin=True),
    ModuleSpec("foo", (CallsiteSpec("foo", "foo_probe", "drivers/foo.c", "probe %d\n", 10),
                       CallsiteSpec("foo", "f", "drivers/foo.c", 'say "hi"\n', 20, flags=1),
                       CallsiteSpec("foo", "do_read", "a.c", "read\tdone\n", 7)),
               builtin=True),
)
MODULE = ModuleSpec("m", (CallsiteSpec("m", "init", "m.c", "ok\n", 5),
                          CallsiteSpec("m", "probe", "m.c", "bar %d-%d\n", 9)))
MODULE2 = ModuleSpec("n", (CallsiteSpec("n", "n_probe", "drivers/n/n.c", "n says %s\n", 42),))
CONTEXTS = ("process", "softirq", "hardirq")
_DD_LINE = re.compile(r"(lib/dynamic_debug\.c):\d+")


@pytest.fixture(scope="module")
def source() -> KernelSource:
    return require_kernel("6.12")


def _built_server(source: KernelSource, jump_label: bool, patch: str | None) -> KernelServer:
    overlay = apply_series(source, read_series(PATCHES / patch)) if patch else None
    area = dyndbg_area(source, jump_label).with_part(zsmalloc_area(source))
    return KernelServer(build(area, source, overlay=overlay))


@pytest.fixture(scope="module", params=[False, True], ids=["nojl", "jl"])
def base(request: pytest.FixtureRequest, source: KernelSource
         ) -> Iterator[tuple[bool, KernelServer]]:
    """The unpatched kernel (with zsmalloc linked in, as the patched ones have it)."""
    with _built_server(source, request.param, None) as server:
        yield request.param, server


class Run:
    """One kernel booted over BUILTIN: each step's value, error lines and splats."""

    def __init__(self, server: KernelServer, jump_label: bool) -> None:
        self.kernel = server.new_kernel()
        self.d = RealDyndbg(self.kernel)
        self.jump_label = jump_label
        self.space = AddressSpace(get_abi("x86_64"))
        self.vmlinux = link_vmlinux(self.space, "v6.12", jump_label, BUILTIN)
        self.images: dict[str, ModuleImage] = {"vmlinux": self.vmlinux}
        self.trace: list[tuple[str, Any, tuple[str, ...], tuple[str, ...]]] = []

    def step(self, what: str, fn: Callable[[RealDyndbg], CallResult], *,
             compare: bool = True) -> CallResult:
        res = fn(self.d)
        errors = tuple(e.message for e in res.events if e.kind == "log" and e.line <= 4)
        # a patch moves lines: a splat is compared by its message, line numbers of the
        # patched file left out
        splats = tuple(_DD_LINE.sub(r"\1:N", e.message) for e in res.splats)
        self.trace.append((what, res.value if compare else None, errors, splats))
        return res

    def boot(self, cmdline: str = "") -> CallResult:
        return self.step(f"boot {cmdline!r}",
                         lambda d: d.boot(self.vmlinux, self.space, self.jump_label, cmdline))

    def insmod(self, spec: ModuleSpec, param: str | None) -> CallResult:
        image = link_module(self.space, "v6.12", self.jump_label, spec)
        self.images[spec.name] = image
        return self.step(f"insmod {spec.name} dyndbg={param}",
                         lambda d: d.insmod(image, self.space, param, param is not None))

    def rmmod(self, name: str) -> CallResult:
        del self.images[name]
        return self.step(f"rmmod {name}", lambda d: d.rmmod(name))

    def hits(self, name: str) -> None:
        """Every callsite of ``name`` in every context on both CPUs."""
        for k in range(self.images[name].count):
            for context in CONTEXTS:
                for cpu in (0, 1):
                    self.step(f"hit {name}:{k} {context} cpu{cpu}",
                              lambda d, k=k, c=context, cpu=cpu: d.hit(name, k, c, cpu))

    def write(self, text: str) -> CallResult:
        return self.step(f"write {text!r}", lambda d: d.control_write(text))

    def read(self) -> CallResult:
        return self.step("read", lambda d: d.control_read())

    def close(self) -> None:
        self.kernel.close()


def scenario(run: Run) -> None:
    """Boot with queries, pr_debugs before and after late init, the control file, modules in
    and out (one of them added with a zsmalloc page allocation failing), the shrinker."""
    run.boot('dyndbg="module ab +p" foo.dyndbg="func f* +pt"')
    run.hits("vmlinux")
    run.step("late init", lambda d: d.late_init(), compare=False)
    run.read()
    run.write("+pmfsl")
    run.hits("vmlinux")
    run.read()
    run.write("=p")
    run.write("format probe +mflt")
    run.hits("vmlinux")
    run.insmod(MODULE, "=pmf")
    run.hits("m")
    run.read()
    run.write("module m -pf")
    run.write("file m.c line 9 +p")
    run.hits("m")
    run.read()
    run.rmmod("m")
    run.read()
    run.step("fail a zsmalloc page", lambda d: d.fail_page_allocs(1), compare=False)
    run.insmod(MODULE2, "+pmfslt")
    run.hits("n")
    run.read()
    run.step("shrinker", lambda d: d.shrink(), compare=False)
    run.write("-pmfslt")
    run.write("nosuchkeyword foo +p")
    run.read()
    run.rmmod("n")
    run.hits("vmlinux")
    run.read()
    run.step("fail a slab allocation", lambda d: d.fail_allocs(1), compare=False)
    run.insmod(MODULE, None)
    run.read()


def test_every_patch_has_a_verdict_and_a_readme_row() -> None:
    on_disk = sorted(p.name for p in PATCHES.glob("*.patch"))
    assert on_disk == sorted(EXPECTED)
    readme = (PATCHES / "README.md").read_text()
    for name in on_disk:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_patch_is_a_format_patch_that_applies_and_builds(name: str, source: KernelSource
                                                        ) -> None:
    text = (PATCHES / name).read_text()
    for header in ("From ", "From: ", "Date: ", "Subject: [PATCH"):
        assert re.search(rf"^{re.escape(header)}", text, re.M), header
    (patch,) = read_series(PATCHES / name)
    assert set(patch.files) <= {"lib/dynamic_debug.c", "include/linux/dynamic_debug.h"}
    overlay = apply_series(source, (patch,))
    for jump_label in (False, True):
        area = dyndbg_area(source, jump_label).with_part(zsmalloc_area(source))
        built = build(area, source, overlay=overlay)
        assert built.path.is_file()


@pytest.mark.parametrize("name", CLEAN)
def test_clean_patch_behaves_as_the_unpatched_kernel(name: str, source: KernelSource,
                                                     base: tuple[bool, KernelServer]) -> None:
    jump_label, base_server = base
    with _built_server(source, jump_label, name) as patched_server:
        want, got = Run(base_server, jump_label), Run(patched_server, jump_label)
        try:
            scenario(want)
            scenario(got)
        finally:
            want.close()
            got.close()
    # the unpatched kernel's one splat: the WARN of a module add that failed (-ENOMEM)
    assert [w[3] for w in want.trace if w[3]] == [
        ("WARNING: CPU: 1 at lib/dynamic_debug.c:N: 1",)]
    for w, g in zip(want.trace, got.trace, strict=True):
        assert g == w, f"{name}: {w[0]}"


def _line_of(path: Path, needle: str, after: str = "") -> int:
    """The line of the first ``needle`` in ``path`` (after the first ``after``)."""
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if after in ln) if after else 0
    return next(i for i, ln in enumerate(lines[start:], start + 1) if needle in ln)


@pytest.mark.parametrize("jump_label", [False, True], ids=["nojl", "jl"])
@pytest.mark.parametrize("context", ["hardirq", "softirq"])
def test_01_zspool_copy_bugs_on_a_decorated_pr_debug_in_interrupt(
        jump_label: bool, context: str, source: KernelSource) -> None:
    line = _line_of(source.path("mm/zsmalloc.c"), "BUG_ON(in_interrupt());")
    with _built_server(source, jump_label, "01-zspool-copy.patch") as server:
        run = Run(server, jump_label)
        try:
            run.boot()
            run.step("late init", lambda d: d.late_init(), compare=False)
            run.write("+pm")
            assert run.d.hit("vmlinux", 0, "process", 0).value == ("ab: ", "ok\n")
            with pytest.raises(BugOn) as exc:
                run.d.hit("vmlinux", 0, context, 1)
        finally:
            run.close()
    assert exc.value.message == f"kernel BUG at mm/zsmalloc.c:{line}!"
    assert exc.value.site == f"mm/zsmalloc.c:{line}"


@pytest.mark.parametrize("jump_label", [False, True], ids=["nojl", "jl"])
def test_03_union_takes_an_odd_format_for_a_zhandle_at_boot(jump_label: bool,
                                                            source: KernelSource) -> None:
    """One step: a boot-time query runs before late init, when every union still holds its
    format pointer; the odd one is mapped as a handle of a pool that does not exist yet."""
    with _built_server(source, jump_label, "03-zhandle-odd-union.patch") as server:
        run = Run(server, jump_label)
        try:
            assert run.vmlinux.callsites[0].format % 2 == 1
            with pytest.raises(KernelOops) as exc:
                run.boot('dyndbg="+p"')
        finally:
            run.close()
    assert exc.value.message.startswith("BUG: unable to handle page fault for address:")


@pytest.mark.parametrize("jump_label", [False, True], ids=["nojl", "jl"])
def test_03_union_maps_a_bad_handle_after_a_failed_copy(jump_label: bool,
                                                       source: KernelSource) -> None:
    """After late init: the first copy's zspage allocation fails, so that callsite keeps its
    (odd) format pointer, which the control file then maps as a zhandle: a bad handle."""
    with _built_server(source, jump_label, "03-zhandle-odd-union.patch") as server:
        run = Run(server, jump_label)
        try:
            run.boot()
            run.d.fail_page_allocs(1)
            run.d.late_init()
            with pytest.raises(KernelOops) as exc:
                run.d.control_read()
        finally:
            run.close()
    assert "is no page of this machine" in exc.value.message
    assert exc.value.site.startswith("mm/zsmalloc.c:")


@pytest.mark.parametrize("jump_label", [False, True], ids=["nojl", "jl"])
def test_05b_flags_lookup_under_ddebug_lock_sleeps_in_interrupt(jump_label: bool,
                                                                source: KernelSource) -> None:
    name = "05b-flags-vector-mutex-lookup.patch"
    overlay = apply_series(source, read_series(PATCHES / name))
    line = _line_of(overlay / "lib/dynamic_debug.c", "mutex_lock(&ddebug_lock);",
                    after="unsigned int __dynamic_debug_flags(")
    with _built_server(source, jump_label, name) as server:
        run = Run(server, jump_label)
        try:
            run.boot()
            run.d.late_init()
            assert run.d.hit("vmlinux", 0, "process", 0).splats == ()
            run.write("+p")
            res = run.d.hit("vmlinux", 0, "hardirq", 0)
        finally:
            run.close()
    assert res.value == ("", "ok\n")
    want = f"BUG: sleeping function called from invalid context at lib/dynamic_debug.c:{line}"
    # once for the prefix flags; without jump labels once more for the branch itself
    assert [e.message for e in res.splats] == [want] * (1 if jump_label else 2)


@pytest.mark.parametrize("jump_label", [False, True], ids=["nojl", "jl"])
def test_06_mapped_cache_leaves_the_cpu_atomic(jump_label: bool, source: KernelSource) -> None:
    """Three steps: callsites enabled at boot (ab by the query, foo's f as compiled) are
    mapped by the control file after late init and stay mapped (preemption off, the per-CPU
    local lock held): the next mapping on that CPU nests, and the read goes on to sleep in
    atomic context."""
    line = _line_of(source.path("mm/zsmalloc.c"), "local_lock(&zs_map_area.lock);")
    with _built_server(source, jump_label, "06-mapped-cache.patch") as server:
        run = Run(server, jump_label)
        try:
            assert run.boot('dyndbg="module ab +p"').splats == ()
            assert run.d.late_init().splats == ()
            read = run.d.control_read()
        finally:
            run.close()
    splats = [(e.message, e.site) for e in read.splats]
    assert ("WARNING: possible recursive locking detected: local_lock on CPU#0 already held "
            "(DEBUG_LOCKS_WARN_ON(l->owner))", f"mm/zsmalloc.c:{line}") in splats
    assert any(m.startswith("BUG: sleeping function called from invalid context at ")
               for m, _ in splats)
    # the control file itself still reads right
    assert read.value.count("\n") == 5
