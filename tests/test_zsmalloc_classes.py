"""zsmalloc class tables: the kernel's formulas, and the figures of the reference tables."""

from __future__ import annotations

import json
import re

import pytest

from dyndiet.cli import main
from model.errors import InputError
from model.zsmalloc_classes import (
    calculate_zspage_chain_size,
    class_table,
    get_pages_per_zspage,
)

#: Appendix A of docs' reference (computed by replicating zs_create_pool), v5.8.
V58_TABLE = """
0:32/1p/128o[0-0] 1:48/3p/256o[1-1] 2:64/1p/64o[2-2] 3:80/1p/51o[3-3] 4:96/3p/128o[4-4]
5:112/2p/73o[5-5] 6:128/1p/32o[6-6] 7:144/3p/85o[7-7] 8:160/2p/51o[8-8] 9:176/4p/93o[9-9]
10:192/3p/64o[10-10] 11:208/2p/39o[11-11] 12:224/4p/73o[12-12] 13:240/1p/17o[13-13]
14:256/1p/16o[14-14] 15:272/1p/15o[15-15] 16:288/1p/14o[16-16] 17:304/3p/40o[17-17]
18:320/4p/51o[18-18] 19:336/1p/12o[19-19] 20:352/2p/23o[20-20] 21:368/1p/11o[21-21]
22:384/3p/32o[22-22] 23:400/1p/10o[23-23] 24:416/4p/39o[24-24] 25:432/3p/28o[25-25]
26:448/1p/9o[26-26] 27:464/4p/35o[27-27] 28:480/2p/17o[28-28] 29:496/4p/33o[29-29]
30:512/1p/8o[30-30] 31:528/4p/31o[31-31] 32:544/2p/15o[32-32] 33:560/4p/29o[33-33]
34:576/1p/7o[34-34] 35:592/4p/27o[35-35] 36:608/3p/20o[36-36] 37:624/2p/13o[37-37]
38:640/3p/19o[38-38] 40:672/1p/6o[39-40] 42:704/4p/23o[41-42] 43:720/3p/17o[43-43]
44:736/2p/11o[44-44] 46:768/3p/16o[45-46] 49:816/1p/5o[47-49] 51:848/4p/19o[50-51]
52:864/3p/14o[52-52] 54:896/2p/9o[53-54] 57:944/3p/13o[55-57] 58:960/4p/17o[58-58]
62:1024/1p/4o[59-62] 66:1088/4p/15o[63-66] 67:1104/3p/11o[67-67] 71:1168/2p/7o[68-71]
74:1216/3p/10o[72-74] 76:1248/4p/13o[75-76] 83:1360/1p/3o[77-83] 91:1488/4p/11o[84-91]
94:1536/3p/8o[92-94] 100:1632/2p/5o[95-100] 107:1744/3p/7o[101-107]
111:1808/4p/9o[108-111] 126:2048/1p/2o[112-126] 144:2336/4p/7o[127-144]
151:2448/3p/5o[145-151] 168:2720/2p/3o[152-168] 190:3072/3p/4o[169-190]
202:3264/4p/5o[191-202] 254:4096/1p/1o[203-254]
"""

