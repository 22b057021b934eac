"""Voting over a problem's thoughts: the answer most thoughts agree on.

Two answers agree when `answers.answers_match` says so (the same tolerance as grading).
Thoughts without an answer (PoT error, EoT unsolvable, CoT with nothing extracted) do not vote.
Ties go to the group holding the most trusted thought, in the order of `PRIORITY`:
EoT (solved exactly by the solver) > PoT (executed) > CoT (free text, extracted answer).

`plausible_vote` runs the same vote, but only over the most plausible answers. A negative answer
counts only if no thought gave a non-negative one. A non-integer counts only if no thought gave a
whole number. The tiers rest on the training sets' gold answers: negatives almost never occur
(1 of MAWPS+ASDiv-A's 3138, 3 of GSM8K's 7473) and whole numbers are the rule (92% and 100%).
Evaluations report both votes (results/students/svamp/README.md says how the rule was found).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..answers import answers_match, parse_number

PRIORITY = ("eot", "pot", "cot")  # tie-break order, most trusted first


@dataclass(frozen=True)
class Vote:
    answer: str | None  # the winning answer as the first supporting thought wrote it; None: no votes
    support: tuple[str, ...]  # thoughts that agree with it, in PRIORITY order
    voters: int  # thoughts that produced a readable answer


def _rank(thought: str) -> int:
    return PRIORITY.index(thought) if thought in PRIORITY else len(PRIORITY)


def vote(answers: Mapping[str, str | None]) -> Vote:
    """Majority over {thought: answer}; see the module doc for agreement and the tie rule."""
    valid = sorted(((t, a) for t, a in answers.items() if a is not None and parse_number(a) is not None),
                   key=lambda ta: _rank(ta[0]))
    groups: list[list[tuple[str, str]]] = []
    for t, a in valid:
        for g in groups:
            if answers_match(a, g[0][1]):
                g.append((t, a))
                break
        else:
            groups.append([(t, a)])
    if not groups:
        return Vote(None, (), 0)
    # max() keeps the first of equal sizes, and groups were opened in priority order.
    best = max(groups, key=len)
    return Vote(best[0][1], tuple(t for t, _ in best), len(valid))


def plausibility(answer: str | None) -> int | None:
    """0: a whole number >= 0; 1: another number >= 0; 2: negative; None: no number."""
    x = parse_number(answer) if answer is not None else None
    if x is None:
        return None
    if x < 0:
        return 2
    return 0 if abs(x - round(x)) < 1e-9 else 1


def plausible_vote(answers: Mapping[str, str | None]) -> Vote:
    """`vote` over the answers of the best plausibility tier present (see the module doc)."""
    tiers = {t: plausibility(a) for t, a in answers.items()}
    present = [k for k in tiers.values() if k is not None]
    if not present:
        return Vote(None, (), 0)
    best = min(present)
    result = vote({t: a for t, a in answers.items() if tiers[t] == best})
    return Vote(result.answer, result.support, len(present))
