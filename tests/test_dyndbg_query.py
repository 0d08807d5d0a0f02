"""The control language as lib/dynamic_debug.c parses it, per era: valid queries, each malformed
one with the kernel's return value and pr_err lines, and two Hypothesis properties (the query
language round-trips; a rejected query changes nothing) with their meta-tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.abi import get_abi
from model.designs.harness import DyndbgKernel
from model.designs.section import SectionDesign
from model.dyndbg import core
from model.dyndbg.callsite import CallsiteSpec, ClassMapSpec, ModuleSpec
from model.dyndbg.era import UINT_MAX, get_era
from model.dyndbg.query import (
    FlagSettings,
    Parsed,
    Query,
    Rejected,
    ddebug_parse,
    match_wildcard,
    split_queries,
    string_unescape,
)

V58, V61, V619 = get_era("v5.8"), get_era("v6.1"), get_era("v6.19")
ALL = (V58, V61, V619)
PLUS = UINT_MAX


def ok(era_name: str, text: str, modname: str | None = None) -> Parsed:
    r = ddebug_parse(get_era(era_name), text, modname)
    assert isinstance(r, Parsed), r
    return r


def bad(era_name: str, text: str, modname: str | None = None) -> tuple[str, ...]:
    r = ddebug_parse(get_era(era_name), text, modname)
    assert isinstance(r, Rejected), r
    assert r.errno == -22
    return r.messages


# --- valid queries --------------------------------------------------------------------------------

@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.19"])
def test_common_queries(era: str) -> None:
    assert ok(era, "func foo +p").query == Query(function="foo")
    assert ok(era, "func foo +p").modifiers == FlagSettings(1, PLUS)
    assert ok(era, "module e1000e file netdev.c -p").query == Query(filename="netdev.c",
                                                                   module="e1000e")
    assert ok(era, "-p").modifiers == FlagSettings(0, PLUS & ~1)
    assert ok(era, "=_").modifiers == FlagSettings(0, 0)
    assert ok(era, "+").modifiers == FlagSettings(0, PLUS)  # no flags at all is accepted
    assert ok(era, "=pmflt").modifiers == FlagSettings(0x1F, 0)
    assert ok(era, "line 12 +p").query == Query(first_lineno=12, last_lineno=12)
    assert ok(era, "line 3-7 +p").query == Query(first_lineno=3, last_lineno=7)
    assert ok(era, "line -7 +p").query == Query(first_lineno=0, last_lineno=7)
    assert ok(era, "line +5 +p").query == Query(first_lineno=5, last_lineno=5)  # kstrtouint
    # "special case for last lineno not specified": an empty (or 0) last line is UINT_MAX, in
    # every era (v5.8's ddebug_parse_query had it inline before parse_linerange was split out)
    assert ok(era, "line 10- +p").query == Query(first_lineno=10, last_lineno=UINT_MAX)
    assert ok(era, "line 10-0 +p").query == Query(first_lineno=10, last_lineno=UINT_MAX)
    assert ok(era, "line - +p").query == Query(first_lineno=0, last_lineno=UINT_MAX)
    assert ok(era, "format 'two words' +p").query == Query(format="two words")
    assert ok(era, 'format "a\\040b\\tc\\012" +p').query == Query(format="a b\tc\n")
    assert ok(era, "func a* file *.c +p # a comment =x").query == Query(filename="*.c",
                                                                       function="a*")
    # a word starting with '#' ends the query: here the flags go with the comment
    assert bad(era, "func a* file *.c # comment +p")[0].endswith("bad flag-op *, at start of *.c")
    assert ok(era, "\t func  a\xa0+p").query == Query(function="a")  # 0xA0 is a space (latin-1)


def test_era_specific_syntax() -> None:
    assert ok("v6.1", "file drivers/a.c:probe -p").query == Query(filename="drivers/a.c",
                                                                  function="probe")
    assert ok("v6.1", "file a.c:10-20 +p").query == Query(filename="a.c", first_lineno=10,
                                                          last_lineno=20)
    assert ok("v6.1", "file a.c:*x +p").query == Query(filename="a.c", function="*x")
    assert ok("v6.1", "class DRM_UT_CORE +p").query == Query(class_string="DRM_UT_CORE")
    # v5.8 knew none of these
    assert ok("v5.8", "file drivers/a.c:probe -p").query == Query(filename="drivers/a.c:probe")
    assert bad("v5.8", "line 10-5 +p") == (
        "dynamic_debug:ddebug_parse_query: last-line:5 < 1st-line:10",
        "dynamic_debug:ddebug_exec_query: query parse failed")
    assert bad("v5.8", "class X +p") == (
        'dynamic_debug:ddebug_parse_query: unknown keyword "class"',
        "dynamic_debug:ddebug_exec_query: query parse failed")
    # the s and d flags arrived after v6.1
    assert ok("v6.19", "+sd").modifiers == FlagSettings(0x60, PLUS)
    assert bad("v6.1", "+s") == ("dyndbg: unknown flag 's'", "dyndbg: flags parse failed")


def test_module_param_modname() -> None:
    """``$mod.dyndbg=``: v5.8 sets the module first (a ``module`` word is then a duplicate);
    v6.1 lets the query's own module win (e75ef56f7496)."""
    assert ok("v5.8", "func f +p", "e1000e").query == Query(module="e1000e", function="f")
    assert bad("v5.8", "module igb +p", "e1000e")[0] == (
        "dynamic_debug:check_set: match-spec:module val:e1000e overridden by igb")
    assert ok("v6.1", "module igb +p", "e1000e").query == Query(module="igb")
    assert ok("v6.1", "+p", "e1000e").query == Query(module="e1000e")


