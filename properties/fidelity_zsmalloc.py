"""Fidelity of the zsmalloc model: the model's era against the real ``mm/zsmalloc.c``.

:class:`ZsmallocFidelity` drives a model pool (:func:`model.zsmalloc.zs_create_pool` of the era
that stands for the real file, read from its text: :func:`properties.fidelity.zsmalloc_model_era`,
v6.1 and v6.12 for Debian's two trees) and the real pool built in user
space (:class:`kernel.zsmalloc.RealZsPool`, a fresh forked kernel per test case) with the same
steps: ``zs_malloc`` of every kind of size (0, tiny, class edges, huge, over the limit), with
injected allocation failures, ``zs_free``, writes and reads of whole objects, ``zs_compact``
and the migration of an object's page.  Objects live in a Bundle as (model handle, real
handle) pairs; handles themselves differ (they are slab addresses) and are never compared.

Compared after each step: the return value (a handle or the error the era returns); where each
object lives (its size class, object index, and which zspage: zspages are paired across the two
pools as they appear, and a pairing once made must hold while the zspage lives; the kernel side
names a zspage by its first page, so a freed zspage's pairing is forgotten and a migrated page's
zspage is paired again); the bytes each object holds;
``zs_compact``'s return value; ``zs_get_total_pages``; per size class the objects allocated and
used and the zspages in each fullness group.  A difference is a
:class:`~properties.fidelity_dyndbg.Disagreement`; a fatal event in the real code is one too.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, consumes, initialize, invariant, multiple, rule

from kernel.process import CallResult, Kernel, KernelServer
from kernel.zsmalloc import RealZsPool
from model.abi import get_abi
from model.context import GFP_KERNEL, GFP_NOWAIT, KernelContext
from model.errors import KernelBug
from model.memory import AddressSpace
from model.zsmalloc import ERA_CURRENT, ZsMapMode, ZsPool, zs_create_pool
from model.zsmalloc_classes import era_has_map_api
from properties.fidelity_dyndbg import Disagreement
from properties.tracing import TracedMachine, traced

__all__ = ["Obj", "ZsmallocFidelity", "sizes", "zsmalloc_fidelity_machine"]


#: Payloads are slices of a fixed pattern, so a shifted copy never looks right.
PATTERN = bytes((i * 37 + (i >> 8) * 11 + 5) & 0xFF for i in range(8192 + 256))


def sizes() -> st.SearchStrategy[int]:
    """Object sizes: 0, tiny, each class edge (ZS_MIN_ALLOC_SIZE 32, steps of 16, the handle
    word), sizes that span two pages, huge (a page), over ZS_MAX_ALLOC_SIZE, and any."""
    edges = [0, 1, 8, 16, 24, 31, 32, 33, 40, 48, 56, 100, 1000, 2047, 2048, 3000, 3256, 3257,
             3264, 3624, 3625, 4000, 4088, 4095, 4096, 4097]
    return st.one_of(st.sampled_from(edges), st.integers(1, 4096))


@attrs.frozen
class Obj:
    """A live object: its handle in each pool, its size, and the pattern offset it holds."""

    model: int
    real: int
    size: int
    seed: int


class ZsmallocFidelity(TracedMachine):
    """The model pool against the real one (module docstring)."""

    model_era: ClassVar[str] = ERA_CURRENT
    server: ClassVar[KernelServer | None] = None
    #: False runs the model's side alone (``dyndiet bench`` measures the real code's cost).
    with_kernel: ClassVar[bool] = True
    objects = Bundle("objects")

    def __init__(self) -> None:
        super().__init__()
        abi = get_abi("x86_64")
        self.space = AddressSpace(abi)
        self.ctx = KernelContext(nr_cpus=2, space=self.space)
        self.era = self.model_era
        pool = zs_create_pool("dyndiet", self.space, self.ctx, era=self.era)
        assert pool is not None
        self.pool: ZsPool = pool
        self.kernel: Kernel | None = None
        self.real: RealZsPool | None = None
        #: model zspage serial <-> real zspage id, as they appear.
        self.m2r: dict[int, int] = {}
        self.r2m: dict[int, int] = {}
        self.live: dict[int, Obj] = {}

    # --- helpers -------------------------------------------------------------------------------

    def _real(self, what: str, fn: Any) -> CallResult:
        try:
            res: CallResult = fn()
        except KernelBug as exc:
            self.evidence.extend(getattr(exc, "__notes__", ()))
            raise Disagreement(what, "returns", f"{type(exc).__name__}: {exc.message}"
                               + (f" [{exc.site}]" if exc.site else "")) from exc
        return res

    def _model_write(self, h: int, data: bytes) -> None:
        """Write as the real harness does: map ``ZS_MM_WO``, copy, unmap (the eras with the
        map API), else ``zs_obj_write``."""
        if era_has_map_api(self.era):
            addr = self.pool.zs_map_object(h, ZsMapMode.ZS_MM_WO)
            self.space.write(addr, data)
            self.pool.zs_unmap_object(h)
        else:
            self.pool.zs_obj_write(h, data)

    def _forget_gone(self) -> None:
        """Forget the pairings of zspages the model has freed: the kernel's zspage identity is
        the page-array index of its first page, which a later zspage may reuse."""
        alive = {z.serial for _c, z in self.pool.zspages()}
        for m in [m for m in self.m2r if m not in alive]:
            self.r2m.pop(self.m2r.pop(m), None)

    def _pair(self, model_zspage: int, real_zspage: int) -> None:
        m = self.m2r.setdefault(model_zspage, real_zspage)
        r = self.r2m.setdefault(real_zspage, model_zspage)
        if m != real_zspage or r != model_zspage:
            raise Disagreement("which objects share a zspage",
                               f"model zspage {model_zspage} (paired with kernel zspage {m})",
                               f"kernel zspage {real_zspage} (paired with model zspage {r})")

    def _locate(self, obj: Obj) -> None:
        """The object's class and index agree, and its zspage pairs with the same one."""
        assert self.real is not None
        loc = self.pool.object_location(obj.model)
        real = self.real
        got = self._real("location", lambda: real.location(obj.real)).value
        cls_index, zspage, _page_in_zspage, obj_idx = got
        if (loc.class_index, loc.obj_idx) != (cls_index, obj_idx):
            raise Disagreement(f"where a {obj.size}-byte object lives (class, object index)",
                               (loc.class_index, loc.obj_idx), (cls_index, obj_idx))
        self._pair(loc.zspage, zspage)

    # --- rules ---------------------------------------------------------------------------------

    @initialize()
    @traced
    def create(self) -> None:
        """``zs_create_pool("dyndiet")`` in both kernels."""
        server = type(self).server
        if not self.with_kernel or server is None:
            return
        self.kernel = server.new_kernel()
        self.real = RealZsPool(self.kernel)
        real = self.real
        self._real("zs_create_pool", real.create)

    @rule(target=objects, size=sizes(), seed=st.integers(0, 255),
          gfp=st.sampled_from((GFP_KERNEL, GFP_NOWAIT)))
    @traced
    def malloc(self, size: int, seed: int, gfp: int) -> Any:
        """``zs_malloc(pool, size, gfp)``, then the whole object written."""
        want = self.pool.zs_malloc(size, gfp)
        want_ok = want != 0 and not self.pool.is_err_value(want)
        if (real := self.real) is None:
            if not want_ok:
                return multiple()
            obj = Obj(want, 0, size, seed)
            self._model_write(want, PATTERN[seed:seed + size])
            self.live[want] = obj
            return obj
        got = self._real("zs_malloc", lambda: real.malloc(size, gfp)).value
        got_ok = got > 0
        if want_ok != got_ok or (not want_ok and _errno(self.pool, want) != _errno_real(got)):
            raise Disagreement(f"zs_malloc({size})", _show(self.pool, want), _show_real(got))
        if not want_ok:
            return multiple()  # nothing to add to the bundle
        obj = Obj(want, got, size, seed)
        data = PATTERN[seed:seed + size]
        self._model_write(want, data)
        self._real("write", lambda: real.write(got, data))
        self.live[want] = obj
        self._locate(obj)
        return obj

    @rule(obj=consumes(objects))
    @traced
    def free(self, obj: Obj) -> None:
        """``zs_free``."""
        self.pool.zs_free(obj.model)
        self.live.pop(obj.model, None)
        if (real := self.real) is None:
            return
        self._real("zs_free", lambda: real.free(obj.real))
        self._forget_gone()

    @rule(obj=objects)
    @traced
    def read(self, obj: Obj) -> None:
        """Read the whole object back from both pools."""
        want = self.pool.read_payload(obj.model, obj.size)
        if (real := self.real) is None:
            return
        got = self._real("read", lambda: real.read(obj.real, obj.size)).value
        if want != got or want != PATTERN[obj.seed:obj.seed + obj.size]:
            raise Disagreement(f"the bytes of a {obj.size}-byte object", want, got)
        self._locate(obj)

    @rule()
    @traced
    def compact(self) -> None:
        """``zs_compact`` (the shrinker)."""
        want = self.pool.zs_compact()
        if (real := self.real) is None:
            return
        got = self._real("zs_compact", real.compact).value
        if want != got:
            raise Disagreement("zs_compact's return value (pages freed)", want, got)
        self._relocate()

    @rule(obj=objects)
    @traced
    def migrate(self, obj: Obj) -> None:
        """Migrate the page where ``obj`` starts (isolate, migrate, put back)."""
        loc = self.pool.object_location(obj.model)
        want = self.pool.zs_page_migrate(loc.page_addr)
        if (real := self.real) is None:
            return
        page = self._real("location", lambda: real.location_full(obj.real)).value.page_index
        got = self._real("page migration", lambda: real.migrate(page)).value
        if want != got:
            raise Disagreement("page migration's return value", want, got)
        # the kernel's zspage identity (its first page's index) changes when that page moves
        self.r2m.pop(self.m2r.pop(loc.zspage, -1), None)
        self._locate(obj)

    @rule()
    @traced
    def fail_alloc(self) -> None:
        """One more handle allocation (``cache_alloc_handle``) fails in both kernels."""
        self.pool.inject_alloc_failure(1)
        if (real := self.real) is None:
            return
        # the harness sets its count of slab allocations to fail (harness_set_fail_allocs) where
        # the model adds one: give it the model's count (only handle allocations consume it:
        # each zs_malloc's first slab allocation is the handle's, and a failed one returns)
        pending = self.pool.pending_alloc_failures()
        self._real("fault injection", lambda: real.fail_allocs(pending))

    def _relocate(self) -> None:
        """After compaction objects move: forget the pairing and pair again as they are now."""
        self.m2r.clear()
        self.r2m.clear()
        for o in self.live.values():
            self._locate(o)

    # --- invariants ------------------------------------------------------------------------------

    @invariant()
    def same_total_pages(self) -> None:
        want = self.pool.zs_get_total_pages()
        if (real := self.real) is None:
            return
        got = self._real("zs_get_total_pages", real.total_pages).value
        if want != got:
            raise Disagreement("zs_get_total_pages()", want, got)

    @invariant()
    def same_class_stats(self) -> None:
        want = {s.index: (s.obj_allocated, s.obj_used, s.fullness)
                for s in self.pool.class_stats() if s.obj_allocated or any(s.fullness)}
        if (real := self.real) is None:
            return
        rows = self._real("class statistics", real.class_stats).value
        # (index, size, pages_per_zspage, objs_per_zspage, *fullness groups, allocated, used)
        got = {r[0]: (r[-2], r[-1], tuple(r[4:-2])) for r in rows}
        if want != got:
            raise Disagreement("per-class statistics (allocated, used, zspages per fullness "
                               "group)", want, got)

    def teardown(self) -> None:
        if self.kernel is not None:
            self.kernel.close()


