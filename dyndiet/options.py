"""Option parsing shared by the commands: durations, eras, ABIs, budgets."""

from __future__ import annotations

import argparse
import re

from model.abi import ABI_NAMES
from model.eras import ERA_NAMES as ERAS

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")
#: Longest duration taken (a year): a longer one is a typo, and would overflow timers.
MAX_DURATION = 366 * 24 * 3600
#: Largest count taken by :func:`positive_int` (test cases, steps, workers).
MAX_COUNT = 10**9


def duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h30m`` -> seconds; argparse reports a bad one in one line."""
    t = text.strip().lower()
    pos, total = 0, 0.0
    while pos < len(t):
        m = _DURATION.match(t, pos)
        if not m or (m.group(2) == "" and m.end() != len(t)):
            raise argparse.ArgumentTypeError(f"bad duration {text!r} (use e.g. 90s, 5m, 1h30m)")
        total += float(m.group(1)) * {"h": 3600, "m": 60, "s": 1, "": 1}[m.group(2)]
        pos = m.end()
    if not t or total <= 0:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (use e.g. 90s, 5m, 1h30m)")
    if total > MAX_DURATION:
        raise argparse.ArgumentTypeError(f"duration {text!r} is longer than a year")
    return total


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    if n > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"too large: {text!r} (at most {MAX_COUNT:,})")
    return n


def positive_float(text: str) -> float:
    """A positive number of seconds (``2``, ``0.5``)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < x < 1e9:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return x


def add_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--era", choices=ERAS, default="v6.1", help="kernel era (default: v6.1)")
    p.add_argument("--abi", choices=ABI_NAMES, default="x86_64", help="target ABI")
    p.add_argument("--corpus", metavar="PATH",
                   help="draw module images from real records (vmlinux, .ko or a directory)")


def add_budget_options(p: argparse.ArgumentParser, *, default_examples: int = 100) -> None:
    p.add_argument("--max-examples", type=positive_int, default=None,
                   help=f"test cases per property (default: the profile's, {default_examples})")
    p.add_argument("--steps", type=positive_int, default=30,
                   help="rule steps per test case (default: 30)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: derandomized, the same run every time)")
    p.add_argument("--profile", choices=("ci", "dev", "nightly", "replay"), default=None,
                   help="Hypothesis profile (default: HYPOTHESIS_PROFILE, else ci: "
                        "derandomized)")


def check_corpus(path: str | None) -> None:
    """Read a ``--corpus`` once up front: a path that yields no records is one line, exit 2,
    before any work starts; files of it that cannot be read are named on stderr."""
    if path is None:
        return
    import sys

    from model.corpus import load_corpus_cached

    corpus = load_corpus_cached(path)
    for err in corpus.errors:
        print(f"dyndiet: corpus: {err} (skipped)", file=sys.stderr)
