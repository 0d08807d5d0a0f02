"""The control language, transcribed from lib/dynamic_debug.c per era.

``ddebug_exec_queries`` splits the text at ``;`` and newlines, skips empty queries and ``#``
comments, and runs each through ``ddebug_exec_query``: ``ddebug_tokenize`` (quotes, ``#``,
MAXWORDS 9), ``ddebug_parse_flags`` on the last word (checked first), ``ddebug_parse_query`` on
the (keyword, value) pairs before it.  A query that fails any step changes nothing; the others
still run, and the write returns the last error.  Everything here is pure: parsing returns a
:class:`Parsed` (the ``struct ddebug_query`` and ``struct flag_settings``) or a
:class:`Rejected` carrying the ``pr_err`` lines the kernel logs.

The kernel parses C strings: whatever reaches ``ddebug_exec_queries`` ends at its first NUL
(:func:`cstring`), and a ``format`` word unescaped to hold a 0 byte (``\\000``) ends there too.
Nothing else in the language unescapes: ``ddebug_tokenize`` takes quoted words as they are.
"""

from __future__ import annotations

import attrs

from model.dyndbg.era import EINVAL, UINT_MAX, Era

MAXWORDS = 9

# lib/ctype.c: _S (space) for \t \n \v \f \r, ' ' and 0xA0 (non-breaking space, latin-1)
_SPACES = frozenset("\t\n\v\f\r \xa0")


def isspace(c: str) -> bool:
    """include/linux/ctype.h:isspace (``_ctype[]`` of lib/ctype.c, latin-1)."""
    return c in _SPACES


def isalpha(c: str) -> bool:
    """include/linux/ctype.h:isalpha: ASCII letters and the latin-1 letters 0xC0..0xFF but
    0xD7 and 0xF7."""
    o = ord(c) if c else 0
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or (0xC0 <= o <= 0xFF and o not in (0xD7, 0xF7))


def skip_spaces(s: str, i: int = 0) -> int:
    """lib/string_helpers.c:skip_spaces: index of the first non-space at or after ``i``."""
    while i < len(s) and isspace(s[i]):
        i += 1
    return i


@attrs.frozen
class Query:
    """``struct ddebug_query``: ``None`` is a NULL pointer (don't care); lines 0 = don't care."""

    filename: str | None = None
    module: str | None = None
    function: str | None = None
    format: str | None = None
    class_string: str | None = None
    first_lineno: int = 0
    last_lineno: int = 0


@attrs.frozen
class FlagSettings:
    """``struct flag_settings``: ``newflags = (dp->flags & mask) | flags``."""

    flags: int
    mask: int


@attrs.frozen
class Parsed:
    """One query that parsed: what ``ddebug_change`` gets."""

    text: str
    query: Query
    modifiers: FlagSettings


@attrs.frozen
class Rejected:
    """One query the kernel refused: ``errno`` is negative, ``messages`` are its ``pr_err``s."""

    text: str
    errno: int
    messages: tuple[str, ...]


class _Reject(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages)
        self.messages = messages


def cstring(s: str) -> str:
    """The C string ``s`` points at: its characters before the first NUL (``strlen``), all of
    them when it has none.  Every query the kernel parses is one: ``ddebug_proc_write``'s
    ``memdup_user_nul`` buffer, a ``dyndbg=`` boot or module parameter, and a ``format`` word
    after ``string_unescape_inplace`` turned a ``\\000`` into a 0 byte."""
    nul = s.find("\0")
    return s if nul < 0 else s[:nul]


def split_queries(text: str) -> tuple[str, ...]:
    """The loop of lib/dynamic_debug.c:ddebug_exec_queries (all eras): ``text`` is a C string
    (ended by its first NUL); split at ``;`` and ``\\n`` (``strpbrk``), ``skip_spaces``, drop
    empty queries and those starting with ``#``."""
    out: list[str] = []
    for piece in cstring(text).replace("\n", ";").split(";"):
        piece = piece[skip_spaces(piece):]
        if not piece or piece[0] == "#":
            continue
        out.append(piece)
    return tuple(out)


def ddebug_tokenize(era: Era, buf: str) -> list[str]:
    """lib/dynamic_debug.c:ddebug_tokenize (v5.8 = v6.19): whitespace-separated words, or words
    in ``"``/``'`` quotes (no escapes, no nesting); a word starting with ``#`` ends the query."""
    words: list[str] = []
    i = 0
    n = len(buf)
    while i < n:
        i = skip_spaces(buf, i)
        if i >= n:
            break
        if buf[i] == "#":
            break
        if buf[i] in "\"'":
            quote = buf[i]
            i += 1
            end = buf.find(quote, i)
            if end < 0:
                raise _Reject([era.pr_err("ddebug_tokenize", f"unclosed quote: {buf[i:]}")])
            word, nxt = buf[i:end], end + 1
        else:
            end = i
            while end < n and not isspace(buf[end]):
                end += 1
            word, nxt = buf[i:end], end + 1
        if len(words) == MAXWORDS:
            raise _Reject([era.pr_err("ddebug_tokenize",
                                      f"too many words, legal max <={MAXWORDS}")])
        words.append(word)
        i = nxt
    return words


