"""Benchmarks for ``dyndiet bench``.

Each module here defines ``run(quick: bool) -> list[Figure]``.  A figure that is a *ratio* is
measured in one run against a baseline measured in the same run (e.g. the pool machine's step rate
over an empty ``RuleBasedStateMachine``'s), so it means the same on a fast and a slow machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs


@attrs.frozen
class Figure:
    """One measured figure: ``value`` in ``unit``; ``aim`` is the issue's target, if any."""

    area: str
    name: str
    value: float
    unit: str
    aim: str = ""

    def as_json(self) -> dict[str, object]:
        return attrs.asdict(self)


def rate(fn: Callable[[], object], *, seconds: float = 1.0, min_calls: int = 3) -> float:
    """Calls of ``fn`` per second over at least ``seconds`` of wall time."""
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= min_calls:
            return calls / elapsed
