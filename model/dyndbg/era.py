"""What each kernel era's dynamic debug does differently: flags, parser rules, control file, prefix.

Four eras, read from ``lib/dynamic_debug.c`` and ``include/linux/dynamic_debug.h``:

* ``v5.8`` (mainline of July 2020, what the 2020 diet series was written against): flags
  ``p m f l t _``; no ``file foo.c:func`` syntax, no ``^`` anchor, no ``class``; a
  ``$mod.dyndbg=`` module name is set before parsing, so a ``module`` keyword in the query is
  a duplicate; ``ddebug_change()`` flips the static key on the *modifier* flags (``flags &
  _DPRINTK_FLAGS_PRINT``), so ``+m`` on an enabled callsite disables its key (fixed by
  ee879be38bc8 in 6.1); tables are ``list_add_tail()``-ed and walked 0..N; the control file
  escapes ``\\t\\r\\n"`` in octal (``seq_escape``); messages carry ``pr_fmt`` =
  ``"dynamic_debug:<function>: "``; ``dynamic_emit_prefix()`` always runs; ``PREFIX_SIZE`` 64.
* ``v6.1`` (driver-core-6.1-rc1): ``class_id:6`` in the record and the ``class`` keyword,
  ``file:func`` / ``file:N-M``, ``format ^anchored``, static-key fix, ``list_add_tail()``
  again (2ad556f70043 undid 5.9's LIFO ``list_add()``) and the reversed callsite walk
  (773beabbb8e8), ``ESCAPE_SPACE`` in the control file (47ea6f99d06e), the query's module
  overriding ``$mod.dyndbg`` (e75ef56f7496), ``pr_fmt`` ``"dyndbg: "``, the prefix skipped when
  no decoration flag is set (``_DPRINTK_FLAGS_INCL_ANY``).  Flags ``p m f l t _``.
* ``v6.12`` (Debian's linux-source-6.12, checked against the real file by ``dyndiet
  fidelity``): v6.1 plus ``s`` (``_DPRINTK_FLAGS_INCL_SOURCENAME``, ~6.4) in ``opt_array``
  between ``f`` and ``l``, and ``PREFIX_SIZE`` 128.
* ``v6.19``: v6.1 plus ``s`` (``_DPRINTK_FLAGS_INCL_SOURCENAME``, ~6.4) and ``d``
  (``_DPRINTK_FLAGS_INCL_STACK``, 6.19); ``PREFIX_SIZE`` 128.  Same record layout as v6.1.

Not a difference: ``line N-`` (an empty, or 0, last line number) means N..``UINT_MAX`` in every
era.  v5.8.1's ``ddebug_parse_query`` has the "special case for last lineno not specified"
inline in its ``line`` branch (lines 365-367); 5.9 moved it unchanged into ``parse_linerange``
(6.1: lines 369-371, 6.12: lines 370-372).  The ``open_ended_lines`` field that once said v5.8
rejected it is gone.
"""

from __future__ import annotations

import attrs

from model.errors import InputError

# include/linux/dynamic_debug.h
_DPRINTK_FLAGS_NONE = 0
_DPRINTK_FLAGS_PRINT = 1 << 0
_DPRINTK_FLAGS_INCL_MODNAME = 1 << 1
_DPRINTK_FLAGS_INCL_FUNCNAME = 1 << 2
_DPRINTK_FLAGS_INCL_LINENO = 1 << 3
_DPRINTK_FLAGS_INCL_TID = 1 << 4
_DPRINTK_FLAGS_INCL_SOURCENAME = 1 << 5
_DPRINTK_FLAGS_INCL_STACK = 1 << 6
#: ``(1 << CLS_BITS) - 1`` with ``CLS_BITS`` 6, v6.1+.
_DPRINTK_CLASS_DFLT = 63
#: ``lineno:18``.
LINENO_BITS = 18

EINVAL = 22
ENOENT = 2
ENOMEM = 12
E2BIG = 7
UINT_MAX = 0xFFFFFFFF

#: ``USER_BUF_PAGE`` of ``ddebug_proc_write``: writes of more than 4095 bytes get -E2BIG.
USER_BUF_PAGE = 4096


