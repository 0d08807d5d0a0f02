"""The dynamic-debug core over any :class:`~model.dyndbg.store.CallsiteStore`.

Function by function from lib/dynamic_debug.c of the store's era (v5.8, v6.1, v6.19):
``ddebug_change``, ``ddebug_exec_queries``, ``ddebug_proc_write``, ``ddebug_proc_show`` (the
control file), ``dynamic_emit_prefix`` and ``__dynamic_pr_debug`` (with the
``DYNAMIC_DEBUG_BRANCH`` test of include/linux/dynamic_debug.h in front), and the module
parameter ``$mod.dyndbg=`` (``ddebug_dyndbg_module_param_cb``).  Every access to a callsite goes
through the store, so a design that stores callsites differently runs this same code.
"""

from __future__ import annotations

from functools import lru_cache

import attrs

from model.dyndbg.era import (
    _DPRINTK_CLASS_DFLT,
    _DPRINTK_FLAGS_INCL_FUNCNAME,
    _DPRINTK_FLAGS_INCL_LINENO,
    _DPRINTK_FLAGS_INCL_MODNAME,
    _DPRINTK_FLAGS_INCL_SOURCENAME,
    _DPRINTK_FLAGS_INCL_STACK,
    _DPRINTK_FLAGS_INCL_TID,
    _DPRINTK_FLAGS_PRINT,
    E2BIG,
    ENOENT,
    USER_BUF_PAGE,
    Era,
    ddebug_describe_flags,
)
from model.dyndbg.query import (
    FlagSettings,
    Parsed,
    Query,
    Rejected,
    cstring,
    ddebug_parse,
    kbasename,
    match_wildcard,
    split_queries,
    trim_prefix,
)
from model.dyndbg.store import CallsiteStore, DdebugSite, DdebugTable

#: Where ``ddebug_change`` and ``ddebug_proc_start`` take ``ddebug_lock`` (a mutex).
SITE_DDEBUG_LOCK = "lib/dynamic_debug.c:ddebug_change"
SITE_PROC_START = "lib/dynamic_debug.c:ddebug_proc_start"


def cstr(store: CallsiteStore, addr: int) -> str:
    """The C string at ``addr`` (``%s``), read through the store's address space."""
    return store.space.read_cstring(addr).decode("latin-1")


# --- ddebug_change --------------------------------------------------------------------------

def ddebug_find_valid_class(dt: DdebugTable, class_string: str) -> int | None:
    """lib/dynamic_debug.c:ddebug_find_valid_class (v6.1): the class id of ``class_string`` in
    one of the table's class maps (``match_string``), else ``None`` (-ENOENT)."""
    for m in dt.maps:
        if class_string in m.class_names:
            return m.base + m.class_names.index(class_string)
    return None


def _site_matches(store: CallsiteStore, era: Era, q: Query, dp: DdebugSite,
                  valid_class: int) -> bool:
    if era.has_class and dp.class_id != valid_class:
        return False
    if q.filename is not None:
        filename = cstr(store, dp.filename)
        if (not match_wildcard(q.filename, filename)
                and not match_wildcard(q.filename, kbasename(filename))
                and not match_wildcard(q.filename, trim_prefix(filename))):
            return False
    if q.function is not None and not match_wildcard(q.function, cstr(store, dp.function)):
        return False
    if q.format is not None:
        fmt = cstr(store, dp.format)
        if era.format_anchor and q.format.startswith("^"):
            if not fmt.startswith(q.format[1:]):  # strstr(...) == dp->format
                return False
        elif q.format not in fmt:
            return False
    if q.first_lineno and dp.lineno < q.first_lineno:
        return False
    return not (q.last_lineno and dp.lineno > q.last_lineno)


def _needs_site(era: Era, q: Query) -> bool:
    """Whether ``ddebug_change`` reads any callsite field but ``flags`` for this query (v6.1
    always reads ``class_id``)."""
    return era.has_class or any(v is not None for v in (q.filename, q.function, q.format)) \
        or bool(q.first_lineno or q.last_lineno)


