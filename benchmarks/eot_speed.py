"""Throughput of the exact EoT solver versus sympy.solve on the same realistic linear systems.

Systems are generated from random numbers in the shapes teachers write: chains of 2-6 definitions
(``total = price * count`` once both are known, ``each = total / 4``) and small simultaneous 2x2 /
3x3 systems followed by ``ans = ...``. Each system is built twice from one description: as text for
our solver (timed including parsing) and directly as sympy expressions over explicit Symbols for the
baseline (built before timing, so sympy is timed on solving alone).

Run: ``.venv/bin/python benchmarks/eot_speed.py [n]``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from fractions import Fraction

import sympy

from mathdistill.equations import parse_system, solve_system, solve_text

WORDS = ["apples", "price", "total", "boxes", "cost", "days", "hours", "pages", "eggs", "cups", "miles",
         "weeks", "coins", "cookies", "tickets", "students", "pens", "rent", "savings", "trees"]

# An expression is ("num", Fraction), ("var", name), (op, left, right) with op in "+-*/", or
# ("sum", [(coefficient, name), ...]) for the left side of a simultaneous equation.
Node = tuple


@dataclass(frozen=True)
class Spec:
    equations: list[tuple[Node, Node]]  # lhs = rhs
    answer: Fraction


def _number(rng: random.Random) -> Fraction:
    if rng.random() < 0.2:
        return Fraction(rng.randint(1, 400), 4)  # prices such as 12.25
    return Fraction(rng.randint(2, 120))


def _chain(rng: random.Random) -> Spec:
    names = rng.sample(WORDS, rng.randint(1, 5)) + ["ans"]
    values: dict[str, Fraction] = {}
    equations = []
    for i, name in enumerate(names):
        if i == 0 or (i == 1 and rng.random() < 0.5):
            values[name] = _number(rng)
            equations.append((("var", name), ("num", values[name])))
            continue
        # Mostly build on the previous definition, as a step-by-step solution does.
        var = names[i - 1] if rng.random() < 0.7 else rng.choice(names[:i])
        a, x = ("var", var), values[var]
        if rng.random() < 0.4:
            other = rng.choice(names[:i])
            b, y = ("var", other), values[other]
        else:
            y = Fraction(rng.randint(2, 12))
            b = ("num", y)
        op = rng.choice("+-*/" if y else "+-*")
        values[name] = x + y if op == "+" else x - y if op == "-" else x * y if op == "*" else x / y
        equations.append((("var", name), (op, a, b)))
    return Spec(equations, values["ans"])


def _simultaneous(rng: random.Random) -> Spec:
    names = rng.choice([["x", "y"], ["x", "y", "z"], ["adults", "children"]])
    solution = {name: Fraction(rng.randint(1, 30)) for name in names}
    while True:
        matrix = [[rng.randint(-5, 5) for _ in names] for _ in names]
        if sympy.Matrix(matrix).det() != 0:
            break
    equations = []
    for row in matrix:
        lhs = ("sum", [(Fraction(c), v) for c, v in zip(row, names) if c])
        rhs = sum((c * solution[v] for c, v in zip(row, names)), Fraction(0))
        equations.append((lhs, ("num", rhs)))
    a, b = names[0], names[1]
    answer = rng.choice([("+", ("var", a), ("var", b)), ("*", ("var", a), ("var", b)), ("var", a)])
    equations.append((("var", "ans"), answer))
    value = {"+": solution[a] + solution[b], "*": solution[a] * solution[b]}.get(answer[0], solution[a])
    return Spec(equations, value)


def make_systems(n: int, seed: int = 0) -> list[Spec]:
    rng = random.Random(seed)
    return [_chain(rng) if rng.random() < 0.7 else _simultaneous(rng) for _ in range(n)]


def _text_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(float(value)) if value.denominator in (2, 4) else f"({value.numerator}/{value.denominator})"


def _monomial(coefficient: Fraction, name: str) -> str:
    # The way models write it: x, 3x, 2.5y.
    return name if coefficient == 1 else f"{_text_number(coefficient)}{name}"


def _text(node: Node) -> str:
    if node[0] == "num":
        return _text_number(node[1])
    if node[0] == "var":
        return node[1]
    if node[0] == "sum":
        (c, v), *rest = node[1]
        text = _monomial(c, v) if c > 0 else f"-{_monomial(-c, v)}"
        for c, v in rest:
            text += f" + {_monomial(c, v)}" if c > 0 else f" - {_monomial(-c, v)}"
        return text
    op, left, right = node
    return f"{_text(left)} {op} {_text(right)}"


def render(spec: Spec) -> str:
    lines = [f"{_text(lhs)} = {_text(rhs)}" for lhs, rhs in spec.equations]
    return "System of linear equations: (Do not simplify)\n" + "\n".join(lines)


def _sympy(node: Node, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    if node[0] == "num":
        return sympy.Rational(node[1].numerator, node[1].denominator)
    if node[0] == "var":
        return symbols.setdefault(node[1], sympy.Symbol(node[1]))
    if node[0] == "sum":
        return sympy.Add(*(_sympy(("num", c), symbols) * _sympy(("var", v), symbols) for c, v in node[1]))
    op, left, right = node
    a, b = _sympy(left, symbols), _sympy(right, symbols)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]


def to_sympy(spec: Spec) -> tuple[list[sympy.Expr], list[sympy.Symbol], sympy.Symbol]:
    symbols: dict[str, sympy.Symbol] = {}
    equations = [_sympy(lhs, symbols) - _sympy(rhs, symbols) for lhs, rhs in spec.equations]
    return equations, list(symbols.values()), symbols["ans"]


def bench_eot(n: int = 300, seed: int = 0) -> dict:
    """Systems per second of solve_text (parse + solve), solve_system (pre-parsed) and sympy.solve."""
    specs = make_systems(n, seed)
    texts = [render(spec) for spec in specs]
    baseline = [to_sympy(spec) for spec in specs]
    for spec in make_systems(10, seed + 1):  # warm both sides up on other systems
        solve_text(render(spec))
        equations, symbols, _ = to_sympy(spec)
        sympy.solve(equations, symbols, dict=True)

    # Interleave the three measurements in small blocks so that load from other processes on the
    # machine hits all of them alike.
    ours, solutions = [], []
    ours_seconds = solve_only_seconds = sympy_seconds = 0.0
    for block in range(0, n, 25):
        chunk = slice(block, block + 25)
        start = time.perf_counter()
        ours += [solve_text(text) for text in texts[chunk]]
        ours_seconds += time.perf_counter() - start

        systems = [parse_system(text) for text in texts[chunk]]
        start = time.perf_counter()
        for system in systems:
            solve_system(system)
        solve_only_seconds += time.perf_counter() - start

        start = time.perf_counter()
        solutions += [sympy.solve(equations, symbols, dict=True) for equations, symbols, _ in baseline[chunk]]
        sympy_seconds += time.perf_counter() - start

    sympy_values = [
        Fraction(str(found[0][ans])) if len(found) == 1 else None
        for found, (_, _, ans) in zip(solutions, baseline)
    ]
    return {
        "systems": n,
        "ours_per_s": round(n / ours_seconds, 1),
        "ours_solve_only_per_s": round(n / solve_only_seconds, 1),
        "sympy_per_s": round(n / sympy_seconds, 1),
        "speedup": round(sympy_seconds / ours_seconds, 1),
        "ours_correct": sum(r.value == spec.answer for r, spec in zip(ours, specs)),
        "ours_linear": sum(r.method == "linear" for r in ours),
        "sympy_correct": sum(v == spec.answer for v, spec in zip(sympy_values, specs)),
    }


if __name__ == "__main__":
    print(json.dumps(bench_eot(int(sys.argv[1]) if len(sys.argv) > 1 else 300), indent=2))
