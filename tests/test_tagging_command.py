"""``dyndiet tagging``: the scheme x domain table, the 2020 finding, JSON, bad input, --diff."""

from __future__ import annotations

import json

import pytest

from dyndiet.cli import main
from dyndiet.commands.tagging import EVIDENCE_2020
from model.abi import ABI_NAMES


def test_table_reproduces_the_2020_finding(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagging"]) == 1
    out = capsys.readouterr().out
    assert "== x86_64 (GCC 12 -O2" in out
    assert "2020 finding (odd tag once string pointers share the word): UNSAFE" in out
    assert "0xffffffff82000001 from short string literals" in out
    assert ".rodata.str1.1, align 1 (x86_64)" in out
    assert "evidence: " in out and "54% of modname" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("zsmalloc "))
    assert line.split()[1] == "ok"                       # odd tag over zsmalloc handles


def test_json_cells(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagging", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [r["abi"] for r in report] == ["x86_64"]
    cells = {(c["scheme"], c["domain"]): c for c in report[0]["cells"]}
    odd_str = cells[("odd", "str-short")]
    assert not odd_str["safe"]
    assert odd_str["counterexample"]["value"] == "0xffffffff82000001"
    assert odd_str["counterexample"]["section"] == ".rodata.str1.1"
    assert odd_str["counterexample"]["align"] == 1
    assert cells[("odd", "zsmalloc")]["safe"]
    assert all(c["safe"] for (s, _), c in cells.items() if s == "flag")
    assert report[0]["finding_2020"]["evidence"] == EVIDENCE_2020
    z3 = cells[("odd", "z3fold-headless")]["counterexample"]
    assert z3["value"] == "0xffff888000001001" and z3["property"] == "tagged"


def test_all_abis_and_the_finding_per_abi(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagging", "--abi", "all", "--json", "--scheme", "odd",
                 "--domain", "str-short"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [r["abi"] for r in report] == list(ABI_NAMES)
    safe = {r["abi"]: r["finding_2020"]["safe"] for r in report}
    # short literals are byte-aligned only on x86 at -O2 (model/sections.py)
    assert safe == {"x86_64": False, "i386": False, "aarch64": True, "arm": True,
                    "riscv64": True, "s390x": True, "ppc64": True}


def test_optimize_size_makes_aarch64_strings_odd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagging", "--abi", "aarch64", "--scheme", "odd", "--domain", "str-short"]) == 0
    assert main(["tagging", "--abi", "aarch64", "--os", "--scheme", "odd",
                 "--domain", "str-short"]) == 1
    assert "GCC 12 -Os" in capsys.readouterr().out


def test_safe_selection_exits_zero_and_hypothesis_agrees(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagging", "--scheme", "odd", "--domain", "zsmalloc", "--domain", "record",
                 "--hypothesis", "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)[0]["cells"]
    assert all(c["safe"] and c["hypothesis_agrees"] for c in cells)
    assert main(["tagging", "--scheme", "static_key", "--domain", "func-short",
                 "--hypothesis"]) == 1
    out = capsys.readouterr().out
    assert "UNSAFE!" not in out and "UNSAFE 0xffffffff82000002" in out


@pytest.mark.parametrize("argv", [["--abi", "vax"], ["--scheme", "nope"], ["--domain", "nope"]])
def test_bad_input_is_one_line_and_exit_2(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagging", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dyndiet tagging: unknown") and err.count("\n") == 1


@pytest.mark.crosshair
def test_diff_shows_differing_inputs_as_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagging", "--diff", "model.tagging_patches.untag_sub",
                 "model.tagging_patches.untag_mask"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("given (v=") and "as words" in out
    assert main(["tagging", "--diff", "model.tagging_patches.is_handle_mod",
                 "model.tagging_patches.is_handle_and"]) == 0
    assert "no differences found" in capsys.readouterr().out