def _errno(pool: ZsPool, value: int) -> int:
    if value == 0:
        return 0
    return value - (1 << (8 * pool.ws)) if value >> (8 * pool.ws - 1) else value


def _errno_real(value: int) -> int:
    return value if value <= 0 else 0


def _show(pool: ZsPool, value: int) -> str:
    e = _errno(pool, value)
    return "0 (failure)" if value == 0 else (f"-{_name(-e)}" if e < 0 else "a handle")


def _show_real(value: int) -> str:
    return "0 (failure)" if value == 0 else (f"-{_name(-value)}" if value < 0 else "a handle")


def _name(errno: int) -> str:
    import errno as errno_mod

    return errno_mod.errorcode.get(errno, str(errno))


def zsmalloc_fidelity_machine(model_era: str, server: KernelServer | None, *,
                              with_kernel: bool = True) -> type[ZsmallocFidelity]:
    """The fidelity machine of the model's ``model_era`` against the real mm/zsmalloc.c built
    in ``server``."""
    safe = model_era.replace(".", "_")
    cls = ZsmallocFidelity.fresh_class(f"ZsmallocFidelity_{safe}", model_era=model_era,
                                       server=server, with_kernel=with_kernel)
    assert issubclass(cls, ZsmallocFidelity)
    return cls
