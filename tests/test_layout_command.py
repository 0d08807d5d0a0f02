"""``dyndiet layout``: pahole view, --json, --compare, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dyndiet.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_matches_the_issue_format(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "layout", "dynamic_debug_v6.1.h", "--struct", "_ddebug",
                     "-D", "CONFIG_JUMP_LABEL", "--json")
    assert rc == 0
    [dd] = json.loads(out)
    assert {k: dd[k] for k in ("name", "kind", "abi", "size", "align")} == {
        "name": "_ddebug", "kind": "struct", "abi": "x86_64", "size": 56, "align": 8}
    lineno = next(m for m in dd["members"] if m["name"] == "lineno")
    assert lineno == {"name": "lineno", "type": "unsigned int", "offset_bits": 256,
                      "size_bits": 18, "bitfield": True}
    key = dd["members"][-1]
    assert key["name"] == "key" and key["offset_bits"] == 320
    true_key = key["members"][0]["members"][0]  # dd_key_true.key
    anon = true_key["members"][1]
    assert anon["name"] == "" and anon["members"][0]["name"] == "type"
    assert anon["members"][0]["offset_bits"] == 384  # absolute from the start of _ddebug


def test_pahole_view_shows_bitfields_holes_and_summary(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    rc, out, _ = run(capsys, "layout", "dynamic_debug_v6.1.h", "--struct", "_ddebug",
                     "-D", "CONFIG_JUMP_LABEL", "--abi", "x86_64")
    assert rc == 0
    assert "struct _ddebug {" in out
    assert "class_id:6;" in out and "/*    32:18    4 */" in out
    assert "XXX 4 bytes hole, try to pack" in out
    assert "/* size: 56, cachelines: 1, members: 8 */" in out


def test_every_named_struct_by_default_and_abi_option(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    f = tmp_path / "p.h"
    f.write_text("struct a { char c; long l; };\nunion b { int i; char c[5]; };\n")
    rc, out, _ = run(capsys, "layout", str(f), "--abi", "i386", "--json")
    assert rc == 0
    got = {(d["name"], d["kind"], d["size"]) for d in json.loads(out)}
    assert got == {("a", "struct", 8), ("b", "union", 8)}


def test_compare_reports_sizes_moves_and_footprint(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "layout", "dynamic_debug_v5.8.h", "dynamic_debug_split_2020.h",
                     "--compare", "--struct", "_ddebug", "--struct", "_ddebug_callsite",
                     "-D", "CONFIG_JUMP_LABEL", "--abi", "all")
    assert rc == 0
    lines = out.splitlines()
    size = next(line for line in lines if line.strip().startswith("size"))
    assert "56 -> 32 (-24)" in size and "32 -> 16 (-16)" in size  # x86_64, i386
    flags = next(line for line in lines if line.strip().startswith("flags"))
    assert "34:2/8b -> 8:0/8b" in flags
    per_kernel = next(line for line in lines if "bytes for 2605 callsites" in line)
    assert "145880 -> 187560 (+41680)" in per_kernel


@pytest.mark.parametrize(("argv", "message"), [
    (["layout", "BAD", "--abi", "vax"], "unknown ABI 'vax'"),
    (["layout", "no/such/file.h"], "no/such/file.h: no such file"),
    (["layout", "dynamic_debug_v6.1.h", "--struct", "nope"], "no struct or union named 'nope'"),
    (["layout", "a.h", "b.h"], "give one file"),
    (["layout", "BAD"], "BAD:4: unknown type 'foo_t'"),
    (["layout", "BAD", "--struct", "wide"], "BAD:2: width of bitfield 'q' (9) exceeds"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          argv: list[str], message: str) -> None:
    bad = tmp_path / "bad.h"
    bad.write_text("struct wide {\n\tchar q:9;\n};\n" if "wide" in argv else "struct ok { int a; };\nstruct s {\n\tint a;\n"
                   "\tfoo_t b;\n};\n")
    argv = [str(bad) if a == "BAD" else a for a in argv]
    message = message.replace("BAD", str(bad))
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
