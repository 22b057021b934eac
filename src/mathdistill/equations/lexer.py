"""Line clean-up and tokenizer for equation text.

The lexer never raises: characters it does not understand become ``BAD`` tokens, so a prose line
without ``=`` can be dropped before anyone complains about its apostrophes; the parser reports a
``BAD`` token only if it sits in a statement that is actually parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

# Longest numeric literal accepted; also keeps int() clear of CPython's 4300-digit conversion limit.
MAX_NUMBER_DIGITS = 40

NUM, NAME, OP, LPAR, RPAR, EQ, SEMI, PERCENT, PERIOD, COMMA, BAD = (
    "number", "name", "op", "(", ")", "=", ";", "%", ".", ",", "bad",
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    value: Fraction | None = None  # for NUM; None when the literal has more than MAX_NUMBER_DIGITS digits
    spaced: bool = False  # preceded by whitespace


# Typographic operators models like to emit, and decorations that carry no meaning here.
_TRANSLATION = str.maketrans({
    "×": "*", "·": "*", "⋅": "*", "∗": "*",
    "÷": "/", "∕": "/",
    "−": "-", "–": "-",
    "²": "^2", "³": "^3",
    "`": " ", "$": " ", "€": " ", "£": " ",
})

# A code-fence line (```` ``` ```` or ```` ```python ````); the whole line is dropped.
_FENCE = re.compile(r"\s*```[\w+-]*\s*$")

# Leading noise: an enumeration "1." / "2)" or a "*"/"•" bullet, then an optional "Equation 1:"
# label. A leading "-" is never stripped because "-x = 3" is an equation.
_PREFIX = re.compile(r"\s*(?:[0-9]+[.)]\s+|[*•]\s+)?(?:[A-Za-z][\w ()-]*:\s+)?")

_KINDS = {"name": NAME, "op": OP, "lpar": LPAR, "rpar": RPAR, ";": SEMI, ".": PERIOD, ",": COMMA}
_GREEK = "\u0391-\u03a9\u03b1-\u03c9"
_TOKEN = re.compile(
    rf"""
      (?P<space>\s+)
    | (?P<comment>\#)
    | (?P<percent>%)
    | (?P<number>(?:[0-9]{{1,3}}(?:,[0-9]{{3}})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)
    | (?P<name>[A-Za-z_{_GREEK}][A-Za-z0-9_{_GREEK}]*)
    | (?P<power>\*\*)
    | (?P<equals>==?)
    | (?P<op>[-+*/^])
    | (?P<lpar>[(\[{{])
    | (?P<rpar>[)\]}}])
    | (?P<punct>[;.,])
    | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def clean_line(line: str) -> str:
    """The part of a raw line that may hold equations ("" for code-fence lines)."""
    if _FENCE.match(line):
        return ""
    line = line.translate(_TRANSLATION)
    return line[_PREFIX.match(line).end():]


def tokenize(line: str) -> list[Token]:
    """Tokens of one cleaned line, stopping at a comment.

    ``#`` always starts a comment. ``%`` is a percent sign when it directly follows (no space) a
    number or a closing bracket, as in ``50%`` or ``(a+b)%``; anywhere else it starts a comment.
    """
    tokens: list[Token] = []
    spaced = False
    for match in _TOKEN.finditer(line):
        group, text = match.lastgroup, match.group()
        if group == "space":
            spaced = True
            continue
        if group == "comment":
            break
        if group == "percent" and (spaced or not tokens or tokens[-1].kind not in (NUM, RPAR)):
            break
        tokens.append(_token(group, text, spaced))
        spaced = False
    return tokens


def _token(group: str, text: str, spaced: bool) -> Token:
    if group == "number":
        whole, _, decimals = text.replace(",", "").partition(".")
        if len(whole) + len(decimals) > MAX_NUMBER_DIGITS:
            return Token(NUM, text, None, spaced)
        if not decimals:
            return Token(NUM, text, Fraction(int(whole)), spaced)
        return Token(NUM, text, Fraction(int(whole + decimals), 10 ** len(decimals)), spaced)
    if group == "power":
        return Token(OP, "^", spaced=spaced)
    if group == "equals":
        return Token(EQ, "=", spaced=spaced)
    if group == "percent":
        return Token(PERCENT, "%", spaced=spaced)
    if group == "bad":
        return Token(BAD, text, spaced=spaced)
    return Token(_KINDS[text if group == "punct" else group], text, spaced=spaced)


def statements(line: str) -> list[list[Token]]:
    """The ``;``-separated token statements of a raw line, without trailing ``.``/``,`` punctuation
    and without ``(1)``-style equation labels."""
    result: list[list[Token]] = [[]]
    for token in tokenize(clean_line(line)):
        if token.kind == SEMI:
            result.append([])
        else:
            result[-1].append(token)
    for statement in result:
        _strip_decorations(statement)
    return [statement for statement in result if statement]


def _strip_decorations(statement: list[Token]) -> None:
    while statement and statement[-1].kind in (PERIOD, COMMA):
        statement.pop()
    # "x - y = 2  (2)" read as implicit multiplication would silently double the right-hand side, so
    # a spaced "(N)" after a complete operand at the end is a label; so is "(N) " before an operand
    # at the start. "x = (2)", "x = 3(2)" and "(2) + x" keep their meaning.
    if len(statement) > 3 and _is_label(statement[-3:]) and statement[-3].spaced:
        if statement[-4].kind in (NUM, NAME, RPAR, PERCENT):
            del statement[-3:]
    if len(statement) > 3 and _is_label(statement[:3]) and statement[3].spaced:
        if statement[3].kind in (NUM, NAME, LPAR):
            del statement[:3]


def _is_label(tokens: list[Token]) -> bool:
    opening, number, closing = tokens
    return opening.text == "(" and number.kind == NUM and number.text.isdigit() and closing.text == ")"
