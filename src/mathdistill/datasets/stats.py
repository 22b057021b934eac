"""Descriptive statistics of a split: question lengths, answer types, operators in gold equations."""

from __future__ import annotations

import statistics
from collections import Counter

from .problem import Problem


def split_stats(problems: list[Problem]) -> dict:
    # words; characters for unsegmented text (Chinese)
    words = [len(p.question.split()) if " " in p.question else len(p.question) for p in problems] or [0]
    answers = Counter()
    for p in problems:
        a = p.answer
        answers["negative" if a < 0 else "integer" if float(a).is_integer() else "decimal"] += 1
    ops = Counter()
    for p in problems:
        for ch in p.equation or p.solution or "":
            if ch in "+-*/^%":
                ops[ch] += 1
    with_eq = sum(p.equation is not None for p in problems)
    return {
        "n": len(problems),
        "question_words": {"mean": round(statistics.fmean(words), 1), "median": statistics.median(words),
                           "max": max(words)},
        "answers": dict(answers),
        "numbers_per_question": round(statistics.fmean([len(p.numbers) for p in problems] or [0]), 2),
        "with_equation": with_eq,
        "operators": dict(ops.most_common()),
    }
