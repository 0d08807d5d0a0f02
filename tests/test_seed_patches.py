"""The seed's designs as real patches (``docs/patches/``): each gets its expected verdict from
``check_patches``, the patched kernel fuzzed against the unpatched one; the correct twins and
the pure refactor get no finding (no false alarms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.patching import read_series
from properties.patch_check import check_patches
from properties.runner import Budget
from tests.kernel_fixtures import require_kernel

PATCHES = Path(__file__).resolve().parent.parent / "docs" / "patches"

#: patch -> (error types, start of the message, at most this many steps); None: no finding.
EXPECTED: dict[str, tuple[tuple[str, ...], str, int] | None] = {
    "00-refactor.patch": None,
    "01-zspool-copy.patch": (("BugOn",), "kernel BUG at mm/zsmalloc.c:", 5),
    "01b-zspool-copy-irq-safe.patch": None,
    "02-zhandle-odd-before-union.patch": None,
    "03-zhandle-odd-union.patch": (("KernelOops",), "BUG: unable to handle page fault", 3),
    "04-union-explicit-flag.patch": None,
    "05-flags-vector.patch": None,
    "05b-flags-vector-mutex-lookup.patch": (
        ("SleepingInInvalidContext",), "BUG: sleeping function called from invalid context", 4),
    # the mapping outlives the put: the next mapping on that CPU or the next sleep splats
    "06-mapped-cache.patch": (("SleepingInInvalidContext", "KernelSplat"), "", 4),
    "06b-kmalloc-cache.patch": None,
}


def test_every_patch_has_an_expected_verdict() -> None:
    assert sorted(p.name for p in PATCHES.glob("*.patch")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_patch_gets_its_verdict(name: str) -> None:
    source = require_kernel("6.12")
    expected = EXPECTED[name]
    checks = ("kernel-rules",) if expected else ("kernel-rules", "equivalence")
    result = check_patches(source, read_series(PATCHES / name), Budget(max_examples=100),
                           checks=checks)
    failed = [r for r in result.results if r.status != "passed"]
    if expected is None:
        assert failed == [], [(r.check, r.message, r.what, r.base, r.patched) for r in failed]
        return
    (r,) = failed
    error_types, message, max_steps = expected
    assert r.status == "failed" and r.error_type in error_types, r
    assert r.message.startswith(message), r.message
    assert len(r.steps) <= max_steps, r.steps
    if name.startswith("03-"):  # the odd pointer the % 2 test misread is in the evidence
        assert any(" ODD " in e for e in r.evidence), r.evidence
