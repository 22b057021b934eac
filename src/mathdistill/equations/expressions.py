"""Arithmetic expressions as trees (`nodes`): exact evaluation, rewriting leaves, and printing
them back as infix text with only the parentheses they need. The gold teacher builds rationales
with these; nothing here ever calls eval."""

from __future__ import annotations

from fractions import Fraction

from .grammar import parse_system
from .nodes import Add, Expr, Mul, Neg, Num, Pow, Var


class ExpressionError(ValueError):
    """An expression that cannot be evaluated or parsed as asked (variables, huge exponents, ...)."""


def evaluate(expr: Expr) -> Fraction:
    """Exact value of a constant expression (no variables)."""
    match expr:
        case Num(value):
            return value
        case Neg(operand):
            return -evaluate(operand)
        case Add(terms):
            return sum((evaluate(t) for t in terms), Fraction(0))
        case Mul(factors, divisors):
            out = Fraction(1)
            for f in factors:
                out *= evaluate(f)
            for d in divisors:
                out /= evaluate(d)  # ZeroDivisionError is the caller's to handle
            return out
        case Pow(base, exponent):
            e = evaluate(exponent)
            if e.denominator != 1 or abs(e) > 64:
                raise ExpressionError(f"unsupported exponent {e}")
            return evaluate(base) ** int(e)
    raise ExpressionError(f"variables in a constant expression: {expr}")


def parse_expression(text: str) -> Expr:
    """An arithmetic expression over numbers, through the EoT parser (never eval)."""
    system = parse_system(f"ans = {text}")
    if len(system) != 1:
        raise ExpressionError(f"not one expression: {text!r}")
    return system[0].rhs


def map_leaves(node: Expr, leaf) -> Expr:
    """The same tree with every Num/Var leaf replaced by leaf(leaf_node)."""
    match node:
        case Neg(o):
            return Neg(map_leaves(o, leaf))
        case Add(terms):
            return Add(tuple(map_leaves(t, leaf) for t in terms))
        case Mul(fs, ds):
            return Mul(tuple(map_leaves(f, leaf) for f in fs), tuple(map_leaves(d, leaf) for d in ds))
        case Pow(b, e):
            return Pow(map_leaves(b, leaf), map_leaves(e, leaf))
    return leaf(node)


def children(node: Expr) -> tuple[Expr, ...]:
    match node:
        case Neg(operand):
            return (operand,) if not isinstance(operand, Num) else ()
        case Add(terms):
            return terms
        case Mul(factors, divisors):
            return factors + divisors
        case Pow(base, exponent):
            return (base, exponent)
    return ()


def render(node: Expr, power: str = "**") -> str:
    """Infix text with the parentheses it needs."""
    match node:
        case Num(v):
            return format_number(v)
        case Var(n):
            return n
        case Neg(o):
            inner = render(o, power)
            return f"-{inner}" if isinstance(o, (Num, Var, Pow)) else f"-({inner})"
        case Add(terms):
            out = render(terms[0], power)
            for t in terms[1:]:
                if isinstance(t, Neg):
                    inner = render(t.operand, power)
                    out += f" - ({inner})" if isinstance(t.operand, Add) else f" - {inner}"
                else:
                    out += f" + {render(t, power)}"
            return out
        case Mul(fs, ds):
            def factor(x: Expr) -> str:
                s = render(x, power)
                return f"({s})" if isinstance(x, (Add, Neg, Mul)) and not single(x) else s
            out = " * ".join(factor(f) for f in fs) if fs else "1"
            for d in ds:
                out += f" / {factor(d)}"
            return out
        case Pow(b, e):
            bs = render(b, power)
            es = render(e, power)
            return f"{bs if isinstance(b, (Num, Var)) else f'({bs})'} {power} {es if isinstance(e, (Num, Var)) else f'({es})'}"
    raise TypeError(node)


def single(x: Expr) -> bool:
    return isinstance(x, Mul) and len(x.factors) == 1 and not x.divisors


def format_number(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    as_float = float(v)
    if Fraction(repr(as_float)) == v:
        return repr(as_float)
    return f"({v.numerator} / {v.denominator})"