# --- every malformed query, with the kernel's lines ----------------------------------------------

MALFORMED_V61 = [
    ("func", ("dyndbg: bad flag-op f, at start of func", "dyndbg: flags parse failed")),
    ("p", ("dyndbg: bad flag-op p, at start of p", "dyndbg: flags parse failed")),
    ("+x", ("dyndbg: unknown flag 'x'", "dyndbg: flags parse failed")),
    ("func +p", ("dyndbg: expecting pairs of match-spec <value>", "dyndbg: query parse failed")),
    ("foo bar +p", ('dyndbg: unknown keyword "foo"', "dyndbg: query parse failed")),
    ("func a func b +p", ("dyndbg: match-spec:func val:a overridden by b",
                          "dyndbg: query parse failed")),
    ("func x file a.c:y +p", ("dyndbg: match-spec:func val:x overridden by y",
                              "dyndbg: query parse failed")),
    ("file a.c file b.c:f +p", ("dyndbg: match-spec:file val:a.c overridden by b.c:f",
                                "dyndbg: query parse failed")),
    ("line 5 line 6 +p", ("dyndbg: match-spec: line used 2x", "dyndbg: query parse failed")),
    ("line x +p", ("dyndbg: bad line-number: x", "dyndbg: query parse failed")),
    ("line 99999999999 +p", ("dyndbg: bad line-number: 99999999999", "dyndbg: query parse failed")),
    ("line 10-5 +p", ("dyndbg: last-line:5 < 1st-line:10", "dyndbg: query parse failed")),
    ("file a.c:9-x +p", ("dyndbg: bad line-number: x", "dyndbg: query parse failed")),
    ('format "abc +p', ("dyndbg: unclosed quote: abc +p", "dyndbg: tokenize failed")),
    ("func a file b module c format d line 1 +p",
     ("dyndbg: too many words, legal max <=9", "dyndbg: tokenize failed")),
    ("''", ("dyndbg: bad flag-op , at start of ", "dyndbg: flags parse failed")),
]


@pytest.mark.parametrize("text,messages", MALFORMED_V61)
def test_malformed_queries_v61(text: str, messages: tuple[str, ...]) -> None:
    assert bad("v6.1", text) == messages


def test_malformed_queries_v58_messages() -> None:
    """v5.8 logs ``pr_fmt`` = ``KBUILD_MODNAME ":%s: "`` with ``__func__``, and names the rest
    of the flags word after an unknown flag."""
    assert bad("v5.8", "+px") == ('dynamic_debug:ddebug_parse_flags: unknown flag \'x\' in "x"',
                                  "dynamic_debug:ddebug_exec_query: flags parse failed")
    assert bad("v5.8", "line 5 line 6 +p")[0] == (
        "dynamic_debug:ddebug_parse_query: match-spec: line used 2x")
    assert bad("v5.8", "line q +p")[0] == "dynamic_debug:parse_lineno: bad line-number: q"
    assert bad("v5.8", "x")[0] == "dynamic_debug:ddebug_parse_flags: bad flag-op x, at start of x"


def test_split_queries_and_comments() -> None:
    assert split_queries("func a +p; func b -p\n  # c\n\n;func c =_") == (
        "func a +p", "func b -p", "func c =_")
    assert split_queries("  #only a comment") == ()


