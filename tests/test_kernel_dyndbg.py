"""The real lib/dynamic_debug.c (Debian's 6.1 and 6.12) built in user space, driven through
:class:`kernel.dyndbg.RealDyndbg`, with and without ``CONFIG_JUMP_LABEL``: boot, control file
(against the model's ``section`` design), queries, errors, modules, hits, the record layout
(against the model's layout engine) and string placement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kernel.build import build
from kernel.dyndbg import RealDyndbg, RealSite, dyndbg_area, features
from kernel.process import KernelServer
from model.abi import get_abi
from model.builtin_layouts import ddebug_layout
from model.context import KernelContext
from model.designs import builtin_designs
from model.designs.harness import DyndbgKernel
from model.dyndbg import core
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.linker import ModuleImage, link_module, link_vmlinux
from model.memory import AddressSpace
from properties.fidelity import dyndbg_model_era
from tests.kernel_fixtures import require_kernel

VERSIONS = ("6.1", "6.12")
BUILDS = [(v, jl) for v in VERSIONS for jl in (False, True)]


def era_of(version: str) -> str:
    """The model era of Debian's tree, read from its lib/dynamic_debug.c as ``fidelity`` does
    (6.1 is v6.1, 6.12 is v6.12)."""
    return dyndbg_model_era(require_kernel(version))

BUILTIN = (
    ModuleSpec("foo", (CallsiteSpec("foo", "foo_probe", "drivers/foo.c", "probe %d\n", 10),
                       CallsiteSpec("foo", "f", "drivers/foo.c", 'say "hi"\n', 20, flags=1),
                       CallsiteSpec("foo", "do_read", "a.c", "read\tdone\n", 7)),
               builtin=True),
    ModuleSpec("ab", (CallsiteSpec("ab", "ab", "lib/zz.c", "x", 3),), builtin=True),
)
MODULE = ModuleSpec("m", (CallsiteSpec("m", "init", "m.c", "ok\n", 5),
                          CallsiteSpec("m", "probe", "m.c", "bar %d-%d\n", 9)))


@pytest.fixture(scope="module", params=BUILDS, ids=[f"{v}-{'jl' if jl else 'nojl'}"
                                                    for v, jl in BUILDS])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool, KernelServer]]:
    version, jump_label = request.param
    source = require_kernel(version)
    built = build(dyndbg_area(source, jump_label), source)
    with KernelServer(built) as s:
        yield version, jump_label, s


class Booted:
    """A real kernel and the model kernel booted from the same linked vmlinux."""

    def __init__(self, version: str, jump_label: bool, server: KernelServer,
                 cmdline: str = "") -> None:
        self.era = era_of(version)
        self.jump_label = jump_label
        abi = get_abi("x86_64")
        self.space = AddressSpace(abi)
        ctx = KernelContext(nr_cpus=2, space=self.space)
        self.vmlinux = link_vmlinux(self.space, self.era, jump_label, BUILTIN)
        self.model = DyndbgKernel.boot(builtin_designs()["section"], abi, self.era, jump_label,
                                       BUILTIN, ctx=ctx, vmlinux=self.vmlinux)
        self.kernel = server.new_kernel()
        self.real = RealDyndbg(self.kernel)
        self.boot = self.real.boot(self.vmlinux, self.space, jump_label, cmdline)


@pytest.fixture
def booted(server: tuple[str, bool, KernelServer]) -> Iterator[Booted]:
    b = Booted(*server)
    yield b
    b.kernel.close()


def test_boot_and_the_control_file_equal_the_model(booted: Booted) -> None:
    assert booted.boot.value == 0
    assert booted.boot.log == ()
    text = booted.real.control_read().value
    assert text == booted.model.control_read()
    assert text.startswith("# filename:lineno [module]function flags format\n")
    # 6.1+: '"' is not escaped, a tab is \t
    assert 'drivers/foo.c:20 [foo]f =p "say "hi"\\n"\n' in text


def test_queries_change_flags_as_in_the_model(booted: Booted) -> None:
    for q in ("module foo +pmf", "func ab =pl", "file a.c -p", "format probe +t",
              "file drivers/foo.c:1-15 +p"):
        got = booted.real.control_write(q)
        want = booted.model.control_write(q)
        assert got.value == want.rc == len(q)
        assert booted.real.control_read().value == booted.model.control_read()
    site = booted.real.site("vmlinux", 0).value
    assert isinstance(site, RealSite)
    assert booted.real.exec_queries("module nope +p").value == 0


def test_a_malformed_query_logs_the_kernels_error_and_gives_einval(booted: Booted) -> None:
    got = booted.real.control_write("frobnicate foo +p")
    assert got.value == -22
    assert got.log == ('dyndbg: unknown keyword "frobnicate"', "dyndbg: query parse failed")
    want = booted.model.control_write("frobnicate foo +p")
    assert (want.rc, want.messages) == (got.value, got.log)
    bad = booted.real.control_write("+q")
    assert bad.value == -22 and bad.log == ("dyndbg: unknown flag 'q'",
                                            "dyndbg: flags parse failed")


#: Writes a C-string parser and a Python one would read differently: a NUL ends the queries but
#: not the write's length; a "\000" in a format word ends the format.
NUL_WRITES = ("module foo +p\0; module ab +p", "\0garbage", "\0", "bogus\0module ab +p",
              "func ab +p\0" + "x" * 4090, 'format "pro\\000zzz" +p', "format \\000 +p",
              "format a\\000b format c +p", "format '\\000' =pl")


def test_a_nul_ends_the_queries_as_in_the_model(booted: Booted) -> None:
    for q in NUL_WRITES:
        got = booted.real.control_write(q)
        want = booted.model.control_write(q)
        assert (got.value, got.log) == (want.rc, want.messages), q
        assert booted.real.control_read().value == booted.model.control_read(), q
    got = booted.real.exec_queries("module foo -p\0module ab -p")
    want = booted.model.exec_queries("module foo -p\0module ab -p")
    assert got.value == want.rc == 3
    assert booted.real.control_read().value == booted.model.control_read()


def test_boot_parameters_apply_at_init(server: tuple[str, bool, KernelServer]) -> None:
    b = Booted(*server, cmdline='quiet dyndbg="module ab +p" foo.dyndbg=+pf kvm.dyndbg')
    try:
        assert b.boot.value == 0
        for name, val in (("dyndbg", "module ab +p"), ("foo.dyndbg", "+pf"),
                          ("kvm.dyndbg", None)):
            core.ddebug_exec_queries(b.model.design, val or "+p",
                                     None if name == "dyndbg" else name.split(".")[0])
        assert b.real.control_read().value == b.model.control_read()
        assert "[foo]foo_probe =pf " in b.real.control_read().value
    finally:
        b.kernel.close()


def _index(image: ModuleImage, function: str) -> int:
    """The record index (section order) of ``function``'s callsite."""
    return next(i for i, c in enumerate(image.callsites) if c.spec.function == function)


