"""Plain text for a mail reply: 72 columns, control characters made visible, unified diffs,
tables in the manner of pahole and the kernel test robot.  Shared by every report."""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Sequence

WIDTH = 72


def wrap(text: str, indent: str = "", sub: str | None = None) -> list[str]:
    """``text`` wrapped to :data:`WIDTH`, each paragraph on its own, lines right-stripped."""
    sub = indent + "  " if sub is None else sub
    out: list[str] = []
    for para in text.splitlines() or [""]:
        out += textwrap.wrap(para, WIDTH, initial_indent=indent, subsequent_indent=sub,
                             break_long_words=True, break_on_hyphens=False,
                             drop_whitespace=True) or [indent]
    return [ln.rstrip() for ln in out]


def visible(line: str) -> str:
    """Control characters shown as ``cat -A`` shows them (a raw tab is ``^I``)."""
    return "".join(f"^{chr(ord(c) + 64)}" if ord(c) < 32 else c for c in line)


def diff(a: str, b: str, left: str, right: str, limit: int = 12) -> list[str]:
    """A unified diff of two texts (one context line), or two labelled lines for one-liners."""
    if "\n" in a.rstrip("\n") or "\n" in b.rstrip("\n"):
        out = [visible(ln.rstrip("\n")) for ln in difflib.unified_diff(
            a.splitlines(keepends=True), b.splitlines(keepends=True), left, right, n=1)]
        if len(out) > limit:
            out = [*out[:limit], f"... ({len(out) - limit} more diff lines)"]
        return out
    width = max(len(left), len(right)) + 1
    return [f"- {left + ':':<{width}} {visible(a)}", f"+ {right + ':':<{width}} {visible(b)}"]


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell, a dashed rule under the header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        out.append((indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
                   .rstrip()[:WIDTH])
        if n == 0:
            out.append((indent + "  ".join("-" * w for w in widths))[:WIDTH])
    return out


def clip(lines: Sequence[str]) -> str:
    """The lines joined, none longer than :data:`WIDTH`."""
    return "\n".join(ln[:WIDTH] for ln in lines) + "\n"
