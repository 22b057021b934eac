"""The one answer policy: how numbers are read from text and when two answers are the same.

Every part of mathdistill (gold converters, PoT/EoT/CoT checkers, evaluation, voting) goes through
this module, so "correct" means the same thing everywhere.

Reading a number (`parse_number`) accepts what people and models write:

    "1,000"  "$5"  "-2"  "12.50"  "3/4"  "2 1/2"  "50%"  "9 (apples)"  "1.5e3"  "€3"  "−4"  "3 ½"

* thousands separators are accepted only where they group exactly three digits ("1,000", not "1,00");
* currency symbols and trailing units/words ("9 apples", "9 (apples)") are ignored;
* a fraction "a/b" and a mixed number "a b/c" give their value;
* a percentage "50%" reads as 50 (the number as written: benchmark golds state percentages as the
  bare number), and `compare` also accepts the /100 reading, so "50%" matches a gold of 0.5;
* anything else (two different numbers, no number, "n/a") is `None`.

Comparing (`compare`): two numbers match when ``|pred - gold| <= ABS_TOL + REL_TOL * |gold|``
(1e-4 both), which absorbs float noise (0.1 + 0.2) and 4-decimal rounding of repeating
fractions (1/3 -> 0.3333), but not a rounded answer (33 vs 33.33). One more rule, because
datasets round their golds ("69.4", "2.33" where the equation gives 69.361..., 2.3317...): a gold
written with 1 to 3 decimals also matches a prediction with more decimals that rounds to it
(verdict "match (gold is rounded)", so reports can count these). Integer golds never round. When they do not match,
`compare` says why, as a short reason ("sign flipped", "off by a factor of 100", ...), so
reports can group errors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

ABS_TOL = 1e-4
REL_TOL = 1e-4

_UNICODE = str.maketrans({"−": "-", "–": "-", "\u2009": "", "\u202f": "", "\xa0": " ", "，": ","})
_VULGAR = {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅛": "1/8"}
# One number as written: optional sign, digits with optional 3-digit comma groups or plain digits,
# optional decimals, optional exponent; or a bare ".5".
_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+"
_CURRENCY = r"[$€£¥₹]"
_FULL = re.compile(
    rf"""^\s*(?P<neg>-)?\s*{_CURRENCY}?\s*
    (?:
        (?P<whole>{_NUM})\s+(?P<mnum>\d+)\s*/\s*(?P<mden>\d+)   # mixed number 2 1/2
      | (?P<num>{_NUM})\s*/\s*(?P<den>{_NUM})                   # fraction 3/4
      | (?P<single>{_NUM})                                       # plain number
    )
    \s*(?P<pct>%|percent\b)?
    (?P<rest>.*)$""",
    re.VERBOSE | re.DOTALL,
)
# What may follow the number and still leave it "one number": units, words, a parenthesised unit.
_TRAILER = re.compile(r"^[\s.,;:!)]*(?:\(?\s*[^\d\s(][^\d]*\)?)?[\s.,;:!]*$")
# Text around numbers that changes nothing: "The answer is", "x =", "**", trailing period.
_LEAD = re.compile(r"^\s*(?:[A-Za-z_]\w*\s*=\s*)?(?:\*\*|\\boxed\{)?")


def _to_number(tok: str) -> Fraction:
    return Fraction(tok.replace(",", "").replace("+", ""))


def parse_fraction(text: object) -> Fraction | None:
    """Exact value of `text` under the policy above, or None. Accepts numbers too."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, Fraction):
        return text
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        return Fraction(text) if math.isfinite(text) else None
    s = str(text).translate(_UNICODE)
    for sym, frac in _VULGAR.items():
        s = re.sub(rf"(\d)\s*{sym}", rf"\1 {frac}", s).replace(sym, frac)
    s = _LEAD.sub("", s, count=1).replace("}", "").strip().rstrip(".").replace("**", "")
    if len(s) > 200:
        return None
    m = _FULL.match(s)
    if not m or not _TRAILER.match(m.group("rest")):
        return None
    first = m.group("whole") or m.group("num") or m.group("single")
    if m.group("neg") and first[0] in "+-":  # "--5"
        return None
    try:
        if m.group("whole") is not None:
            whole = _to_number(m.group("whole"))
            part = Fraction(int(m.group("mnum")), int(m.group("mden")))
            value = whole - part if whole < 0 else whole + part
        elif m.group("num") is not None:
            den = _to_number(m.group("den"))
            if den == 0:
                return None
            value = _to_number(m.group("num")) / den
        else:
            value = _to_number(m.group("single"))
    except (ValueError, ZeroDivisionError):
        return None
    return -value if m.group("neg") else value


def parse_number(text: object) -> float | None:
    """`parse_fraction` as a float (None if unreadable or not finite)."""
    f = parse_fraction(text)
    if f is None:
        return None
    try:
        value = float(f)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def is_percent(text: object) -> bool:
    """True when the text is written as a percentage ("50%", "50 percent")."""
    return isinstance(text, str) and bool(re.search(r"\d\s*(%|percent\b)", text))


@dataclass(frozen=True)
class Verdict:
    match: bool
    reason: str  # "match" or why not, e.g. "sign flipped"
    pred: float | None
    gold: float | None


def close(a: float, b: float) -> bool:
    """The documented tolerance: |a - b| <= ABS_TOL + REL_TOL * |b|."""
    return abs(a - b) <= ABS_TOL + REL_TOL * abs(b)


def compare(pred: object, gold: object) -> Verdict:
    """Compare a predicted answer with the gold one; the verdict says why they differ."""
    g = parse_number(gold)
    if g is None:
        raise ValueError(f"gold answer {gold!r} is not a number")
    if pred is None or (isinstance(pred, str) and not pred.strip()):
        return Verdict(False, "no answer", None, g)
    p = parse_number(pred)
    if p is None:
        return Verdict(False, "unparseable answer", None, g)
    if close(p, g):
        return Verdict(True, "match", p, g)
    if is_percent(pred) and close(p / 100, g):
        return Verdict(True, "match (percent read as fraction)", p, g)
    k = _decimals(g)
    if 1 <= k <= 3 and _decimals(p) > k and round(p, k) == g:
        return Verdict(True, "match (gold is rounded)", p, g)
    return Verdict(False, _why(p, g), p, g)


def answers_match(pred: object, gold: object) -> bool:
    return compare(pred, gold).match


def _decimals(x: float) -> int:
    """Decimal places in the shortest repr of x (0.25 -> 2, 3.0 -> 0)."""
    text = repr(float(x))
    if "e" in text or "inf" in text or "nan" in text:
        return 99
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _why(p: float, g: float) -> str:
    if g != 0 and close(-p, g):
        return "sign flipped"
    for factor in (100, 1000, 60, 12, 10):
        if g != 0 and (close(p, g * factor) or close(p * factor, g)):
            return f"off by a factor of {factor}"
    if abs(g) >= 1 and round(p) == round(g) and abs(p - g) < 1:
        return "rounding"
    if g != 0 and p != 0 and close(1 / p, g):
        return "reciprocal"
    return "wrong value"


def format_value(value: object) -> str | None:
    """A solver or sandbox value as answer text: integers exactly, other rationals as floats."""
    if value is None:
        return None
    f = parse_fraction(value)
    if f is not None and f.denominator != 1:
        return repr(float(f))
    return str(f) if f is not None else str(value)