@attrs.frozen
class Era:
    """One era's behaviour, as data; every difference named after the commit that made it."""

    name: str
    #: Era name understood by ``model.builtin_layouts.ddebug_layout``.
    layout_era: str
    #: ``opt_array[]``: (flag bit, character) in array order.
    opt_array: tuple[tuple[int, str], ...]
    has_class: bool
    #: ``file foo.c:func`` and ``file foo.c:N-M`` (5.9-rc1).
    file_colon: bool
    #: ``format ^prefix`` (5.9-rc1).
    format_anchor: bool
    #: ``$mod.dyndbg=`` applies only when the query names no module (e75ef56f7496, 6.1);
    #: otherwise it is set first and a ``module`` keyword is a duplicate.
    query_module_overrides: bool
    #: ``ddebug_change`` tests ``newflags`` (ee879be38bc8); otherwise the modifier flags.
    static_key_uses_newflags: bool
    #: ``list_add_tail`` (v5.8, and v6.1 again after 2ad556f70043); otherwise ``list_add``
    #: (newest table first: "dyndbg: make ddebug_tables list LIFO", 5.9 to 6.0).
    tables_in_add_order: bool
    #: ``ddebug_iter`` walks a table's callsites N-1..0 (773beabbb8e8).
    reverse_callsite_walk: bool
    #: ``seq_escape_str(.., ESCAPE_SPACE, "\\t\\r\\n\\"")`` (47ea6f99d06e); else octal ``seq_escape``.
    escape_space: bool
    #: ``dynamic_emit_prefix`` returns early unless ``flags & _DPRINTK_FLAGS_INCL_ANY``.
    prefix_fast_path: bool
    prefix_size: int
    #: ``pr_fmt``: ``"dyndbg: "`` or ``KBUILD_MODNAME ":%s: "`` with ``__func__``.
    short_pr_fmt: bool
    #: The record section (``__verbose`` before 5.9).
    section: str

    @property
    def flag_chars(self) -> str:
        return "".join(c for _, c in self.opt_array)

    @property
    def incl_any(self) -> int:
        """``_DPRINTK_FLAGS_INCL_ANY`` of the era (every decoration flag it has)."""
        return sum(f for f, _ in self.opt_array if f not in (_DPRINTK_FLAGS_PRINT, 0))

    @property
    def valid_flags(self) -> int:
        return sum(f for f, _ in self.opt_array)

    def pr_err(self, function: str, text: str) -> str:
        """The line ``pr_err()`` logs from ``function`` of lib/dynamic_debug.c."""
        if self.short_pr_fmt:
            return f"dyndbg: {text}"
        return f"dynamic_debug:{function}: {text}"


_V58_OPTS = ((_DPRINTK_FLAGS_PRINT, "p"), (_DPRINTK_FLAGS_INCL_MODNAME, "m"),
             (_DPRINTK_FLAGS_INCL_FUNCNAME, "f"), (_DPRINTK_FLAGS_INCL_LINENO, "l"),
             (_DPRINTK_FLAGS_INCL_TID, "t"), (_DPRINTK_FLAGS_NONE, "_"))
_V619_OPTS = ((_DPRINTK_FLAGS_PRINT, "p"), (_DPRINTK_FLAGS_INCL_MODNAME, "m"),
              (_DPRINTK_FLAGS_INCL_FUNCNAME, "f"), (_DPRINTK_FLAGS_INCL_SOURCENAME, "s"),
              (_DPRINTK_FLAGS_INCL_LINENO, "l"), (_DPRINTK_FLAGS_INCL_TID, "t"),
              (_DPRINTK_FLAGS_INCL_STACK, "d"), (_DPRINTK_FLAGS_NONE, "_"))

V5_8 = Era("v5.8", "v5.8", _V58_OPTS, has_class=False, file_colon=False, format_anchor=False,
           query_module_overrides=False, static_key_uses_newflags=False,
           tables_in_add_order=True, reverse_callsite_walk=False, escape_space=False,
           prefix_fast_path=False, prefix_size=64, short_pr_fmt=False, section="__verbose")
V6_1 = Era("v6.1", "v6.1", _V58_OPTS, has_class=True, file_colon=True, format_anchor=True,
           query_module_overrides=True, static_key_uses_newflags=True,
           tables_in_add_order=True, reverse_callsite_walk=True, escape_space=True,
           prefix_fast_path=True, prefix_size=64, short_pr_fmt=True, section="__dyndbg")
_V612_OPTS = tuple(o for o in _V619_OPTS if o[1] != "d")
V6_12 = attrs.evolve(V6_1, name="v6.12", opt_array=_V612_OPTS, prefix_size=128)
V6_19 = attrs.evolve(V6_1, name="v6.19", opt_array=_V619_OPTS, prefix_size=128)

ERAS: dict[str, Era] = {e.name: e for e in (V5_8, V6_1, V6_12, V6_19)}
ERA_NAMES: tuple[str, ...] = tuple(ERAS)


def get_era(name: str) -> Era:
    """The era called ``name``; :class:`InputError` naming the known ones otherwise."""
    try:
        return ERAS[name]
    except KeyError:
        raise InputError(f"unknown era {name!r} (known: {', '.join(ERA_NAMES)})") from None


def ddebug_describe_flags(era: Era, flags: int) -> str:
    """lib/dynamic_debug.c:ddebug_describe_flags (all eras): the set flags' characters in
    ``opt_array`` order, ``_`` when none."""
    out = "".join(c for f, c in era.opt_array if flags & f)
    return out or "_"
