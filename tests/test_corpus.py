"""model.corpus: real records as module specs and placed bytes for ``--corpus``."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from model.abi import get_abi
from model.corpus import corpus_images, load_corpus, module_image, vmlinux_image
from model.errors import InputError
from model.memory import AddressSpace
from tests.dd_fixtures import MODULE_NAME, UNITS, all_callsites, build_module, build_vmlinux
from tests.helpers import require_tool

pytestmark = pytest.mark.gcc


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("gcc", "compiles the dyndbg fixtures")
    require_tool("ld", "links the module stand-in with ld -r")
    out = tmp_path_factory.mktemp("dd-corpus")
    mods = out / "lib" / "modules"
    (mods / "a").mkdir(parents=True)
    (mods / "b").mkdir(parents=True)
    ko = build_module("", out)
    (mods / "a" / "one.ko").write_bytes(ko.read_bytes())
    (mods / "b" / "two.ko").write_bytes(ko.read_bytes())
    return {"vmlinux": build_vmlinux("", out), "mods": mods}


def test_vmlinux_splits_into_builtin_tables_by_modname(built: dict[str, Path]) -> None:
    corpus = load_corpus(str(built["vmlinux"]))
    assert corpus.abi.name == "x86_64"
    assert [m.spec.name for m in corpus.modules] == [mod for _u, mod, _d in UNITS]
    assert all(m.spec.builtin for m in corpus.modules)
    want = {(c.unit, c.function, c.filename, c.format, c.lineno, int(c.debug))
            for c in all_callsites()}
    got = {(m.spec.name, s.function, s.filename, s.format, s.lineno, s.flags)
           for m in corpus.modules for s in m.spec.callsites}
    assert got == want
    # Each table's records are consecutive slices of __dyndbg.
    for a, b in itertools.pairwise(corpus.modules):
        assert b.record_address == a.record_address + len(a.record_bytes)


def test_directory_of_modules_is_placed_without_overlap(built: dict[str, Path]) -> None:
    corpus = load_corpus(str(built["mods"]))
    assert [(m.spec.name, m.spec.builtin, len(m.records)) for m in corpus.loadable] == \
        [(MODULE_NAME, False, 13), (MODULE_NAME, False, 13)]
    one, two = corpus.modules
    spans = [(b.address, b.end) for m in (one, two) for b in m.strings]
    spans.sort()
    assert all(end <= nxt for (_s, end), (nxt, _e) in itertools.pairwise(spans))
    assert one.record_address != two.record_address
    assert one.spec.callsites == two.spec.callsites


def test_bad_files_are_kept_aside(built: dict[str, Path], tmp_path: Path) -> None:
    mods = tmp_path / "m"
    mods.mkdir()
    (mods / "good.ko").write_bytes((built["mods"] / "a" / "one.ko").read_bytes())
    (mods / "junk.ko").write_bytes(b"junk")
    corpus = load_corpus(str(mods))
    assert len(corpus.modules) == 1
    assert [str(e) for e in corpus.errors] == [f"{mods / 'junk.ko'}: not an ELF file"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no kernel modules"):
        load_corpus(str(empty))
    with pytest.raises(InputError, match="no such file"):
        load_corpus(str(tmp_path / "missing"))


def test_images_keep_the_real_pointers(built: dict[str, Path]) -> None:
    """Same ABI and era: explicit placements, every pointer's parity as in the binary, the
    strings readable from the model address space at those pointers."""
    corpus = load_corpus(str(built["vmlinux"]))
    mods = load_corpus(str(built["mods"]))
    space = AddressSpace(get_abi("x86_64"))
    images = corpus_images(corpus, space, "v6.1") + corpus_images(mods, space, "v6.1")
    assert [(i.name, i.builtin, i.count) for i in images] == \
        [("vmlinux", True, 13), (MODULE_NAME, False, 13), (MODULE_NAME, False, 13)]
    real = [r for m in corpus.modules for r in m.records] + \
        [r for m in mods.modules for r in m.records]
    placed = [c for i in images for c in i.callsites]
    for rec, site in zip(real, placed, strict=True):
        for f in ("modname", "function", "filename", "format"):
            assert getattr(site, f) % space.abi.page_size == getattr(rec, f) % space.abi.page_size
    for site in placed:
        assert space.read_cstring(site.format) == site.spec.format.encode("latin-1")


def test_images_for_another_abi_come_from_the_linker_model(built: dict[str, Path]) -> None:
    corpus = load_corpus(str(built["vmlinux"]))
    space = AddressSpace(get_abi("s390x"))
    (image,) = corpus_images(corpus, space, "v6.1")
    assert image.abi.name == "s390x"
    assert sorted((c.spec.function, c.spec.format, c.spec.lineno) for c in image.callsites) == \
        sorted((s.function, s.format, s.lineno) for m in corpus.modules for s in m.spec.callsites)
    # s390x's larl needs even addresses: GCC 2-aligns every string (model.sections).
    assert all(c.modname % 2 == 0 for c in image.callsites)


def test_boot_and_insmod_helpers(built: dict[str, Path]) -> None:
    mods = load_corpus(str(built["mods"]))
    space = AddressSpace(get_abi("x86_64"))
    empty = vmlinux_image(mods, space, "v6.1")
    assert (empty.name, empty.builtin, empty.count) == ("vmlinux", True, 0)
    img = module_image(mods, 3, space, "v6.1")
    assert img is not None and (img.name, img.count) == (MODULE_NAME, 13)
    vm = load_corpus(str(built["vmlinux"]))
    assert module_image(vm, 0, AddressSpace(get_abi("x86_64")), "v6.1") is None
    assert vmlinux_image(vm, AddressSpace(get_abi("x86_64")), "v6.1").count == 13