def kstrtouint(s: str) -> int | None:
    """lib/kstrtox.c:kstrtouint(s, 10, ..): optional ``+``, decimal digits, one optional
    trailing newline; ``None`` for -EINVAL/-ERANGE."""
    t = s[1:] if s.startswith("+") else s
    if t.endswith("\n"):
        t = t[:-1]
    if not t or not all("0" <= c <= "9" for c in t):
        return None
    v = int(t)
    return v if v <= UINT_MAX else None


def _as_int(v: int) -> int:
    """An ``unsigned int`` printed with ``%d``."""
    return v - (1 << 32) if v >= 1 << 31 else v


def parse_lineno(era: Era, s: str) -> int:
    """lib/dynamic_debug.c:parse_lineno: ``""`` is 0 (don't care), else ``kstrtouint``."""
    if s == "":
        return 0
    v = kstrtouint(s)
    if v is None:
        raise _Reject([era.pr_err("parse_lineno", f"bad line-number: {s}")])
    return v


def parse_linerange(era: Era, q: dict[str, object], first: str) -> None:
    """lib/dynamic_debug.c:parse_linerange (v5.9+; inline in v5.8's ``ddebug_parse_query``):
    ``N``, ``N-M``, ``-M``, once per query; an empty or 0 last line is ``UINT_MAX`` ("special
    case for last lineno not specified", in every era: v5.8.1 lines 365-367), so ``N-`` runs
    to the end and only an explicit last line below the first is rejected."""
    fn = "parse_linerange" if era.file_colon else "ddebug_parse_query"
    if q["first_lineno"] or q["last_lineno"]:
        raise _Reject([era.pr_err(fn, "match-spec: line used 2x")])
    lo, sep, hi = first.partition("-")
    first_lineno = parse_lineno(era, lo)
    if sep:
        last_lineno = parse_lineno(era, hi)
        if last_lineno == 0:
            last_lineno = UINT_MAX
        if last_lineno < first_lineno:
            q["first_lineno"], q["last_lineno"] = first_lineno, last_lineno
            raise _Reject([era.pr_err(fn, f"last-line:{_as_int(last_lineno)} < "
                                          f"1st-line:{_as_int(first_lineno)}")])
    else:
        last_lineno = first_lineno
    q["first_lineno"], q["last_lineno"] = first_lineno, last_lineno


def _isodigit(c: str) -> bool:
    return "0" <= c <= "7"


def string_unescape(src: str) -> str:
    """lib/string_helpers.c:string_unescape_inplace(.., UNESCAPE_SPACE | UNESCAPE_OCTAL |
    UNESCAPE_SPECIAL): ``\\n \\r \\t \\v \\f``, up to 3 octal digits (stopping once the value
    reaches 32), ``\\" \\\\ \\a \\e``; any other backslash is kept.  The whole buffer: the loop
    (``while (*src && --size)``) stops at the source's NUL, not at a 0 byte it writes (``\\000``),
    so the result may hold NULs; its C string is :func:`cstring` of it.  Same function in
    v5.8, v6.1 and v6.12 (6.12 only spells ``size`` 0 as ``SIZE_MAX``)."""
    src = cstring(src)
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        nxt = src[i] if i < n else ""
        space = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "f": "\f"}
        special = {'"': '"', "\\": "\\", "a": "\a", "e": "\x1b"}
        if nxt and nxt in space:
            out.append(space[nxt])
            i += 1
        elif nxt and _isodigit(nxt):
            start = i
            num = ord(src[i]) & 7
            i += 1
            while num < 32 and i < n and _isodigit(src[i]) and i - start < 3:
                num = ((num << 3) + (ord(src[i]) & 7)) & 0xFF
                i += 1
            out.append(chr(num))
        elif nxt and nxt in special:
            out.append(special[nxt])
            i += 1
        else:
            out.append("\\")
    return "".join(out)


def check_set(era: Era, q: dict[str, object], field: str, src: str, name: str) -> None:
    """lib/dynamic_debug.c:check_set: each match-spec at most once."""
    old = q[field]
    q[field] = src
    if old is not None:
        raise _Reject([era.pr_err("check_set",
                                  f"match-spec:{name} val:{old} overridden by {src}")])


