"""``dyndiet check --patch``: a posted patch applied, built and fuzzed against its base."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dyndiet.cli import main
from tests.kernel_fixtures import require_kernel

FIXTURES = Path(__file__).parent / "fixtures"
PLANTED = FIXTURES / "planted"


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["check", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_changed_behaviour_is_a_difference_shrunk_to_its_steps(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    require_kernel("6.12")
    rc, out, _ = check(capsys, "--patch", str(PLANTED / "dyndbg-escape-tab.patch"),
                       "--max-examples", "60", "--format", "json", "--output",
                       str(tmp_path / "out"))
    assert rc == 1
    doc = json.loads(out)
    (finding,) = doc["findings"]
    assert finding["severity"] == "difference"
    diff = finding["difference"]
    assert diff["observation"] == "the control file"
    assert '"read\\tdone\\n"' in diff["baseline"] and '"read\tdone\\n"' in diff["design"]
    assert finding["steps"] == ["boot: vmlinux with foo (1 callsite: a.c:1 f 'read\\tdone\\n')"
                                " (CONFIG_JUMP_LABEL=n)", "late_initcall",
                                "cat /proc/dynamic_debug/control"]
    assert doc["header"]["base"].startswith("Linux 6.12")
    assert {c["check"]: c["status"] for c in doc["checks"]} == {
        "kernel-rules": "passed", "equivalence": "failed"}
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["report.json", "report.md", "report.txt", "reproduce_F1.sh",
                       "test_repro_F1.py"]
    text = (tmp_path / "out" / "report.txt").read_text()
    assert max(len(ln) for ln in text.splitlines()) <= 72
    assert "cat /proc/dynamic_debug/control" in (tmp_path / "out" / "reproduce_F1.sh").read_text()
    # the pytest reproducer fails the way the report says, from any directory
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "out" / "test_repro_F1.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "the control file differs" in proc.stdout


def test_a_patch_that_does_not_apply_is_one_line_naming_the_hunk(
        capsys: pytest.CaptureFixture[str]) -> None:
    require_kernel("6.12")
    rc, out, err = check(capsys, "--patch", str(FIXTURES / "patches" / "does-not-apply.patch"))
    assert rc == 2 and out == ""
    assert err.count("\n") == 1
    assert "patch '[PATCH] dyndbg: a hunk whose context is not in the tree' does not apply: " \
           "lib/dynamic_debug.c: the hunk at line 10 does not apply" in err


def test_a_patch_that_does_not_compile_is_the_first_error_at_the_patched_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    require_kernel("6.12")
    rc, out, err = check(capsys, "--patch",
                         str(FIXTURES / "patches" / "does-not-compile.patch"))
    assert rc == 2 and out == ""
    assert err.count("\n") == 1
    assert "does not compile: lib/dynamic_debug.c:816:" in err
    assert "'undeclared_symbol' undeclared" in err


def test_designs_and_a_patch_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = check(capsys, "section", "--patch", str(PLANTED / "dyndbg-escape-tab.patch"))
    assert rc == 2 and "not both" in err


def test_the_sanitizer_build_reports_a_use_after_free_as_kasan_would() -> None:
    from kernel.build import build
    from kernel.dyndbg import RealDyndbg, dyndbg_area
    from kernel.patching import apply_series, read_series
    from kernel.process import KernelSanitizer, KernelServer
    from model.abi import get_abi
    from model.dyndbg.callsite import CallsiteSpec, ModuleSpec
    from model.linker import link_module, link_vmlinux
    from model.memory import AddressSpace

    source = require_kernel("6.12")
    overlay = apply_series(source, read_series(PLANTED / "dyndbg-use-after-free.patch"))
    plain = ModuleSpec("foo", (CallsiteSpec("foo", "f", "a.c", "ok\n", 1),), builtin=True)
    module = ModuleSpec("m", (CallsiteSpec("m", "g", "m.c", "hi\n", 2),))
    for sanitize in (False, True):
        built = build(dyndbg_area(source, False), source, overlay=overlay, sanitize=sanitize)
        with KernelServer(built) as server:
            d = RealDyndbg(server.new_kernel())
            space = AddressSpace(get_abi("x86_64"))
            d.boot(link_vmlinux(space, "v6.12", False, (plain,)), space, False, "")
            d.insmod(link_module(space, "v6.12", False, module), space, None, False)
            if not sanitize:  # the freed table is still readable: nothing shows
                assert d.rmmod("m").value == 0
                continue
            with pytest.raises(KernelSanitizer) as info:
                d.rmmod("m")
            assert info.value.message == "BUG: KASAN: use-after-free in ddebug_table_free"
            assert info.value.site == "lib/dynamic_debug.c:1316"
            notes = getattr(info.value, "__notes__", [])
            assert any("ddebug_remove_module lib/dynamic_debug.c" in n for n in notes), notes


def test_a_patch_to_zsmalloc_is_held_against_the_model(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    require_kernel("6.12")
    rc, out, _ = check(capsys, "--patch", str(PLANTED / "zsmalloc-freelist.patch"),
                       "--max-examples", "60", "--format", "json")
    assert rc == 1
    doc = json.loads(out)
    statuses = {c["check"]: c["status"] for c in doc["checks"]}
    assert statuses["zsmalloc-model"] == "failed", statuses
    (finding,) = [f for f in doc["findings"] if f["properties"] == ["zsmalloc-model"]]
    diff = finding["difference"]
    assert diff["baseline_name"] == "model" and diff["baseline"] != diff["design"]
    assert finding["step_count"] <= 4
    assert finding["steps"][0] == 'zs_create_pool("dyndiet")'
    assert any(re.fullmatch(r"zs_malloc\(pool, [1-9]\d*, GFP_\w+\), then the object written", s)
               for s in finding["steps"][1:]), finding["steps"]
