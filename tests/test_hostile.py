"""Hostile input, as a new user would try it: every case runs the real command line in a
subprocess with a time limit and must end with its promised exit status, exactly one line on
stderr when it fails (none when it succeeds), and no traceback anywhere (issue 13).

The files the cases read are in tests/fixtures/hostile/ or made here once per session
(compressed bombs, deep nesting, oversized headers).  Below the table: in-process tests of
the pieces the table leans on, each shown to catch the bug it exists for and to stay quiet
on correct input.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import lzma
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

import model.elf as elf
from dyndiet import cli, schema
from dyndiet.commands import classes, report
from dyndiet.report import exit_status, render
from model.abi import ABIS
from model.creader import BUILTIN_MACROS, MAX_NESTING, parse_c
from model.eras import ERA_NAMES
from model.errors import InputError
from model.layout import RecordType, layout_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hostile"
ROOT = Path(__file__).resolve().parent.parent
#: Wall-clock limit of one case: a guard against hangs, not a speed measurement.
LIMIT = 30

# --------------------------------------------------------------------------------------------
# Inputs made once per session


def _xz_bomb(path: Path) -> None:
    """Concatenated xz streams of 16 MiB of zeros (a valid .xz, as ``xz -d`` reads it),
    inflating to 272 MiB: past the 256 MiB cap."""
    one = lzma.compress(bytes(16 << 20), preset=0)
    path.write_bytes(one * 17)


def _gz_bomb(path: Path) -> None:
    one = gzip.compress(bytes(16 << 20), compresslevel=1)
    path.write_bytes(one * 17)


def _zst_bomb(path: Path) -> None:
    """One zstd frame of 300 MiB of zeros, written a MiB at a time."""
    cobj = zstandard.ZstdCompressor(level=1).compressobj(size=300 << 20)
    chunk = bytes(1 << 20)
    path.write_bytes(b"".join(cobj.compress(chunk) for _ in range(300)) + cobj.flush())


def _nested(depth: int) -> str:
    return "struct top {\n" + "struct {\n" * depth + "int x;\n" + "};\n" * depth + "};\n"


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    _xz_bomb(d / "bomb.ko.xz")
    _gz_bomb(d / "bomb.ko.gz")
    _zst_bomb(d / "bomb.ko.zst")
    (d / "cut.ko.xz").write_bytes(lzma.compress(b"\x7fELF" + bytes(4000))[:-40])
    (d / "nest200.h").write_text(_nested(200))
    (d / "chain500.h").write_text("".join(f"#define M{i} M{i + 1}\n" for i in range(500))
                                  + "struct s { int M0; };\n")
    (d / "terms.h").write_text("struct t { int a[" + "+".join(["1"] * 3000) + "]; };\n")
    (d / "big.h").write_text("struct s { int a; };\n" * 60_000)  # 1.2 MB
    (d / "garbage.h").write_bytes(bytes(range(256)) * 8)
    (d / "garbage.ko").write_bytes(bytes(range(256)) * 8)
    (d / "empty.ko").write_bytes(b"")
    # an ELF header claiming section headers far beyond the file's end
    hdr = bytearray(64)
    hdr[:7] = b"\x7fELF\x02\x01\x01"
    hdr[16:18] = (1).to_bytes(2, "little")        # ET_REL
    hdr[18:20] = (62).to_bytes(2, "little")       # EM_X86_64
    hdr[40:48] = (1 << 20).to_bytes(8, "little")  # e_shoff
    hdr[58:60] = (64).to_bytes(2, "little")       # e_shentsize
    hdr[60:62] = (30).to_bytes(2, "little")       # e_shnum
    (d / "truncated.ko").write_bytes(bytes(hdr))
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "array.json").write_text("[]")
    (d / "notjson.json").write_text("{ this is not json")
    v1 = json.loads((FIXTURES / "report_v1.json").read_text())
    missing = copy.deepcopy(v1)
    del missing["designs"][0]["properties"][1]["status"]
    (d / "missing.json").write_text(json.dumps(missing))
    wrong = copy.deepcopy(v1)
    wrong["designs"][0]["properties"][0]["test_cases"] = "100"
    (d / "wrong.json").write_text(json.dumps(wrong))
    other = copy.deepcopy(v1)
    other["schema"] = "dyndiet.report/99"
    (d / "schema99.json").write_text(json.dumps(other))
    (d / "syntax_design.py").write_text("DESIGNS = [\n")
    (d / "raising_design.py").write_text("raise ImportError('no such thing')\n")
    (d / "empty_design.py").write_text("x = 1\n")
    return d


# --------------------------------------------------------------------------------------------
# The table: (command line, exit status, what the one stderr line says)

F, M = "{fixtures}", "{made}"
CASES: list[tuple[str, int, str]] = [
    # layout
    (f"layout {F}/huge_array.h", 0, ""),
    (f"layout {F}/huge_array.h --abi i386", 2, "larger than any object on i386"),
    (f"layout {F}/kernel_attributes.h", 0, ""),
    (f"layout {F}/list_head.h", 0, ""),
    (f"layout {F}/unknown_annotation.h", 2, "unknown attribute or macro '__frobnicated'"),
    (f"layout {F}/mode_attribute.h", 2, "unsupported attribute 'mode'"),
    (f"layout {F}/laughs.h", 2, "macro expansion grows past 2 MiB"),
    (f"layout {F}/unterminated_comment.h", 2, "unterminated comment"),
    (f"layout {M}/nest200.h", 2, "nest200.h:65: nested more than 64 deep"),
    (f"layout {M}/chain500.h", 2, "macros nested more than 64 deep"),
    (f"layout {M}/terms.h", 2, "too long or too deeply nested"),
    (f"layout {M}/big.h", 2, "larger than the C reader takes"),
    (f"layout {M}/garbage.h", 2, "garbage.h:1:"),
    (f"layout {M}", 2, "not a regular file"),
    ("layout /dev/zero", 2, "not a regular file"),
    ("layout /nonexistent/x.h", 2, "no such file"),
    (f"layout {F}/list_head.h --abi vax", 2, "unknown ABI 'vax'"),
    (f"layout {F}/list_head.h -D =1", 2, "bad -D option"),
    (f"layout {F}/list_head.h --compare", 2, "--compare takes two files"),
    (f"layout {F}/list_head.h --struct nope", 2, "no struct or union named 'nope'"),
    # classes
    ("classes --page-size 1099511627776", 2, "PAGE_SIZE must be a power of two"),
    ("classes --page-size 4097", 2, "PAGE_SIZE must be a power of two"),
    ("classes --page-size many", 2, "PAGE_SIZE must be a whole number"),
    ("classes --era v6.19", 0, ""),
    ("classes --era v9.9", 2, "invalid choice: 'v9.9'"),
    ("classes --chain-size 99", 2, "CONFIG_ZSMALLOC_CHAIN_SIZE must be a number from 4 to 16"),
    ("classes --physmem-bits -1", 2, "MAX_POSSIBLE_PHYSMEM_BITS must be a number from 32"),
    ("classes --bits-per-long 16", 2, "invalid choice: 16"),
    # tagging
    ("tagging --abi vax", 2, "unknown ABI 'vax'"),
    ("tagging --scheme nope", 2, "nope"),
    ("tagging --domain nope", 2, "unknown domain 'nope'"),
    # analyze
    (f"analyze {M}/bomb.ko.xz", 2, "inflates past 256 MiB (xz)"),
    (f"analyze {M}/bomb.ko.gz", 2, "inflates past 256 MiB (gzip)"),
    (f"analyze {M}/bomb.ko.zst", 2, "inflates past 256 MiB (zstd)"),
    (f"analyze {M}/cut.ko.xz", 2, "compressed data ends early"),
    (f"analyze {M}/empty.ko", 2, "not an ELF file"),
    (f"analyze {M}/garbage.ko", 2, "not an ELF file"),
    (f"analyze {M}/truncated.ko", 2, "truncated"),
    ("analyze /dev/zero", 2, "not a regular file"),
    ("analyze /nonexistent.ko", 2, "no such file or directory"),
    (f"analyze {M}/empty.ko --era v9.9", 2, "invalid choice: 'v9.9'"),
    # report
    (f"report {F}/report_v1.json", 1, ""),
    (f"report {M}/missing.json", 2, "designs[0].properties[1].status: missing"),
    (f"report {M}/wrong.json", 2,
     "designs[0].properties[0].test_cases: expected an integer, got str"),
    (f"report {M}/schema99.json", 2, "not a dyndiet.report/1"),
    (f"report {M}/notjson.json", 2, "not JSON"),
    (f"report {M}/deep.json", 2, "nested too deeply"),
    (f"report {M}/array.json", 2, "not a dyndiet.report/1"),
    ("report /nonexistent.json", 2, "cannot read"),
    # bench
    ("bench nosuch", 2, "unknown benchmark area 'nosuch'"),
    # fidelity
    ("fidelity --kernel 9.9", 2, "invalid choice: '9.9'"),
    ("fidelity --kernel-tree /nonexistent", 2, "/nonexistent"),
    ("fidelity --max-examples 0", 2, "must be positive"),
    # check
    ("check --era v9.9", 2, "invalid choice: 'v9.9'"),
    ("check --max-examples 0", 2, "must be positive"),
    ("check --steps 10000000000", 2, "too large"),
    ("check --abi vax", 2, "invalid choice: 'vax'"),
    ("check --property no-such-property", 2, "no-such-property"),
    ("check no-such-design", 2, "no-such-design"),
    (f"check {M}/syntax_design.py", 2, "design file does not import: SyntaxError"),
    (f"check {M}/raising_design.py", 2, "design file does not import: ImportError"),
    (f"check {M}/empty_design.py", 2, "DESIGNS"),
    ("check --corpus /nonexistent", 2, "/nonexistent"),
    # the command line itself
    ("nosuch", 2, "invalid choice: 'nosuch'"),
    ("", 2, "no command given (one of: check, fuzz"),
]


def _argv(line: str, made: Path) -> list[str]:
    return [a.replace(F, str(FIXTURES)).replace(M, str(made)) for a in line.split()]


@pytest.mark.parametrize(("line", "status", "says"), CASES, ids=[c[0] or "(none)" for c in CASES])
def test_hostile_input(line: str, status: int, says: str, made: Path,
                       tmp_path: Path) -> None:
    env = {**os.environ, "DYNDIET_CACHE": str(tmp_path / "cache"), "COLUMNS": "200"}
    try:
        proc = subprocess.run([sys.executable, "-m", "dyndiet", *_argv(line, made)],
                              capture_output=True, text=True, timeout=LIMIT, cwd=ROOT,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dyndiet {line}: still running after {LIMIT} s")
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert proc.returncode == status, proc.stderr
    if status in (0, 1):
        assert lines == []
    else:
        assert len(lines) == 1, proc.stderr
        assert says in lines[0]


def test_the_table_is_large_and_covers_every_command() -> None:
    assert len(CASES) >= 40
    commands = {c[0].split()[0] for c in CASES if c[0]}
    assert {"layout", "classes", "tagging", "analyze", "report", "bench", "fidelity",
            "check"} <= commands


# --------------------------------------------------------------------------------------------
# Arrays lay out in O(1); the codec is built on demand and bounded


def _one(text: str) -> RecordType:
    t = next(iter(parse_c(text, "t.h").values()))
    assert isinstance(t, RecordType)
    return t


def test_a_huge_array_is_one_member_and_has_no_codec() -> None:
    lay = layout_of(_one("struct s { long n; char a[4000000000]; };"), ABIS["x86_64"])
    assert lay.size == 8 + 4_000_000_000
    assert [m.name for m in lay.members] == ["n", "a"]
    with pytest.raises(InputError, match="limited to 65,536"):
        lay.paths()
    # quiet on a small array: its elements are leaves one by one
    small = layout_of(_one("struct s { long n; char a[3]; };"), ABIS["x86_64"])
    assert small.paths() == ("n", "a[0]", "a[1]", "a[2]")
    assert small.decode(small.encode({"a[2]": 7}))["a[2]"] == 7


def test_a_type_larger_than_ptrdiff_max_is_refused_per_abi() -> None:
    rec = _one("struct s { char a[3000000000]; };")
    assert layout_of(rec, ABIS["x86_64"]).size == 3_000_000_000
    with pytest.raises(InputError, match=r"t\.h:1: member 'a' of struct s is 3,000,000,000"):
        layout_of(rec, ABIS["arm"])


# --------------------------------------------------------------------------------------------
# The C reader: nesting, annotations, the prelude


def test_nesting_limit_is_exact() -> None:
    assert parse_c(_nested(MAX_NESTING - 1), "n.h")["top"]
    with pytest.raises(InputError, match=r"n\.h:\d+: nested more than 64 deep"):
        parse_c(_nested(MAX_NESTING), "n.h")


def test_kernel_annotations_do_not_change_the_layout() -> None:
    annotated = (FIXTURES / "kernel_attributes.h").read_text()
    plain = annotated
    for word in ("__counted_by(n)", "__rcu", "__user", "__iomem", "__percpu", "__bitwise",
                 "__private", "__data_racy", "__randomize_layout", "__no_randomize_layout",
                 "__designated_init", "__nonstring", "__guarded_by(lock)"):
        plain = plain.replace(word, "")
    got = parse_c(annotated, "a.h")
    want = parse_c(plain, "a.h")
    for abi in ABIS.values():
        for name in ("annotated", "sparse"):
            a, b = got[name], want[name]
            assert isinstance(a, RecordType) and isinstance(b, RecordType)
            assert layout_of(a, abi).members == layout_of(b, abi).members


def test_an_annotation_the_reader_does_not_know_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = "struct s { int n; int a[] __counted_by(n); };"
    assert parse_c(text, "a.h")["s"]
    monkeypatch.delitem(BUILTIN_MACROS, "__counted_by")
    with pytest.raises(InputError, match=r"a\.h:1: unknown attribute or macro '__counted_by'"):
        parse_c(text, "a.h")


def test_cacheline_alignment_follows_smp_cache_bytes() -> None:
    text = "struct c { int a; int b ____cacheline_aligned; };"
    x86 = ABIS["x86_64"]
    for bytes_, size in (("64", 128), ("256", 512)):
        rec = parse_c(text, "c.h", {"SMP_CACHE_BYTES": bytes_})["c"]
        assert isinstance(rec, RecordType) and layout_of(rec, x86).size == size


def test_a_users_list_head_is_listed_and_used() -> None:
    types = parse_c((FIXTURES / "list_head.h").read_text(), "l.h")
    assert list(types) == ["list_head", "holder"]
    holder = types["holder"]
    assert isinstance(holder, RecordType)
    assert layout_of(holder, ABIS["x86_64"]).size == 12
    # quiet on a header that only uses the prelude's
    assert list(parse_c("struct h { struct list_head l; };", "h.h")) == ["h"]


# --------------------------------------------------------------------------------------------
# Decompression: streamed and capped


@pytest.mark.parametrize("method", ["xz", "gzip", "zstd"])
def test_decompression_stops_at_the_cap(method: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    packers: dict[str, Callable[..., bytes]] = {
        "xz": lzma.compress, "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress}
    pack = packers[method]
    monkeypatch.setattr(elf, "MAX_INFLATED", 3 << 20)
    under, over = tmp_path / "under", tmp_path / "over"
    under.write_bytes(pack(bytes(3 << 20)))
    over.write_bytes(pack(bytes((3 << 20) + 1)))
    assert elf.load_bytes(str(under)) == bytes(3 << 20)
    with pytest.raises(InputError, match=rf"inflates past 3 MiB \({method}\)"):
        elf.load_bytes(str(over))


def test_concatenated_streams_are_read_whole(tmp_path: Path) -> None:
    p = tmp_path / "two.xz"
    p.write_bytes(lzma.compress(b"ab") + lzma.compress(b"cd"))
    assert elf.load_bytes(str(p)) == b"abcd"
    p.write_bytes(gzip.compress(b"ab") + gzip.compress(b"cd"))
    assert elf.load_bytes(str(p)) == b"abcd"


# --------------------------------------------------------------------------------------------
# Report validation: the spec covers what the renderers read


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _mutations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every document one deletion or one retyping away from ``doc``."""
    for path in _paths(doc):
        if not path:
            continue
        replacements: tuple[Any, ...] = ("delete", None, 7, "x", [], {}, True, 1.5)
        for replacement in replacements:
            d = copy.deepcopy(doc)
            parent = d
            for key in path[:-1]:
                parent = parent[key]
            if replacement == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
            yield f"{path}={replacement!r}", d