def ddebug_parse_query(era: Era, words: list[str], modname: str | None) -> Query:
    """lib/dynamic_debug.c:ddebug_parse_query, per era (see :mod:`model.dyndbg.era`)."""
    if len(words) % 2 != 0:
        raise _Reject([era.pr_err("ddebug_parse_query", "expecting pairs of match-spec <value>")])
    q: dict[str, object] = {"filename": None, "module": None, "function": None, "format": None,
                            "class_string": None, "first_lineno": 0, "last_lineno": 0}
    if modname is not None and not era.query_module_overrides:
        q["module"] = modname  # v5.8: support $modname.dyndbg=<multiple queries>
    for k in range(0, len(words), 2):
        keyword, arg = words[k], words[k + 1]
        if keyword == "func":
            check_set(era, q, "function", arg, "func")
        elif keyword == "file":
            if not era.file_colon:
                check_set(era, q, "filename", arg, "file")
                continue
            check_set(era, q, "filename", arg, "file")
            fname, colon, fline = arg.partition(":")
            if not colon:
                continue
            q["filename"] = fname  # *fline++ = '\0' cuts the word in place
            if fline[:1] and (isalpha(fline[0]) or fline[0] in "*?"):
                check_set(era, q, "function", fline, "func")
            else:
                parse_linerange(era, q, fline)
        elif keyword == "module":
            check_set(era, q, "module", arg, "module")
        elif keyword == "format":
            # string_unescape_inplace(arg, ..): a "\\000" ends the C string query->format
            check_set(era, q, "format", cstring(string_unescape(arg)), "format")
        elif keyword == "line":
            parse_linerange(era, q, arg)
        elif keyword == "class" and era.has_class:
            check_set(era, q, "class_string", arg, "class")
        else:
            raise _Reject([era.pr_err("ddebug_parse_query", f'unknown keyword "{keyword}"')])
    if modname is not None and era.query_module_overrides and q["module"] is None:
        q["module"] = modname
    return Query(
        filename=_opt(q["filename"]), module=_opt(q["module"]), function=_opt(q["function"]),
        format=_opt(q["format"]), class_string=_opt(q["class_string"]),
        first_lineno=_num(q["first_lineno"]), last_lineno=_num(q["last_lineno"]))


def _opt(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _num(v: object) -> int:
    return v if isinstance(v, int) else 0


def ddebug_parse_flags(era: Era, word: str) -> FlagSettings:
    """lib/dynamic_debug.c:ddebug_parse_flags: ``[-+=]`` then flag characters of the era
    (``_`` is the empty flag); ``=`` sets, ``+`` ors, ``-`` clears."""
    op = word[:1]
    if op not in ("+", "-", "="):
        raise _Reject([era.pr_err("ddebug_parse_flags", f"bad flag-op {op}, at start of {word}")])
    flags = 0
    chars = dict((c, f) for f, c in era.opt_array)
    for j, c in enumerate(word[1:], start=1):
        if c not in chars:
            msg = f"unknown flag '{c}'" if era.short_pr_fmt else f"unknown flag '{c}' in \"{word[j:]}\""
            raise _Reject([era.pr_err("ddebug_parse_flags", msg)])
        flags |= chars[c]
    if op == "=":
        return FlagSettings(flags, 0)
    if op == "+":
        return FlagSettings(flags, UINT_MAX)
    return FlagSettings(0, ~flags & UINT_MAX)


def ddebug_parse(era: Era, text: str, modname: str | None = None) -> Parsed | Rejected:
    """lib/dynamic_debug.c:ddebug_exec_query up to (not including) ``ddebug_change``: tokenize,
    flags first (last word), then the match-spec pairs.  ``text`` (``query_string``) and
    ``modname`` are C strings, ended by their first NUL."""
    text = cstring(text)
    if modname is not None:
        modname = cstring(modname)
    try:
        words = ddebug_tokenize(era, text)
    except _Reject as r:
        return Rejected(text, -EINVAL, (*r.messages, era.pr_err("ddebug_exec_query",
                                                                "tokenize failed")))
    if not words:
        return Rejected(text, -EINVAL, (era.pr_err("ddebug_exec_query", "tokenize failed"),))
    try:
        modifiers = ddebug_parse_flags(era, words[-1])
    except _Reject as r:
        return Rejected(text, -EINVAL, (*r.messages, era.pr_err("ddebug_exec_query",
                                                                "flags parse failed")))
    try:
        query = ddebug_parse_query(era, words[:-1], modname)
    except _Reject as r:
        return Rejected(text, -EINVAL, (*r.messages, era.pr_err("ddebug_exec_query",
                                                                "query parse failed")))
    return Parsed(text, query, modifiers)


def match_wildcard(pattern: str, string: str) -> bool:
    """lib/parser.c:match_wildcard: ``*`` any run, ``?`` any one character, backtracking only
    to the last ``*`` (a transcription, quirks included)."""
    s, p = 0, 0
    star = False
    str_i, pat_i = 0, 0
    while s < len(string):
        pc = pattern[p] if p < len(pattern) else ""
        if pc == "?":
            s += 1
            p += 1
        elif pc == "*":
            star = True
            str_i = s
            p += 1
            if p >= len(pattern):
                return True
            pat_i = p
        else:
            if pc and string[s] == pc:
                s += 1
                p += 1
            else:
                if not star:
                    return False
                str_i += 1
                s = str_i
                p = pat_i
    if p < len(pattern) and pattern[p] == "*":
        p += 1
    return p >= len(pattern)


def kbasename(path: str) -> str:
    """include/linux/string.h:kbasename: the part after the last ``/``."""
    return path.rsplit("/", 1)[-1]


def trim_prefix(path: str, srctree: str = "") -> str:
    """lib/dynamic_debug.c:trim_prefix: drop the build's source-root prefix.  The model's
    filenames are relative to the source root (an in-tree build), so ``srctree`` is ``""``."""
    return path[len(srctree):] if srctree and path.startswith(srctree) else path
