"""Recursive-descent parser from EoT text to our AST (no eval, no sympify).

Grammar, per ``;``-separated statement of a line::

    statement := expr ("=" expr)+             # "a = b = c" means a = b and b = c
    expr      := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary | <implicit> power)*
    unary     := ("+" | "-")* power
    power     := postfix ("^" unary)?          # right-associative, "**" is "^"
    postfix   := primary "%"?                  # x% = x / 100
    primary   := number | name | "(" expr ")"  # also [] and {}

Implicit multiplication joins a number, ``)`` or ``%`` to a following name or ``(`` (``2x``, ``2 x``,
``3(4+x)``, ``(a+b)(a-b)``, ``50%x``) and a name to a following ``(`` (``x(1+y)`` is ``x*(1+y)``: there
are no functions). Two adjacent names or numbers are an error, which catches most prose.
Implicit multiplication right after a ``/`` operand (``1/2x``, ``6/2(1+2)``) is rejected as ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from .lexer import BAD, EQ, LPAR, MAX_NUMBER_DIGITS, NAME, NUM, OP, PERCENT, RPAR, Token, statements
from .nodes import Add, Equation, Expr, Mul, Neg, Num, Pow, System, Var

MAX_TEXT_CHARS = 10_000
MAX_EQUATIONS = 50
MAX_DEPTH = 32  # brackets plus exponents nested inside each other

_CLOSING = {"(": ")", "[": "]", "{": "}"}
_HUNDRED = Num(Fraction(100))


class EquationError(ValueError):
    """Malformed equation text; ``line`` is the 1-based source line, or None for whole-text problems."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


def parse_system(text: str) -> System:
    """Parse EoT text into a System; raises EquationError on malformed input.

    Blank lines, code fences, comments and statements without ``=`` (headers such as
    "System of linear equations:", prose) are ignored.
    """
    if not isinstance(text, str):
        raise EquationError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise EquationError(f"text too long ({len(text)} > {MAX_TEXT_CHARS} chars)")
    equations: list[Equation] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "=" not in line:
            continue  # would yield no statement with "=" anyway; skipping prose early is cheaper
        for statement in statements(line):
            if not any(token.kind == EQ for token in statement):
                continue
            equations.extend(_Parser(statement, number).statement())
            if len(equations) > MAX_EQUATIONS:
                raise EquationError(f"too many equations (> {MAX_EQUATIONS})", number)
    return System(tuple(equations))


class _Parser:
    """Parses one statement (a token list); every error carries the statement's line number."""

    def __init__(self, tokens: list[Token], line: int) -> None:
        self.tokens = tokens
        self.line = line
        self.pos = 0
        self.depth = 0
        self.previous: Token | None = None

    def statement(self) -> list[Equation]:
        sides = [self.expr()]
        while self._at(EQ):
            self._advance()
            sides.append(self.expr())
        if self.pos < len(self.tokens):
            raise self._unexpected(self.tokens[self.pos])
        return [Equation(left, right, self.line) for left, right in zip(sides, sides[1:])]

    def expr(self) -> Expr:
        terms = [self.term()]
        while self._at(OP, "+", "-"):
            sign = self._advance().text
            term = self.term()
            terms.append(term if sign == "+" else Neg(term))
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def term(self) -> Expr:
        factors, divisors = [self.unary()], []
        after_division = False
        while True:
            if self._at(OP, "*", "/"):
                operator = self._advance().text
                (divisors if operator == "/" else factors).append(self.unary())
                after_division = operator == "/"
            elif self._implicit_product():
                if after_division:
                    raise self._error("ambiguous implicit multiplication after '/'")
                factors.append(self.power())
            else:
                break
        if len(factors) == 1 and not divisors:
            return factors[0]
        return Mul(tuple(factors), tuple(divisors))

    def unary(self) -> Expr:
        # Loop rather than recurse so that "------x" cannot exhaust the stack.
        negative = False
        while self._at(OP, "+", "-"):
            negative ^= self._advance().text == "-"
        operand = self.power()
        return Neg(operand) if negative else operand

    def power(self) -> Expr:
        base = self.postfix()
        if not self._at(OP, "^"):
            return base
        self._advance()
        return Pow(base, self._nested(self.unary))

    def postfix(self) -> Expr:
        operand = self.primary()
        if self._at(PERCENT):
            self._advance()
            return Mul((operand,), (_HUNDRED,))
        return operand

    def primary(self) -> Expr:
        if self.pos >= len(self.tokens):
            raise self._error("unexpected end of equation")
        token = self._advance()
        if token.kind == NUM:
            if token.value is None:
                raise self._error(f"number too long (> {MAX_NUMBER_DIGITS} digits)")
            return Num(token.value)
        if token.kind == NAME:
            return Var(token.text)
        if token.kind != LPAR:
            raise self._unexpected(token)
        inner = self._nested(self.expr)
        if self.pos >= len(self.tokens):
            raise self._error(f"missing {_CLOSING[token.text]!r}")
        closing = self._advance()
        if closing.kind != RPAR or closing.text != _CLOSING[token.text]:
            raise self._unexpected(closing)
        return inner

    def _implicit_product(self) -> bool:
        if self.pos >= len(self.tokens) or self.previous is None:
            return False
        following, previous = self.tokens[self.pos].kind, self.previous.kind
        if previous in (NUM, RPAR, PERCENT):
            return following in (NAME, LPAR)
        return previous == NAME and following == LPAR

    def _at(self, kind: str, *texts: str) -> bool:
        if self.pos >= len(self.tokens):
            return False
        token = self.tokens[self.pos]
        return token.kind == kind and (not texts or token.text in texts)

    def _advance(self) -> Token:
        self.previous = self.tokens[self.pos]
        self.pos += 1
        return self.previous

    def _nested(self, parse: Callable[[], Expr]) -> Expr:
        """``parse()`` one nesting level deeper; the limit keeps recursion far from Python's."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"too deeply nested (> {MAX_DEPTH} levels)")
        result = parse()
        self.depth -= 1
        return result

    def _unexpected(self, token: Token) -> EquationError:
        if token.kind == BAD:
            return self._error(f"unexpected character {token.text!r}")
        return self._error(f"unexpected {token.text!r}")

    def _error(self, reason: str) -> EquationError:
        return EquationError(reason, self.line)
