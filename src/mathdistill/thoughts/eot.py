"""Equation-of-Thought: a system of equations solved by the exact solver (`mathdistill.equations`).
The parser itself ignores fences, headers and prose lines; here a reply is cut to its equations."""

from __future__ import annotations

from ..equations import SolveResult, solve_text
from .pot import extract_program

MAX_SYSTEM_CHARS = 10_000


def extract_system(text: str) -> str:
    """The equations in a reply: the first fenced block if there is one, else the whole text."""
    return extract_program(text)[:MAX_SYSTEM_CHARS]


def solve(text: str, timeout: float = 2.0) -> SolveResult:
    return solve_text(extract_system(text), target="ans", timeout=timeout)
