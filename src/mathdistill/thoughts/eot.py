"""Equation-of-Thought: a system of equations solved by the exact solver (`mathdistill.equations`).
The parser itself ignores fences, headers and prose lines; here a reply is cut to its equations."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..answers import format_value
from ..equations import SolveResult, solve_text
from .base import Checker, ThoughtAnswer, map_pure
from .pot import extract_program

MAX_SYSTEM_CHARS = 10_000


def extract_system(text: str) -> str:
    """The equations in a reply: the first fenced block if there is one, else the whole text."""
    return extract_program(text)[:MAX_SYSTEM_CHARS]


def solve(text: str, timeout: float = 2.0) -> SolveResult:
    return solve_text(extract_system(text), target="ans", timeout=timeout)


CHECKED_BY = "solver"


def _answer(text: str) -> ThoughtAnswer:
    system = extract_system(text)
    result = solve_text(system, target="ans", timeout=2.0)
    if not result.ok:
        return ThoughtAnswer(None, result.reason, f"solver: {result.reason}",
                             {"equations": system, "solver": result.method, "values": {}})
    values = {k: format_value(v) for k, v in result.values.items()}
    solved = ", ".join(f"{k} = {v}" for k, v in values.items())
    return ThoughtAnswer(format_value(result.value), None, f"solved ({result.method}): {solved}",
                         {"equations": system, "solver": result.method, "values": values})


def answer(text: str, checker: Checker | None = None) -> ThoughtAnswer:
    """The value of `ans` in the solved system."""
    return _answer(text)


def answer_many(texts: Sequence[str], checker: Checker,
                progress: Callable[[int], None] | None = None) -> list[ThoughtAnswer]:
    return map_pure(_answer, texts, checker, progress)