def _module(b: Booted) -> ModuleImage:
    return link_module(b.space, b.era, b.jump_label, MODULE)


def test_insmod_with_dyndbg_and_rmmod(booted: Booted) -> None:
    image = _module(booted)
    got = booted.real.insmod(image, booted.space, "+pm", True)
    assert got.value == 0
    assert booted.model.insmod_image(image, "+pm", True) == 0
    assert booted.real.control_read().value == booted.model.control_read()
    assert "m.c:9 [m]probe =pm " in booted.real.control_read().value
    k = _index(image, "probe")
    assert booted.real.hit("m", k, "softirq", 0).value == ("m: ", "bar %d-%d\n")
    ev = booted.model.hit("m", k, "softirq", 0)
    assert ev is not None and (ev.prefix, ev.message) == ("m: ", "bar %d-%d\n")
    assert booted.real.rmmod("m").value == booted.model.rmmod("m") == 0
    assert booted.real.site("m", 0).value is None
    assert booted.real.hit("m", 0, "process", 0).value is None
    assert booted.real.control_read().value == booted.model.control_read()


def test_a_hit_in_hardirq_with_t_prints_intr(booted: Booted) -> None:
    k = _index(booted.vmlinux, "foo_probe")
    assert booted.real.hit("vmlinux", k, "process", 0).value is None  # off
    booted.real.control_write("func foo_probe +pt")
    booted.model.control_write("func foo_probe +pt")
    got = booted.real.hit("vmlinux", k, "hardirq", 1)
    assert got.value == ("<intr> ", "probe %d\n")
    assert got.log == ("<intr> probe %d",)
    assert got.events[0].line == 7  # KERN_DEBUG
    assert got.splats == ()  # nothing sleeps on the print path
    for context, cpu in (("hardirq", 1), ("softirq", 0), ("process", 1)):
        ev = booted.model.hit("vmlinux", k, context, cpu)
        assert ev is not None
        assert booted.real.hit("vmlinux", k, context, cpu).value == (ev.prefix, ev.message)
    assert booted.real.hit("vmlinux", k, "process", 1).value == ("[101] ", "probe %d\n")
    site = booted.real.site("vmlinux", k).value
    assert site.flags == 0x11
    assert site.key_enabled is (True if booted.jump_label else None)


