"""model.context: CPUs, preempt_count, interrupt context, sleeping calls, pages, kmalloc."""

from __future__ import annotations

import pytest

from model.abi import get_abi
from model.context import HARDIRQ_OFFSET, SOFTIRQ_OFFSET, KernelContext
from model.errors import BadAccess, BadHandle, DoubleFree, InputError, SleepingInInvalidContext
from model.gfp import (
    GFP_ATOMIC,
    GFP_KERNEL,
    GFP_NOIO,
    GFP_NOWAIT,
    gfp_name,
    gfpflags_allow_blocking,
)
from model.memory import AddressSpace
from model.slab import KmemCache


def make() -> tuple[AddressSpace, KernelContext]:
    space = AddressSpace(get_abi("x86_64"))
    return space, KernelContext(space=space)


def test_gfp_flags() -> None:
    assert gfpflags_allow_blocking(GFP_KERNEL)
    assert gfpflags_allow_blocking(GFP_NOIO)
    assert not gfpflags_allow_blocking(GFP_ATOMIC)
    assert not gfpflags_allow_blocking(GFP_NOWAIT)
    assert GFP_KERNEL == 0xCC0 and GFP_ATOMIC == 0xA20  # include/linux/gfp.h, v5.8
    assert gfp_name(GFP_KERNEL) == "GFP_KERNEL"


def test_preempt_count_and_context() -> None:
    _, ctx = make()
    assert not ctx.in_atomic() and not ctx.in_interrupt()
    ctx.preempt_disable()
    assert ctx.in_atomic() and not ctx.in_interrupt() and ctx.preempt_count() == 1
    ctx.preempt_enable()
    ctx.enter_softirq()
    assert ctx.in_interrupt() and ctx.in_softirq() and ctx.preempt_count() == SOFTIRQ_OFFSET
    ctx.exit_softirq()
    ctx.enter_hardirq()
    assert ctx.in_irq() and ctx.irqs_disabled() and ctx.preempt_count() == HARDIRQ_OFFSET
    assert ctx.context_name() == "hardirq"
    ctx.exit_hardirq()
    assert not ctx.irqs_disabled() and ctx.preempt_count() == 0


def test_counts_are_per_cpu() -> None:
    _, ctx = make()
    ctx.preempt_disable()
    ctx.switch_cpu(1)
    assert ctx.preempt_count() == 0
    ctx.might_sleep("x.c:1")  # CPU1 may sleep
    ctx.switch_cpu(0)
    assert ctx.preempt_count() == 1
    with pytest.raises(InputError):
        ctx.switch_cpu(2)


def test_might_sleep_splat() -> None:
    _, ctx = make()
    ctx.might_sleep("mm/slab.h:567")
    ctx.preempt_disable()
    with pytest.raises(SleepingInInvalidContext) as exc:
        ctx.might_sleep("mm/slab.h:567")
    assert exc.value.message == ("BUG: sleeping function called from invalid context at "
                                 "mm/slab.h:567")
    assert "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 100" in exc.value.__notes__[0]
    ctx.preempt_enable()
    ctx.enter_hardirq()
    with pytest.raises(SleepingInInvalidContext, match="sleeping function"):
        ctx.mutex_lock()


def test_unbalanced_preempt_enable_is_a_bug() -> None:
    _, ctx = make()
    with pytest.raises(Exception, match="preempt_count underflow"):
        ctx.preempt_enable()


def test_kmalloc_sleeps_only_when_gfp_allows() -> None:
    space, ctx = make()
    ctx.preempt_disable()
    a = ctx.kmalloc(100, GFP_ATOMIC)
    assert a and a % 8 == 0
    with pytest.raises(SleepingInInvalidContext):
        ctx.kmalloc(100, GFP_KERNEL)
    ctx.preempt_enable()
    b = ctx.kmalloc(100, GFP_KERNEL)
    assert b != a and abs(b - a) >= 128  # the kmalloc-128 cache
    space.write(a, b"x" * 100)
    ctx.kfree(a)
    with pytest.raises(DoubleFree) as twice:
        ctx.kfree(a)
    assert twice.value.value == a
    with pytest.raises(BadHandle) as foreign:
        ctx.kfree(a + 1)
    assert foreign.value.value == a + 1
    ctx.kfree(0)


def test_fault_injection_and_pages() -> None:
    space, ctx = make()
    ctx.inject_alloc_failure(2)
    assert ctx.alloc_page(GFP_KERNEL) is None
    assert ctx.kmalloc(8, GFP_KERNEL) == 0
    frame = ctx.alloc_page(GFP_KERNEL)
    assert frame is not None and frame.addr == space.abi.page_offset + frame.pfn * 4096
    space.write(frame.addr + 4095, b"z")
    ctx.free_page(frame)
    with pytest.raises(BadAccess) as fault:
        space.read(frame.addr, 1)
    assert fault.value.value == frame.addr
    again = ctx.alloc_page(GFP_KERNEL)
    assert again is not None and again.pfn == frame.pfn  # LIFO reuse, deterministic
    assert space.read(again.addr + 4095, 1) == b"\0"


def test_slab_objects_are_aligned_and_lifo() -> None:
    space, ctx = make()
    cache = KmemCache("zs_handle", 8, ctx)
    objs = [cache.alloc(GFP_KERNEL) for _ in range(3)]
    assert all(o and o % 8 == 0 for o in objs) and objs[1] - objs[0] == 8
    cache.free(objs[1])
    assert space.read_word(objs[1]) == objs[2] + 8  # the free pointer: the next free object
    assert cache.alloc(GFP_KERNEL) == objs[1]
    i386 = AddressSpace(get_abi("i386"))
    c32 = KmemCache("zs_handle", 4, KernelContext(space=i386))
    a, b = c32.alloc(GFP_KERNEL), c32.alloc(GFP_KERNEL)
    assert b - a == 8  # ARCH_SLAB_MINALIGN is __alignof__(unsigned long long) == 8


def test_attach_and_bad_cpus() -> None:
    space, ctx = make()
    with pytest.raises(InputError):
        ctx.attach(AddressSpace(get_abi("x86_64")))
    assert ctx.attach(space) is space
    with pytest.raises(InputError):
        KernelContext(nr_cpus=0)
    with pytest.raises(InputError):
        KernelContext().kmalloc(8, GFP_KERNEL)
