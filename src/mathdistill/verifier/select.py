"""Picking one answer from a problem's candidates, with a raw confidence in it.

A pool is one problem's candidates (k per thought), each with a verifier score in [0, 1]. The
candidates that produced a number form groups of agreeing answers (`answers.answers_match`, as in
grading), opened in the vote's tie order (EoT > PoT > CoT, then sample order). The methods:

    vote           the largest group (the first of equal sizes); confidence: its share of the pool
    plausible      `vote` within the most plausible tier present (whole and >= 0, then >= 0, then
                   any); confidence: the group's share of the pool
    verifier       the group of the single best-scored candidate (best-of-n); confidence: that score
    verifier_vote  the group with the largest sum of scores (a score-weighted vote); confidence:
                   the group's sum over the sum of the scores of every candidate with a number

A selection's label is the verdict `verify` gave the group's first candidate against gold. The
raw confidences are not probabilities; `Verifier` calibrates each method's on validation data.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from ..answers import answers_match, parse_number
from ..evaluate.vote import PRIORITY, plausibility

METHODS = ("vote", "plausible", "verifier", "verifier_vote")


# answers repeat across a pool, its methods and verifiers: parse and compare each pair once
@functools.lru_cache(maxsize=1 << 16)
def readable(answer: str) -> bool:
    return parse_number(answer) is not None


@functools.lru_cache(maxsize=1 << 16)
def agree(a: str, b: str) -> bool:
    return answers_match(a, b)


@functools.lru_cache(maxsize=1 << 16)
def tier(answer: str | None) -> int | None:
    return plausibility(answer)


@dataclass(frozen=True)
class Selection:
    answer: str | None
    confidence: float  # raw, in [0, 1]; 0 when nothing was answered
    correct: bool
    support: int  # candidates in the chosen group
    members: tuple[int, ...] = ()  # their indices in the pool


def _order(pool: Sequence[dict]) -> list[int]:
    rank = {t: i for i, t in enumerate(PRIORITY)}
    return sorted(range(len(pool)), key=lambda i: (rank.get(pool[i]["thought"], len(rank)), pool[i].get("sample", 0)))


def groups(pool: Sequence[dict], among: Sequence[int] | None = None) -> list[list[int]]:
    """Indices of agreeing candidates, groups opened in tie order; unanswered candidates left out."""
    out: list[list[int]] = []
    allowed = set(range(len(pool)) if among is None else among)
    for i in _order(pool):
        a = pool[i].get("answer")
        if i not in allowed or a is None or not readable(a):
            continue
        for g in out:
            if agree(a, pool[g[0]]["answer"]):
                g.append(i)
                break
        else:
            out.append([i])
    return out


def _pick(pool: Sequence[dict], group: list[int] | None, confidence: float) -> Selection:
    if not group:
        return Selection(None, 0.0, False, 0)
    first = pool[group[0]]
    return Selection(first["answer"], max(0.0, min(1.0, confidence)), bool(first.get("correct", False)), len(group),
                     tuple(group))


def select(pool: Sequence[dict], scores: Sequence[float] | None, method: str) -> Selection:
    """One answer for one problem by `method` (see the module doc); `scores` only for verifier methods."""
    if method not in METHODS:
        raise ValueError(f"unknown selection {method!r}; use one of {', '.join(METHODS)}")
    n = len(pool)
    if method in ("vote", "plausible"):
        among = None
        if method == "plausible":
            tiers = {i: tier(c.get("answer")) for i, c in enumerate(pool)}
            present = [t for t in tiers.values() if t is not None]
            among = [i for i, t in tiers.items() if present and t == min(present)]
        gs = groups(pool, among)
        best = max(gs, key=len) if gs else None
        return _pick(pool, best, len(best) / n if best else 0.0)
    if scores is None or len(scores) != n:
        raise ValueError(f"selection {method!r} needs one score per candidate ({n}), got "
                         f"{None if scores is None else len(scores)}")
    gs = groups(pool)
    if not gs:
        return Selection(None, 0.0, False, 0)
    if method == "verifier":
        best = max(gs, key=lambda g: max(scores[i] for i in g))
        return _pick(pool, best, max(scores[i] for i in best))
    total = sum(scores[i] for g in gs for i in g)
    best = max(gs, key=lambda g: sum(scores[i] for i in g))
    return _pick(pool, best, sum(scores[i] for i in best) / total if total > 0 else len(best) / n)