def ddebug_change(store: CallsiteStore, query: Query, modifiers: FlagSettings) -> int:
    """lib/dynamic_debug.c:ddebug_change: apply ``modifiers`` to every matching callsite and
    return how many matched.  Per callsite the site is held from ``get_site`` to ``put_site``
    across the flag update and the static-key switch (the ``goto skipsite`` of the August-2020
    patch 5/7).  The key follows the era: v5.8 tests the *modifier* flags
    (``flags & _DPRINTK_FLAGS_PRINT``), v6.1+ the new flags (ee879be38bc8)."""
    era = store.era
    store.ctx.mutex_lock(SITE_DDEBUG_LOCK)
    nfound = 0
    needs_site = _needs_site(era, query)
    for dt in list(store.tables()):
        if query.module is not None and not match_wildcard(query.module, dt.mod_name):
            continue
        valid_class = _DPRINTK_CLASS_DFLT
        if era.has_class and query.class_string is not None:
            found = ddebug_find_valid_class(dt, query.class_string)
            if found is None:
                continue
            valid_class = found
        for i in range(dt.num_ddebugs):
            if needs_site:
                dp = store.get_site(dt, i)
                try:
                    if not _site_matches(store, era, query, dp, valid_class):
                        continue
                    nfound += _apply(store, dt, i, modifiers)
                finally:
                    store.put_site(dt, i)
            else:
                nfound += _apply(store, dt, i, modifiers)
    return nfound


def _apply(store: CallsiteStore, dt: DdebugTable, i: int, modifiers: FlagSettings) -> int:
    era = store.era
    old = store.get_flags(dt, i)
    newflags = ((old & modifiers.mask) | modifiers.flags) & 0xFF
    if newflags == old:
        return 1
    if store.jump_label:
        test = newflags if era.static_key_uses_newflags else modifiers.flags
        if old & _DPRINTK_FLAGS_PRINT:
            if not test & _DPRINTK_FLAGS_PRINT:
                store.static_branch_disable(dt, i)
        elif test & _DPRINTK_FLAGS_PRINT:
            store.static_branch_enable(dt, i)
    store.set_flags(dt, i, newflags)
    return 1


# --- ddebug_exec_queries, the control file's write side ---------------------------------------

@attrs.frozen
class ExecResult:
    """What ``ddebug_exec_queries`` did: its return value (the last error, or the number of
    matches), each query's parse, and the ``pr_err`` lines logged."""

    rc: int
    nfound: int
    queries: tuple[Parsed | Rejected, ...]
    messages: tuple[str, ...]


@lru_cache(maxsize=4096)
def _parse_queries(era: Era, text: str, modname: str | None) -> tuple[Parsed | Rejected, ...]:
    """``split_queries`` then ``ddebug_parse`` of each: pure functions of the text, the era and
    the module, so each distinct write is parsed once (the values are frozen)."""
    return tuple(ddebug_parse(era, q, modname) for q in split_queries(text))


def ddebug_exec_queries(store: CallsiteStore, text: str, modname: str | None = None) -> ExecResult:
    """lib/dynamic_debug.c:ddebug_exec_queries: run each query of ``text``; a rejected query
    changes nothing and the others still run; return the last error, else the matches.
    ``text`` (``char *query``) and ``modname`` are C strings: they end at their first NUL
    (every era loops ``strpbrk`` over the C string: v5.8.1 lines 479-510, 6.1 569-601, 6.12
    from 570)."""
    era = store.era
    text = cstring(text)
    if modname is not None:
        modname = cstring(modname)
    exitcode = 0
    nfound = 0
    results: list[Parsed | Rejected] = []
    messages: list[str] = []
    for parsed in _parse_queries(era, text, modname):
        results.append(parsed)
        if isinstance(parsed, Rejected):
            messages.extend(parsed.messages)
            exitcode = parsed.errno
            continue
        nfound += ddebug_change(store, parsed.query, parsed.modifiers)
    return ExecResult(exitcode or nfound, nfound, tuple(results), tuple(messages))


@attrs.frozen
class WriteResult:
    """``write(2)`` on the control file: the byte count or a negative errno, and the log."""

    rc: int
    exec: ExecResult | None
    messages: tuple[str, ...]


def ddebug_proc_write(store: CallsiteStore, text: str | bytes) -> WriteResult:
    """lib/dynamic_debug.c:ddebug_proc_write (v5.8 = v6.12): ``write(2)`` of ``text`` (bytes as
    they are, a ``str`` as latin-1): empty writes return 0, writes of 4096 bytes or more
    -E2BIG, otherwise ``memdup_user_nul(ubuf, len)`` copies all ``len`` bytes and adds a NUL,
    and ``ddebug_exec_queries(tmpbuf, NULL)`` parses that buffer as a C string, up to its first
    NUL; the write returns the error, or ``len`` with the bytes after a NUL counted but unread.
    (``memdup_user_nul`` / ``ddebug_exec_queries``: v5.8.1 lines 708/713, 6.1 1013/1018, 6.12
    1016/1021.)"""
    if isinstance(text, bytes):
        length, text = len(text), text.decode("latin-1")
    else:
        length = len(text.encode("latin-1", errors="replace"))
    if length == 0:
        return WriteResult(0, None, ())
    if length > USER_BUF_PAGE - 1:
        msg = f"expected <{USER_BUF_PAGE} bytes into control"
        line = (f"dyndbg: {msg}" if store.era.short_pr_fmt
                else f"dynamic_debug:ddebug_proc_write: {msg}")
        return WriteResult(-E2BIG, None, (line,))
    res = ddebug_exec_queries(store, text, None)
    return WriteResult(res.rc if res.rc < 0 else length, res, res.messages)


