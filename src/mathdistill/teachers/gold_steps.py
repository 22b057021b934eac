"""Arithmetic steps of a gold annotation, the gold teacher's raw material (see `teachers.gold`).

* equation-annotated sets: every operator node of the gold expression, in evaluation order;
* GSM8K: each calculator annotation ``<<48/2=24>>`` and each prose calculation that evaluates to
  the result it states (``23 meters - 13 meters = 10 meters``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ..answers import answers_match
from ..equations import EquationError
from ..equations.expressions import ExpressionError, children, evaluate, parse_expression
from ..equations.nodes import Expr, Num



@dataclass(frozen=True)
class Step:
    expr: Expr  # over Num literals only
    value: Fraction


# The annotation cannot be turned into steps that reach the gold answer (the expression toolkit's
# error, so its failures are conversion failures too).
NotConvertible = ExpressionError


def steps_from_equation(equation: str) -> list[Step]:
    """Every operator node of the gold expression, in evaluation order."""
    try:
        expr = parse_expression(equation)
    except EquationError as e:
        raise NotConvertible(f"gold equation does not parse: {e}") from None
    steps: list[Step] = []

    def walk(node: Expr) -> None:
        for child in children(node):
            walk(child)
        if not isinstance(node, Num):
            steps.append(Step(node, evaluate(node)))

    try:
        walk(expr)
    except ZeroDivisionError:
        raise NotConvertible("gold equation divides by zero") from None
    if not steps:  # the answer is a bare number
        steps.append(Step(expr, evaluate(expr)))
    return steps


_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")


def strip_annotations(solution: str) -> str:
    return _ANNOTATION.sub("", solution)


def steps_from_gsm8k(solution: str) -> list[Step]:
    """Calculator annotations plus verified prose arithmetic, in text order, without repeats."""
    found: list[tuple[int, Step]] = []
    for m in _ANNOTATION.finditer(solution):
        step = _checked_step(m.group(1), m.group(2))
        if step:
            found.append((m.start(), step))
    plain = strip_annotations(solution)
    # positions in `plain` differ from `solution`; order prose steps by line, after annotations
    offset = 0
    for line in plain.splitlines(keepends=True):
        for pos, step in _prose_steps(line):
            found.append((offset + pos, step))
        offset += len(line)
    found.sort(key=lambda item: item[0])
    steps: list[Step] = []
    for _, step in found:
        if not any(s.expr == step.expr and s.value == step.value for s in steps):
            steps.append(step)
    return steps


def _checked_step(lhs: str, rhs: str) -> Step | None:
    """A step when `lhs` parses and evaluates to the stated `rhs`."""
    try:
        expr = parse_expression(normalise_prose(lhs))
        value = evaluate(expr)
        stated = parse_expression(normalise_prose(rhs))
        if isinstance(expr, Num) or not answers_match(float(value), float(evaluate(stated))):
            return None
        return Step(expr, value)
    except (EquationError, NotConvertible, ZeroDivisionError, OverflowError):
        return None


def normalise_prose(text: str) -> str:
    text = text.replace("×", "*").replace("÷", "/").replace("−", "-").replace("–", "-").replace("$", "")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", "*", text)


_CLAUSE_END = re.compile(r"[.;:!?](?!\d)|,(?!\d{3})|=|\b(?:so|is|are|was|which|gives|then|and|of)\b", re.I)
_TOKEN = re.compile(r"\d+(?:\.\d+)?%?|[-+*/^()]|[A-Za-z']+")
_RESULT = re.compile(r"=\s*\$?\s*(-?\d+(?:\.\d+)?%?)")


def _prose_steps(line: str):
    """(position, Step) for 'a op b = c' written in prose, units and words between numbers ignored."""
    line = normalise_prose(line)
    for m in _RESULT.finditer(line):
        head = line[: m.start()]
        starts = [c.end() for c in _CLAUSE_END.finditer(head)]
        clause = head[starts[-1] if starts else 0:]
        tokens = _TOKEN.findall(clause)
        # an operator followed by a word is a unit ("$12/craft"), not arithmetic
        tokens = [t for i, t in enumerate(tokens)
                  if not (t in "+-*/^" and i + 1 < len(tokens) and tokens[i + 1][0].isalpha())]
        tokens = [t for t in tokens if not t[0].isalpha()]
        for start in range(len(tokens)):
            if tokens[start][0].isdigit() or tokens[start] in "(-":
                candidate = " ".join(tokens[start:])
                if not any(op in candidate for op in "+-*/^"):
                    break
                step = _checked_step(candidate, m.group(1))
                if step:
                    yield m.start(), step
                    break
