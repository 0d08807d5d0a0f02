"""A toy property and two toy designs, to test the tool's machinery (runner, reports,
reproducers, campaigns) independently of the dynamic-debug model."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from model.errors import SleepingInInvalidContext
from properties.catalogue import DesignRef, Property, Target, register
from properties.tracing import TracedMachine, traced


class GoodStack:
    """Keeps every value pushed."""

    def __init__(self) -> None:
        self.items: list[int] = []

    def push(self, v: int) -> None:
        self.items.append(v)


class LossyStack(GoodStack):
    """Drops a value when it is pushed onto a stack of exactly three: a planted bug."""

    def push(self, v: int) -> None:
        if len(self.items) != 3:
            self.items.append(v)


class SleepyStack(GoodStack):
    """Sleeps 'while mapped' when it pushes a value over 100: a planted kernel-rule bug."""

    def push(self, v: int) -> None:
        if v > 100:
            raise SleepingInInvalidContext(
                "BUG: sleeping function called from invalid context at mm/slab.h:567",
                "kernel/sched/core.c:__might_sleep")
        super().push(v)


class BrokenStack(GoodStack):
    """Raises a plain TypeError: a design file with a bug of its own."""

    def push(self, v: int) -> None:
        raise TypeError("push() got confused")


def stack_machine(design: DesignRef, target: Target) -> type[TracedMachine]:
    class StackMachine(TracedMachine):
        def __init__(self) -> None:
            super().__init__()
            self.impl = design.factory()
            self.model: list[int] = []

        @rule(v=st.integers(0, 200))
        @traced
        def push(self, v: int) -> None:
            self.impl.push(v)
            self.model.append(v)

        @invariant()
        def same_contents(self) -> None:
            assert self.impl.items == self.model, (
                f"stack holds {self.impl.items}, expected {self.model}")

    return StackMachine


TOY_PROPERTY = register(Property("toy-equivalence", "equivalence",
                                 "The stack keeps every value pushed.", stack_machine,
                                 listed=False))


def ref(cls: type[GoodStack]) -> DesignRef:
    return DesignRef(cls.__name__, "built-in", cls)


#: A user's design file naming the toy designs (the fuzz and check tests write it to disk).
TOY_DESIGN_FILE = """
import tests.toy_designs  # registers the toy property
from tests.toy_designs import GoodStack, LossyStack, SleepyStack

class Good(GoodStack):
    name = "good"

class Lossy(LossyStack):
    name = "lossy"

class Sleepy(SleepyStack):
    name = "sleepy"

DESIGNS = [Good, Lossy, Sleepy]
"""
