"""The control file, the print decision and prefix, static keys, tables: per era, through the
``section`` design (the core reaches callsites only through the design)."""

from __future__ import annotations

import pytest

from model.abi import get_abi
from model.designs.harness import DyndbgKernel
from model.designs.section import SectionDesign
from model.dyndbg import core
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.errors import InputError, SleepingInInvalidContext
from model.linker import ExplicitRecord, image_from_placements
from model.memory import AddressSpace

X86 = get_abi("x86_64")


def mods() -> list[ModuleSpec]:
    return [ModuleSpec("moda", (CallsiteSpec("moda", "probe", "drivers/a.c", "hello %d\n", 10),
                                CallsiteSpec("moda", "probe", "drivers/a.c", "tab\there \"q\"\n",
                                             11),
                                CallsiteSpec("moda", "remove", "drivers/a.c", "bye\n", 20)),
                       builtin=True),
            ModuleSpec("modb", (CallsiteSpec("modb", "xfer", "lib/b.c", "xfer done\n", 7,
                                             flags=1),), builtin=True)]


def boot(era: str = "v6.1", jump_label: bool = True) -> DyndbgKernel:
    return DyndbgKernel.boot(SectionDesign, X86, era, jump_label, mods())


E1000 = ModuleSpec("e1000e", (CallsiteSpec("e1000e", "e1000_probe", "drivers/net/netdev.c",
                                           "probe %s\n", 100),
                              CallsiteSpec("e1000e", "e1000_rx", "drivers/net/rx.c", "rx\n", 5)))


# --- the control file -------------------------------------------------------------------------------

def test_control_file_v61() -> None:
    """v6.1: tables in add order (list_add_tail), callsites walked N-1..0 (which on x86, where
    GCC emits records backwards, is source order), ESCAPE_SPACE escapes."""
    k = boot("v6.1")
    assert k.control_read() == (
        "# filename:lineno [module]function flags format\n"
        'drivers/a.c:10 [moda]probe =_ "hello %d\\n"\n'
        'drivers/a.c:11 [moda]probe =_ "tab\\there "q"\\n"\n'
        'drivers/a.c:20 [moda]remove =_ "bye\\n"\n'
        'lib/b.c:7 [modb]xfer =p "xfer done\\n"\n')


def test_control_file_v58() -> None:
    """v5.8: list_add_tail (5.9 made it LIFO, 6.1 undid that), callsites 0..N-1 (backwards on
    x86, where GCC emits a TU's records last-defined first), octal escapes."""
    k = boot("v5.8")
    assert k.control_read() == (
        "# filename:lineno [module]function flags format\n"
        'drivers/a.c:20 [moda]remove =_ "bye\\012"\n'
        'drivers/a.c:11 [moda]probe =_ "tab\\011here \\042q\\042\\012"\n'
        'drivers/a.c:10 [moda]probe =_ "hello %d\\012"\n'
        'lib/b.c:7 [modb]xfer =p "xfer done\\012"\n')


def test_flags_render_in_opt_array_order() -> None:
    k = DyndbgKernel.boot(SectionDesign, X86, "v6.19", True, mods())
    k.control_write("func remove =dtlsfmp")
    assert 'drivers/a.c:20 [moda]remove =pmfsltd "bye\\n"' in k.control_read()


def test_modules_come_and_go() -> None:
    k = boot("v6.1")
    k.late_init()
    assert k.insmod(E1000) == 0
    lines = k.control_read().splitlines()
    assert lines[-2:] == ['drivers/net/rx.c:5 [e1000e]e1000_rx =_ "rx\\n"',
                          'drivers/net/netdev.c:100 [e1000e]e1000_probe =_ "probe %s\\n"']
    assert k.rmmod("e1000e") == 0
    assert "e1000e" not in k.control_read()
    assert k.design.remove_module("e1000e") == -2  # -ENOENT
    with pytest.raises(InputError):
        k.rmmod("e1000e")


def test_module_param() -> None:
    """``e1000e.dyndbg=...``: the queries run with the module's name (v6.1: unless the query
    names another module); no value means ``+p``."""
    k = boot("v6.1")
    k.insmod(E1000, "func e1000_rx +pf", with_param=True)
    assert '[e1000e]e1000_rx =pf "rx\\n"' in k.control_read()
    assert '[e1000e]e1000_probe =_' in k.control_read()
    k2 = boot("v6.1")
    k2.insmod(E1000, None, with_param=True)
    assert [ln.split()[2] for ln in k2.control_read().splitlines() if "[e1000e]" in ln] == [
        "=p", "=p"]
    k3 = boot("v6.1")
    k3.insmod(E1000, "module moda func remove +p", with_param=True)
    assert '[moda]remove =p' in k3.control_read()
    assert core.ddebug_dyndbg_module_param_cb(k3.design, "debug", "1", "e1000e") == -2


