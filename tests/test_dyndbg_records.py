"""Records as bytes: encode/decode round trip on every ABI and era, agreement with the linker's
``encode_record``, and a meta-test on a decoder with the split's ``lineno:16``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.abi import ABI_NAMES, get_abi
from model.dyndbg.records import decode_site, encode_site, key_enabled
from model.dyndbg.store import DdebugSite
from model.layout import Layout
from model.linker import encode_record, record_layout

TARGETS = st.tuples(st.sampled_from(ABI_NAMES), st.sampled_from(["v5.8", "v6.1"]), st.booleans())


@st.composite
def sites(draw: st.DrawFn, abi_name: str, era: str) -> DdebugSite:
    word = st.integers(0, get_abi(abi_name).max_address)
    return DdebugSite(draw(word), draw(word), draw(word), draw(word),
                      draw(st.integers(0, (1 << 18) - 1)),
                      63 if era == "v5.8" else draw(st.integers(0, 63)), draw(st.integers(0, 255)))


Decoder = Callable[[Layout, bytes], DdebugSite]


def check_round_trip(decode: Decoder, data: st.DataObject) -> None:
    abi_name, era, jump_label = data.draw(TARGETS)
    layout = record_layout(get_abi(abi_name), era, jump_label)
    site = data.draw(sites(abi_name, era))
    raw = encode_site(layout, site, key=(site.flags & 1, site.flags & 1) if jump_label else None)
    assert len(raw) == layout.size
    assert decode(layout, raw) == site
    assert raw == encode_record(layout, era, jump_label, modname=site.modname,
                                function=site.function, filename=site.filename,
                                format=site.format, lineno=site.lineno, class_id=site.class_id,
                                flags=site.flags)
    if jump_label:
        assert key_enabled(layout, raw) == bool(site.flags & 1)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_records_round_trip(data: st.DataObject) -> None:
    check_round_trip(decode_site, data)


def test_round_trip_catches_a_sixteen_bit_lineno() -> None:
    """Meta-test: a decoder that keeps ``lineno:16`` (the August-2020 split's width) is caught,
    shrunk to the smallest line that does not fit: 65536."""
    def lineno16(layout: Layout, raw: bytes) -> DdebugSite:
        s = decode_site(layout, raw)
        return DdebugSite(s.modname, s.function, s.filename, s.format, s.lineno & 0xFFFF,
                          s.class_id, s.flags)

    failing: list[int] = []

    @settings(max_examples=300, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def run(data: st.DataObject) -> None:
        try:
            check_round_trip(lineno16, data)
        except AssertionError:
            failing.append(1)
            raise

    with pytest.raises(AssertionError) as info:
        run()
    assert failing
    assert "lineno: 0 != 65536" in str(info.value)