def test_unescape_and_wildcards() -> None:
    assert string_unescape(r"a\040b") == "a b"
    assert string_unescape(r"\777") == "?7"  # stops once the value reaches 32
    assert string_unescape(r"\q\\\"\e") == "\\q\\\"\x1b"
    assert string_unescape("end\\") == "end\\"
    assert match_wildcard("*.c", "drivers/a.c")
    assert match_wildcard("a?c", "abc") and not match_wildcard("a?c", "ac")
    assert match_wildcard("e1000*", "e1000e") and not match_wildcard("e1000", "e1000e")
    assert match_wildcard("*", "") and match_wildcard("", "") and not match_wildcard("", "x")


# --- the write path: return values, other queries still applied ---------------------------------

def _kernel(era: str = "v6.1", jump_label: bool = True) -> DyndbgKernel:
    mods = [ModuleSpec("moda", (CallsiteSpec("moda", "probe", "drivers/a.c", "hello %d\n", 10),
                                CallsiteSpec("moda", "remove", "drivers/a.c", "bye\n", 20),
                                CallsiteSpec("moda", "irq", "drivers/a_irq.c", "irq %u\n", 5,
                                             class_id=2)),
                       builtin=True,
                       classes=(ClassMapSpec(0, ("CORE", "DRIVER", "IRQ")),)),
            ModuleSpec("modb", (CallsiteSpec("modb", "xfer", "lib/b.c", "xfer done\n", 7),),
                       builtin=True)]
    return DyndbgKernel.boot(SectionDesign, get_abi("x86_64"), era, jump_label, mods)


def test_write_returns_length_or_last_error_and_applies_the_good_queries() -> None:
    k = _kernel()
    text = "func probe +p; bogus; func xfer +p"
    r = k.control_write(text)
    assert r.rc == -22
    assert r.exec is not None and r.exec.nfound == 2
    assert "=p" in next(line for line in k.control_read().splitlines() if "probe" in line)
    assert k.control_write("func remove +p").rc == len("func remove +p")
    assert k.control_write("").rc == 0
    big = k.control_write("x" * 4096)
    assert big.rc == -7 and big.messages == ("dyndbg: expected <4096 bytes into control",)


def _enabled(k: DyndbgKernel) -> set[str]:
    return {ln.split(" [")[0] for ln in k.control_read().splitlines() if " =p" in ln}


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.12", "v6.19"])
def test_a_nul_ends_the_written_text_but_the_write_counts_every_byte(era: str) -> None:
    """lib/dynamic_debug.c:ddebug_proc_write copies ``len`` bytes with ``memdup_user_nul`` and
    hands ``ddebug_exec_queries`` a C string: the queries end at the first NUL, the write
    returns ``len`` (or the error), and ``len`` alone decides -E2BIG."""
    k = _kernel(era)
    text = "func probe +p\0; func xfer +p"
    r = k.control_write(text)
    assert r.rc == len(text) and r.messages == ()
    assert _enabled(k) == {"drivers/a.c:10"}
    assert k.control_write("\0func remove +p").rc == 15
    assert k.control_write("\0").rc == 1
    assert _enabled(k) == {"drivers/a.c:10"}
    bad_text = k.control_write("bogus\0func xfer +p")
    assert bad_text.rc == -22 and bad_text.messages[0].endswith("bad flag-op b, at start of bogus")
    assert k.control_write("func xfer +p\0" + "x" * 4083).rc == -7  # 4096 bytes
    assert _enabled(k) == {"drivers/a.c:10"}
    assert k.control_write(b"func xfer +p\0\xff").rc == 14  # bytes are written as they are
    assert _enabled(k) == {"drivers/a.c:10", "lib/b.c:7"}


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.19"])
def test_boot_and_module_queries_are_c_strings(era: str) -> None:
    """``dyndbg=`` and ``$mod.dyndbg=`` reach ``ddebug_exec_queries`` as C strings."""
    k = _kernel(era)
    assert k.exec_queries("func probe +p\0func xfer +p").nfound == 1
    assert core.ddebug_dyndbg_module_param_cb(k.design, "dyndbg", "+p\0garbage", "modb") == 0
    assert _enabled(k) == {"drivers/a.c:10", "lib/b.c:7"}


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.19"])
def test_an_octal_nul_ends_the_format(era: str) -> None:
    """``format``'s ``string_unescape_inplace`` (lib/string_helpers.c: ``\\\\000`` is a 0 byte)
    writes a NUL into the word: the format is the C string up to it; ``\\\\000`` alone is the
    empty format, which ``strstr`` finds in every callsite."""
    assert ok(era, 'format "hel\\000zzz" +p').query == Query(format="hel")
    assert ok(era, "format \\000 +p").query == Query(format="")
    assert bad(era, "format a\\000b format c +p")[0].endswith(
        "match-spec:format val:a overridden by c")
    k = _kernel(era)
    assert k.exec_queries('format "hel\\000zzz" +p').nfound == 1
    assert _enabled(k) == {"drivers/a.c:10"}
    # every callsite (v6.1+: every one without a class) matches the empty format
    assert k.exec_queries("format '\\000' +p").nfound == (4 if era == "v5.8" else 3)


