"""Exact linear algebra over the rationals for EoT systems.

Each equation ``lhs = rhs`` becomes an affine form ``sum(c_v * v) + const = 0`` with exact
coefficients; variables whose values are already known are substituted first, which is what makes
chains like ``total = price * qty`` linear once ``price`` and ``qty`` are determined.

Numbers are kept as ``int`` whenever they are integral and as ``Fraction`` otherwise: word-problem
arithmetic is mostly integral and int operations are ~100x cheaper than Fraction ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Union

from .nodes import Add, Expr, Mul, Neg, Num, Pow, Var

MAX_EXPONENT = 64
# Largest numerator/denominator (in bits) we let constants and coefficients reach: realistic word
# problems stay far below it, and it keeps adversarial input such as (2^60)^60 from costing seconds.
MAX_BITS = 1024

Rational = Union[int, Fraction]  # invariant: a Fraction here is never integral


class NonLinear(Exception):
    """The expression is not affine in its unknowns (product of unknowns, unknown divisor, ...)."""


class SolveFailure(Exception):
    """The system has no usable answer; ``reason`` is the short SolveResult reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _rational(value: Fraction | int) -> Rational:
    if type(value) is Fraction:
        if value.denominator == 1:
            return value.numerator
        if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
            raise SolveFailure("number too large")
        return value
    if value.bit_length() > MAX_BITS:
        raise SolveFailure("number too large")
    return value


def _divide(a: Rational, b: Rational) -> Rational:
    # int / int would give a float.
    return _rational(Fraction(a, b) if type(a) is int and type(b) is int else a / b)


@dataclass(frozen=True, slots=True)
class LinearForm:
    """``sum(coeffs[v] * v) + const``; coefficients are never zero."""

    coeffs: dict[str, Rational]
    const: Rational

    @property
    def is_constant(self) -> bool:
        return not self.coeffs

    def as_expr(self) -> Expr:
        terms: list[Expr] = [Mul((Num(Fraction(c)), Var(v))) for v, c in self.coeffs.items()]
        return Add((*terms, Num(Fraction(self.const))))


def _scale(form: LinearForm, factor: Rational) -> LinearForm:
    if factor == 1:
        return form
    if not factor:
        return LinearForm({}, 0)
    coeffs = {v: _rational(c * factor) for v, c in form.coeffs.items()}
    return LinearForm(coeffs, _rational(form.const * factor))


def _combine(forms: list[LinearForm], signs: list[int]) -> LinearForm:
    """``sum(sign * form)``, dropping variables whose coefficients cancel."""
    coeffs: dict[str, Rational] = {}
    const: Rational = 0
    for form, sign in zip(forms, signs):
        const += sign * form.const
        for v, c in form.coeffs.items():
            coeffs[v] = coeffs.get(v, 0) + sign * c
    return LinearForm({v: _rational(c) for v, c in coeffs.items() if c}, _rational(const))


def residual(lhs: Expr, rhs: Expr, known: Mapping[str, Fraction]) -> LinearForm:
    """The affine form of ``lhs - rhs`` (see ``linearize``)."""
    return _combine([linearize(lhs, known), linearize(rhs, known)], [1, -1])


def linearize(expr: Expr, known: Mapping[str, Fraction]) -> LinearForm:
    """The affine form of ``expr`` with ``known`` variables substituted.

    Raises NonLinear if it is not affine in the remaining variables, and SolveFailure for division
    by zero or numbers beyond the size limits.
    """
    match expr:
        case Num(value):
            return LinearForm({}, _rational(value))
        case Var(name):
            if name in known:
                return LinearForm({}, _rational(known[name]))
            return LinearForm({name: 1}, 0)
        case Neg(operand):
            return _scale(linearize(operand, known), -1)
        case Add(terms):
            forms = [linearize(term, known) for term in terms]
            return _combine(forms, [1] * len(forms))
        case Mul(factors, divisors):
            return _product(factors, divisors, known)
        case Pow(base, exponent):
            return _power(base, exponent, known)
    raise TypeError(f"not an expression: {expr!r}")


def _product(
    factors: tuple[Expr, ...], divisors: tuple[Expr, ...], known: Mapping[str, Fraction]
) -> LinearForm:
    # Divisors first, so that a literal division by zero is reported even in a non-linear product.
    divisor: Rational = 1
    for expr in divisors:
        form = linearize(expr, known)
        if not form.is_constant:
            raise NonLinear
        if not form.const:
            raise SolveFailure("division by zero")
        divisor = _rational(divisor * form.const)
    result = linearize(factors[0], known)
    for expr in factors[1:]:
        form = linearize(expr, known)
        if result.is_constant:
            result = _scale(form, result.const)
        elif form.is_constant:
            result = _scale(result, form.const)
        else:
            raise NonLinear
    return result if divisor == 1 else _scale(result, _divide(1, divisor))


def _power(base: Expr, exponent: Expr, known: Mapping[str, Fraction]) -> LinearForm:
    power = linearize(exponent, known)
    if not power.is_constant:
        raise NonLinear
    if abs(power.const) > MAX_EXPONENT:
        raise SolveFailure("exponent too large")
    if type(power.const) is not int:
        raise NonLinear  # roots are left to sympy
    n = power.const
    form = linearize(base, known)
    if not form.is_constant:
        if n == 0:
            return LinearForm({}, 1)
        if n == 1:
            return form
        raise NonLinear
    value = Fraction(form.const)
    if not value and n < 0:
        raise SolveFailure("division by zero")
    if max(value.numerator.bit_length(), value.denominator.bit_length()) * abs(n) > MAX_BITS:
        raise SolveFailure("number too large")
    return LinearForm({}, _rational(value**n))


def _substitute(form: LinearForm, var: str, row: LinearForm) -> LinearForm:
    """Eliminate ``var`` from ``form`` using ``row``, which states ``var + row = 0``."""
    k = form.coeffs[var]
    coeffs = {v: c for v, c in form.coeffs.items() if v != var}
    for v, c in row.coeffs.items():
        updated = coeffs.get(v, 0) - k * c
        if updated:
            coeffs[v] = _rational(updated)
        else:
            coeffs.pop(v, None)
    return LinearForm(coeffs, _rational(form.const - k * row.const))


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
        row = _scale(form, _divide(1, form.coeffs[pivot]))
        row = LinearForm({v: c for v, c in row.coeffs.items() if v != pivot}, row.const)
        for key, other in list(self._rows.items()):
            if pivot in other.coeffs:
                self._rows[key] = _substitute(other, pivot, row)
        self._rows[pivot] = row

    def determined(self) -> dict[str, Fraction]:
        return {v: Fraction(-row.const) for v, row in self._rows.items() if row.is_constant}

    def undetermined_rows(self) -> list[Expr]:
        """The rows that still involve free variables, as expressions equal to zero."""
        return [Add((Var(v), row.as_expr())) for v, row in self._rows.items() if not row.is_constant]