def test_a_valid_report_validates_and_renders() -> None:
    doc = json.loads((FIXTURES / "report_v1.json").read_text())
    assert schema.validate_document(doc)
    assert exit_status(doc) == 1
    for fmt in ("text", "markdown", "json"):
        assert render(doc, fmt)


def test_every_document_the_spec_passes_renders() -> None:
    """Validation is complete for the renderers: a document one edit away from a valid
    ``/1`` report is refused by the spec, or renders in every format."""
    doc = json.loads((FIXTURES / "report_v1.json").read_text())
    refused = 0
    for what, d in _mutations(doc):
        try:
            schema.validate_document(d)
        except InputError:
            refused += 1
            continue
        try:
            for fmt in ("text", "markdown", "json"):
                render(d, fmt)
            exit_status(d)
        except Exception as exc:  # a renderer crash the spec let through
            pytest.fail(f"{what}: validated, then rendering raised {exc!r}")
    assert refused > 50


@pytest.mark.parametrize(("edit", "says"), [
    (lambda d: d["designs"][0]["properties"][1].pop("status"),
     "designs[0].properties[1].status: missing"),
    (lambda d: d["designs"][0].__setitem__("name", 3), "designs[0].name: expected a string, "
                                                       "got int"),
    (lambda d: d["tool"].__setitem__("max_examples", True),
     "tool.max_examples: expected an integer, got bool"),
    (lambda d: d["designs"][0]["properties"][0].__setitem__("status", "error"),
     "designs[0].properties[0].error: missing (required when status is 'error')"),
    (lambda d: d["designs"][0]["properties"][0].__setitem__("status", "flaky"),
     "designs[0].properties[0].status: expected one of 'passed', 'failed', 'error', got "
     "'flaky'"),
    (lambda d: d.__setitem__("designs", {}), "designs: expected an array, got dict"),
])
def test_validation_names_the_path(edit: Any, says: str) -> None:
    doc = json.loads((FIXTURES / "report_v1.json").read_text())
    edit(doc)
    with pytest.raises(InputError) as exc:
        schema.validate_document(doc, source="r.json")
    assert str(exc.value) == f"r.json: {says}"