@pytest.mark.parametrize("era", ["v5.8", "v6.1"])
def test_an_open_ended_line_range_matches_to_the_end(era: str) -> None:
    """``line N-`` is N..UINT_MAX in v5.8 as in v6.1 (v5.8.1 lib/dynamic_debug.c:
    ddebug_parse_query, "special case for last lineno not specified")."""
    k = _kernel(era)
    text = "module moda line 10- +p"
    r = k.control_write(text)
    assert r.rc == len(text) and r.exec is not None and r.exec.nfound == 2  # lines 10 and 20
    enabled = {ln.split(" [")[0] for ln in k.control_read().splitlines() if " =p " in ln}
    assert enabled == {"drivers/a.c:10", "drivers/a.c:20"}


def test_class_queries() -> None:
    """v6.1: callsites with a class are untouched by plain queries; ``class NAME`` reaches them
    through the module's class map; an unknown class matches nothing."""
    k = _kernel()
    assert k.exec_queries("+p").nfound == 3
    assert k.exec_queries("class IRQ +p").nfound == 1
    assert k.exec_queries("class NOPE +p").nfound == 0
    line = next(s for s in k.control_read().splitlines() if "irq" in s)
    assert line == 'drivers/a_irq.c:5 [moda]irq =p "irq %u\\n" class:IRQ'


# --- Hypothesis: round trip of the language -------------------------------------------------------

NAMES = st.text(alphabet="abcxyz_019*?./-", min_size=1, max_size=8).filter(
    lambda s: not s.startswith(("#", "-")))
FORMATS = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=126), max_size=12)


