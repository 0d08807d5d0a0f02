"""``dyndiet fidelity``: the model holds against the real files, and a planted change in a
kernel file is caught and shrunk to a short run (the meta-tests of the fidelity machines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dyndiet.cli import main
from tests.kernel_fixtures import planted_tree, require_kernel

PLANTED = Path(__file__).parent / "fixtures" / "planted"


def fidelity(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    rc = main(["fidelity", "--format", "json", *args])
    return rc, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("version", ["6.1", "6.12"])
@pytest.mark.parametrize("area", ["dyndbg", "zsmalloc"])
def test_the_model_agrees_with_the_kernel(capsys: pytest.CaptureFixture[str], version: str,
                                          area: str) -> None:
    require_kernel(version)
    rc, doc = fidelity(capsys, "--kernel", version, "--area", area, "--max-examples", "60")
    assert doc["disagreements"] == 0, doc
    assert rc == 0
    assert doc["steps"] > 300


@pytest.mark.parametrize(("patch", "area", "what"), [
    ("dyndbg-escape-tab", "dyndbg", "the control file"),
    ("zsmalloc-class-index", "zsmalloc", "where a"),
    ("zsmalloc-freelist", "zsmalloc", "where a"),
])
def test_a_planted_change_is_caught_and_shrunk(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path, patch: str, area: str,
                                               what: str) -> None:
    tree = planted_tree(require_kernel("6.12"), PLANTED / f"{patch}.patch", tmp_path / "linux")
    rc, doc = fidelity(capsys, "--kernel-tree", str(tree), "--area", area,
                       "--max-examples", "300")
    assert rc == 1
    areas = doc["areas"]
    assert isinstance(areas, list)
    (found,) = areas[0]["disagreements"]
    assert found["what"].startswith(what), found
    assert found["model"] != found["kernel"]
    assert len(found["steps"]) <= 4, found["steps"]


def test_the_last_line_counts_steps_and_disagreements(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    require_kernel("6.12")
    rc = main(["fidelity", "--kernel", "6.12", "--area", "zsmalloc", "--max-examples", "5"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert out[-1].startswith("fidelity: ") and out[-1].endswith(" steps, 0 disagreements")


def test_a_tree_without_the_files_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    rc = main(["fidelity", "--kernel-tree", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert "\n" not in err and "not a kernel tree" in err
