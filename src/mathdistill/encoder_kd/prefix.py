"""Gold equations -> prefix token sequences over number slots, and back to a value.

GTS predicts an expression tree in prefix order whose leaves are either *number slots*
(``N0`` = the first number in the question, ...) or *constants* that do not appear in the
question (``1``, ``100``, ``0.5``).  Slots are what let one decoder solve problems it has never
seen: the answer comes from plugging the question's own numbers into the predicted tree.
"""

from __future__ import annotations

from fractions import Fraction

from mathdistill.equations import parse_system
from mathdistill.equations.grammar import EquationError
from mathdistill.equations.nodes import Add, Expr, Mul, Neg, Num, Pow

OPERATORS: tuple[str, ...] = ("+", "-", "*", "/", "^")


class Unconvertible(ValueError):
    """The gold equation cannot be written as a tree over the question's numbers and constants."""


def slot(i: int) -> str:
    return f"N{i}"


def is_slot(token: str) -> bool:
    return token.startswith("N") and token[1:].isdigit()


def to_prefix(equation: str, numbers: tuple[float, ...]) -> list[str]:
    """``"(76-25)"`` with numbers ``(76, 25)`` -> ``["-", "N0", "N1"]``.

    A literal that equals one of the question's numbers becomes that number's slot (the first
    occurrence when a value repeats: the tree's value is the same either way); any other literal
    becomes a constant token.  Raises Unconvertible for variables or unary minus.
    """
    try:
        system = parse_system(f"ans = {equation}")
    except EquationError as e:
        raise Unconvertible(f"cannot parse {equation!r}: {e}") from None
    if len(system) != 1:
        raise Unconvertible(f"expected one expression, got {len(system)} equations")
    slots = {Fraction(n).limit_denominator(10**6): i for i, n in reversed(list(enumerate(numbers)))}
    return _prefix(system[0].rhs, slots)


def _prefix(expr: Expr, slots: dict[Fraction, int]) -> list[str]:
    match expr:
        case Num(value):
            return [slot(slots[value])] if value in slots else [_constant(value)]
        case Add(terms):
            if isinstance(terms[0], Neg):
                raise Unconvertible("leading unary minus")
            out = _prefix(terms[0], slots)
            for term in terms[1:]:  # n-ary sums fold left, the order a reader evaluates them in
                if isinstance(term, Neg):
                    out = ["-", *out, *_prefix(term.operand, slots)]
                else:
                    out = ["+", *out, *_prefix(term, slots)]
            return out
        case Mul(factors, divisors):
            out = _prefix(factors[0], slots)
            for factor in factors[1:]:
                out = ["*", *out, *_prefix(factor, slots)]
            for divisor in divisors:
                out = ["/", *out, *_prefix(divisor, slots)]
            return out
        case Pow(base, exponent):
            return ["^", *_prefix(base, slots), *_prefix(exponent, slots)]
    raise Unconvertible(f"unsupported node {type(expr).__name__}")


def _constant(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


def evaluate(tokens: list[str], numbers: tuple[float, ...]) -> float | None:
    """Value of a prefix sequence, or None when it is not a well-formed tree or divides by zero."""
    stack: list[float] = []
    for token in reversed(tokens):
        if token in OPERATORS:
            if len(stack) < 2:
                return None
            a, b = stack.pop(), stack.pop()
            try:
                stack.append(_apply(token, a, b))
            except (ZeroDivisionError, OverflowError, ValueError):
                return None
        elif is_slot(token):
            i = int(token[1:])
            if i >= len(numbers):
                return None
            stack.append(float(numbers[i]))
        else:
            stack.append(float(token))
    if len(stack) != 1 or isinstance(stack[0], complex):
        return None
    return stack[0]


def _apply(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    return a**b