def ddebug_dyndbg_module_param_cb(store: CallsiteStore, param: str, val: str | None,
                                  module: str) -> int:
    """lib/dynamic_debug.c:ddebug_dyndbg_module_param_cb / ddebug_dyndbg_param_cb: a module's
    ``dyndbg`` parameter runs ``ddebug_exec_queries(val ?: "+p", module)``; other parameters
    are -ENOENT; a failing query does not stop the module load (returns 0).  ``param``,
    ``val`` and ``module`` are C strings (ended by their first NUL)."""
    param, module = cstring(param), cstring(module)
    if "." in param:
        module, _, param = param.partition(".")
    if param != "dyndbg":
        return -ENOENT
    ddebug_exec_queries(store, val if val is not None else "+p", module)
    return 0


# --- the control file's read side ----------------------------------------------------------

def _escape(era: Era, s: str) -> str:
    """v5.8 ``seq_escape(m, fmt, "\\t\\r\\n\\"")`` (octal) or v6.1 ``seq_escape_str(m, fmt,
    ESCAPE_SPACE, "\\t\\r\\n\\"")`` (``\\t \\r \\n``; ``"`` passes through)."""
    out = []
    for c in s:
        if c in '\t\r\n"':
            if era.escape_space:
                out.append({"\t": "\\t", "\r": "\\r", "\n": "\\n"}.get(c, c))
            else:
                out.append(f"\\{ord(c):03o}")
        else:
            out.append(c)
    return "".join(out)


def ddebug_class_name(dt: DdebugTable, class_id: int) -> str | None:
    """lib/dynamic_debug.c:ddebug_class_name (v6.1)."""
    for m in dt.maps:
        if m.base <= class_id < m.base + len(m.class_names):
            return m.class_names[class_id - m.base]
    return None


CONTROL_HEADER = "# filename:lineno [module]function flags format\n"


def ddebug_proc_show_one(store: CallsiteStore, dt: DdebugTable, i: int) -> str:
    """lib/dynamic_debug.c:ddebug_proc_show for one callsite (the line ``cat control`` shows)."""
    era = store.era
    dp = store.get_site(dt, i)
    try:
        flags = store.get_flags(dt, i)
        line = (f"{trim_prefix(cstr(store, dp.filename))}:{dp.lineno} [{dt.mod_name}]"
                f"{cstr(store, dp.function)} ={ddebug_describe_flags(era, flags)} "
                f"\"{_escape(era, cstr(store, dp.format))}\"")
        if era.has_class and dp.class_id != _DPRINTK_CLASS_DFLT:
            name = ddebug_class_name(dt, dp.class_id)
            line += f" class:{name}" if name is not None else f" class unknown, _id:{dp.class_id}"
    finally:
        store.put_site(dt, i)
    return line + "\n"


def ddebug_iter(store: CallsiteStore) -> list[tuple[DdebugTable, int]]:
    """lib/dynamic_debug.c:ddebug_iter_first/next: tables in list order, callsites 0..N-1
    (v5.8) or N-1..0 (v6.1+, 773beabbb8e8)."""
    out: list[tuple[DdebugTable, int]] = []
    for dt in store.tables():
        idx = range(dt.num_ddebugs - 1, -1, -1) if store.era.reverse_callsite_walk \
            else range(dt.num_ddebugs)
        out.extend((dt, i) for i in idx)
    return out


def ddebug_proc_show(store: CallsiteStore) -> str:
    """``cat <debugfs>/dynamic_debug/control``: ``ddebug_proc_start`` takes ``ddebug_lock``,
    then the header line and one ``ddebug_proc_show`` line per callsite."""
    store.ctx.mutex_lock(SITE_PROC_START)
    return CONTROL_HEADER + "".join(ddebug_proc_show_one(store, dt, i)
                                    for dt, i in ddebug_iter(store))