def test_builtin_split_follows_modname_changes() -> None:
    """dynamic_debug_init starts a table at every modname change: a module whose records are not
    contiguous gets two tables (the linker normally keeps them together)."""
    space = AddressSpace(X86)
    strings = {0x2000: "moda", 0x2010: "modb", 0x2020: "f", 0x2030: "a.c", 0x2040: "x\n"}
    recs = [ExplicitRecord(m, 0x2020, 0x2030, 0x2040, n + 1)
            for n, m in enumerate((0x2000, 0x2010, 0x2000))]
    img = image_from_placements(space, "v6.1", True, "vmlinux", True, 0x4000, recs, strings)
    from model.context import KernelContext

    d = SectionDesign(X86, "v6.1", True, space, KernelContext(space=space))
    d.dynamic_debug_init(img)
    assert [(t.mod_name, t.num_ddebugs) for t in d.tables()] == [("moda", 1), ("modb", 1),
                                                                  ("moda", 1)]


# --- the print path -----------------------------------------------------------------------------------

def _hit(k: DyndbgKernel, module: str, func: str, context: str = "process",
         cpu: int = 0) -> core.PrintEvent | None:
    image = k.vmlinux if module in ("moda", "modb") else k.modules[module]
    idx = next(n for n, c in enumerate(image.callsites)
               if c.spec.modname == module and c.spec.function == func)
    return k.hit(image.name, idx, context, cpu)


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.19"])
def test_print_decision_and_prefix(era: str) -> None:
    k = boot(era)
    assert _hit(k, "moda", "remove") is None  # disabled by default
    ev = _hit(k, "modb", "xfer")  # compiled with DEBUG: on from the start
    assert ev is not None and ev.text == "xfer done\n"
    k.control_write("func remove +pmfl")
    ev = _hit(k, "moda", "remove")
    assert ev is not None and ev.prefix == "moda:remove:20: " and ev.message == "bye\n"
    k.control_write("func remove =pt")
    assert _hit(k, "moda", "remove", cpu=1).prefix == "[101] "  # type: ignore[union-attr]
    assert _hit(k, "moda", "remove", "softirq").prefix == "<intr> "  # type: ignore[union-attr]
    ev = _hit(k, "moda", "remove", "hardirq", 1)
    assert ev is not None and (ev.prefix, ev.cpu, ev.context) == ("<intr> ", 1, "hardirq")


def test_sourcename_and_stack_flags_v619() -> None:
    k = DyndbgKernel.boot(SectionDesign, X86, "v6.19", True, mods())
    k.control_write("func remove +pmfsld")
    ev = _hit(k, "moda", "remove")
    assert ev is not None
    assert ev.prefix == "moda:remove:drivers/a.c:20: "
    assert ev.dump_stack


def test_prefix_is_cut_at_prefix_size() -> None:
    long_func = "f" * 200
    m = [ModuleSpec("m", (CallsiteSpec("m", long_func, "a.c", "x\n", 1, flags=1),), builtin=True)]
    for era, size in (("v6.1", 64), ("v6.19", 128)):
        k = DyndbgKernel.boot(SectionDesign, X86, era, True, m)
        k.control_write("+mf")
        ev = k.hit("vmlinux", 0)
        assert ev is not None and len(ev.prefix) == size - 1
        assert ev.prefix.startswith("m:fff")


def test_static_keys_follow_p() -> None:
    k = boot("v6.1")
    d = k.design
    dt = d.table("moda")
    assert dt is not None
    i = next(n for n in range(dt.num_ddebugs)
             if core.cstr(d, d.get_site(dt, n).function) == "remove")
    assert not d.static_key_enabled(dt, i)
    k.control_write("func remove +p")
    assert d.static_key_enabled(dt, i)
    k.control_write("func remove +m")
    assert d.static_key_enabled(dt, i)
    k.control_write("func remove -p")
    assert not d.static_key_enabled(dt, i)
    assert d.get_flags(dt, i) == 2


def test_v58_static_key_quirk() -> None:
    """v5.8 decides the key on the modifier flags: ``+m`` on an enabled callsite disables its
    static key while the flags still say ``p`` (fixed by ee879be38bc8 in v6.1).  With
    JUMP_LABEL the callsite then stays silent; without, it prints."""
    k = boot("v5.8", jump_label=True)
    k.control_write("func remove +p")
    assert _hit(k, "moda", "remove") is not None
    k.control_write("func remove +m")
    assert "[moda]remove =pm" in k.control_read()
    assert _hit(k, "moda", "remove") is None
    k2 = boot("v5.8", jump_label=False)
    k2.control_write("func remove +p")
    k2.control_write("func remove +m")
    assert _hit(k2, "moda", "remove") is not None
    k3 = boot("v6.1", jump_label=True)
    k3.control_write("func remove +p")
    k3.control_write("func remove +m")
    assert _hit(k3, "moda", "remove") is not None


def test_control_writes_may_sleep() -> None:
    """ddebug_change takes ddebug_lock (a mutex): writing the control file from interrupt
    context is a sleeping call in atomic context."""
    k = boot("v6.1")
    k.ctx.enter_hardirq()
    with pytest.raises(SleepingInInvalidContext):
        k.control_write("+p")
    k.ctx.exit_hardirq()
    assert k.control_write("+p").rc == 2
