"""The fork server: a fault, a BUG, a hang or a dying worker inside built code ends the call
with a typed finding, never the Python process; the next kernel is fresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.build import build
from kernel.process import KernelDied, KernelHang, KernelOops, KernelServer
from kernel.selftest import SELFTEST
from kernel.sources import KernelSource
from model.errors import BugOn, InputError
from tests.kernel_fixtures import require_gcc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelServer]:
    require_gcc()
    tree = tmp_path_factory.mktemp("tree")
    built = build(SELFTEST, KernelSource(tree, "0", "none"))
    with KernelServer(built, watchdog_ms=300, call_timeout=3.0) as s:
        yield s


def test_a_call_returns_its_value_and_log(server: KernelServer) -> None:
    res = server.new_kernel().call("run", 0)
    assert res.value == 0
    assert res.log == ("hello 42",)


def test_a_fault_is_an_oops_with_the_address_and_the_line(server: KernelServer) -> None:
    k = server.new_kernel()
    with pytest.raises(KernelOops) as info:
        k.call("run", 1)
    assert info.value.addr == 0x10
    assert "unable to handle page fault for address: 0000000000000010" in info.value.message
    assert info.value.site.startswith("kernel/shim/selftest/glue.c:")
    notes = getattr(info.value, "__notes__", [])
    assert notes[0] == "Call Trace:"  # innermost first, the harness's own frames left out
    assert notes[1].startswith(" deref kernel/shim/selftest/glue.c:")
    assert any(n.startswith(" h_selftest kernel/shim/selftest/glue.c:") for n in notes)
    with pytest.raises(KernelOops):  # the kernel stays dead
        k.call("run", 0)
    assert server.new_kernel().call("run", 0).value == 0  # the next one is fresh


def test_bug_returns_with_the_kernel_message(server: KernelServer) -> None:
    with pytest.raises(BugOn) as info:
        server.new_kernel().call("run", 2)
    assert info.value.message.startswith("kernel BUG at kernel/shim/selftest/glue.c:")


def test_an_endless_loop_is_a_soft_lockup_at_its_line(server: KernelServer) -> None:
    with pytest.raises(KernelHang) as info:
        server.new_kernel().call("run", 3)
    assert "soft lockup" in info.value.message
    assert info.value.site.startswith("kernel/shim/selftest/glue.c:")


def test_a_hang_the_watchdog_cannot_end_is_ended_by_the_deadline(server: KernelServer) -> None:
    with pytest.raises(KernelHang) as info:
        server.new_kernel().call("run", 6, timeout=1.0)
    assert "did not return within 1s" in info.value.message
    assert server.new_kernel().call("run", 0).value == 0


def test_a_worker_that_dies_is_reported_and_replaced(server: KernelServer) -> None:
    with pytest.raises(KernelDied) as info:
        server.new_kernel().call("run", 7)
    assert "SIGABRT" in info.value.message
    assert server.new_kernel().call("run", 0).value == 0


def test_sleeping_in_atomic_context_is_a_splat_the_kernel_survives(server: KernelServer) -> None:
    res = server.new_kernel().call("run", 4)
    assert res.value == 4
    (splat,) = res.splats
    assert splat.message.startswith("BUG: sleeping function called from invalid context at "
                                    "kernel/shim/selftest/glue.c:")


def test_a_file_that_does_not_compile_is_one_line_with_the_first_error(tmp_path: Path) -> None:
    require_gcc()
    import attrs

    broken = tmp_path / "broken.c"
    broken.write_text("int f(void) { return nope; }\n")
    area = attrs.evolve(SELFTEST, name="broken", kernel_units=("broken.c",))
    with pytest.raises(InputError) as info:
        build(area, KernelSource(tmp_path, "0", "none"))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("does not compile: broken.c:1:")
    assert "'nope' undeclared" in msg