# --- the print path ------------------------------------------------------------------------

def dynamic_emit_prefix(store: CallsiteStore, dt: DdebugTable, i: int) -> str:
    """lib/dynamic_debug.c:dynamic_emit_prefix (v5.8) / __dynamic_emit_prefix behind the
    ``_DPRINTK_FLAGS_INCL_ANY`` test (v6.1+): ``<intr> `` or ``[pid] `` for ``t``, then
    ``modname:``, ``function:``, (v6.19) ``filename:``, ``lineno:`` and a space, cut at
    ``PREFIX_SIZE - 1`` characters.  The site is read only when a field is printed."""
    era = store.era
    flags = store.get_flags(dt, i)
    if era.prefix_fast_path and not flags & era.incl_any:
        return ""
    buf = ""
    if flags & _DPRINTK_FLAGS_INCL_TID:
        buf += "<intr> " if store.ctx.in_interrupt() else f"[{store.ctx.pid()}] "
    after_tid = len(buf)
    fields = _DPRINTK_FLAGS_INCL_MODNAME | _DPRINTK_FLAGS_INCL_FUNCNAME | _DPRINTK_FLAGS_INCL_LINENO
    if era.incl_any & _DPRINTK_FLAGS_INCL_SOURCENAME:
        fields |= _DPRINTK_FLAGS_INCL_SOURCENAME
    if flags & fields:
        dp = store.get_site(dt, i)
        try:
            if flags & _DPRINTK_FLAGS_INCL_MODNAME:
                buf += cstr(store, dp.modname) + ":"
            if flags & _DPRINTK_FLAGS_INCL_FUNCNAME:
                buf += cstr(store, dp.function) + ":"
            if flags & _DPRINTK_FLAGS_INCL_SOURCENAME & era.incl_any:
                buf += trim_prefix(cstr(store, dp.filename)) + ":"
            if flags & _DPRINTK_FLAGS_INCL_LINENO:
                buf += f"{dp.lineno}:"
        finally:
            store.put_site(dt, i)
    if len(buf) != after_tid:
        buf += " "
    return buf[: era.prefix_size - 1]


@attrs.frozen
class PrintEvent:
    """One ``pr_debug`` that printed: ``KERN_DEBUG`` ``prefix + message``, where it ran, and
    (v6.19 ``d``) whether ``dump_stack()`` followed."""

    module: str
    index: int
    prefix: str
    message: str
    cpu: int
    context: str
    dump_stack: bool = False

    @property
    def text(self) -> str:
        return self.prefix + self.message


def dynamic_debug_branch(store: CallsiteStore, dt: DdebugTable, i: int) -> bool:
    """``DYNAMIC_DEBUG_BRANCH(descriptor)`` (include/linux/dynamic_debug.h): the static key
    under ``CONFIG_JUMP_LABEL``, else ``unlikely(descriptor.flags & _DPRINTK_FLAGS_PRINT)``."""
    if store.jump_label:
        return store.static_key_enabled(dt, i)
    return bool(store.get_flags(dt, i) & _DPRINTK_FLAGS_PRINT)


def pr_debug(store: CallsiteStore, dt: DdebugTable, i: int, message: str) -> PrintEvent | None:
    """A ``pr_debug(fmt)`` hit at callsite ``i`` of ``dt``: ``__dynamic_func_call`` tests the
    branch, then ``__dynamic_pr_debug`` prints ``dynamic_emit_prefix() + fmt`` (the format
    reaches the print as the macro's argument, not through the record); v6.19's
    ``__dynamic_dump_stack`` follows when ``d`` is set."""
    if not dynamic_debug_branch(store, dt, i):
        return None
    prefix = dynamic_emit_prefix(store, dt, i)
    dump = False
    if store.era.incl_any & _DPRINTK_FLAGS_INCL_STACK:
        dump = bool(store.get_flags(dt, i) & _DPRINTK_FLAGS_INCL_STACK)
    return PrintEvent(dt.mod_name, i, prefix, message, store.ctx.cpu, store.ctx.context_name(),
                      dump)


def find_callsite(store: CallsiteStore, desc_addr: int) -> tuple[DdebugTable, int] | None:
    """The table and index of the ``struct _ddebug`` at ``desc_addr`` (the descriptor a
    callsite's code passes), or ``None`` when no table holds it (module removed)."""
    for dt in store.tables():
        off = desc_addr - dt.descs
        if 0 <= off < dt.num_ddebugs * dt.record_size and off % dt.record_size == 0:
            return dt, off // dt.record_size
    return None
