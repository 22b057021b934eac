"""Solve a parsed system for one target variable: exact linear fast path, sympy fallback."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from .fallback import pick_value, solve_with_sympy
from .grammar import EquationError, parse_system
from .linear import NonLinear, ReducedRows, SolveFailure, residual
from .nodes import Add, Equation, Neg, System, Var

Value = Fraction | float


@dataclass(frozen=True)
class SolveResult:
    """Outcome of solving for ``target``: exactly one of ``value`` and ``reason`` is set.

    ``method`` is the stage that decided ("linear" or "sympy"); None when solving never started
    (parse error, no target). ``values`` holds every variable the linear stage determined (also on
    "underdetermined", for diagnosis) and, on sympy success, the target.
    """

    value: Value | None
    reason: str | None
    target: str | None = None
    method: Literal["linear", "sympy"] | None = None
    values: dict[str, Value] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason is None


def choose_target(system: System, preferred: str | None = "ans") -> str | None:
    """The variable to solve for.

    1. ``preferred`` if it is a variable of the system (or, failing that, the single variable equal
       to it ignoring case, e.g. "Ans");
    2. else the only variable, if there is exactly one;
    3. else the left side of the last equation of the form ``name = expression``;
    4. else None ("no target").
    """
    names = system.variables
    if preferred:
        if preferred in names:
            return preferred
        folded = [name for name in names if name.lower() == preferred.lower()]
        if len(folded) == 1:
            return folded[0]
    if len(names) == 1:
        return names[0]
    for equation in reversed(system.equations):
        if isinstance(equation.lhs, Var):
            return equation.lhs.name
    return None


def solve_text(
    text: str, target: str | None = "ans", timeout: float = 2.0, *, sympy_fallback: bool = True
) -> SolveResult:
    """Parse and solve EoT text; never raises on bad input (see ``solve_system``)."""
    try:
        system = parse_system(text)
    except EquationError as exc:
        return SolveResult(None, f"parse error: {exc}")
    return solve_system(system, target, timeout, sympy_fallback=sympy_fallback)


def solve_system(
    system: System, target: str | None = "ans", timeout: float = 2.0, *, sympy_fallback: bool = True
) -> SolveResult:
    """Solve ``system`` for the variable picked by ``choose_target(system, target)``.

    Linear systems (after substituting values already determined) are solved exactly with
    Fractions; anything else goes to sympy in a worker process limited to ``timeout`` seconds, or is
    rejected as "non-linear unsupported" when ``sympy_fallback`` is False.
    """
    if not system.equations:
        return SolveResult(None, "no equations")
    name = choose_target(system, target)
    if name is None:
        return SolveResult(None, "no target")
    try:
        rows, nonlinear = _eliminate(system.equations)
    except SolveFailure as exc:
        return SolveResult(None, exc.reason, name, "linear")
    values: dict[str, Value] = dict(rows.determined())
    if nonlinear:
        if not sympy_fallback:
            return SolveResult(None, "non-linear unsupported", name, "linear")
        return _solve_nonlinear(rows, nonlinear, name, timeout)
    if name not in values:
        return SolveResult(None, "underdetermined", name, "linear", values)
    return SolveResult(values[name], None, name, "linear", values)


def _eliminate(equations: tuple[Equation, ...]) -> tuple[ReducedRows, list[Equation]]:
    """Feed every equation that is linear, given the values known so far, into the elimination.

    Repeats while that determines new values, so a product such as ``price * qty`` becomes linear as
    soon as either factor is known. Returns the rows and the equations that stayed non-linear.
    """
    rows = ReducedRows()
    pending = list(equations)
    known: dict[str, Fraction] = {}
    while pending:
        deferred = []
        for equation in pending:
            try:
                rows.add(residual(equation.lhs, equation.rhs, known))
            except NonLinear:
                deferred.append(equation)
        if len(deferred) == len(pending):
            break
        pending = deferred
        known = rows.determined()
    return rows, pending


def _residual(equation: Equation) -> Add:
    return Add((equation.lhs, Neg(equation.rhs)))


def _solve_nonlinear(
    rows: ReducedRows, nonlinear: list[Equation], target: str, timeout: float
) -> SolveResult:
    # Send sympy the smallest equivalent system: known values substituted, plus the linear rows that
    # still have free variables.
    known = rows.determined()
    equations = rows.undetermined_rows() + [_residual(e) for e in nonlinear]
    outcome = solve_with_sympy(equations, known, target, timeout)
    if outcome.reason is not None:
        return SolveResult(None, outcome.reason, target, "sympy")
    value, reason = pick_value(outcome.values)
    if value is None:
        return SolveResult(None, reason, target, "sympy")
    return SolveResult(value, None, target, "sympy", {**known, target: value})
