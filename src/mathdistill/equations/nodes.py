"""Our own AST for equation systems.

Nothing here knows about sympy: names such as ``E``, ``I`` or ``lambda`` are ordinary variables.
Sums and products are n-ary so that long inputs like ``1+1+...+1`` give shallow trees; tree depth is
then bounded by the parser's nesting limit, which keeps every recursive walk far from Python's limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Union


@dataclass(frozen=True, slots=True)
class Num:
    value: Fraction


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Add:
    """Sum of terms; ``a - b`` is stored as ``Add((a, Neg(b)))``."""

    terms: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Mul:
    """``factors[0] * factors[1] * ... / (divisors[0] * divisors[1] * ...)``."""

    factors: tuple[Expr, ...]
    divisors: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Pow:
    base: Expr
    exponent: Expr


Expr = Union[Num, Var, Neg, Add, Mul, Pow]


@dataclass(frozen=True, slots=True)
class Equation:
    lhs: Expr
    rhs: Expr
    line: int  # 1-based line of the source text


@dataclass(frozen=True)
class System:
    """The parsed equations, in source order."""

    equations: tuple[Equation, ...]

    def __iter__(self) -> Iterator[Equation]:
        return iter(self.equations)

    def __len__(self) -> int:
        return len(self.equations)

    def __getitem__(self, index: int) -> Equation:
        return self.equations[index]

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names in order of first appearance."""
        seen: dict[str, None] = {}
        for equation in self.equations:
            for side in (equation.lhs, equation.rhs):
                seen.update(dict.fromkeys(variables_of(side)))
        return tuple(seen)


def variables_of(expr: Expr) -> Iterator[str]:
    """Every variable occurrence in ``expr``, left to right (with repeats)."""
    match expr:
        case Var(name):
            yield name
        case Neg(operand):
            yield from variables_of(operand)
        case Add(terms):
            for term in terms:
                yield from variables_of(term)
        case Mul(factors, divisors):
            for factor in factors + divisors:
                yield from variables_of(factor)
        case Pow(base, exponent):
            yield from variables_of(base)
            yield from variables_of(exponent)
