"""Safe parsing and exact solving of Equation-of-Thought (EoT) systems.

Text is tokenized and parsed by our own recursive-descent parser (never eval/sympify); linear
systems are solved exactly over the rationals, non-linear ones by sympy in a killable worker process.

Text rules (details in ``lexer`` and ``grammar``):

* one equation per line, or several separated by ``;``; ``a = b = c`` means ``a = b`` and ``b = c``;
* ignored: blank lines, code-fence lines, comments, and any line/statement without ``=`` (headers
  such as "System of linear equations:", prose); also a leading ``1.``/``1)``/``(1)`` enumeration
  or ``*``/``•`` bullet, a leading ``Label:`` (``Equation 1:``), a trailing ``(2)`` equation label
  after a space at the end of a line, and trailing ``.``/``,``;
* ``#`` starts a comment; ``%`` is a percent sign (x/100) directly after a number or closing bracket
  (``50%``, ``(a+b)%``) and starts a comment anywhere else (line start, after a space or a name);
* numbers: ``12``, ``12.50``, ``.5``, ``1,000`` (comma only in groups of exactly three digits),
  ``$``/``€``/``£`` ignored; operators ``+ - * / ^ **``, unicode ``× · ÷ − ²``; brackets ``() [] {}``;
* implicit multiplication: ``2x``, ``2 x``, ``3(4+x)``, ``(a+b)(a-b)``, ``x(1+y)`` (no functions);
  ``1/2x`` is rejected as ambiguous;
* every name is a plain variable (``E``, ``I``, ``N``, ``S``, ``pi``, ``lambda``, ``sum`` included).
"""

from .grammar import MAX_DEPTH, MAX_EQUATIONS, MAX_TEXT_CHARS, EquationError, parse_system
from .nodes import Add, Equation, Expr, Mul, Neg, Num, Pow, System, Var
from .solver import SolveResult, choose_target, solve_system, solve_text

__all__ = [
    "MAX_DEPTH",
    "MAX_EQUATIONS",
    "MAX_TEXT_CHARS",
    "Add",
    "Equation",
    "EquationError",
    "Expr",
    "Mul",
    "Neg",
    "Num",
    "Pow",
    "SolveResult",
    "System",
    "Var",
    "choose_target",
    "parse_system",
    "solve_system",
    "solve_text",
]
