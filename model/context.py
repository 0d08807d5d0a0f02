"""Kernel execution context: CPUs, preemption, softirq/hardirq context, sleeping calls, page frames.

The model kernel runs one task per CPU; :attr:`KernelContext.cpu` says which CPU executes the
next step (a context switch between CPUs is :meth:`KernelContext.switch_cpu`).  Each CPU has its
own ``preempt_count`` laid out as the kernel lays it out (include/linux/preempt.h, v5.8):

====================  ==========  ===========================================
field                 mask        changed by
====================  ==========  ===========================================
``PREEMPT_MASK``      0x000000ff  ``preempt_disable()``, spin locks, ``kmap_atomic``
``SOFTIRQ_MASK``      0x0000ff00  softirq entry (``SOFTIRQ_OFFSET``)
``HARDIRQ_MASK``      0x000f0000  hardirq entry (``HARDIRQ_OFFSET``)
``NMI_MASK``          0x00100000  NMI entry
====================  ==========  ===========================================

``in_interrupt()`` is ``preempt_count() & (HARDIRQ_MASK | SOFTIRQ_MASK | NMI_MASK)`` and
``in_atomic()`` is ``preempt_count() != 0``.  A sleeping call (:meth:`KernelContext.might_sleep`)
in atomic context or with interrupts off raises
:class:`~model.errors.SleepingInInvalidContext` carrying the lines ``___might_sleep()``
(kernel/sched/core.c, v5.8) prints.

The context also owns the model's page frames (``alloc_page``/``__free_page`` of
mm/page_alloc.c): order-0 pages in the kernel's linear map, each a region of the
:class:`~model.memory.AddressSpace` at ``PAGE_OFFSET + (pfn << PAGE_SHIFT)``, and ``kmalloc``
(the generic kmalloc caches, ``model.slab``).  Deterministic: pfns are handed out in order and
freed ones are reused last-in first-out; nothing depends on a clock or on randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from model.errors import InputError, KernelBug, SleepingInInvalidContext
from model.gfp import (
    GFP_ATOMIC,
    GFP_DIRECT_RECLAIM_BIT,
    GFP_HIGHMEM_BIT,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_MOVABLE_BIT,
    GFP_NOWAIT,
    GFP_ZERO_BIT,
    SITE_PAGE_ALLOC,
    SITE_SLAB_PRE_ALLOC,
    gfp_name,
    gfpflags_allow_blocking,
)
from model.memory import AddressSpace, PageFrame
from model.slab import KmallocCaches

#: The GFP names and :class:`PageFrame` are re-exported for the callers that took them from
#: here; they are defined in :mod:`model.gfp` and :mod:`model.memory`.
__all__ = [
    "GFP_ATOMIC", "GFP_DIRECT_RECLAIM_BIT", "GFP_HIGHMEM_BIT", "GFP_HIGHUSER_MOVABLE",
    "GFP_KERNEL", "GFP_MOVABLE_BIT", "GFP_NOWAIT", "GFP_ZERO_BIT", "SITE_PAGE_ALLOC",
    "SITE_SLAB_PRE_ALLOC", "KernelContext", "PageFrame", "gfp_name", "gfpflags_allow_blocking",
]

# --- include/linux/preempt.h, v5.8 --------------------------------------------------------
PREEMPT_BITS = 8
SOFTIRQ_BITS = 8
HARDIRQ_BITS = 4
NMI_BITS = 1
PREEMPT_SHIFT = 0
SOFTIRQ_SHIFT = PREEMPT_SHIFT + PREEMPT_BITS
HARDIRQ_SHIFT = SOFTIRQ_SHIFT + SOFTIRQ_BITS
NMI_SHIFT = HARDIRQ_SHIFT + HARDIRQ_BITS
PREEMPT_MASK = ((1 << PREEMPT_BITS) - 1) << PREEMPT_SHIFT
SOFTIRQ_MASK = ((1 << SOFTIRQ_BITS) - 1) << SOFTIRQ_SHIFT
HARDIRQ_MASK = ((1 << HARDIRQ_BITS) - 1) << HARDIRQ_SHIFT
NMI_MASK = ((1 << NMI_BITS) - 1) << NMI_SHIFT
PREEMPT_OFFSET = 1 << PREEMPT_SHIFT
SOFTIRQ_OFFSET = 1 << SOFTIRQ_SHIFT
HARDIRQ_OFFSET = 1 << HARDIRQ_SHIFT
NMI_OFFSET = 1 << NMI_SHIFT

#: Where the other sleeping calls of the model call ``might_sleep()`` (the allocators' sites are
#: :mod:`model.gfp`'s): the function name stands in for the v5.8 line (docs/context.md).
SITE_MUTEX_LOCK = "kernel/locking/mutex.c:mutex_lock"
SITE_COND_RESCHED = "include/linux/sched.h:cond_resched"

#: Start of the model's page frames: 256 MiB into physical memory, far from the kernel image and
#: the module area, so other parts of the model can place regions elsewhere.
PFN_BASE_BYTES = 256 << 20


@attrs.define(slots=True, eq=False)
class KernelContext:
    """The CPUs of the model kernel and what each is doing (process, softirq, hardirq).

    ``space`` is the address space the context's pages and ``kmalloc`` objects live in; a pool
    created with a context attaches it (:meth:`attach`).
    """

    nr_cpus: int = 2
    cpu: int = 0
    space: AddressSpace | None = None
    #: ``current->pid`` / ``current->comm`` of the task on each CPU (what the splat prints).
    pid_base: int = 100
    comm: str = "dyndiet"
    _preempt: list[int] = attrs.field(factory=list)
    _irqs_off: list[bool] = attrs.field(factory=list)
    _pagefault_off: list[int] = attrs.field(factory=list)
    _percpu: dict[str, list[Any]] = attrs.field(factory=dict)
    _free_pfns: list[int] = attrs.field(factory=list)
    _next_pfn: int = -1
    _fail_allocs: int = 0
    _kmalloc: KmallocCaches | None = None

    def __attrs_post_init__(self) -> None:
        if self.nr_cpus < 1:
            raise InputError(f"nr_cpus must be >= 1, not {self.nr_cpus}")
        if not 0 <= self.cpu < self.nr_cpus:
            raise InputError(f"cpu {self.cpu} out of range 0..{self.nr_cpus - 1}")
        self._preempt = [0] * self.nr_cpus
        self._irqs_off = [False] * self.nr_cpus
        self._pagefault_off = [0] * self.nr_cpus

    # --- address space --------------------------------------------------------------------
    def attach(self, space: AddressSpace) -> AddressSpace:
        """Bind the context to ``space`` (once); the pages and kmalloc objects live there."""
        if self.space is None:
            self.space = space
        elif self.space is not space:
            raise InputError("this KernelContext already serves another AddressSpace")
        return space

    def address_space(self) -> AddressSpace:
        """The attached address space (:class:`InputError` before :meth:`attach`)."""
        if self.space is None:
            raise InputError("KernelContext has no AddressSpace: call attach(space) first")
        return self.space

    # --- preemption and interrupt context -------------------------------------------------
    def preempt_count(self) -> int:
        """include/linux/preempt.h:preempt_count of the current CPU."""
        return self._preempt[self.cpu]

    def preempt_count_of(self, cpu: int) -> int:
        return self._preempt[cpu]

    def preempt_disable(self) -> None:
        """include/linux/preempt.h:preempt_disable."""
        self._preempt[self.cpu] += PREEMPT_OFFSET

    def preempt_enable(self) -> None:
        """include/linux/preempt.h:preempt_enable; an unbalanced enable is a kernel bug."""
        if self._preempt[self.cpu] & PREEMPT_MASK == 0:
            raise KernelBug("BUG: scheduling while atomic: preempt_count underflow "
                            "(preempt_enable without preempt_disable)",
                            "include/linux/preempt.h:preempt_enable")
        self._preempt[self.cpu] -= PREEMPT_OFFSET

    def pagefault_disable(self) -> None:
        """include/linux/uaccess.h:pagefault_disable (also a preemption point barrier)."""
        self._pagefault_off[self.cpu] += 1

    def pagefault_enable(self) -> None:
        """include/linux/uaccess.h:pagefault_enable."""
        if self._pagefault_off[self.cpu] == 0:
            raise KernelBug("BUG: pagefault_enable without pagefault_disable",
                            "include/linux/uaccess.h:pagefault_enable")
        self._pagefault_off[self.cpu] -= 1

    def pagefault_disabled(self) -> bool:
        return self._pagefault_off[self.cpu] != 0

    def in_interrupt(self) -> bool:
        """include/linux/preempt.h:in_interrupt: hardirq, softirq or NMI context."""
        return bool(self._preempt[self.cpu] & (HARDIRQ_MASK | SOFTIRQ_MASK | NMI_MASK))

    def in_irq(self) -> bool:
        return bool(self._preempt[self.cpu] & HARDIRQ_MASK)

    def in_softirq(self) -> bool:
        return bool(self._preempt[self.cpu] & SOFTIRQ_MASK)

    def in_atomic(self) -> bool:
        """include/linux/preempt.h:in_atomic: ``preempt_count() != 0``."""
        return self._preempt[self.cpu] != 0

    def irqs_disabled(self) -> bool:
        return self._irqs_off[self.cpu]

    def local_irq_disable(self) -> None:
        self._irqs_off[self.cpu] = True

    def local_irq_enable(self) -> None:
        self._irqs_off[self.cpu] = False

    def enter_softirq(self) -> None:
        """kernel/softirq.c:__do_softirq entry (``__local_bh_disable_ip(SOFTIRQ_OFFSET)``)."""
        self._preempt[self.cpu] += SOFTIRQ_OFFSET

    def exit_softirq(self) -> None:
        if not self._preempt[self.cpu] & SOFTIRQ_MASK:
            raise KernelBug("BUG: exit_softirq outside softirq context", "kernel/softirq.c")
        self._preempt[self.cpu] -= SOFTIRQ_OFFSET

    def enter_hardirq(self) -> None:
        """kernel/softirq.c:irq_enter (``__irq_enter``): hardirq count up, interrupts off."""
        self._preempt[self.cpu] += HARDIRQ_OFFSET
        self._irqs_off[self.cpu] = True

    def exit_hardirq(self) -> None:
        """kernel/softirq.c:irq_exit; interrupts on again when the last level leaves."""
        if not self._preempt[self.cpu] & HARDIRQ_MASK:
            raise KernelBug("BUG: exit_hardirq outside hardirq context", "kernel/softirq.c")
        self._preempt[self.cpu] -= HARDIRQ_OFFSET
        if not self._preempt[self.cpu] & HARDIRQ_MASK:
            self._irqs_off[self.cpu] = False

    def switch_cpu(self, cpu: int) -> None:
        """Let the task on ``cpu`` run next (each CPU keeps its own context and counts)."""
        if not 0 <= cpu < self.nr_cpus:
            raise InputError(f"cpu {cpu} out of range 0..{self.nr_cpus - 1}")
        self.cpu = cpu

    def pid(self) -> int:
        return self.pid_base + self.cpu

    def context_name(self) -> str:
        pc = self._preempt[self.cpu]
        if pc & NMI_MASK:
            return "nmi"
        if pc & HARDIRQ_MASK:
            return "hardirq"
        if pc & SOFTIRQ_MASK:
            return "softirq"
        return "process"

    # --- sleeping --------------------------------------------------------------------------
    def might_sleep(self, site: str) -> None:
        """kernel/sched/core.c:___might_sleep, v5.8 (CONFIG_DEBUG_ATOMIC_SLEEP).

        Sleeping is allowed when ``preempt_count() == 0`` and interrupts are on; otherwise the
        kernel prints the splat this raises.
        """
        pc = self._preempt[self.cpu]
        irqs = self._irqs_off[self.cpu]
        if pc == 0 and not irqs:
            return
        lines = (
            f"BUG: sleeping function called from invalid context at {site}",
            f"in_atomic(): {int(pc != 0)}, irqs_disabled(): {int(irqs)}, non_block: 0, "
            f"pid: {self.pid()}, name: {self.comm}",
        )
        exc = SleepingInInvalidContext(lines[0], site)
        exc.add_note("\n".join(lines[1:]))
        exc.splat = lines  # type: ignore[attr-defined]
        raise exc

    def might_sleep_if(self, cond: bool, site: str) -> None:
        """include/linux/kernel.h:might_sleep_if."""
        if cond:
            self.might_sleep(site)

    def cond_resched(self, site: str = SITE_COND_RESCHED) -> None:
        """include/linux/sched.h:cond_resched: ``___might_sleep`` then maybe schedule."""
        self.might_sleep(site)

    def mutex_lock(self, site: str = SITE_MUTEX_LOCK) -> None:
        """kernel/locking/mutex.c:mutex_lock: ``might_sleep()`` first (the lock is not modelled)."""
        self.might_sleep(site)

    def msleep(self, site: str = "kernel/time/timer.c:msleep") -> None:
        self.might_sleep(site)

    # --- fault injection -------------------------------------------------------------------
    def inject_alloc_failure(self, count: int = 1) -> None:
        """The next ``count`` page or kmalloc allocations fail (return NULL)."""
        self._fail_allocs += count

    def should_fail_alloc(self) -> bool:
        """mm/failslab.c / mm/page_alloc.c:should_fail_alloc_page, driven by injection only."""
        if self._fail_allocs > 0:
            self._fail_allocs -= 1
            return True
        return False

    # --- per-CPU variables -----------------------------------------------------------------
    def per_cpu(self, name: str, factory: Callable[[int], Any]) -> list[Any]:
        """``DEFINE_PER_CPU(name)``: one value per CPU, made by ``factory(cpu)`` on first use.

        Shared by every user of the context, as the kernel's per-CPU variables are (zsmalloc's
        ``zs_map_area`` serves all pools).
        """
        values = self._percpu.get(name)
        if values is None:
            values = [factory(cpu) for cpu in range(self.nr_cpus)]
            self._percpu[name] = values
        return values

    # --- page frames -----------------------------------------------------------------------
    def page_size(self) -> int:
        return self.address_space().abi.page_size

    def alloc_page(self, gfp: int, name: str = "page", *,
                   site: str = SITE_PAGE_ALLOC) -> PageFrame | None:
        """mm/page_alloc.c:alloc_page (order 0), v5.8: may sleep when the gfp allows blocking.

        Returns None on failure (injected); the page is zeroed (the model never leaks old
        contents) and mapped in the linear map at ``PAGE_OFFSET + pfn * PAGE_SIZE``.
        """
        if gfp & GFP_DIRECT_RECLAIM_BIT:
            self.might_sleep(site)
        if self._fail_allocs > 0:
            self._fail_allocs -= 1
            return None
        space = self.address_space()
        psize = space.abi.page_size
        if self._free_pfns:
            pfn = self._free_pfns.pop()
        else:
            if self._next_pfn < 0:
                self._next_pfn = PFN_BASE_BYTES // psize
            pfn = self._next_pfn
            self._next_pfn += 1
        addr = space.abi.page_offset + pfn * psize
        space.map(addr, psize, f"{name} pfn {pfn:#x}")
        return PageFrame(pfn, addr)

    def free_page(self, frame: PageFrame) -> None:
        """mm/page_alloc.c:__free_page: the page leaves the address space (later loads oops)."""
        self.address_space().unmap(frame.addr)
        self._free_pfns.append(frame.pfn)

    # --- kmalloc ---------------------------------------------------------------------------
    def kmalloc(self, size: int, gfp: int) -> int:
        """mm/slub.c:__kmalloc, v5.8: an object from the kmalloc-N cache, 0 on failure.

        ``slab_pre_alloc_hook`` calls ``might_sleep_if(gfpflags_allow_blocking(gfp))``.
        Sizes above ``PAGE_SIZE`` get whole pages here (the kernel's kmalloc_large), which is
        only supported up to one page in the model.
        """
        return self._kmalloc_caches().kmalloc(size, gfp)

    def kfree(self, addr: int) -> None:
        """mm/slub.c:kfree; ``kfree(NULL)`` is a no-op."""
        if addr == 0:
            return
        self._kmalloc_caches().kfree(addr)

    def _kmalloc_caches(self) -> KmallocCaches:
        if self._kmalloc is None:
            self._kmalloc = KmallocCaches(self)
        return self._kmalloc
