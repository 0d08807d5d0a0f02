"""Unit facts of the built-in designs: re-linking, line numbers, the pool era."""

from __future__ import annotations

import pytest

from model.abi import get_abi
from model.designs import builtin_designs
from model.designs.harness import DyndbgKernel
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.errors import BadAccess

BIG = (ModuleSpec("foo", (CallsiteSpec("foo", "probe", "a.c", "ok\n", 70000),), builtin=True),)
FOO = (ModuleSpec("foo", (CallsiteSpec("foo", "probe", "a.c", "ok\n", 7),
                          CallsiteSpec("foo", "ab", "b.c", "x %d\n", 9)), builtin=True),)


def boot(name: str, era: str = "v6.1", jump_label: bool = True,
         specs: tuple[ModuleSpec, ...] = FOO) -> DyndbgKernel:
    return DyndbgKernel.boot(builtin_designs()[name], get_abi("x86_64"), era, jump_label, specs)


def test_every_seed_design_is_registered() -> None:
    from model.designs import SEED_DESIGNS

    assert set(SEED_DESIGNS) == {"zpool-copy", "odd-tag-before", "odd-tag-after", "union-flag",
                                 "flags-vector", "split", "cache"}
    for cls in builtin_designs().values():
        assert cls.title and cls.source


def test_split_keeps_sixteen_bits_of_line_number() -> None:
    """Aug 2020 4/7: ``lineno:16`` ("was lineno:18")."""
    assert ":70000 " in boot("section", specs=BIG).control_read()
    assert f":{70000 % 65536} " in boot("split", specs=BIG).control_read()


@pytest.mark.parametrize("name", [n for n in builtin_designs() if n != "section"])
def test_relinked_records_leave_the_linkers_section(name: str) -> None:
    k = boot(name)
    with pytest.raises(BadAccess):
        k.space.read(k.vmlinux.records_addr, 8)
    if name != "odd-tag-after":  # its misread is the finding (tests/test_dyndbg_machine.py)
        assert k.control_read() == boot("section").control_read()


@pytest.mark.parametrize("era,pool_era", [("v5.8", "v5.8"), ("v6.1", "v6.1"),
                                          ("v6.12", "v6.12"), ("v6.19", "current")])
def test_the_pool_follows_the_era(era: str, pool_era: str) -> None:
    k = boot("zpool-copy", era)
    k.late_init()
    assert k.design.zpool.pool.era == pool_era
    assert k.control_read() == boot("section", era).control_read()