def test_a_registered_schema_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "_SCHEMAS", dict(schema._SCHEMAS))
    doc = {"schema": "x/1", "n": "one"}
    assert not schema.validate_document(doc)  # nothing registered: the caller's call
    schema.register_schema("x/1", schema.Record(required={"n": int}))
    with pytest.raises(InputError, match="n: expected an integer, got str"):
        schema.validate_document(doc)


def test_report_refuses_an_oversized_file(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "r.json"
    p.write_text((FIXTURES / "report_v1.json").read_text())
    assert report.read_report(str(p))["schema"] == "dyndiet.report/1"
    monkeypatch.setattr(report, "MAX_REPORT_BYTES", 100)
    with pytest.raises(InputError, match="larger than any report"):
        report.read_report(str(p))


# --------------------------------------------------------------------------------------------
# classes: every era name check takes


@pytest.mark.parametrize("era", ERA_NAMES)
def test_classes_takes_every_kernel_era(era: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["classes", "--era", era, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"]
    assert classes.zsmalloc_era(era) in classes.ERA_CHOICES


# --------------------------------------------------------------------------------------------
# An internal error: status 3, one line, the traceback in a log


@pytest.mark.parametrize("error", [RecursionError, MemoryError, KeyError])
def test_an_internal_error_is_status_3_with_a_log(
        error: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DYNDIET_CACHE", str(tmp_path))

    def broken(args: argparse.Namespace) -> int:
        raise error("deep inside\nsecond line")

    monkeypatch.setattr(classes, "run", broken)
    assert cli.main(["classes"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"dyndiet classes: internal error: {error.__name__}: ")
    logs = list((tmp_path / "logs").iterdir())
    assert len(logs) == 1 and str(logs[0]) in err[0]
    assert "Traceback" in logs[0].read_text() and "broken" in logs[0].read_text()


def test_bad_input_is_not_an_internal_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DYNDIET_CACHE", str(tmp_path))
    assert cli.main(["layout", "/nonexistent/x.h"]) == cli.EXIT_INPUT
    assert "internal error" not in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()
