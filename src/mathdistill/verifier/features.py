"""Cheap, gold-free features of one candidate among its problem's candidates (verifier option (c)).

A candidate is a row of `mathdistill sample` (or a greedy prediction of `evaluate`): its thought,
its text and the answer verification produced (None when the program failed, the system was
unsolvable, or no number could be read). Nothing here reads the gold answer or the verdict: a
verifier must judge candidates whose gold is unknown (`tests/test_verifier.py` changes the gold and
checks that no feature moves).

The features, in `NAMES` order:

- the thought (one-hot), whether it produced a number at all;
- the answer's form: whole, negative, zero, its magnitude and its magnitude against the question's
  largest number, whether it merely repeats a number of the question;
- the question's numbers: the share of them the rationale uses and how many there are; numbers
  the rationale brings in that the question does not have (a program or a system that invents a
  literal is often wrong; a prose rationale writes its intermediate results, so it counts apart);
- prose arithmetic (CoT only: a program or a system is computed by the sandbox or the solver): the
  share of the rationale's written calculations ("43 - 21 = 20") whose result is wrong, and whether
  the answer is neither a result it computed nor a number of the question;
- the pool: the share of the problem's candidates that give the same answer, the share of its
  thoughts among them, the share within the candidate's own thought, how spread out the pool's
  answers are, and whether the answer is in the most plausible tier present (whole, non-negative).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..answers import parse_number
from .select import agree, tier

NAMES = (
    "thought_cot", "thought_pot", "thought_eot", "answered",
    "whole", "negative", "zero", "log_magnitude", "log_ratio_to_question", "repeats_question_number",
    "question_numbers_used", "log_question_numbers", "invented_literals", "prose_new_numbers", "log_length",
    "prose_arithmetic_errors", "prose_answer_unsupported",
    "agreement", "agreeing_thoughts", "agreement_within_thought", "answer_spread", "most_plausible_tier",
)
AGREEMENT = ("agreement", "agreeing_thoughts", "agreement_within_thought", "answer_spread", "most_plausible_tier")
# numbers a rationale may write without the question giving them (units, halves, percents, time)
COMMON_CONSTANTS = frozenset({0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 10.0, 12.0, 24.0, 30.0, 52.0, 60.0, 100.0, 365.0,
                              1000.0, 0.5, 0.01, 0.1})
_NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")
# a written calculation: numbers joined by + - * / x × ÷ (brackets allowed), "=", a number
_NUM = r"\$?\d+(?:,\d{3})*(?:\.\d+)?"
_TERM = rf"\(*\s*{_NUM}\s*\)*"
_CALCULATION = re.compile(rf"(?<![\w.])({_TERM}(?:\s*[-+*/x×÷]\s*{_TERM})+)\s*=\s*({_NUM})(?![\d])")


@dataclass(frozen=True)
class Candidate:
    """What a verifier sees of one candidate (the row's other fields, the label among them, it never reads)."""

    thought: str
    text: str
    answer: str | None

    @classmethod
    def from_row(cls, row: dict) -> Candidate:
        return cls(row["thought"], row.get("text") or "", row.get("answer"))


def numbers_in(text: str) -> set[float]:
    """The distinct numbers written in a text ("1,200" is 1200; signs and words are ignored)."""
    out = set()
    for m in _NUMBER.finditer(text):
        try:
            out.add(float(m.group().replace(",", "")))
        except ValueError:
            continue
    return out


@functools.lru_cache(maxsize=1 << 16)
def value(answer: str | None) -> float | None:
    return parse_number(answer) if answer is not None else None


def prose_arithmetic(text: str) -> tuple[int, int, list[float]]:
    """(calculations written, how many are wrong, their stated results) of a prose rationale.
    The left side is parsed and computed exactly by the EoT expression parser (never eval); a stated
    result within 1% of the true one counts as right (rounded divisions)."""
    from ..equations.expressions import ExpressionError, evaluate, parse_expression

    written = wrong = 0
    results = []
    for m in _CALCULATION.finditer(text):
        expr = m.group(1).replace("$", "").replace(",", "").replace("x", "*").replace("×", "*").replace("÷", "/")
        stated = float(m.group(2).replace("$", "").replace(",", ""))
        try:
            true = float(evaluate(parse_expression(expr)))
        except (ExpressionError, ValueError, ZeroDivisionError, OverflowError):
            continue
        written += 1
        wrong += abs(true - stated) > 0.01 * max(1.0, abs(true))
        results.append(stated)
    return written, wrong, results


def _log(x: float) -> float:
    return math.log10(1.0 + abs(x))


def pool_features(question: str, pool: Sequence[Candidate]) -> list[list[float]]:
    """One feature vector (in `NAMES` order) per candidate of one problem's pool."""
    q_numbers = numbers_in(question)
    q_max = max(q_numbers, default=0.0)
    values = [value(c.answer) for c in pool]
    answered = [i for i, v in enumerate(values) if v is not None]
    thoughts = sorted({c.thought for c in pool})
    # groups of agreeing answers (agreement as in grading), in pool order
    group_of: dict[int, int] = {}
    reps: list[int] = []
    for i in answered:
        for g, r in enumerate(reps):
            if agree(pool[i].answer, pool[r].answer):
                group_of[i] = g
                break
        else:
            group_of[i] = len(reps)
            reps.append(i)
    tiers = {i: tier(pool[i].answer) for i in answered}
    best_tier = min(tiers.values(), default=None)
    spread = len(reps) / len(answered) if answered else 1.0
    rows = []
    for i, c in enumerate(pool):
        v = values[i]
        text_numbers = numbers_in(c.text)
        new = {x for x in text_numbers - q_numbers if x not in COMMON_CONSTANTS}
        formal = c.thought in ("pot", "eot")
        f = {name: 0.0 for name in NAMES}
        f[f"thought_{c.thought}"] = 1.0
        f["log_question_numbers"] = _log(len(q_numbers))
        f["question_numbers_used"] = len(q_numbers & text_numbers) / len(q_numbers) if q_numbers else 1.0
        f["invented_literals"] = _log(len(new)) if formal else 0.0
        f["prose_new_numbers"] = 0.0 if formal else _log(len(new))
        f["log_length"] = _log(len(c.text) / 100)
        f["answer_spread"] = spread
        if not formal:
            written, wrong, results = prose_arithmetic(c.text)
            f["prose_arithmetic_errors"] = wrong / written if written else 0.0
            if v is not None:
                known = [*results, *q_numbers]
                f["prose_answer_unsupported"] = float(not any(abs(v - x) <= 1e-9 * max(1.0, abs(x)) for x in known))
        if v is not None:
            same = [j for j in answered if group_of[j] == group_of[i]]
            own = [j for j in range(len(pool)) if pool[j].thought == c.thought]
            f["answered"] = 1.0
            f["whole"] = float(abs(v - round(v)) < 1e-9)
            f["negative"] = float(v < 0)
            f["zero"] = float(v == 0)
            f["log_magnitude"] = _log(v)
            f["log_ratio_to_question"] = _log(v) - _log(q_max)
            f["repeats_question_number"] = float(any(abs(v - x) <= 1e-9 * max(1.0, abs(x)) for x in q_numbers))
            f["agreement"] = len(same) / len(pool)
            f["agreeing_thoughts"] = len({pool[j].thought for j in same}) / len(thoughts)
            f["agreement_within_thought"] = sum(1 for j in same if pool[j].thought == c.thought) / len(own)
            f["most_plausible_tier"] = float(tiers[i] == best_tier)
        rows.append([f[name] for name in NAMES])
    return rows