#: Appendix A, current with CONFIG_ZSMALLOC_CHAIN_SIZE=8.
CURRENT_CHAIN8_TABLE = """
0:32/1p/128o[0-0] 1:48/3p/256o[1-1] 2:64/1p/64o[2-2] 3:80/5p/256o[3-3] 4:96/3p/128o[4-4]
5:112/7p/256o[5-5] 6:128/1p/32o[6-6] 7:144/7p/199o[7-7] 8:160/5p/128o[8-8]
9:176/4p/93o[9-9] 10:192/3p/64o[10-10] 11:208/3p/59o[11-11] 12:224/7p/128o[12-12]
13:240/1p/17o[13-13] 14:256/1p/16o[14-14] 15:272/1p/15o[15-15] 16:288/5p/71o[16-16]
17:304/7p/94o[17-17] 18:320/5p/64o[18-18] 19:336/6p/73o[19-19] 20:352/8p/93o[20-20]
21:368/8p/89o[21-21] 22:384/3p/32o[22-22] 23:400/5p/51o[23-23] 24:416/6p/59o[24-24]
25:432/7p/66o[25-25] 26:448/7p/64o[26-26] 27:464/5p/44o[27-27] 28:480/2p/17o[28-28]
29:496/4p/33o[29-29] 30:512/1p/8o[30-30] 31:528/4p/31o[31-31] 32:544/2p/15o[32-32]
33:560/7p/51o[33-33] 34:576/1p/7o[34-34] 35:592/8p/55o[35-35] 36:608/7p/47o[36-36]
37:624/2p/13o[37-37] 38:640/5p/32o[38-38] 39:656/5p/31o[39-39] 40:672/1p/6o[40-40]
41:688/8p/47o[41-41] 42:704/5p/29o[42-42] 43:720/3p/17o[43-43] 44:736/2p/11o[44-44]
45:752/7p/38o[45-45] 46:768/3p/16o[46-46] 47:784/5p/26o[47-47] 49:816/1p/5o[48-49]
50:832/8p/39o[50-50] 51:848/5p/24o[51-51] 52:864/7p/33o[52-52] 53:880/8p/37o[53-53]
54:896/7p/32o[54-54] 55:912/7p/31o[55-55] 56:928/5p/22o[56-56] 57:944/3p/13o[57-57]
58:960/4p/17o[58-58] 59:976/6p/25o[59-59] 60:992/8p/33o[60-60] 62:1024/1p/4o[61-62]
64:1056/8p/31o[63-64] 65:1072/5p/19o[65-65] 66:1088/4p/15o[66-66] 67:1104/3p/11o[67-67]
68:1120/8p/29o[68-68] 69:1136/5p/18o[69-69] 71:1168/2p/7o[70-71] 72:1184/7p/24o[72-72]
73:1200/5p/17o[73-73] 74:1216/3p/10o[74-74] 75:1232/7p/23o[75-75] 76:1248/4p/13o[76-76]
78:1280/5p/16o[77-78] 79:1296/7p/22o[79-79] 83:1360/1p/3o[80-83] 87:1424/8p/23o[84-87]
88:1440/6p/17o[88-88] 89:1456/5p/14o[89-89] 91:1488/4p/11o[90-91] 92:1504/7p/19o[92-92]
94:1536/3p/8o[93-94] 95:1552/8p/21o[95-95] 96:1568/5p/13o[96-96] 97:1584/7p/18o[97-97]
100:1632/2p/5o[98-100] 103:1680/7p/17o[101-103] 104:1696/5p/12o[104-104]
105:1712/8p/19o[105-105] 107:1744/3p/7o[106-107] 110:1792/7p/16o[108-110]
111:1808/4p/9o[111-111] 114:1856/5p/11o[112-114] 116:1888/6p/13o[115-116]
117:1904/7p/15o[117-117] 118:1920/8p/17o[118-118] 126:2048/1p/2o[119-126]
134:2176/8p/15o[127-134] 135:2192/7p/13o[135-135] 137:2224/6p/11o[136-137]
140:2272/5p/9o[138-140] 144:2336/4p/7o[141-144] 147:2384/7p/12o[145-147]
151:2448/3p/5o[148-151] 155:2512/8p/13o[152-155] 158:2560/5p/8o[156-158]
160:2592/7p/11o[159-160] 168:2720/2p/3o[161-168] 177:2864/7p/10o[169-177]
180:2912/5p/7o[178-180] 184:2976/8p/11o[181-184] 190:3072/3p/4o[185-190]
197:3184/7p/9o[191-197] 202:3264/4p/5o[198-202] 211:3408/5p/6o[203-211]
217:3504/6p/7o[212-217] 222:3584/7p/8o[218-222] 225:3632/8p/9o[223-225]
254:4096/1p/1o[226-254]
"""


def parse(text: str) -> list[tuple[int, int, int, int, int, int]]:
    rows = []
    for m in re.finditer(r"(\d+):(\d+)/(\d+)p/(\d+)o\[(\d+)-(\d+)\]", text):
        rows.append(tuple(int(x) for x in m.groups()))
    return rows  # type: ignore[return-value]


def rows_of(era: str, chain: int = 8) -> list[tuple[int, int, int, int, int, int]]:
    t = class_table(era, 4096, chain)
    out = []
    for c in t.classes:
        slots = [i for i, k in enumerate(t.slot_class) if k == c.index]
        out.append((c.index, c.size, c.pages_per_zspage, c.objs_per_zspage, min(slots),
                    max(slots)))
    return out


def test_v58_table_matches_reference() -> None:
    assert rows_of("v5.8") == parse(V58_TABLE)
    t = class_table("v5.8")
    assert (t.slots, len(t.classes), t.huge_class_size, t.min_alloc_size) == (255, 69, 3257, 32)


def test_v61_has_the_v58_table_and_v612_the_current_one() -> None:
    """6.1 keeps ZS_MAX_ZSPAGE_ORDER 2 and get_pages_per_zspage (mm/zsmalloc.c:80, :777); 6.12
    builds with calculate_zspage_chain_size (:2099, CONFIG_ZSMALLOC_CHAIN_SIZE 8): 69 classes
    and huge 3257, 119 and 3625 (tests/test_kernel_zsmalloc.py holds both to the real ones)."""
    assert rows_of("v6.1") == parse(V58_TABLE)
    assert rows_of("v6.12", 8) == parse(CURRENT_CHAIN8_TABLE)
    assert class_table("v6.1").obj_index_bits == 23 and class_table("v6.12").obj_index_bits == 24


def test_current_chain8_table_matches_reference() -> None:
    assert rows_of("current", 8) == parse(CURRENT_CHAIN8_TABLE)
    t = class_table("current", 4096, 8)
    assert (t.slots, len(t.classes), t.huge_class_size) == (255, 119, 3625)


@pytest.mark.parametrize(("chain", "distinct", "huge", "largest"),
                         [(4, 69, 3257, (202, 3264, 4, 5)), (8, 119, 3625, (225, 3632, 8, 9)),
                          (16, 192, 3833, (238, 3840, 15, 16))])
