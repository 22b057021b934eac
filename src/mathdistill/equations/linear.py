"""Exact linear algebra over the rationals for EoT systems.

Each equation ``lhs = rhs`` becomes an affine form ``sum(c_v * v) + const = 0`` with Fraction
coefficients; variables whose values are already known are substituted first, which is what makes
chains like ``total = price * qty`` linear once ``price`` and ``qty`` are determined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from .nodes import Add, Expr, Mul, Neg, Num, Pow, Var

MAX_EXPONENT = 64
# Largest numerator/denominator (in bits) we let constants and coefficients reach: realistic word
# problems stay far below it, and it keeps adversarial input such as (2^60)^60 from costing seconds.
MAX_BITS = 1024

_ZERO = Fraction(0)
_ONE = Fraction(1)


class NonLinear(Exception):
    """The expression is not affine in its unknowns (product of unknowns, unknown divisor, ...)."""


class SolveFailure(Exception):
    """The system has no usable answer; ``reason`` is the short SolveResult reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LinearForm:
    """``sum(coeffs[v] * v) + const``; coefficients are never zero."""

    coeffs: dict[str, Fraction]
    const: Fraction

    @property
    def is_constant(self) -> bool:
        return not self.coeffs

    def as_expr(self) -> Expr:
        terms: list[Expr] = [Mul((Num(c), Var(v))) for v, c in self.coeffs.items()]
        return Add((*terms, Num(self.const)))


def _checked(value: Fraction) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise SolveFailure("number too large")
    return value


def _constant(value: Fraction) -> LinearForm:
    return LinearForm({}, value)


def _scale(form: LinearForm, factor: Fraction) -> LinearForm:
    if not factor:
        return _constant(_ZERO)
    coeffs = {v: _checked(c * factor) for v, c in form.coeffs.items()}
    return LinearForm(coeffs, _checked(form.const * factor))


def _sum(forms: list[LinearForm]) -> LinearForm:
    coeffs: dict[str, Fraction] = {}
    const = _ZERO
    for form in forms:
        const += form.const
        for v, c in form.coeffs.items():
            coeffs[v] = coeffs.get(v, _ZERO) + c
    return LinearForm({v: c for v, c in coeffs.items() if c}, _checked(const))


def linearize(expr: Expr, known: Mapping[str, Fraction]) -> LinearForm:
    """The affine form of ``expr`` with ``known`` variables substituted.

    Raises NonLinear if it is not affine in the remaining variables, and SolveFailure for division
    by zero or numbers beyond the size limits.
    """
    match expr:
        case Num(value):
            return _constant(value)
        case Var(name):
            if name in known:
                return _constant(known[name])
            return LinearForm({name: _ONE}, _ZERO)
        case Neg(operand):
            return _scale(linearize(operand, known), -_ONE)
        case Add(terms):
            return _sum([linearize(term, known) for term in terms])
        case Mul(factors, divisors):
            return _product(factors, divisors, known)
        case Pow(base, exponent):
            return _power(base, exponent, known)
    raise TypeError(f"not an expression: {expr!r}")


def _product(factors: tuple[Expr, ...], divisors: tuple[Expr, ...], known: Mapping[str, Fraction]) -> LinearForm:
    # Divisors first, so that a literal division by zero is reported even in a non-linear product.
    divisor = _ONE
    for expr in divisors:
        form = linearize(expr, known)
        if not form.is_constant:
            raise NonLinear
        if not form.const:
            raise SolveFailure("division by zero")
        divisor = _checked(divisor * form.const)
    result = _constant(1 / divisor)
    for expr in factors:
        form = linearize(expr, known)
        if result.is_constant:
            result = _scale(form, result.const)
        elif form.is_constant:
            result = _scale(result, form.const)
        else:
            raise NonLinear
    return result


def _power(base: Expr, exponent: Expr, known: Mapping[str, Fraction]) -> LinearForm:
    power = linearize(exponent, known)
    if not power.is_constant:
        raise NonLinear
    if abs(power.const) > MAX_EXPONENT:
        raise SolveFailure("exponent too large")
    if power.const.denominator != 1:
        raise NonLinear  # roots are left to sympy
    n = int(power.const)
    form = linearize(base, known)
    if not form.is_constant:
        if n == 0:
            return _constant(_ONE)
        if n == 1:
            return form
        raise NonLinear
    value = form.const
    if not value and n < 0:
        raise SolveFailure("division by zero")
    if max(value.numerator.bit_length(), value.denominator.bit_length()) * abs(n) > MAX_BITS:
        raise SolveFailure("number too large")
    return _constant(value**n)


def _substitute(form: LinearForm, var: str, row: LinearForm) -> LinearForm:
    """Eliminate ``var`` from ``form`` using ``row``, which states ``var + row = 0``."""
    k = form.coeffs[var]
    coeffs = {v: c for v, c in form.coeffs.items() if v != var}
    for v, c in row.coeffs.items():
        updated = coeffs.get(v, _ZERO) - k * c
        if updated:
            coeffs[v] = _checked(updated)
        else:
            coeffs.pop(v, None)
    return LinearForm(coeffs, _checked(form.const - k * row.const))


class ReducedRows:
    """Incremental Gauss-Jordan elimination over the rationals.

    Invariant: each stored row is keyed by its pivot variable, reads ``pivot + row = 0`` and mentions
    no other pivot. Then a variable is determined by the system exactly when it is a pivot whose row
    has no free variables left, whatever order the equations arrived in.
    """

    def __init__(self) -> None:
        self._rows: dict[str, LinearForm] = {}

    def add(self, form: LinearForm) -> None:
        """Add the equation ``form = 0``; raises SolveFailure("inconsistent") on a contradiction."""
        for var in [v for v in form.coeffs if v in self._rows]:
            form = _substitute(form, var, self._rows[var])
        if form.is_constant:
            if form.const:
                raise SolveFailure("inconsistent")
            return  # redundant equation
        pivot = next(iter(form.coeffs))
        row = _scale(form, 1 / form.coeffs[pivot])
        row = LinearForm({v: c for v, c in row.coeffs.items() if v != pivot}, row.const)
        for key, other in list(self._rows.items()):
            if pivot in other.coeffs:
                self._rows[key] = _substitute(other, pivot, row)
        self._rows[pivot] = row

    def determined(self) -> dict[str, Fraction]:
        return {v: -row.const for v, row in self._rows.items() if row.is_constant}

    def undetermined_rows(self) -> list[Expr]:
        """The rows that still involve free variables, as expressions equal to zero."""
        return [Add((Var(v), row.as_expr())) for v, row in self._rows.items() if not row.is_constant]