def render_format(s: str) -> str:
    """A format as a quoted ``format`` word: ``\\``, quotes, ``;``, ``#`` and every character
    below 0x21 written as 3-digit octal escapes, which ``string_unescape`` undoes."""
    out = []
    for c in s:
        if c in "\\\"';#" or ord(c) < 0x21:
            out.append(f"\\{ord(c):03o}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


@st.composite
def queries(draw: st.DrawFn) -> tuple[Query, FlagSettings, str]:
    """A v6.1 query as structure and as text.  The values are drawn first and the keywords
    chosen last, so that dropping a keyword while shrinking leaves the other values alone."""
    values = {"func": draw(NAMES), "file": draw(NAMES), "module": draw(NAMES)}
    fmt = draw(FORMATS)
    lo = draw(st.integers(0, 500))
    hi = draw(st.integers(lo, 1000))
    op = draw(st.sampled_from("+-="))
    flags = draw(st.sets(st.sampled_from("pmflt_")))
    # MAXWORDS 9: at most 4 pairs and the flags
    keys = draw(st.lists(st.sampled_from(["func", "file", "module", "format", "line"]),
                         unique=True, max_size=4))
    words: list[str] = []
    q: dict[str, object] = {}
    for key in keys:
        if key == "line":
            words += ["line", f"{lo}-{hi}"]
            q["first_lineno"], q["last_lineno"] = lo, hi if hi else UINT_MAX
        elif key == "format":
            words += ["format", render_format(fmt)]
            q["format"] = fmt
        else:
            words += [key, values[key]]
            q[{"func": "function", "file": "filename", "module": "module"}[key]] = values[key]
    words.append(op + "".join(sorted(flags)))
    bits = sum({"p": 1, "m": 2, "f": 4, "l": 8, "t": 16, "_": 0}[c] for c in flags)
    mods = {"+": FlagSettings(bits, PLUS), "-": FlagSettings(0, PLUS & ~bits),
            "=": FlagSettings(bits, 0)}[op]
    query = Query(**q)  # type: ignore[arg-type]
    return query, mods, " ".join(words)


Parser = Callable[[str], Parsed | Rejected]


def check_round_trip(parse: Parser, case: tuple[Query, FlagSettings, str]) -> None:
    query, mods, text = case
    got = parse(text)
    assert isinstance(got, Parsed), got
    assert (got.query, got.modifiers) == (query, mods)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(queries())
def test_query_language_round_trips(case: tuple[Query, FlagSettings, str]) -> None:
    check_round_trip(lambda t: ddebug_parse(V61, t), case)


def test_round_trip_catches_a_two_digit_octal_unescape() -> None:
    """Meta-test: an unescape that reads at most two octal digits is caught, and the format is
    shrunk to a single character."""
    import model.dyndbg.query as qmod

    def broken_parse(text: str) -> Parsed | Rejected:
        real = qmod.string_unescape

        def two_digits(src: str) -> str:
            return real(src.replace("\\0", "\\"))  # "\\040" read as "\\40": wrong for < 0o10
        qmod.string_unescape = two_digits
        try:
            return ddebug_parse(V61, text)
        finally:
            qmod.string_unescape = real

    failing: list[tuple[Query, FlagSettings, str]] = []

    @settings(max_examples=300, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(queries())
    def run(case: tuple[Query, FlagSettings, str]) -> None:
        try:
            check_round_trip(broken_parse, case)
        except AssertionError:
            failing.append(case)
            raise

    with pytest.raises(AssertionError):
        run()
    shrunk, _, text = failing[-1]
    assert shrunk.format is not None and len(shrunk.format) <= 2  # e.g. "\x1f0": \0370
    assert len(text.split()) <= 5, text


def test_round_trip_is_quiet_on_the_real_parser_for_tricky_formats() -> None:
    for fmt in ("", " ", "\\", '"', "a;b", "#x", "\x01", "\x1f!", "100%\n"):
        q = Query(format=fmt)
        check_round_trip(lambda t: ddebug_parse(V61, t),
                         (q, FlagSettings(1, PLUS), f"format {render_format(fmt)} +p"))


# --- Hypothesis: a rejected query changes nothing ---------------------------------------------------

WORDS = st.sampled_from(["func", "file", "module", "format", "line", "class", "probe", "*",
                         "drivers/a.c", "a.c:probe", "a.c:10-20", "moda", "10-5", "x", "'hello",
                         "\"bye\"", "#", "+p", "-p", "=_", "+x", "p", "+pmf", "=", "10"])
QUERY_TEXT = st.lists(WORDS, min_size=1, max_size=6).map(" ".join)

Exec = Callable[[DyndbgKernel, str], object]


def exec_real(k: DyndbgKernel, text: str) -> object:
    return core.ddebug_exec_queries(k.design, text)


def check_rejected_changes_nothing(run_exec: Exec, text: str) -> None:
    k = _kernel()
    k.exec_queries("func probe +pf")
    before = k.control_read()
    parsed = ddebug_parse(k.design.era, text)
    run_exec(k, text)
    if isinstance(parsed, Rejected):
        assert k.control_read() == before, (text, parsed.messages)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(QUERY_TEXT)
def test_a_rejected_query_changes_nothing(text: str) -> None:
    check_rejected_changes_nothing(exec_real, text)


def test_rejected_query_property_catches_flags_applied_before_the_query_parses() -> None:
    """Meta-test: an exec that applies the (already parsed) flags to every callsite when the
    match-spec part is rejected is caught, on a query of at most three words."""

    def leaky(k: DyndbgKernel, text: str) -> object:
        parsed = ddebug_parse(k.design.era, text)
        if isinstance(parsed, Rejected) and parsed.messages[-1].endswith("query parse failed"):
            words = text.split()
            mods = ddebug_parse(k.design.era, words[-1])
            if isinstance(mods, Parsed):
                core.ddebug_change(k.design, Query(), mods.modifiers)
            return None
        return core.ddebug_exec_queries(k.design, text)

    failing: list[str] = []

    @settings(max_examples=300, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(QUERY_TEXT)
    def run(text: str) -> None:
        try:
            check_rejected_changes_nothing(leaky, text)
        except AssertionError:
            failing.append(text)
            raise

    with pytest.raises(AssertionError):
        run()
    assert len(failing[-1].split()) <= 3, failing[-1]


@pytest.mark.parametrize("era", ["v5.8", "v6.1", "v6.19"])
def test_every_era_rejects_without_side_effects(era: str) -> None:
    k = _kernel(era)
    before = k.control_read()
    rejected = 0
    for text, _ in MALFORMED_V61:
        if isinstance(ddebug_parse(get_era(era), text), Rejected):
            assert k.exec_queries(text).rc == -22
            rejected += 1
    assert rejected >= len(MALFORMED_V61) - 2
    assert k.control_read() == before