def test_current_chain_sizes(chain: int, distinct: int, huge: int,
                             largest: tuple[int, int, int, int]) -> None:
    t = class_table("current", 4096, chain)
    assert len(t.classes) == distinct
    assert t.huge_class_size == huge
    big = [c for c in t.classes if not c.huge][-1]
    assert (big.index, big.size, big.pages_per_zspage, big.objs_per_zspage) == largest
    # the only huge class is the last one, and everything above the largest non-huge merges in
    assert [c.index for c in t.classes if c.huge] == [254]
    assert all(t.slot_class[i] == 254 for i in range(largest[0] + 1, 255))


def test_v58_pages_per_zspage_examples() -> None:
    # mm/zsmalloc.c's comment: a class of 3/8 PAGE_SIZE fits 8 objects in 3 pages
    assert get_pages_per_zspage(1536, 4096) == 3
    assert get_pages_per_zspage(4096, 4096) == 1
    assert calculate_zspage_chain_size(2048, 4096, 8) == 1  # power of two
    assert calculate_zspage_chain_size(3632, 4096, 8) == 8


def _independent_table(era: str, page: int, chain: int, bits: int, phys: int
                       ) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    """A second transcription of zs_create_pool's loop, written from the C, for other
    configurations than the reference tables cover."""
    shift = page.bit_length() - 1
    four_pages = era in ("v5.8", "v6.1")  # ZS_MAX_ZSPAGE_ORDER 2, obj shifted by the tag bit
    maxp = 4 if four_pages else chain
    tag = 1 if four_pages else 0
    index_bits = bits - (phys - shift) - tag
    zmin = max(32, (maxp << shift) >> index_bits)
    delta = page >> 8
    nclasses = (page - zmin + delta - 1) // delta + 1
    huge = 0
    prev = None
    out = []
    for i in reversed(range(nclasses)):
        size = min(zmin + i * delta, page)
        if four_pages:
            best, bestpc = 1, 0
            for k in range(1, maxp + 1):
                pc = (k * page - (k * page) % size) * 100 // (k * page)
                if pc > bestpc:
                    best, bestpc = k, pc
        else:
            best, waste = 1, None
            if size & (size - 1):
                for k in range(1, maxp + 1):
                    w = (k * page) % size
                    if waste is None or w < waste:
                        best, waste = k, w
        objs = best * page // size
        if best != 1 and objs != 1 and not huge:
            huge = size - (bits // 8 - 1)
        if prev and prev[2] == best and prev[3] == objs:
            continue
        prev = (i, size, best, objs)
        out.append(prev)
    return nclasses, huge, sorted(out)


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.12", "current"])
@pytest.mark.parametrize(("page", "chain", "bits", "phys"),
                         [(4096, 8, 64, 52), (16384, 8, 64, 48), (65536, 4, 64, 52),
                          (4096, 16, 32, 32), (4096, 4, 32, 36), (16384, 12, 64, 52)])
def test_other_configurations_follow_the_formulas(era: str, page: int, chain: int, bits: int,
                                                  phys: int) -> None:
    t = class_table(era, page, chain, bits, phys)
    slots, huge, rows = _independent_table(era, page, chain, bits, phys)
    assert t.slots == slots
    assert t.huge_class_size == huge
    assert [(c.index, c.size, c.pages_per_zspage, c.objs_per_zspage) for c in t.classes] == rows


def test_size_to_class_index() -> None:
    t = class_table("v5.8")
    assert t.get_size_class_index(1 + 8) == 0
    assert t.get_size_class_index(33) == 1
    assert t.class_for_request(3256, 8).size == 3264
    assert t.class_for_request(3257, 8).size == 4096
    assert t.class_for_request(4096, 8).size == 4096


@pytest.mark.parametrize("bad", [dict(era="v6"), dict(page_size=3000),
                                 dict(era="current", chain_size=3), dict(bits_per_long=16),
                                 dict(physmem_bits=12), dict(bits_per_long=32, physmem_bits=45)])
def test_bad_configuration_is_input_error(bad: dict[str, object]) -> None:
    with pytest.raises(InputError):
        class_table(**bad)


def test_classes_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["slots"] == 255 and out["min_alloc_size"] == 32
    assert out["huge_class_size"] == 3625
    assert out["classes"][0] == {"index": 0, "size": 32, "pages_per_zspage": 1,
                                  "objs_per_zspage": 128}
    assert len(out["classes"]) == 119
    assert main(["classes", "--era", "v5.8", "--json"]) == 0
    v58 = json.loads(capsys.readouterr().out)
    assert v58["huge_class_size"] == 3257 and len(v58["classes"]) == 69


def test_classes_command_text_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classes", "--era", "v5.8"]) == 0
    text = capsys.readouterr().out
    assert "3257" in text and "202" in text
    with pytest.raises(SystemExit) as exc:  # argparse: refused before any work
        main(["classes", "--chain-size", "99"])
    assert exc.value.code == 2
    assert "CHAIN_SIZE must be a number from 4 to 16, not 99" in capsys.readouterr().err
