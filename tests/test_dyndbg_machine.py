"""The differential machine finds the seed's thinkos on its own, and stays quiet on correct
designs.  Budgets are explicit and derandomized (Phase.explain is left out: it only annotates)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import Phase

from model.designs import builtin_designs
from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
from model.dyndbg.era import ddebug_describe_flags
from model.errors import BadAccess, BugOn, KernelBug, SleepingInInvalidContext
from properties.catalogue import DesignRef, Target, catalogue, get_property
from properties.dyndbg_machine import EQUIVALENCE, Check, DyndbgMachine, dyndbg_machine
from properties.runner import Budget, PropertyResult, run_property

PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
QUIET = Budget(max_examples=25, stateful_step_count=15, phases=PHASES)
SEARCH = Budget(max_examples=200, stateful_step_count=20, phases=PHASES)
TARGET = Target(era="v6.1", abi="x86_64")


def ref(name: str) -> DesignRef:
    return DesignRef(name, "built-in", builtin_designs()[name])


def run(prop: str, design: str, budget: Budget = QUIET, target: Target = TARGET) -> PropertyResult:
    return run_property(get_property(prop), ref(design), target, budget)


def test_odd_tag_after_fails_equivalence_in_three_steps() -> None:
    r = run("control-file", "odd-tag-after", SEARCH)
    assert r.status == "failed", r.error
    cx = r.counterexample
    assert cx is not None and cx.step_count <= 3
    assert cx.steps[0].rule == "boot"
    text = "\n".join(cx.evidence)
    assert ".modname at offset 0" in text and "(odd)" in text  # the word % 2 misreads
    assert ".rodata" in text  # the word is a string pointer


@pytest.mark.parametrize("prop", EQUIVALENCE)
def test_odd_tag_before_passes_equivalence(prop: str) -> None:
    r = run(prop, "odd-tag-before")
    assert r.status == "passed", r.counterexample or r.error


@pytest.mark.parametrize("design", ["section", "split"])
def test_section_and_split_pass_every_property(design: str) -> None:
    props = [p for p in catalogue() if p.applies(ref(design))]
    assert {p.kind for p in props} == {"equivalence", "kernel-rules"}
    for p in props:
        r = run_property(p, ref(design), TARGET, QUIET)
        assert r.status == "passed", (p.name, r.counterexample or r.error)


@pytest.mark.parametrize("design", ["union-flag", "flags-vector"])
@pytest.mark.parametrize("prop", EQUIVALENCE)
def test_union_flag_and_flags_vector_pass_equivalence(design: str, prop: str) -> None:
    r = run(prop, design)
    assert r.status == "passed", r.counterexample or r.error


@pytest.mark.parametrize("prop", ["one-mapping-per-cpu", "no-sleep-while-mapped"])
def test_cache_fails_kernel_rules_in_four_steps(prop: str) -> None:
    r = run(prop, "cache", SEARCH)
    assert r.status == "failed", r.error
    cx = r.counterexample
    assert cx is not None and cx.step_count <= 4, cx.steps


# --- the verdicts the model gives, replayed from explicit steps ---------------------------------

FOO = (ModuleSpec("foo", (CallsiteSpec("foo", "probe", "a.c", "ok\n", 7),
                          CallsiteSpec("foo", "probe", "a.c", "x", 9)), builtin=True),)


def machine(design: str, check: Check, target: Target = TARGET) -> type[DyndbgMachine]:
    return dyndbg_machine(ref(design), target, check)


def boot(jump_label: bool) -> tuple[str, dict[str, object]]:
    return ("boot", {"builtin": FOO, "jump_label": jump_label, "optimize_size": False})


@pytest.mark.parametrize("design", ["zpool-copy", "union-flag", "flags-vector", "odd-tag-before"])
def test_pool_designs_sleep_with_the_mapping_held(design: str) -> None:
    """ddebug_change holds the site from get to put (Aug 2020 5/7, ``goto skipsite``); under
    CONFIG_JUMP_LABEL, static_branch_enable -> cpus_read_lock -> might_sleep runs inside."""
    steps = [boot(True), ("late_init", {}), ("control_write", {"text": "module foo +p"})]
    with pytest.raises(SleepingInInvalidContext, match=r"percpu-rwsem\.h:49"):
        machine(design, Check("kernel-rules", "no-sleep-while-mapped")).replay(steps)
    machine(design, Check("equivalence", "control-file")).replay(
        [*steps, ("control_read", {})])  # survived splat: the control file is still right


@pytest.mark.parametrize("design,jump_label,query", [
    ("zpool-copy", True, "module foo =pm"),      # the prefix maps the callsite
    ("union-flag", False, "module foo +p"),      # !JUMP_LABEL: the print decision maps
    ("flags-vector", True, "module foo =pf"),    # the flags vector spares the decision only
])
def test_mapping_in_hardirq_is_a_bug_in_v6_1(design: str, jump_label: bool, query: str) -> None:
    """mm/zsmalloc.c:zs_map_object does BUG_ON(in_interrupt()) in v5.8 and up to 6.14."""
    steps = [boot(jump_label), ("late_init", {}), ("control_write", {"text": query}),
             ("hit", {"which": 0, "where": ("hardirq", 1)})]
    with pytest.raises(BugOn, match="in_interrupt"):
        machine(design, Check("kernel-rules", "no-map-in-interrupt")).replay(steps)
    # the equivalence run halts there without a verdict of its own
    machine(design, Check("equivalence", "print-decisions")).replay(steps)
    # v6.19 reads with zs_obj_read_begin, which the model lets run in any context
    machine(design, Check("kernel-rules", "no-map-in-interrupt"),
            Target(era="v6.19")).replay(steps)


def test_zpool_copy_failed_allocation_leaves_a_pointer_into_the_reclaimed_section() -> None:
    """ddebug_zpool_add: on a failed zs_malloc, ``pr_err`` and return, dp->site unchanged."""
    steps = [boot(False), ("fail_alloc", {}), ("late_init", {}), ("control_read", {})]
    for check in (Check("kernel-rules", "no-oops"), Check("equivalence", "control-file")):
        with pytest.raises(BadAccess, match="page fault"):
            machine("zpool-copy", check).replay(steps)
    split = [s for s in steps if s[0] != "fail_alloc"]  # no pool: the machine has no such rule
    machine("split", Check("kernel-rules", "no-oops")).replay(split)


def test_odd_tag_after_before_late_init_dereferences_the_missing_pool() -> None:
    """``dyndbg="module foo +p"`` at boot: the union word still holds the module name's
    pointer; when it is odd, % 2 reads it as a zhandle of a pool that does not exist yet."""
    from model.abi import get_abi
    from model.linker import link_vmlinux
    from model.memory import AddressSpace

    odd = (ModuleSpec("foo", (CallsiteSpec("foo", "ab", "a.c", "ok\n", 7),), builtin=True),)
    image = link_vmlinux(AddressSpace(get_abi("x86_64")), "v6.1", True, odd)
    assert image.callsites[0].modname % 2 == 1  # "foo" lands on an odd byte after "ab"
    even = link_vmlinux(AddressSpace(get_abi("x86_64")), "v6.1", True, FOO)
    assert all(c.modname % 2 == 0 for c in even.callsites)
    query = ("boot_query", {"text": "module foo +p"})
    steps = [("boot", {"builtin": odd, "jump_label": True, "optimize_size": False}), query]
    with pytest.raises(KernelBug):
        machine("odd-tag-after", Check("equivalence", "query-results")).replay(steps)
    machine("odd-tag-before", Check("equivalence", "query-results")).replay(steps)
    machine("odd-tag-after", Check("equivalence", "query-results")).replay([boot(True), query])


# --- real records: a vmlinux stand-in built by GCC --------------------------------------------

@pytest.mark.gcc
def test_odd_tag_after_falls_over_on_real_records(tmp_path_factory: pytest.TempPathFactory
                                                   ) -> None:
    """``--corpus``: the builtin tables are the records GCC and ld placed; their module-name
    pointers are odd as often as in a real kernel, and the machine finds the misread there."""
    from tests.dd_fixtures import build_vmlinux
    from tests.helpers import require_tool

    require_tool("gcc", "compiles the dyndbg fixtures")
    exe = build_vmlinux("", tmp_path_factory.mktemp("dd-machine"))
    corpus = Target(era="v6.1", abi="x86_64", corpus=str(exe))
    bad = run("control-file", "odd-tag-after", SEARCH, corpus)
    assert bad.status == "failed" and bad.counterexample is not None
    assert bad.counterexample.step_count <= 3
    good = run("control-file", "odd-tag-before", QUIET, corpus)
    assert good.status == "passed", good.counterexample or good.error


def test_v5_8_flips_keys_without_the_site_when_the_query_names_no_field() -> None:
    """v5.8 ddebug_change reads no callsite field for ``module foo +p`` (no get_site), so the
    key flips with nothing mapped; ``func probe +p`` reads the function under the mapping."""
    v58 = Target(era="v5.8")
    strict = Check("kernel-rules", "no-sleep-while-mapped")
    machine("zpool-copy", strict, v58).replay(
        [boot(True), ("late_init", {}), ("control_write", {"text": "module foo +p"})])
    with pytest.raises(SleepingInInvalidContext):
        machine("zpool-copy", strict, v58).replay(
            [boot(True), ("late_init", {}), ("control_write", {"text": "func probe +p"})])


# --- the speed caches keep the model's behaviour ------------------------------------------------

def test_memoized_link_maps_fresh_bytes_into_each_space() -> None:
    """``link_module`` links a (module, base) once; every space gets its own copy of the bytes,
    so a write in one kernel's module is not seen by the other's."""
    from model.abi import get_abi
    from model.linker import link_module
    from model.memory import AddressSpace

    mod = ModuleSpec("m", (CallsiteSpec("m", "f", "a.c", "ok\n", 1),), builtin=False)
    s1, s2 = AddressSpace(get_abi("x86_64")), AddressSpace(get_abi("x86_64"))
    i1, i2 = link_module(s1, "v6.1", True, mod), link_module(s2, "v6.1", True, mod)
    assert i1 == i2
    addr = i1.record_addr(0)
    before = s2.read(addr, i1.record_size)
    s1.write(addr, bytes(i1.record_size))
    assert s2.read(addr, i1.record_size) == before != s1.read(addr, i1.record_size)
    # a second load in the same space goes elsewhere (the module area is not free there)
    other = ModuleSpec("n", mod.callsites, builtin=False)
    assert link_module(s1, "v6.1", True, other).records_addr != i1.records_addr


def test_decoded_site_follows_the_record_bytes() -> None:
    """``BaseDesign.get_site`` decodes once per distinct bytes: a changed record (here its
    flags, written by a query) is decoded again, never served from the cache."""
    from model.abi import get_abi
    from model.designs.harness import DyndbgKernel

    mod = ModuleSpec("foo", (CallsiteSpec("foo", "f", "a.c", "ok\n", 1),), builtin=True)
    k = DyndbgKernel.boot(builtin_designs()["section"], get_abi("x86_64"), "v6.1", True, [mod])
    dt = next(iter(k.design.tables()))
    assert k.design.get_site(dt, 0).flags == 0
    assert k.exec_queries("module foo +p").nfound == 1
    assert k.design.get_site(dt, 0).flags & 1
    assert "=p " in k.control_read()


def test_baseline_control_file_is_read_again_after_a_write() -> None:
    """The machine keeps the baseline's last ``cat control`` only until a step that may change
    it: a write between two reads shows in the second (the equivalence check still compares)."""
    cls = machine("section", Check("equivalence", "control-file"))
    m = cls()
    m.boot(builtin=(ModuleSpec("foo", (CallsiteSpec("foo", "f", "a.c", "ok\n", 1),),
                               builtin=True),), jump_label=True, optimize_size=False)
    m.late_init()
    m.control_read()
    first = m.kb_control
    assert first is not None and "=_ " in first
    m.control_write(text="module foo +p")
    assert m.kb_control is None
    m.control_read()
    assert m.kb_control is not None and "=p " in m.kb_control


# --- search power (issue 14): reach, scale, swarm, observations --------------------------------

def coverage(design: str = "section", examples: int = 60) -> tuple[int, dict[str, int]]:
    r = run("control-file", design, Budget(max_examples=examples, stateful_step_count=20,
                                           phases=PHASES))
    assert r.status == "passed", r.counterexample or r.error
    return r.test_cases, dict(r.rule_counts)


@pytest.fixture(scope="module")
def section_run() -> tuple[int, dict[str, int]]:
    return coverage()


def test_swarm_runs_with_and_without_fault_injection(section_run: tuple[int, dict[str, int]]
                                                     ) -> None:
    """Each test case switches rules off (fault injection half the time): runs that never fail
    an allocation and runs that fail several both occur, and failures are a small share."""
    cases, counts = section_run
    assert 0 < counts["swarm:fail_alloc"] < cases
    assert 0 < counts["reach:failed-alloc"] < cases
    steps = sum(v for k, v in counts.items() if ":" not in k and k != "boot")
    assert counts["fail_alloc"] <= 4 * counts["reach:failed-alloc"]
    assert counts["fail_alloc"] < 0.15 * steps
    for rule in ("insmod", "rmmod", "control_read", "control_write_about", "inspect"):
        assert 0 < counts[f"swarm:{rule}"] < cases, rule


def test_runs_reach_boot_loads_reloads_and_large_kernels(section_run: tuple[int, dict[str, int]]
                                                         ) -> None:
    """Modules loaded during boot, the same module loaded again, 17 tables and hundreds of
    callsites, and late init in most runs, within the budget of a CI run."""
    cases, counts = section_run
    for what in ("boot-insmod", "reload", "17-tables", "100-callsites", "256-callsites"):
        assert counts.get(f"reach:{what}", 0) > 0, what
    assert counts["reach:late-init"] > cases // 2


def test_a_swarm_rule_that_is_off_never_runs() -> None:
    cls = machine("section", Check("equivalence", "control-file"))
    m = cls()
    m.boot(builtin=FOO, jump_label=True, optimize_size=False,
           off=frozenset({"fail_alloc", "control_read"}))
    rules = {r.function.__name__: r for r in cls.setup_state().rules}
    assert not all(p(m) for p in rules["fail_alloc"].preconditions)
    assert all(p(m) for p in rules["hit"].preconditions)
    m.late_init()
    assert not all(p(m) for p in rules["control_read"].preconditions)
    assert all(p(m) for p in rules["control_write"].preconditions)


def test_every_design_has_fault_injection_and_the_shrinker() -> None:
    """Declared by the protocol, not detected: the machine of a design without a pool has
    fail_alloc and compact too (BaseDesign's defaults)."""
    for design in ("section", "split", "zpool-copy"):
        names = machine(design, Check("equivalence", "control-file")).rule_names()
        assert {"fail_alloc", "compact", "insmod_many", "reload"} <= set(names), design


def test_fault_injection_reaches_a_design_through_the_kernel_by_default() -> None:
    """BaseDesign.inject_alloc_failure fails the kernel's next allocation, whatever allocates."""
    from model.abi import get_abi
    from model.designs.harness import DyndbgKernel
    from model.gfp import GFP_KERNEL

    k = DyndbgKernel.boot(builtin_designs()["split"], get_abi("x86_64"), "v6.1", True, list(FOO))
    k.inject_alloc_failure(1)
    assert k.ctx.kmalloc(40, GFP_KERNEL) == 0
    assert k.ctx.kmalloc(40, GFP_KERNEL) != 0


def test_modules_load_and_unload_before_late_init() -> None:
    """The initramfs loads (and may unload) modules before late init; the 2020 designs copy
    such a module's callsites at their late_initcall.  zpool-copy's ddebug_zpool_remove
    unmaps a callsite that was never copied, on a pool late init has not created yet: the
    reach finds a NULL dereference at rmmod during boot."""
    mod = ModuleSpec("m", (CallsiteSpec("m", "m_probe", "drivers/m/m.c", "probe %d\n", 40),
                           CallsiteSpec("m", "m_probe_one", "drivers/m/m.c", "ok\n", 52)))
    steps = [boot(True), ("insmod", {"module": mod, "param": "+p"}),
             ("boot_query_about", {"which": 3, "form": 2, "flags": "+pmf"}),
             ("reload", {"which": 1, "param": None}), ("late_init", {}),
             ("control_read", {}), ("rmmod", {"which": 0}), ("control_read", {})]
    for design in ("split", "union-flag", "odd-tag-before"):
        machine(design, Check("equivalence", "control-file")).replay(steps)
    with pytest.raises(BadAccess, match=r"NULL pointer dereference.*before late_initcall"):
        machine("zpool-copy", Check("kernel-rules", "no-oops")).replay(steps)


def test_inspect_shows_the_flags_as_the_control_file_does() -> None:
    """callsite-metadata compares what a user observes: the flags' letters, not the raw value
    (a bit the design reserves for itself is no user's)."""
    cls = machine("section", Check("equivalence", "callsite-metadata"))
    m = cls()
    m.boot(builtin=FOO, jump_label=True, optimize_size=False)
    m.inspect(which=0)
    m.late_init()
    m.control_write(text="module foo =pmf")
    m.inspect(which=0)  # raises ObservationDiffers where the design's metadata differs
    kd = m.kd
    assert kd is not None
    letters = ddebug_describe_flags(kd.design.era, kd.design.get_flags(kd.design.tables()[0], 0))
    assert letters == "pmf"
    assert f" ={letters} " in kd.control_read()


def test_query_about_names_the_callsite() -> None:
    """Every form of a query about a callsite matches it on the baseline (v6.1)."""
    from model.abi import get_abi
    from model.designs.harness import DyndbgKernel
    from properties.callsites import realistic_module
    from properties.dyndbg_machine import ABOUT_FORMS, query_about

    mod = realistic_module("e1000e", 20, 7, builtin=True)
    k = DyndbgKernel.boot(builtin_designs()["section"], get_abi("x86_64"), "v6.1", True, [mod])
    for which in (0, 5, 19):
        spec = mod.callsites[which]
        for form in range(1, 9):
            text = query_about(spec, form, "+p", "m")
            res = k.exec_queries(text)
            assert res.rc >= 1 and res.nfound >= 1, (text, res.messages)
    assert query_about(None, 3, "+p", "snd") == "module snd +p"
    assert query_about(mod.callsites[0], 0, "-p", "snd") == "module snd -p"
    assert ABOUT_FORMS == 10


def test_realistic_modules_are_distinct_and_seek_capacity_edges() -> None:
    """Callsites a control file can tell apart, repeated as a driver repeats them
    (docs/analyze.md), sizes at 2^k - 1, 2^k, 2^k + 1, formats at class edges; the first n
    callsites do not depend on n (shrinking the size cuts the tail)."""
    from properties.callsites import BOUNDARY_SIZES, STRING_EDGES, realistic_module

    assert {15, 16, 17, 63, 64, 65, 255, 256, 257} <= set(BOUNDARY_SIZES)
    big = realistic_module("snd_hda_intel", 257, 3)
    assert realistic_module("snd_hda_intel", 40, 3).callsites == big.callsites[:40]
    sites = big.callsites
    lines = {(c.filename, c.lineno, c.function, c.format) for c in sites}
    assert len(lines) == len(sites)  # every callsite tells itself apart
    same = sum(a.filename == b.filename for a, b in itertools.pairwise(sites))
    assert 0.7 < same / (len(sites) - 1) < 0.99
    funcs = sum(a.function == b.function for a, b in itertools.pairwise(sites))
    assert 0.25 < funcs / (len(sites) - 1) < 0.7
    assert len({c.format for c in sites}) > 0.85 * len(sites)
    assert any(len(c.format) in STRING_EDGES for c in sites)
    assert max(c.lineno for c in sites) < 65536  # the split's lineno:16 (docs/designs/split.md)
