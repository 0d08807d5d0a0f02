"""The real-code machines' speed: the fidelity machines' step rate, real kernel and model both,
as a ratio to the same machine running the model's side alone, measured in one run (wall time:
the real side runs in a worker process, whose CPU time the caller's clock does not see)."""

from __future__ import annotations

import contextlib
import time
from contextlib import ExitStack

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from dyndiet.benchmarks import Figure
from kernel.sources import DEFAULT_KERNEL, kernel_source
from properties.fidelity import AREAS, fidelity_machine, start_servers
from properties.tracing import TracedMachine

AREA = "kernel"


def steps_per_second(cls: type[TracedMachine], examples: int) -> float:
    """Rule steps per wall second of ``cls`` (generation only, derandomized)."""
    s = settings(max_examples=examples, stateful_step_count=30, deadline=None,
                 derandomize=True, database=None, phases=[Phase.generate],
                 suppress_health_check=list(HealthCheck))
    start = time.perf_counter()
    # a disagreement ends the run early: the rate of what ran stands
    with contextlib.suppress(AssertionError):
        run_state_machine_as_test(cls, settings=s)
    elapsed = time.perf_counter() - start
    return sum(cls.rule_counts.values()) / elapsed


def run(quick: bool) -> list[Figure]:
    """Per area: steps/s with the real kernel in the loop, with the model alone, and the ratio
    (each measured twice, interleaved, the best kept)."""
    source = kernel_source(DEFAULT_KERNEL)
    examples = 20 if quick else 100
    figs: list[Figure] = []
    for area in AREAS:
        with ExitStack() as stack:
            servers = start_servers(stack, area, source)
            best = {True: 0.0, False: 0.0}
            for _ in range(1 if quick else 2):
                for with_kernel in (True, False):
                    cls = fidelity_machine(area, source, servers, with_kernel=with_kernel)
                    best[with_kernel] = max(best[with_kernel], steps_per_second(cls, examples))
        figs.append(Figure(AREA, f"{area} fidelity machine, real {source.version} + model",
                           best[True], "steps/s"))
        figs.append(Figure(AREA, f"{area} fidelity machine, model alone", best[False],
                           "steps/s"))
        figs.append(Figure(AREA, f"{area}: real code in the loop / model alone",
                           100.0 * best[True] / best[False], "%"))
    figs.append(Figure(AREA, "check --patch: patch file to first verdict (cold build)",
                       patch_to_first_verdict(), "s", "< 30 s"))
    return figs


def patch_to_first_verdict() -> float:
    """Seconds from a patch file to the first verdict of ``check_patches`` (the sources
    extracted, the patched builds cold: the patch carries a fresh comment line, so its overlay
    and builds are new)."""
    import tempfile
    import uuid
    from pathlib import Path

    from kernel.patching import read_series
    from properties.patch_check import check_patches
    from properties.runner import Budget

    source = kernel_source(DEFAULT_KERNEL)
    text = (Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "planted"
            / "dyndbg-escape-tab.patch").read_text()
    anchor = "\tseq_putc(m, '\"');\n"
    fresh = text.replace(f" {anchor}", f" {anchor}+/* {uuid.uuid4().hex} */\n", 1)
    fresh = fresh.replace("@@ -1147,5 +1147,5 @@", "@@ -1147,5 +1147,6 @@")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fresh.patch"
        path.write_text(fresh)
        result = check_patches(source, read_series(path), Budget(max_examples=100),
                               checks=("kernel-rules",))
    return result.first_verdict_seconds
