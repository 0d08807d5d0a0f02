"""The foundation: ABIs, the model address space, the command line's error convention."""

from __future__ import annotations

import pytest

from dyndiet.cli import main
from model.abi import ABI_NAMES, get_abi
from model.errors import BadAccess, InputError
from model.memory import AddressSpace


def test_seven_abis() -> None:
    assert set(ABI_NAMES) == {"x86_64", "i386", "aarch64", "arm", "riscv64", "s390x", "ppc64"}
    assert get_abi("s390x").endian == "big" and get_abi("ppc64").endian == "big"
    assert get_abi("i386").scalar("long long").align == 4
    assert get_abi("arm").scalar("long long").align == 8


def test_unknown_abi_is_input_error() -> None:
    with pytest.raises(InputError, match="unknown ABI 'vax'"):
        get_abi("vax")


@pytest.mark.parametrize("abi", ["x86_64", "s390x"])
def test_words_follow_byte_order(abi: str) -> None:
    space = AddressSpace(get_abi(abi))
    space.map(0x1000, 16, "test")
    space.write_word(0x1000, 0x0102030405060708)
    raw = space.read(0x1000, 8)
    assert raw == (bytes(range(8, 0, -1)) if abi == "x86_64" else bytes(range(1, 9)))
    assert space.read_word(0x1000) == 0x0102030405060708


def test_unmapped_access_oopses() -> None:
    space = AddressSpace(get_abi("x86_64"))
    space.map(0x1000, 8, "a")
    with pytest.raises(BadAccess, match="unable to handle page fault"):
        space.read(0x1004, 8)
    with pytest.raises(InputError, match="overlaps"):
        space.map(0x1004, 8, "b")


def test_cstring() -> None:
    space = AddressSpace(get_abi("x86_64"))
    space.map(0x2000, 8, "str", data=b"ab\0cd\0")
    assert space.read_cstring(0x2001) == b"b"
    assert space.read_cstring(0x2003) == b"cd"


def test_bad_option_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--no-such-option"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err
