"""How good a confidence is: accuracy at coverage, AUROC, calibration (ECE, reliability), and the
abstention threshold, chosen on validation data only.

Every function takes parallel sequences: a confidence per item (higher: more likely right) and
whether the item is right. Ties in confidence are kept together: an item is answered exactly when
its confidence reaches the threshold, so two items with one confidence are answered or abstained
on together, as a deployed rule would. An item with confidence None has nothing to answer with (no
candidate gave a number): it is never answered, whatever the threshold, but it still counts in the
coverage's denominator; calibration (ECE, reliability) is measured over the items with an answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _with_answer(confidence: Sequence[float | None], right: Sequence[bool]) -> tuple[list[float], list[bool]]:
    pairs = [(c, r) for c, r in zip(confidence, right) if c is not None]
    return [c for c, _ in pairs], [r for _, r in pairs]


def auroc(scores: Sequence[float | None], right: Sequence[bool]) -> float | None:
    """The chance that a random right item scores above a random wrong one (ties count half), over
    the items with a score; None when either class is empty."""
    scores, right = _with_answer(scores, right)
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(right, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i: j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def reliability(confidence: Sequence[float | None], right: Sequence[bool], bins: int = 10) -> list[dict]:
    """Equal-width bins over [0, 1]: per bin the count, the mean confidence and the accuracy."""
    confidence, right = _with_answer(confidence, right)
    c = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(right, dtype=np.float64)
    index = np.minimum((c * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        out.append({"low": b / bins, "high": (b + 1) / bins, "n": n,
                    "confidence": round(float(c[mask].mean()), 4) if n else None,
                    "accuracy": round(float(y[mask].mean()), 4) if n else None})
    return out


def ece(confidence: Sequence[float | None], right: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| over the bins."""
    n = sum(c is not None for c in confidence)
    if n == 0:
        return 0.0
    return float(sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in reliability(confidence, right, bins)
                     if b["n"]))


def answered_at(confidence: Sequence[float | None], right: Sequence[bool], threshold: float) -> dict:
    """Answer the items whose confidence is >= threshold: coverage and accuracy among them."""
    c = np.asarray([-np.inf if x is None else x for x in confidence], dtype=np.float64)
    y = np.asarray(right, dtype=bool)
    mask = c >= threshold
    n, answered = len(c), int(mask.sum())
    correct = int(y[mask].sum())
    return {"threshold": threshold, "answered": answered, "correct": correct,
            "coverage": round(answered / n, 4) if n else 0.0,
            "accuracy": round(correct / answered, 4) if answered else None,
            "stderr": round(math.sqrt(correct / answered * (1 - correct / answered) / answered), 4) if answered else None}


def coverage_curve(confidence: Sequence[float | None], right: Sequence[bool]) -> list[dict]:
    """Accuracy among answered at every distinct threshold, from the most confident items down."""
    return [answered_at(confidence, right, float(t))
            for t in sorted({c for c in confidence if c is not None}, reverse=True)]


def accuracy_at_coverage(confidence: Sequence[float | None], right: Sequence[bool], coverage: float) -> dict:
    """The point of the curve that answers the fewest items while covering at least `coverage` of them
    (the last point, covering every item with an answer, when fewer than that have one)."""
    n = len(confidence)
    curve = coverage_curve(confidence, right)
    for point in curve:
        if point["answered"] >= coverage * n - 1e-9:
            return point
    return curve[-1] if curve else answered_at(confidence, right, math.inf)


def choose_threshold(confidence: Sequence[float | None], right: Sequence[bool], target_accuracy: float,
                     min_answered: int = 20) -> dict:
    """On validation data: the lowest threshold whose answered items are at least `target_accuracy`
    right (with at least `min_answered` of them, so a handful of lucky items cannot set it). None
    (never answer) if no threshold reaches the target: the caller reports it rather than guessing."""
    best = None
    for point in coverage_curve(confidence, right):
        if point["answered"] >= min_answered and point["accuracy"] is not None and point["accuracy"] >= target_accuracy:
            best = point  # the curve goes down in threshold, so the last qualifying point covers most
    if best is None:
        return {"threshold": None, "target_accuracy": target_accuracy,
                "reason": f"no threshold reaches {target_accuracy:.0%} on at least {min_answered} validation items"}
    return {**best, "target_accuracy": target_accuracy}
