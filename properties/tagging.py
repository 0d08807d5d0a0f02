"""Hypothesis strategies and properties for the tagging schemes of :mod:`model.tagging`.

Strategies draw a word from a :class:`~model.domains.Domain` by its *index* (so shrinking walks
towards the domain's simplest value: the lowest address, ``-1`` for error values, ``0`` then
``-1`` for longs), and a (domain, word) pair from a tuple of domains (shrinking prefers the
earlier domain).  The two properties:

* **round trip** — for a handle ``h`` of a handle domain: ``decode(encode(h)) == h`` and
  ``is_tagged(encode(h))``;
* **disjointness** — for a value ``p`` of a value domain sharing the word: ``not is_tagged(p)``.

:func:`find_counterexample` asks Hypothesis (either backend) for the smallest breaking value.
"""

from __future__ import annotations

import attrs
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from model.domains import Domain
from model.tagging import Scheme


@attrs.frozen
class Drawn:
    """One word drawn from a domain, with its index there."""

    domain: Domain
    index: int

    @property
    def word(self) -> int:
        return self.domain.nth(self.index)

    def __repr__(self) -> str:
        d = self.domain
        return f"Drawn({d.key}[{self.index}] = {self.word:#x}: {d.describe()})"


def domain_indices(domain: Domain) -> st.SearchStrategy[int]:
    return st.integers(0, domain.count - 1)


def domain_words(domain: Domain) -> st.SearchStrategy[int]:
    """Words of ``domain``, shrinking towards ``domain.nth(0)``."""
    return domain_indices(domain).map(domain.nth)


def drawn_from(domains: tuple[Domain, ...]) -> st.SearchStrategy[Drawn]:
    """A word of one of ``domains``; shrinks to the earliest domain, then the smallest index."""
    if not domains:
        raise ValueError("no domains to draw from")
    return st.sampled_from(domains).flatmap(
        lambda d: domain_indices(d).map(lambda k: Drawn(d, k)))


def check_round_trip(scheme: Scheme, h: int) -> None:
    """Round trip: a handle comes back and is seen as a handle."""
    slot = scheme.encode(h)
    back = scheme.decode(slot)
    assert back == h, f"{scheme.key}: decode(encode({h:#x})) == {back:#x}"
    assert scheme.is_tagged(slot), f"{scheme.key}: encode({h:#x}) = {slot} not tagged"


def check_disjoint(scheme: Scheme, p: int) -> None:
    """Disjointness: an untagged value sharing the word is not seen as a handle."""
    slot = scheme.store_value(p)
    assert not scheme.is_tagged(slot), f"{scheme.key}: untagged {p:#x} is seen as a handle"


def check(scheme: Scheme, drawn: Drawn) -> None:
    """The property ``drawn.domain``'s role asks for."""
    if drawn.domain.role == "handle":
        check_round_trip(scheme, drawn.word)
    else:
        check_disjoint(scheme, drawn.word)


def holds(scheme: Scheme, drawn: Drawn) -> bool:
    try:
        check(scheme, drawn)
    except AssertionError:
        return False
    return True


def search_settings(max_examples: int = 300, backend: str = "hypothesis") -> settings:
    """Deterministic settings for one search (no database: the result must not depend on what
    earlier runs saw)."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    backend=backend,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def find_counterexample(scheme: Scheme, domains: tuple[Domain, ...], *,
                        max_examples: int = 300, backend: str = "hypothesis") -> Drawn | None:
    """The shrunk counterexample Hypothesis finds for ``scheme`` over ``domains``, or ``None``."""
    try:
        return find(drawn_from(domains), lambda d: not holds(scheme, d),
                    settings=search_settings(max_examples, backend))
    except NoSuchExample:
        return None