def test_the_record_layout_is_the_models(booted: Booted) -> None:
    size, align, fields = booted.real.layout()
    want = ddebug_layout(get_abi("x86_64"), "v6.1", booted.jump_label)
    assert size == want.size
    assert align == 8
    assert fields, "no fields reported"
    for f in fields:
        m = want.member(f.name)
        assert (f.offset_bits, f.size_bits) == (m.offset_bits, m.size_bits), f.name


def test_strings_keep_the_models_page_offsets(booted: Booted) -> None:
    odd = 0
    for k, c in enumerate(booted.vmlinux.callsites):
        addrs = booted.real.site_addrs("vmlinux", k).value
        record, here, model = addrs[0], addrs[1:5], addrs[5:9]
        assert record % 4096 == booted.vmlinux.record_addr(k) % 4096
        assert model == (c.modname, c.function, c.filename, c.format)
        for h, m in zip(here, model, strict=True):
            assert h % 4096 == m % 4096
            odd += m & 1
    assert odd, "the layout gave no odd pointer to check"


def test_features_come_from_the_source(server: tuple[str, bool, KernelServer]) -> None:
    version = server[0]
    feats = features(require_kernel(version))
    assert ("DYNDIET_MODULE_NOTIFIER" in feats) == (version == "6.12")
    assert ("DYNDIET_SOURCENAME" in feats) == (version == "6.12")
    assert "DYNDIET_CLASSES" in feats


def test_a_large_control_file_read_in_small_chunks(server: tuple[str, bool, KernelServer]
                                                   ) -> None:
    version, jump_label, srv = server
    era = era_of(version)
    sites = tuple(CallsiteSpec("big", f"fn{i % 7}", f"drivers/big/f{i % 5}.c",
                               f"message number {i} with some text\n", 100 + i)
                  for i in range(250))
    # one line longer than a page: seq_read starts again with a bigger buffer
    sites += (CallsiteSpec("big", "huge", "drivers/big/h.c", "y" * 4090, 99),)
    builtin = (*BUILTIN, ModuleSpec("big", sites, builtin=True))
    abi = get_abi("x86_64")
    space = AddressSpace(abi)
    image = link_vmlinux(space, era, jump_label, builtin)
    model = DyndbgKernel.boot(builtin_designs()["section"], abi, era, jump_label, builtin,
                              space=space, vmlinux=image)
    k = srv.new_kernel()
    try:
        real = RealDyndbg(k)
        assert real.boot(image, space, jump_label).value == 0
        want = model.control_read()
        assert len(want) > 4 * 4096  # many reads of one seq_file buffer
        assert real.control_read().value == want
        assert real.control_read(chunk=100).value == want
        assert real.control_read(chunk=1).value[:300] == want[:300]
    finally:
        k.close()


def test_an_empty_builtin_table_fails_init_and_makes_no_control_file(
        server: tuple[str, bool, KernelServer]) -> None:
    version, jump_label, srv = server
    space = AddressSpace(get_abi("x86_64"))
    image = link_vmlinux(space, era_of(version), jump_label, ())
    k = srv.new_kernel()
    try:
        real = RealDyndbg(k)
        res = real.boot(image, space, jump_label)
        assert res.value == 1
        assert res.log == ("dyndbg: _ddebug table is empty in a CONFIG_DYNAMIC_DEBUG build",)
        assert real.control_read().value == -2
        assert real.control_write("+p").value == -2
    finally:
        k.close()


def test_an_odd_pointer_stays_odd(booted: Booted) -> None:
    image = _module(booted)
    booted.real.insmod(image, booted.space, None, False)
    seen = []
    for k, c in enumerate(image.callsites):
        addrs = booted.real.site_addrs("m", k).value
        seen += [(h & 1, m & 1) for h, m in zip(addrs[1:5], addrs[5:9], strict=True)]
        assert addrs[5:9] == (c.modname, c.function, c.filename, c.format)
    assert all(h == m for h, m in seen)
    assert (1, 1) in seen, "the module's layout gave no odd pointer"
    site = booted.real.site("m", 0).value
    assert isinstance(site, RealSite) and site.modname == "m"
